use actix_web::{HttpRequest, HttpResponse, patch, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{RoundView, view};
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::domain::round::reminder_days;
use crate::error::{ApiError, Problem, check};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
use crate::service::check_version;
use crate::service::rounds::{self, Reschedule, visible_round};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"closes_at": "2027-01-08T08:00:00Z"}))]
pub struct RoundPatch {
    /// Only while scheduled.
    pub opens_at: Option<DateTime<Utc>>,
    /// While scheduled, any time after opening; while open, only later (an extension, which
    /// participants are told of).
    pub closes_at: Option<DateTime<Utc>>,
    pub population_base_date: Option<NaiveDate>,
    pub reminder_days: Option<Vec<u32>>,
}

/// Reschedule a round or extend its deadline (administrators; `If-Match` honoured).
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = RoundPatch,
    responses(
        (status = 200, body = RoundView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round's state does not allow the change", body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/rounds/{id}")]
pub async fn update_round(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<RoundPatch>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let expected = etag::if_match(&req)?;
    let patch = body.parse()?;
    let mut errors = Vec::new();
    let reschedule = Reschedule {
        opens_at: patch.opens_at.map(|t| t.naive_utc()),
        closes_at: patch.closes_at.map(|t| t.naive_utc()),
        population_base_date: patch.population_base_date,
        reminder_days: patch
            .reminder_days
            .map(|days| reminder_days(days, &mut errors)),
    };
    check(errors)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let round = state
        .transaction(move |conn| {
            let (current, procurement) = visible_round(conn, &identity, &id)?;
            check_version(expected.as_deref(), current.version)?;
            let result = rounds::reschedule(conn, &current, reschedule, &actor, now)?;
            view(conn, &result, &procurement)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(round.version))
        .json(round))
}
