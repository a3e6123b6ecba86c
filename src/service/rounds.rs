use anyhow::Context as _;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::json;

use crate::auth::Identity;
use crate::auth::identity::Caller;
use crate::db::DbConnection;
use crate::db::audit::{self, Actor, Audience, Change, ChangeRows};
use crate::db::organizations::Member;
use crate::db::participations::{self, ParticipationRow};
use crate::db::rounds::{self, RoundRow};
use crate::db::{new_id, procurements};
use crate::domain::audit::{Action, EntityType};
use crate::domain::field_error::FieldError;
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::participation::ParticipationStatus;
use crate::domain::procurement::ProcurementStatus;
use crate::domain::round::{RoundAction, RoundState, Schedule};
use crate::error::{ApiError, check};
use crate::service::notifications;
use crate::service::participations::round_not_found;
use crate::service::procurements::{Procurement, eligible_bodies, may_see, shown_to};

/// The round as the audit log and the feed describe it.
pub fn snapshot(row: &RoundRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "procurement_id": row.procurement_id,
        "kind": row.kind,
        "state": row.state,
        "opens_at": row.opens_at.and_utc(),
        "closes_at": row.closes_at.and_utc(),
        "version": row.version,
    })
}

/// What an action sets beside the state.
#[derive(Debug, Default)]
pub struct Details<'a> {
    /// New deadline (extension, or reopening past the old one).
    pub closes_at: Option<NaiveDateTime>,
    pub reason: Option<&'a str>,
}

/// Applies `action` to `round`. `Ok(None)` when another writer changed the round first (an
/// administrator and the scheduler, or two instances): exactly one of them succeeds.
pub fn transition(
    conn: &mut DbConnection,
    round: &RoundRow,
    action: RoundAction,
    details: Details<'_>,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Option<RoundRow>, ApiError> {
    let next = round
        .state
        .after(action, round.kind)
        .map_err(|e| ApiError::conflict("invalid_round_transition", e.to_string()))?;
    let mut updated = round.clone();
    updated.state = next;
    updated.version += 1;
    updated.updated_at = now;
    if let Some(closes_at) = details.closes_at {
        updated.closes_at = closes_at;
    }
    if action == RoundAction::Cancel {
        updated.cancel_reason = details.reason.map(str::to_owned);
    }
    if !rounds::update(conn, &updated, round.version, round.state)? {
        return Ok(None);
    }
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Round,
            entity_id: &round.id,
            action: action.done(),
            procurement_id: Some(&round.procurement_id),
            audience: Audience::Council,
            before: Some(snapshot(round)),
            after: snapshot(&updated),
            reason: details.reason,
        },
        now,
    )?;
    let procurement = Procurement::decode(
        procurements::find(conn, &round.procurement_id)?
            .context("the round's procurement is missing")?,
    )?;
    if matches!(action, RoundAction::Open | RoundAction::Reopen) && procurement.row.mandatory {
        enroll_mandatory(conn, &procurement, &updated, now)?;
    }
    notifications::round_changed(conn, &procurement, round, &updated, action, now)?;
    Ok(Some(updated))
}

/// In a mandatory procurement every eligible body takes part: each one without an answer is
/// enrolled as joined when the round opens.
fn enroll_mandatory(
    conn: &mut DbConnection,
    procurement: &Procurement,
    round: &RoundRow,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    for body in eligible_bodies(conn, procurement)? {
        if participations::find(conn, &round.id, &body.id)?.is_some() {
            continue;
        }
        let row = ParticipationRow {
            id: new_id(),
            round_id: round.id.clone(),
            organization_id: body.id.clone(),
            status: ParticipationStatus::Joined,
            selected_options: "[]".to_owned(),
            declared_quantity: None,
            contact_name: None,
            contact_email: None,
            contact_phone: None,
            note: None,
            version: 1,
            updated_by: None,
            created_at: now,
            updated_at: now,
        };
        let payload = json!({"round_id": round.id, "organization_id": body.id, "organization_name": body.name, "status": row.status, "selected_options": []});
        let recorded = ChangeRows::new(
            &Actor::system(),
            Change {
                entity_type: EntityType::Participation,
                entity_id: &row.id,
                action: Action::Enrolled,
                procurement_id: Some(&round.procurement_id),
                audience: Audience::Council,
                before: None,
                after: payload,
                reason: Some("mandatory procurement"),
            },
            now,
        );
        // False when the body answered in the meantime: its own answer stands.
        participations::save(
            conn,
            &row,
            true,
            Some("mandatory procurement: enrolled when the round opened"),
            &recorded,
        )?;
    }
    Ok(())
}

