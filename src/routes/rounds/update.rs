use actix_web::{HttpRequest, HttpResponse, patch, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::get::visible_round;
use super::{RoundView, reminder_days, view};
use crate::auth::Identity;
use crate::db::audit::{self, Audience, Change, Event};
use crate::db::rounds;
use crate::domain::round::{RoundAction, RoundState};
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::extract::JsonBody;
use crate::routes::{check, etag};
use crate::service::rounds::{Details, decode, snapshot, transition};
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
    id: web::Path<String>,
    body: JsonBody<RoundPatch>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let expected = etag::if_match(&req)?;
    let patch = body.parse()?;
    let mut errors = Vec::new();
    let reminders = patch
        .reminder_days
        .clone()
        .map(|days| reminder_days(days, &mut errors));
    check(errors)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let round = state
        .transaction(move |conn| {
            let (current, procurement) = visible_round(conn, &identity, &id)?;
            etag::check(expected.as_deref(), current.version)?;
            let (_, round_state) = decode(&current)?;
            let mut errors = Vec::new();
            let mut updated = current.clone();
            let mut extension = None;
            match round_state {
                RoundState::Scheduled => {
                    updated.opens_at = patch.opens_at.map_or(updated.opens_at, |t| t.naive_utc());
                    updated.closes_at =
                        patch.closes_at.map_or(updated.closes_at, |t| t.naive_utc());
                    if updated.closes_at <= updated.opens_at {
                        errors.push(FieldError::new(
                            "closes_at",
                            "out_of_range",
                            "a round closes after it opens",
                        ));
                    }
                }
                RoundState::Open => {
                    if patch.opens_at.is_some() {
                        return Err(ApiError::conflict(
                            "round_already_open",
                            "An open round's opening time cannot change.",
                        ));
                    }
                    if let Some(closes_at) = patch.closes_at.map(|t| t.naive_utc()) {
                        if closes_at <= current.closes_at || closes_at <= now {
                            errors.push(FieldError::new(
                                "closes_at",
                                "not_an_extension",
                                "an open round's deadline only moves later, and into the future",
                            ));
                        }
                        extension = Some(closes_at);
                    }
                }
                other => {
                    return Err(ApiError::conflict(
                        "round_not_editable",
                        format!(
                            "A {} round cannot change; reopen a closed round instead.",
                            other.as_str()
                        ),
                    ));
                }
            }
            check(errors)?;
            if let Some(date) = patch.population_base_date {
                updated.population_base_date = date;
            }
            if let Some(days) = &reminders {
                updated.reminder_days = json!(days).to_string();
            }
            let mut result = current.clone();
            if (
                updated.opens_at,
                updated.closes_at,
                updated.population_base_date,
                &updated.reminder_days,
            ) != (
                current.opens_at,
                current.closes_at,
                current.population_base_date,
                &current.reminder_days,
            ) {
                updated.version += 1;
                updated.updated_at = now;
                if !rounds::update(conn, &updated, current.version, &current.state)? {
                    return Err(etag::stale("another request changed it at the same time"));
                }
                let after = snapshot(&updated);
                audit::record(
                    conn,
                    &actor,
                    Event {
                        action: "round.updated",
                        entity_type: "round",
                        entity_id: &current.id,
                        before: Some(snapshot(&current)),
                        after: Some(after.clone()),
                        reason: None,
                    },
                    now,
                )?;
                audit::publish_change(
                    conn,
                    Change {
                        entity_type: "round",
                        entity_id: &current.id,
                        action: "updated",
                        procurement_id: Some(&current.procurement_id),
                        audience: Audience::Council,
                        payload: after,
                    },
                    now,
                )?;
                result = updated;
            }
            if let Some(closes_at) = extension {
                result = transition(
                    conn,
                    &result,
                    RoundAction::ExtendDeadline,
                    Details {
                        closes_at: Some(closes_at),
                        reason: None,
                    },
                    &actor,
                    now,
                )?
                .ok_or_else(|| etag::stale("another request changed it at the same time"))?;
            }
            view(conn, &result, &procurement)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(round.version))
        .json(round))
}
