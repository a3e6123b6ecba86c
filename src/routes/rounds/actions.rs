//! Administrators' actions on a round: open or close now, reopen, cancel.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{RoundView, view};
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::domain::round::RoundAction;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
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

async fn act(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: RoundId,
    action: RoundAction,
    closes_at: Option<DateTime<Utc>>,
    reason: Option<String>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let round = state
        .transaction(move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            let details = Details {
                closes_at: closes_at.map(|t| t.naive_utc()),
                reason: reason.as_deref(),
            };
            let updated = rounds::act(conn, &round, action, details, &actor, now)?;
            view(conn, &updated, &procurement)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(round.version))
        .json(round))
}

/// Open a scheduled round now.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/open")]
pub async fn open_round(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, ApiError> {
    act(
        state,
        identity,
        request_id,
        id.into_inner(),
        RoundAction::Open,
        None,
        None,
    )
    .await
}

/// Close an open round now.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/close")]
pub async fn close_round(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, ApiError> {
    act(
        state,
        identity,
        request_id,
        id.into_inner(),
        RoundAction::Close,
        None,
        None,
    )
    .await
}

/// Reopen a closed round that is not finalized, optionally with a new deadline.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path)), request_body = ReopenRequest,
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/reopen")]
pub async fn reopen_round(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<ReopenRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let closes_at = body.parse_or_default()?.closes_at;
    act(
        state,
        identity,
        request_id,
        id.into_inner(),
        RoundAction::Reopen,
        closes_at,
        None,
    )
    .await
}

/// Cancel a round that is not finalized, with a reason.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), params(("id" = String, Path)), request_body = CancelRoundRequest,
    responses((status = 200, body = RoundView), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/rounds/{id}/cancel")]
pub async fn cancel_round(
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
        state,
        identity,
        request_id,
        id.into_inner(),
        RoundAction::Cancel,
        None,
        Some(reason),
    )
    .await
}
