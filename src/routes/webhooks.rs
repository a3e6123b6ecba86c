//! Webhook endpoints: registered by a body's coordinator (or an administrator), listed, deleted,
//! given a new secret, and their delivery log.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Identity;
use crate::db::webhooks::WebhookRow;
use crate::domain::id::OrganizationId;
use crate::domain::user::Role;
use crate::error::{ApiError, Problem, check};
use crate::notify::webhook::check_target;
use crate::reply::Reply;
use crate::routes::extract::{JsonBody, QueryString};
use crate::routes::notifications::Notification;
use crate::routes::{API_V1, PageParams, Paginated, one_of};
use crate::service::webhooks::{self, Registration};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.city.nagano.lg.jp/kyodo", "events": ["round.opened", "participation.joined"]}))]
pub struct RegisterWebhook {
    /// `https://` to a public address (plain http and private addresses only with
    /// `WEBHOOK_ALLOW_PRIVATE=true`).
    #[schema(max_length = 2000)]
    pub url: String,
    /// Changes to deliver, named as the audit log names them, or `["*"]` for every change the
    /// body may see.
    #[schema(schema_with = webhook_events)]
    pub events: Vec<String>,
    /// Id or 団体コード of the body the endpoint belongs to (administrators); the caller's own by
    /// default.
    pub organization: Option<String>,
}

fn webhook_events() -> utoipa::openapi::schema::Array {
    let mut events = crate::domain::audit::webhook_events();
    events.push("*".to_owned());
    utoipa::openapi::schema::Array::new(one_of("A change the feed carries, or `*`.", events))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    #[schema(value_type = String)]
    pub organization_id: OrganizationId,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Since when every delivery has failed; null while deliveries succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Set when deliveries failed for too long (`WEBHOOK_DISABLE_AFTER_HOURS`); register the
    /// endpoint again once its receiver works.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

impl From<WebhookRow> for WebhookView {
    fn from(row: WebhookRow) -> Self {
        Self {
            events: serde_json::from_str(&row.events).unwrap_or_default(),
            id: row.id,
            organization_id: row.organization_id,
            url: row.url,
            created_at: row.created_at.and_utc(),
            failing_since: row.failing_since.map(|t| t.and_utc()),
            disabled_at: row.disabled_at.map(|t| t.and_utc()),
            disabled_reason: row.disabled_reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    /// The signing secret (`whsec_…`), shown this once. Verify each delivery's
    /// `webhook-signature` with it, as the Standard Webhooks libraries do.
    pub secret: String,
    #[serde(flatten)]
    pub webhook: WebhookView,
}

impl From<WebhookRow> for WebhookWithSecret {
    fn from(row: WebhookRow) -> Self {
        Self {
            secret: row.secret.clone(),
            webhook: row.into(),
        }
    }
}

/// Register a webhook endpoint (coordinators for their body, administrators for any).
///
/// Each change the endpoint subscribed to, and the body may see, is POSTed to it as
/// `{"type", "timestamp", "data"}` (`data` is the feed entry of `GET /changes`), signed as the
/// Standard Webhooks specification says; failed deliveries are retried with back-off.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = RegisterWebhook,
    responses(
        (status = 201, body = WebhookWithSecret, headers(("Location" = String, description = "The endpoint"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No organization has the id or code given (`organization_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown event, or a URL that is not https to a public address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
pub async fn register_webhook(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    body: JsonBody<RegisterWebhook>,
) -> Result<HttpResponse, ApiError> {
    if identity.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Viewers cannot register webhooks.",
        ));
    }
    let body = body.parse()?;
    // Its addresses are looked up before the transaction: a slow name server holds no lock.
    let target = state.webhook_target;
    let url = body.url.clone();
    let refused = web::block(move || check_target(&target, &url))
        .await
        .map_err(anyhow::Error::from)?;
    if let Err(why) = refused {
        check(vec![crate::domain::field_error::FieldError::new(
            "url",
            "url_not_allowed",
            why,
        )])?;
    }
    let actor = identity.actor(&request_id);
    let now = state.now();
    let row = state
        .transaction(move |conn| {
            webhooks::register(
                conn,
                &identity,
                Registration {
                    url: body.url,
                    events: body.events,
                    organization: body.organization,
                },
                &target,
                &actor,
                now,
            )
        })
        .await?;
    let location = format!("{API_V1}/webhooks/{}", row.id);
    Ok(Reply::created(&location, &WebhookWithSecret::from(row))?.into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookParams {
    /// Id or 団体コード (administrators; others see their own body's).
    pub organization: Option<String>,
}

/// The webhook endpoints of the caller's body (administrators: of every body, or the one named).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(WebhookParams),
    responses(
        (status = 200, body = Vec<WebhookView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    identity: Identity,
    params: QueryString<WebhookParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.parse()?;
    let rows = state
        .db(move |conn| webhooks::list(conn, &identity, params.organization.as_deref()))
        .await?;
    let views: Vec<WebhookView> = rows.into_iter().map(WebhookView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// One webhook endpoint (its secret is not shown again).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint")),
    responses(
        (status = 200, body = WebhookView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state
        .db(move |conn| webhooks::visible(conn, &identity, &id))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(row)))
}

/// Delete a webhook endpoint: nothing more is delivered to it.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = identity.actor(&request_id);
    let now = state.now();
    let id = id.into_inner();
    state
        .transaction(move |conn| webhooks::delete(conn, &identity, &id, &actor, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give a webhook endpoint a new signing secret, shown this once; deliveries from now on are
/// signed with it.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint")),
    responses(
        (status = 200, body = WebhookWithSecret),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = identity.actor(&request_id);
    let now = state.now();
    let id = id.into_inner();
    let row = state
        .transaction(move |conn| webhooks::rotate_secret(conn, &identity, &id, &actor, now))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookWithSecret::from(row)))
}

/// The endpoint's deliveries, newest first: state, attempts and the last error of each.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint"), PageParams),
    responses(
        (status = 200, body = Paginated<Notification>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn webhook_deliveries(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<String>,
    page: QueryString<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    check(errors)?;
    let id = id.into_inner();
    let (rows, total) = state
        .db(move |conn| webhooks::deliveries(conn, &identity, &id, page.offset(), page.per_page))
        .await?;
    let items = rows
        .into_iter()
        .map(Notification::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(items, page, total)))
}
