use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{RoundView, location, view};
use crate::auth::Identity;
use crate::domain::id::ProcurementId;
use crate::domain::round::{RoundKind, Schedule};
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::extract::JsonBody;
use crate::routes::{IdempotencyKey, etag};
use crate::service::procurements::visible;
use crate::service::rounds;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "commitment",
    "opens_at": "2026-12-01T00:00:00Z",
    "closes_at": "2026-12-25T08:00:00Z",
    "population_base_date": "2026-01-01",
    "reminder_days": [7, 1]
}))]
pub struct RoundInput {
    pub kind: RoundKind,
    /// Required for renewal rounds.
    pub fiscal_year: Option<i32>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub population_base_date: NaiveDate,
    /// Days before closing on which reminders go out; default [7, 1].
    pub reminder_days: Option<Vec<u32>>,
}

/// Schedule a round of a published procurement (administrators). A round whose opening time has
/// already come opens at once.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Procurement id"), IdempotencyKey),
    request_body = RoundInput,
    responses(
        (status = 201, body = RoundView, headers(("ETag" = String), ("Location" = String, description = "The new round"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The procurement is not published", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements/{id}/rounds")]
pub async fn create_round(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    body: JsonBody<RoundInput>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let input = body.parse()?;
    let schedule = Schedule::parse(
        input.kind,
        input.fiscal_year,
        input.opens_at.naive_utc(),
        input.closes_at.naive_utc(),
        input.population_base_date,
        input.reminder_days,
    )
    .map_err(ApiError::validation)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            let row = rounds::create(conn, &procurement, schedule, &actor, now)?;
            let round = view(conn, &row, &procurement)?;
            Ok(Reply::created(&location(&round.id), &round)?.header(etag::header(round.version)))
        })
        .await
}