/// Opens rounds whose time has come and closes those past their deadline: what the scheduler
/// does on every tick, and once at start-up to catch up after downtime. Returns how many rounds
/// changed.
pub fn run_due(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    let mut changed = 0;
    for round in rounds::due(conn, now)? {
        let action = if round.state == RoundState::Scheduled {
            RoundAction::Open
        } else {
            RoundAction::Close
        };
        let procurement_published =
            procurements::find(conn, &round.procurement_id)?.is_some_and(|p| {
                matches!(
                    p.status,
                    ProcurementStatus::Published | ProcurementStatus::Contracted
                )
            });
        if action == RoundAction::Open && !procurement_published {
            continue;
        }
        let outcome = crate::db::transaction(conn, |conn| {
            transition(
                conn,
                &round,
                action,
                Details::default(),
                &Actor::system(),
                now,
            )
        })?;
        if let Some(updated) = outcome {
            changed += 1;
            // A round whose whole window passed during downtime opens and closes in one catch-up.
            if updated.state == RoundState::Open && updated.closes_at <= now {
                crate::db::transaction(conn, |conn| {
                    transition(
                        conn,
                        &updated,
                        RoundAction::Close,
                        Details::default(),
                        &Actor::system(),
                        now,
                    )
                })?;
            }
        }
    }
    Ok(changed)
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
        procurement.row.status,
        ProcurementStatus::Published | ProcurementStatus::Contracted
    ) {
        return Err(ApiError::conflict(
            "procurement_not_published",
            format!(
                "Rounds belong to published procurements; this one is {}.",
                procurement.row.status
            ),
        ));
    }
    let row = RoundRow {
        id: RoundId::generate(),
        procurement_id: procurement.id().clone(),
        kind: schedule.kind,
        fiscal_year: schedule.fiscal_year,
        opens_at: schedule.opens_at,
        closes_at: schedule.closes_at,
        population_base_date: schedule.population_base_date,
        reminder_days: json!(schedule.reminder_days).to_string(),
        state: RoundState::Scheduled,
        cancel_reason: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    rounds::insert(conn, &row)?;
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Round,
            entity_id: &row.id,
            action: Action::Created,
            procurement_id: Some(&row.procurement_id),
            audience: Audience::Council,
            before: None,
            after: snapshot(&row),
            reason: None,
        },
        now,
    )?;
    if row.opens_at > now {
        return Ok(row);
    }
    Ok(transition(
        conn,
        &row,
        RoundAction::Open,
        Details::default(),
        actor,
        now,
    )?
    .context("a round that is due cannot open")?)
}

/// A round the caller may see, with its procurement; 404 otherwise.
pub fn visible_round(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &RoundId,
) -> Result<(RoundRow, Procurement), ApiError> {
    let (round, stored) =
        rounds::find_with_procurement(conn, id)?.ok_or_else(|| round_not_found(id))?;
    let procurement = Procurement::decode(stored)?;
    if !may_see(conn, identity, &procurement)? {
        return Err(round_not_found(id));
    }
    Ok((round, procurement))
}

/// Every council member with its answer in a round, if any, in code order.
pub struct Roll(Vec<(Member, Option<ParticipationRow>)>);

impl Roll {
    pub fn of(conn: &mut DbConnection, round_id: &RoundId) -> Result<Self, ApiError> {
        Ok(Self(participations::roll(conn, round_id)?))
    }

    /// The answers, each with its body.
    pub fn answers(&self) -> impl Iterator<Item = (&ParticipationRow, &Member)> {
        self.0
            .iter()
            .filter_map(|(body, answer)| answer.as_ref().map(|a| (a, body)))
    }

    /// The answers, each with its body's name.
    pub fn into_answers(self) -> Vec<(ParticipationRow, String)> {
        self.0
            .into_iter()
            .filter_map(|(body, answer)| answer.map(|a| (a, body.name)))
            .collect()
    }

    /// The bodies `procurement` admits, each with its answer, if any.
    pub fn eligible<'a>(
        &'a self,
        procurement: &'a Procurement,
    ) -> impl Iterator<Item = (&'a Member, Option<&'a ParticipationRow>)> {
        self.0
            .iter()
            .filter(|(body, _)| procurement.admits(body).is_ok())
            .map(|(body, answer)| (body, answer.as_ref()))
    }

    pub fn body(&self, id: &OrganizationId) -> Option<&Member> {
        self.0.iter().map(|(body, _)| body).find(|b| &b.id == id)
    }
}

