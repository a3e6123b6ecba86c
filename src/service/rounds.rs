use chrono::NaiveDateTime;
use serde_json::json;

use crate::db::DbConnection;
use crate::db::audit::{self, Actor, Audience, Change, Event};
use crate::db::participations::{self, ParticipationRow};
use crate::db::rounds::{self, RoundRow};
use crate::db::{new_id, procurements};
use crate::domain::round::{RoundAction, RoundKind, RoundState};
use crate::error::ApiError;
use crate::service::procurements::{Procurement, eligible_bodies};

/// A round with its kind and state decoded.
pub fn decode(row: &RoundRow) -> Result<(RoundKind, RoundState), ApiError> {
    let kind = row.kind.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let state = row.state.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    Ok((kind, state))
}

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
    let (kind, state) = decode(round)?;
    let next = state
        .after(action, kind)
        .map_err(|e| ApiError::conflict("invalid_round_transition", e.to_string()))?;
    let mut updated = round.clone();
    updated.state = next.as_str().to_owned();
    updated.version += 1;
    updated.updated_at = now;
    if let Some(closes_at) = details.closes_at {
        updated.closes_at = closes_at;
    }
    if action == RoundAction::Cancel {
        updated.cancel_reason = details.reason.map(str::to_owned);
    }
    if !rounds::update(conn, &updated, round.version, &round.state)? {
        return Ok(None);
    }
    let name = match action {
        RoundAction::Open => "opened",
        RoundAction::Close => "closed",
        RoundAction::Reopen => "reopened",
        RoundAction::Cancel => "cancelled",
        RoundAction::Finalize => "finalized",
        RoundAction::ExtendDeadline => "deadline_extended",
    };
    let before = snapshot(round);
    let after = snapshot(&updated);
    audit::record(
        conn,
        actor,
        Event {
            action: &format!("round.{name}"),
            entity_type: "round",
            entity_id: &round.id,
            before: Some(before),
            after: Some(after.clone()),
            reason: details.reason,
        },
        now,
    )?;
    audit::publish_change(
        conn,
        Change {
            entity_type: "round",
            entity_id: &round.id,
            action: name,
            procurement_id: Some(&round.procurement_id),
            audience: Audience::Council,
            payload: after,
        },
        now,
    )?;
    if matches!(action, RoundAction::Open | RoundAction::Reopen) {
        let procurement = Procurement::decode(
            procurements::find(conn, &round.procurement_id)?.ok_or_else(ApiError::internal)?,
        )?;
        if procurement.row.mandatory {
            enroll_mandatory(conn, &procurement, &updated, now)?;
        }
    }
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
        participations::lock(conn, &round.id, &body.id)?;
        if participations::find(conn, &round.id, &body.id)?.is_some() {
            continue;
        }
        let row = ParticipationRow {
            id: new_id(),
            round_id: round.id.clone(),
            organization_id: body.id.clone(),
            status: "joined".to_owned(),
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
        participations::save(
            conn,
            &row,
            true,
            Some("mandatory procurement: enrolled when the round opened"),
        )?;
        let payload = json!({"round_id": round.id, "organization_id": body.id, "organization_name": body.name, "status": "joined", "selected_options": []});
        audit::record(
            conn,
            &Actor::system(),
            Event {
                action: "participation.enrolled",
                entity_type: "participation",
                entity_id: &row.id,
                before: None,
                after: Some(payload.clone()),
                reason: Some("mandatory procurement"),
            },
            now,
        )?;
        audit::publish_change(
            conn,
            Change {
                entity_type: "participation",
                entity_id: &row.id,
                action: "enrolled",
                procurement_id: Some(&round.procurement_id),
                audience: Audience::Council,
                payload,
            },
            now,
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
        let action = if round.state == RoundState::Scheduled.as_str() {
            RoundAction::Open
        } else {
            RoundAction::Close
        };
        let procurement_published = procurements::find(conn, &round.procurement_id)?
            .is_some_and(|p| matches!(p.status.as_str(), "published" | "contracted"));
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
            if updated.state == RoundState::Open.as_str() && updated.closes_at <= now {
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
