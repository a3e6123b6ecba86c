//! Administrators' actions on a round: open or close now, reopen, cancel.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{RoundView, view};
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::domain::round::RoundAction;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::extract::JsonBody;
use crate::routes::{IdempotencyKey, etag};
use crate::service::rounds::visible_round;
use crate::service::rounds::{self, Details};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"closes_at": "2027-01-15T08:00:00Z"}))]
pub struct ReopenRequest {
    /// New deadline; required when the old one has passed.
    pub closes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "予算措置の遅れのため"}))]
pub struct CancelRoundRequest {
    pub reason: String,
}

/// What an administrator asks of a round.
struct Order {
    action: RoundAction,
    /// The new deadline when reopening.
    closes_at: Option<DateTime<Utc>>,
    reason: Option<String>,
}

impl From<RoundAction> for Order {
    fn from(action: RoundAction) -> Self {
        Self {
            action,
            closes_at: None,
            reason: None,
        }
    }
}

async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: RoundId,
    order: Order,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let Order {
        action,
        closes_at,
        reason,
    } = order;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            let details = Details {
                closes_at: closes_at.map(|t| t.naive_utc()),
                reason: reason.as_deref(),
            };
            let updated = rounds::act(conn, &round, action, details, &actor, now)?;
            let round = view(conn, &updated, &procurement)?;
            Ok(Reply::ok(&round)?.header(etag::header(round.version)))
        })
        .await
}

/// Open a scheduled round now.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/open")]
pub async fn open_round(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, ApiError> {
    act(
        req,
        state,
        identity,
        request_id,
        id.into_inner(),
        RoundAction::Open.into(),
    )
    .await
}

/// Close an open round now.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/close")]
pub async fn close_round(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, ApiError> {
    act(
        req,
        state,
        identity,
        request_id,
        id.into_inner(),
        RoundAction::Close.into(),
    )
    .await
}

/// Reopen a closed round that is not finalized, optionally with a new deadline.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path), IdempotencyKey), request_body = ReopenRequest,
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/reopen")]
pub async fn reopen_round(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<ReopenRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let closes_at = body.parse_or_default()?.closes_at;
    act(
        req,
        state,
        identity,
        request_id,
        id.into_inner(),
        Order {
            closes_at,
            ..RoundAction::Reopen.into()
        },
    )
    .await
}

/// Cancel a round that is not finalized, with a reason.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path), IdempotencyKey), request_body = CancelRoundRequest,
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/cancel")]
pub async fn cancel_round(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<CancelRoundRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let reason =
        crate::service::single_text(&body.parse()?.reason, "reason", crate::routes::MAX_REASON)?;
    act(
        req,
        state,
        identity,
        request_id,
        id.into_inner(),
        Order {
            reason: Some(reason),
            ..RoundAction::Cancel.into()
        },
    )
    .await
}
