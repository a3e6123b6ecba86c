//! My account: the users of my body, my API tokens (a new one is shown once) and my calendar
//! address.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing_actix_web::RequestId;

use super::{render_page, see_other};
use crate::db::{calendar_feeds, users};
use crate::domain::user::{Invitation, Role, TokenScope};
use crate::routes::calendar::feed_url;
use crate::routes::tokens::ApiTokenView;
use crate::routes::users::UserView;
use crate::service::users as users_service;
use crate::service::{calendar, tokens};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::form::CsrfForm;
use crate::web::session::Viewer;

/// Bodies have a handful of users; the page lists up to this many.
const USERS_SHOWN: i64 = 200;

async fn account(
    state: &AppState,
    viewer: &Viewer,
    mut shown_once: Value,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let (people, own_tokens, feed) = state
        .db(move |conn| {
            let (people, _) = users::list(conn, Some(&identity.organization_id), 0, USERS_SHOWN)?;
            let own_tokens = tokens::list(conn, &identity)?;
            let feed = calendar_feeds::find_active(conn, &identity.user_id)?;
            Ok((people, own_tokens, feed))
        })
        .await?;
    shown_once["users"] = json!(people.into_iter().map(UserView::from).collect::<Vec<_>>());
    shown_once["tokens"] = json!(
        own_tokens
            .into_iter()
            .map(ApiTokenView::from)
            .collect::<Vec<_>>()
    );
    shown_once["calendar_since"] = json!(feed.map(|f| f.created_at.and_utc()));
    render_page(viewer, "account.j2", shown_once)
}

#[get("/account")]
pub async fn page(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, PageError> {
    account(&state, &viewer, json!({})).await
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    display_name: String,
    role: Role,
}

/// Invites a user of my body; the link goes by e-mail, as through the API.
#[post("/account/users")]
pub async fn invite(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let invitation = Invitation {
        email: form.email,
        display_name: form.display_name,
        role: form.role,
        organization: None,
    };
    let outcome = state
        .transaction(move |conn| users_service::invite(conn, &identity, invitation, &actor, now))
        .await;
    match outcome {
        Ok((row, _)) => account(&state, &viewer, json!({"invited": row.email})).await,
        Err(error) if error.problem().status == 422 || error.problem().status == 409 => {
            let problem = error.problem();
            let messages: Vec<String> = if problem.errors.is_empty() {
                vec![problem.detail]
            } else {
                problem
                    .errors
                    .into_iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect()
            };
            let mut refused = account(&state, &viewer, json!({"invite_errors": messages})).await?;
            *refused.status_mut() = actix_web::http::StatusCode::from_u16(error.problem().status)
                .unwrap_or(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
            Ok(refused)
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    scope: TokenScope,
    expires_in_days: Option<i64>,
}

/// Creates an API token and shows its secret on this one answer (never stored, never again).
#[post("/account/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let issued = state
        .transaction(move |conn| {
            let request = tokens::TokenRequest {
                name: &form.name,
                scope: form.scope,
                expires_in_days: form.expires_in_days,
            };
            tokens::issue(conn, &identity, request, &actor, now)
        })
        .await?;
    account(
        &state,
        &viewer,
        json!({"new_token": {"name": issued.row.name, "secret": issued.secret}}),
    )
    .await
}

#[post("/account/tokens/{id}/revoke")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<String>,
    _: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    state
        .transaction(move |conn| tokens::revoke(conn, &identity, &id, &actor, now))
        .await?;
    Ok(see_other("/account#tokens"))
}

#[derive(Deserialize)]
struct CalendarForm {
    action: String,
}

/// A new calendar address (the old one stops working), shown once; or none.
#[post("/account/calendar")]
pub async fn calendar_feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    CsrfForm(form): CsrfForm<CalendarForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    if form.action == "revoke" {
        state
            .transaction(move |conn| calendar::revoke(conn, &identity.user_id, &actor, now))
            .await?;
        return Ok(see_other("/account#calendar"));
    }
    let feed = state
        .transaction(move |conn| calendar::rotate(conn, &identity.user_id, &actor, now))
        .await?;
    let url = feed_url(&state.exports.base_url(&req), &feed.secret);
    account(&state, &viewer, json!({"new_calendar": url})).await
}
