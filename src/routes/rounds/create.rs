use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{DEFAULT_REMINDER_DAYS, RoundView, reminder_days, view};
use crate::auth::Identity;
use crate::db::audit::Actor;
use crate::db::audit::{self, Audience, Change, Event};
use crate::db::rounds::{self, RoundRow};
use crate::db::{DbConnection, new_id};
use crate::domain::fiscal_year;
use crate::domain::procurement::ProcurementStatus;
use crate::domain::round::{RoundAction, RoundKind, RoundState};
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::extract::JsonBody;
use crate::routes::{check, etag};
use crate::service::procurements::{Procurement, visible};
use crate::service::rounds::{Details, snapshot, transition};
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
    params(("id" = String, Path, description = "Procurement id"), ("Idempotency-Key" = Option<String>, Header)),
    request_body = RoundInput,
    responses(
        (status = 201, body = RoundView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The procurement is not published", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements/{id}/rounds")]
pub async fn create_round(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
    body: JsonBody<RoundInput>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let input = body.parse()?;
    let mut errors = Vec::new();
    if input.closes_at <= input.opens_at {
        errors.push(FieldError::new(
            "closes_at",
            "out_of_range",
            "a round closes after it opens",
        ));
    }
    match (input.kind, input.fiscal_year) {
        (RoundKind::Renewal, None) => errors.push(FieldError::new(
            "fiscal_year",
            "required",
            "a renewal round names the fiscal year it renews",
        )),
        (_, Some(year)) if !fiscal_year::is_valid(year) => errors.push(FieldError::new(
            "fiscal_year",
            "out_of_range",
            "not a plausible fiscal year",
        )),
        _ => {}
    }
    let reminders = reminder_days(
        input
            .reminder_days
            .unwrap_or(DEFAULT_REMINDER_DAYS.to_vec()),
        &mut errors,
    );
    check(errors)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let round = state
        .transaction(move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            let schedule = Schedule {
                kind: input.kind,
                fiscal_year: input.fiscal_year,
                opens_at: input.opens_at.naive_utc(),
                closes_at: input.closes_at.naive_utc(),
                population_base_date: input.population_base_date,
                reminder_days: reminders,
            };
            let row = create(conn, &procurement, schedule, &actor, now)?;
            view(conn, &row, &procurement)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag::header(round.version))
        .json(round))
}

/// A round's times and settings, checked.
pub struct Schedule {
    pub kind: RoundKind,
    pub fiscal_year: Option<i32>,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub population_base_date: NaiveDate,
    pub reminder_days: Vec<u32>,
}

/// Saves a round of `procurement`; one whose opening time has come opens at once.
pub fn create(
    conn: &mut DbConnection,
    procurement: &Procurement,
    schedule: Schedule,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<RoundRow, ApiError> {
    if !matches!(
        procurement.status,
        ProcurementStatus::Published | ProcurementStatus::Contracted
    ) {
        return Err(ApiError::conflict(
            "procurement_not_published",
            format!(
                "Rounds belong to published procurements; this one is {}.",
                procurement.status.as_str()
            ),
        ));
    }
    let row = RoundRow {
        id: new_id(),
        procurement_id: procurement.id().to_owned(),
        kind: schedule.kind.as_str().to_owned(),
        fiscal_year: schedule.fiscal_year,
        opens_at: schedule.opens_at,
        closes_at: schedule.closes_at,
        population_base_date: schedule.population_base_date,
        reminder_days: json!(schedule.reminder_days).to_string(),
        state: RoundState::Scheduled.as_str().to_owned(),
        cancel_reason: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    rounds::insert(conn, &row)?;
    let created = snapshot(&row);
    audit::record(
        conn,
        actor,
        Event {
            action: "round.created",
            entity_type: "round",
            entity_id: &row.id,
            before: None,
            after: Some(created.clone()),
            reason: None,
        },
        now,
    )?;
    audit::publish_change(
        conn,
        Change {
            entity_type: "round",
            entity_id: &row.id,
            action: "created",
            procurement_id: Some(&row.procurement_id),
            audience: Audience::Council,
            payload: created,
        },
        now,
    )?;
    if row.opens_at > now {
        return Ok(row);
    }
    transition(
        conn,
        &row,
        RoundAction::Open,
        Details::default(),
        actor,
        now,
    )?
    .ok_or_else(ApiError::internal)
}