/// The round, its procurement and its roll, as `visible_round` finds them: the roll, which
/// holds the caller's body, is read before the procurement's visibility is judged, so that
/// one query serves both.
pub fn visible_roll(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &RoundId,
) -> Result<(RoundRow, Procurement, Roll), ApiError> {
    let caller = Caller::Known(identity.clone());
    let (_, round, procurement, roll) = visible_roll_as(conn, caller, id)?;
    Ok((round, procurement, roll))
}

/// `visible_roll` for a caller whose API token may still have to be looked up (401 first when
/// it is not active): the token comes in the same statement as the round and its procurement.
pub fn visible_roll_as(
    conn: &mut DbConnection,
    caller: Caller,
    id: &RoundId,
) -> Result<(Identity, RoundRow, Procurement, Roll), ApiError> {
    let found = rounds::find_with_procurement_for(conn, id, caller.token_lookup())?;
    let (identity, round, stored) = match found {
        Some((round, stored, token)) => (caller.identify_with(token)?, round, stored),
        None => {
            caller.identify(conn)?;
            return Err(round_not_found(id));
        }
    };
    let procurement = Procurement::decode(stored)?;
    let roll = Roll::of(conn, &round.id)?;
    let visible = identity.is_admin()
        || roll
            .body(&identity.organization_id)
            .is_some_and(|own| shown_to(&procurement, own, false));
    if !visible {
        return Err(round_not_found(id));
    }
    Ok((identity, round, procurement, roll))
}

/// What an administrator asks to change in a round, each field checked for shape.
#[derive(Debug, Default)]
pub struct Reschedule {
    pub opens_at: Option<NaiveDateTime>,
    pub closes_at: Option<NaiveDateTime>,
    pub population_base_date: Option<NaiveDate>,
    pub reminder_days: Option<Vec<u32>>,
}

/// Reschedules a scheduled round, or extends an open round's deadline (an extension, which
/// participants are told of). Returns the round as it is afterwards.
pub fn reschedule(
    conn: &mut DbConnection,
    current: &RoundRow,
    patch: Reschedule,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<RoundRow, ApiError> {
    let mut errors = Vec::new();
    let mut updated = current.clone();
    let mut extension = None;
    match current.state {
        RoundState::Scheduled => {
            updated.opens_at = patch.opens_at.unwrap_or(updated.opens_at);
            updated.closes_at = patch.closes_at.unwrap_or(updated.closes_at);
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
            if let Some(closes_at) = patch.closes_at {
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
                format!("A {other} round cannot change; reopen a closed round instead."),
            ));
        }
    }
    check(errors)?;
    if let Some(date) = patch.population_base_date {
        updated.population_base_date = date;
    }
    if let Some(days) = &patch.reminder_days {
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
        if !rounds::update(conn, &updated, current.version, current.state)? {
            return Err(ApiError::stale(
                "another request changed it at the same time",
            ));
        }
        audit::record_change(
            conn,
            actor,
            Change {
                entity_type: EntityType::Round,
                entity_id: &current.id,
                action: Action::Updated,
                procurement_id: Some(&current.procurement_id),
                audience: Audience::Council,
                before: Some(snapshot(current)),
                after: snapshot(&updated),
                reason: None,
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
            actor,
            now,
        )?
        .ok_or_else(|| ApiError::stale("another request changed it at the same time"))?;
    }
    Ok(result)
}

/// An administrator's action on a round, now: open, close, reopen (with a new deadline when the
/// old one has passed) or cancel.
pub fn act(
    conn: &mut DbConnection,
    round: &RoundRow,
    action: RoundAction,
    details: Details,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<RoundRow, ApiError> {
    if action == RoundAction::Reopen {
        match details.closes_at {
            Some(t) if t <= now => {
                return Err(ApiError::invalid_field(
                    "closes_at",
                    "in_past",
                    "the new deadline is in the future",
                ));
            }
            None if round.closes_at <= now => {
                return Err(ApiError::invalid_field(
                    "closes_at",
                    "required",
                    "the deadline has passed: give a new one to reopen",
                ));
            }
            _ => {}
        }
    }
    transition(conn, round, action, details, actor, now)?.ok_or_else(|| {
        ApiError::stale("another request or the scheduler changed it at the same time")
    })
}
