//! The outbox as administrators see it (what was sent, what failed, and a retry), and the
//! unsubscribe links in reminders.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Identity;
use crate::db::outbox::{OutboxFilter, OutboxRow};
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::notification::{Channel, DeliveryState, Event};
use crate::error::{ApiError, Problem, check};
use crate::routes::extract::QueryString;
use crate::routes::{PageParams, Paginated, one_of};
use crate::service::notifications;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    pub state: Option<DeliveryState>,
    pub channel: Option<Channel>,
    /// An e-mail event (`reminder`), or a webhook's change (`participation.joined`).
    pub event: Option<String>,
    /// The body a message concerns (organization id).
    pub organization: Option<String>,
    /// The round a message concerns.
    pub round: Option<String>,
    /// An e-mail address.
    pub recipient: Option<String>,
}

impl NotificationParams {
    /// The outbox rows these parameters ask for.
    pub fn filter(self) -> OutboxFilter {
        OutboxFilter {
            state: self.state,
            channel: self.channel.map(|c| c.to_string()),
            event: self.event,
            organization_id: self.organization.map(OrganizationId::from),
            round_id: self.round.map(RoundId::from),
            recipient: self.recipient.map(|r| r.trim().to_lowercase()),
        }
    }
}

/// A message in the outbox. What it says is not shown: an invitation carries its one-time link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    pub channel: Channel,
    #[schema(schema_with = notification_event)]
    pub event: String,
    /// The e-mail address, or the webhook endpoint's id.
    pub recipient: String,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    #[schema(value_type = Option<String>)]
    pub round_id: Option<RoundId>,
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i32,
    /// When a pending message is tried next.
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<OutboxRow> for Notification {
    type Error = ApiError;

    fn try_from(row: OutboxRow) -> Result<Self, ApiError> {
        let unreadable = |what: &str, value: &str| {
            ApiError::unexpected(anyhow::anyhow!(
                "the outbox holds an unknown {what} {value:?}"
            ))
        };
        Ok(Self {
            channel: row
                .channel
                .parse()
                .map_err(|_| unreadable("channel", &row.channel))?,
            event: row.event,
            state: row
                .state
                .parse()
                .map_err(|_| unreadable("state", &row.state))?,
            id: row.id,
            recipient: row.recipient,
            organization_id: row.organization_id,
            round_id: row.round_id,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.and_utc(),
            last_error: row.last_error,
            created_at: row.created_at.and_utc(),
            sent_at: row.sent_at.map(|t| t.and_utc()),
        })
    }
}

fn notification_event() -> utoipa::openapi::schema::Object {
    let email = <Event as strum::VariantArray>::VARIANTS
        .iter()
        .map(|e| e.to_string());
    one_of(
        "An e-mail's event, or the change a webhook delivers.",
        email.chain(crate::domain::audit::webhook_events()),
    )
}

/// The outbox, newest first (administrators): every message the service sent, is sending, or
/// gave up on.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    params(NotificationParams, PageParams),
    responses(
        (status = 200, body = Paginated<Notification>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    identity: Identity,
    params: QueryString<NotificationParams>,
    page: QueryString<PageParams>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let p = params.parse()?;
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    check(errors)?;
    let filter = p.filter();
    let (rows, total) = state
        .db(move |conn| {
            Ok(crate::db::outbox::list(
                conn,
                &filter,
                page.offset(),
                page.per_page,
            )?)
        })
        .await?;
    let items = rows
        .into_iter()
        .map(Notification::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(items, page, total)))
}

/// Retry a failed message now (administrators), with its attempts counted afresh.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The message")),
    responses(
        (status = 200, body = Notification),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message has not failed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/notifications/{id}/retry")]
pub async fn retry_notification(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let id = id.into_inner();
    let row = state
        .transaction(move |conn| notifications::retry(conn, &id, &actor, now))
        .await?;
    Ok(HttpResponse::Ok().json(Notification::try_from(row)?))
}

/// The page an unsubscribe link opens: it asks before it stops anything, since mail scanners
/// follow links.
#[utoipa::path(
    tag = "notifications",
    params(("token" = String, Path, description = "From the link in a reminder")),
    responses(
        (status = 200, description = "A page with a button that stops the reminders", content_type = "text/html"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/unsubscribe/{token}")]
pub async fn unsubscribe_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let email = unsubscribe_address(&state, &token)?;
    Ok(page(&format!(
        "<p>{} へのリマインダー（締切前のお知らせ）の配信を停止しますか。招待と負担金の確定のお知らせは引き続き届きます。</p>\
         <form method=\"post\"><button type=\"submit\">配信を停止する</button></form>",
        escape(&email)
    )))
}

/// Stop reminders to the link's address: the form on the page, and mail clients' one-click
/// unsubscribe (RFC 8058). Invitations and final shares still come.
#[utoipa::path(
    tag = "notifications",
    params(("token" = String, Path, description = "From the link in a reminder")),
    responses(
        (status = 200, description = "Reminders to the address have stopped", content_type = "text/html"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/unsubscribe/{token}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let email = unsubscribe_address(&state, &token)?;
    let now = state.now();
    let address = email.clone();
    state
        .transaction(move |conn| notifications::opt_out_of_reminders(conn, &address, now))
        .await?;
    Ok(page(&format!(
        "<p>{} へのリマインダーの配信を停止しました。</p>",
        escape(&email)
    )))
}

fn unsubscribe_address(state: &AppState, token: &str) -> Result<String, ApiError> {
    state.unsubscribe.verify(token).ok_or_else(|| {
        ApiError::not_found(
            "unsubscribe_link_invalid",
            "The link is not one the service made; copy it whole from the e-mail.",
        )
    })
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\"><title>配信停止 | 共同調達</title></head>\
             <body><main>{body}</main></body></html>"
        ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
