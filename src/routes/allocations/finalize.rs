use actix_web::{HttpRequest, HttpResponse, post, web};
use tracing_actix_web::RequestId;

use super::location;
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::domain::limits::{MAX_TOTALS, check_count};
use crate::error::{ApiError, Problem, check};
use crate::reply::Reply;
use crate::routes::extract::JsonBody;
use crate::routes::{IdempotencyKey, MAX_REASON};
use crate::service::allocations::{self, AllocationDocument, FinalizeRequest};
use crate::service::rounds::visible_round;
use crate::service::single_text;
use crate::state::AppState;

/// The request checked for shape: a bounded list of totals, a cleaned reason.
/// The request with its reason cleaned and its size checked (the totals are judged against the
/// model when allocating).
pub fn checked(mut request: FinalizeRequest) -> Result<FinalizeRequest, ApiError> {
    let mut errors = Vec::new();
    check_count(request.totals.len(), MAX_TOTALS, "totals", &mut errors);
    check(errors)?;
    request.reason = request
        .reason
        .as_deref()
        .map(|r| single_text(r, "reason", MAX_REASON))
        .transpose()?;
    Ok(request)
}

/// Which stored version an administrator's write makes.
#[derive(Clone, Copy)]
enum Version {
    First,
    Correction,
}

async fn allocate(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: RoundId,
    body: JsonBody<FinalizeRequest>,
    version: Version,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let request = checked(body.parse()?)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            let document = match version {
                Version::First => {
                    allocations::finalize(conn, &round, &procurement, request, &actor, now)?
                }
                Version::Correction => {
                    allocations::correct(conn, &round, &procurement, request, &actor, now)?
                }
            };
            Reply::created(&location(&round.id, document.version), &document)
        })
        .await
}

/// Finalize a closed commitment or renewal round with the contracted totals (administrators).
/// Stores version 1 of its allocation — every input and every share — moves the round to
/// `finalized` and the procurement to `contracted`; all of it or, on any error, nothing.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), IdempotencyKey),
    request_body = FinalizeRequest,
    responses(
        (status = 201, body = AllocationDocument, headers(("Location" = String, description = "The allocation version"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round is not a closed commitment or renewal round, or nobody joined, or `allocation_impossible`: the joined bodies' figures as they stand do not fit the cost model (e.g. a population weight and a body without a population figure)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Totals missing, unknown, out of the term, or impossible for the model (fixed fees above a total, …)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rounds/{id}/finalize")]
pub async fn finalize(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<FinalizeRequest>,
) -> Result<HttpResponse, ApiError> {
    allocate(
        req,
        state,
        identity,
        request_id,
        id.into_inner(),
        body,
        Version::First,
    )
    .await
}

/// Correct a finalized allocation (administrators): a new version, computed afresh from the
/// given totals and the stored answers and populations, with a reason. Earlier versions stay.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), IdempotencyKey),
    request_body = FinalizeRequest,
    responses(
        (status = 201, body = AllocationDocument, headers(("Location" = String, description = "The new version"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round is not finalized, or `allocation_impossible` as for finalizing", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Another correction was made at the same time", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rounds/{id}/allocations")]
pub async fn correct(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<FinalizeRequest>,
) -> Result<HttpResponse, ApiError> {
    allocate(
        req,
        state,
        identity,
        request_id,
        id.into_inner(),
        body,
        Version::Correction,
    )
    .await
}
