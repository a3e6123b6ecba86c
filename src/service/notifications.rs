//! Who is told of a change, and what they are told: messages written to the outbox in the
//! caller's transaction, so that a change that rolls back sends nothing and one that commits
//! always sends. The dispatcher (`crate::notify`) renders and delivers them.
//!
//! A body is reached at the addresses of its contacts, of its coordinators, and, for a round it
//! answered, of the contact its answer gave: one message per address.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Identity;
use crate::db;
use crate::db::DbConnection;
use crate::db::audit::{Actor, Audience, Change};
use crate::db::organizations::Member;
use crate::db::outbox::{self, OutboxRow};
use crate::db::questions::QuestionRow;
use crate::db::rounds::RoundRow;
use crate::domain::audit::{Action, EntityType};
use crate::domain::field_error::FieldError;
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::limits::{MAX_LISTED_ORGANIZATIONS, check_count};
use crate::domain::notification::{Channel, DeliveryState, Event, japanese_datetime};
use crate::domain::participation::ParticipationStatus;
use crate::domain::round::{RoundAction, RoundState};
use crate::domain::user::Role;
use crate::error::{ApiError, check};
use crate::service::participations::takes_answers;
use crate::service::procurements::{Procurement, eligible_bodies};
use crate::service::rounds::visible_round;

/// One message to write: to one address, about one event.
#[derive(Debug, Clone)]
pub struct Message {
    pub event: Event,
    pub recipient: String,
    pub organization_id: Option<OrganizationId>,
    pub round_id: Option<RoundId>,
    pub context: Value,
}

/// Writes `messages` to the outbox, due now, leaving out addresses that opted out of events
/// one may opt out of.
pub fn enqueue(
    conn: &mut DbConnection,
    messages: Vec<Message>,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let messages = without_opt_outs(conn, messages)?;
    write(conn, messages, now)
}

/// `messages` but those to addresses that opted out of their event.
fn without_opt_outs(
    conn: &mut DbConnection,
    messages: Vec<Message>,
) -> Result<Vec<Message>, ApiError> {
    let optional: Vec<String> = messages
        .iter()
        .filter(|m| m.event.may_opt_out())
        .map(|m| m.recipient.clone())
        .collect();
    let opted_out: HashSet<String> = if optional.is_empty() {
        HashSet::new()
    } else {
        outbox::opted_out(conn, &optional)?.into_iter().collect()
    };
    Ok(messages
        .into_iter()
        .filter(|m| !(m.event.may_opt_out() && opted_out.contains(&m.recipient)))
        .collect())
}

fn write(
    conn: &mut DbConnection,
    messages: Vec<Message>,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let rows: Vec<OutboxRow> = messages
        .into_iter()
        .map(|m| {
            OutboxRow::pending(
                Channel::Email,
                m.event.as_str(),
                m.recipient,
                m.organization_id,
                m.round_id,
                m.context.to_string(),
                now,
            )
        })
        .collect();
    outbox::insert(conn, &rows)?;
    Ok(rows.len())
}

/// Each body's addresses: contacts, coordinators and, when `round` is given, the contact of its
/// answer to that round; in that order, each address once.
pub fn addresses_of(
    conn: &mut DbConnection,
    bodies: &[OrganizationId],
    round: Option<&RoundId>,
) -> Result<BTreeMap<OrganizationId, Vec<String>>, ApiError> {
    let mut found: BTreeMap<OrganizationId, Vec<String>> = BTreeMap::new();
    let mut add = |organization: OrganizationId, email: String| {
        let email = email.trim().to_lowercase();
        if email.is_empty() {
            return;
        }
        let list = found.entry(organization).or_default();
        if !list.contains(&email) {
            list.push(email);
        }
    };
    #[derive(serde::Deserialize)]
    struct Contact {
        email: Option<String>,
    }
    for (organization, contacts) in db::organizations::contacts_of(conn, bodies)? {
        let contacts: Vec<Contact> = serde_json::from_str(&contacts).unwrap_or_default();
        for email in contacts.into_iter().filter_map(|c| c.email) {
            add(organization.clone(), email);
        }
    }
    for (organization, email) in db::users::addresses(conn, bodies, &[Role::Coordinator])? {
        add(organization, email);
    }
    if let Some(round) = round {
        for (row, _) in db::participations::list_for_round(conn, round)? {
            if let Some(email) = row.contact_email
                && bodies.contains(&row.organization_id)
            {
                add(row.organization_id, email);
            }
        }
    }
    Ok(found)
}

/// What every message about a round says of it.
#[derive(Debug, Serialize)]
struct RoundFacts<'a> {
    procurement_id: &'a str,
    procurement_title: &'a str,
    round_id: &'a str,
    round_kind: &'static str,
    round_label: String,
    fiscal_year: Option<i32>,
    opens_at: String,
    closes_at: String,
    path: String,
}

fn round_facts<'a>(procurement: &'a Procurement, round: &'a RoundRow) -> RoundFacts<'a> {
    RoundFacts {
        procurement_id: procurement.id(),
        procurement_title: &procurement.row.title,
        round_id: &round.id,
        round_kind: round.kind.into(),
        round_label: round.kind.label_ja(round.fiscal_year),
        fiscal_year: round.fiscal_year,
        opens_at: japanese_datetime(round.opens_at),
        closes_at: japanese_datetime(round.closes_at),
        path: format!("/rounds/{}", round.id),
    }
}

/// One message per address of each of `bodies`, with `extra` merged into the round's facts.
fn to_bodies(
    conn: &mut DbConnection,
    event: Event,
    procurement: &Procurement,
    round: &RoundRow,
    bodies: &[Member],
    extra: Value,
) -> Result<Vec<Message>, ApiError> {
    let ids: Vec<OrganizationId> = bodies.iter().map(|b| b.id.clone()).collect();
    let names: HashMap<&OrganizationId, &str> =
        bodies.iter().map(|b| (&b.id, b.name.as_str())).collect();
    let mut base = serde_json::to_value(round_facts(procurement, round))
        .map_err(|e| anyhow::anyhow!(e).context("describing a round"))?;
    merge(&mut base, extra);
    let mut messages = Vec::new();
    for (organization, addresses) in addresses_of(conn, &ids, Some(&round.id))? {
        let mut context = base.clone();
        merge(
            &mut context,
            json!({"organization_name": names.get(&organization).copied().unwrap_or_default()}),
        );
        for recipient in addresses {
            messages.push(Message {
                event,
                recipient,
                organization_id: Some(organization.clone()),
                round_id: Some(round.id.clone()),
                context: context.clone(),
            });
        }
    }
    Ok(messages)
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}

/// Tells those concerned that `action` happened to `round` (now `updated`), in the caller's
/// transaction: eligible bodies of an opening, an extension or a cancellation; the secretariat
/// of a closing, with counts.
pub fn round_changed(
    conn: &mut DbConnection,
    procurement: &Procurement,
    before: &RoundRow,
    updated: &RoundRow,
    action: RoundAction,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let messages = match action {
        RoundAction::Open | RoundAction::Reopen => {
            let bodies = eligible_bodies(conn, procurement)?;
            let reopened = action == RoundAction::Reopen;
            to_bodies(
                conn,
                Event::RoundOpened,
                procurement,
                updated,
                &bodies,
                json!({"reopened": reopened}),
            )?
        }
        RoundAction::ExtendDeadline => {
            let bodies = eligible_bodies(conn, procurement)?;
            to_bodies(
                conn,
                Event::DeadlineExtended,
                procurement,
                updated,
                &bodies,
                json!({"previous_closes_at": japanese_datetime(before.closes_at)}),
            )?
        }
        RoundAction::Cancel => {
            let bodies = eligible_bodies(conn, procurement)?;
            to_bodies(
                conn,
                Event::RoundCancelled,
                procurement,
                updated,
                &bodies,
                json!({"reason": updated.cancel_reason}),
            )?
        }
        RoundAction::Close => round_closed(conn, procurement, updated)?,
        _ => Vec::new(),
    };
    enqueue(conn, messages, now)
}

/// The secretariat's message of a closed round: how many bodies joined, declined, or did not
/// answer.
fn round_closed(
    conn: &mut DbConnection,
    procurement: &Procurement,
    round: &RoundRow,
) -> Result<Vec<Message>, ApiError> {
    let eligible = eligible_bodies(conn, procurement)?.len();
    let answers = db::participations::list_for_round(conn, &round.id)?;
    let count =
        |status: ParticipationStatus| answers.iter().filter(|(p, _)| p.status == status).count();
    let joined = count(ParticipationStatus::Joined);
    let declined = count(ParticipationStatus::Declined);
    let mut context = serde_json::to_value(round_facts(procurement, round))
        .map_err(|e| anyhow::anyhow!(e).context("describing a round"))?;
    merge(
        &mut context,
        json!({
            "eligible": eligible,
            "joined": joined,
            "declined": declined,
            "unanswered": eligible.saturating_sub(answers.len()),
            "joined_bodies": answers.iter().filter(|(p, _)| p.status == ParticipationStatus::Joined).map(|(_, name)| name).collect::<Vec<_>>(),
        }),
    );
    Ok(db::users::admin_addresses(conn)?
        .into_iter()
        .map(|(organization, recipient)| Message {
            event: Event::RoundClosed,
            recipient,
            organization_id: Some(organization),
            round_id: Some(round.id.clone()),
            context: context.clone(),
        })
        .collect())
}

/// Sends the reminders that are due at `now`: for each open round, each eligible body without
/// an answer gets one per offset of the round's `reminder_days`, once the deadline is that many
/// days away. Only the latest offset that has passed counts, so that a service that was down
/// across two of them sends one reminder, not two; none is sent twice (`reminders_sent`).
/// Returns how many messages were written.
pub fn send_due_reminders(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    let mut written = 0;
    for round in db::rounds::in_state(conn, RoundState::Open)? {
        if round.closes_at <= now {
            continue;
        }
        let days: Vec<u32> = serde_json::from_str(&round.reminder_days).unwrap_or_default();
        // The smallest offset whose moment has come is the latest moment that has passed.
        let Some(due) = days
            .into_iter()
            .filter(|&d| round.closes_at - Duration::days(i64::from(d)) <= now)
            .min()
        else {
            continue;
        };
        let due = i32::try_from(due).unwrap_or(i32::MAX);
        written += db::transaction(conn, |conn| remind(conn, &round, due, now))?;
    }
    Ok(written)
}

fn remind(
    conn: &mut DbConnection,
    round: &RoundRow,
    days_before: i32,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let Some(row) = db::procurements::find(conn, &round.procurement_id)? else {
        return Ok(0);
    };
    let procurement = Procurement::decode(row)?;
    // Bodies that answered, and bodies already reminded at this offset, are passed over.
    let mut passed: HashSet<OrganizationId> =
        db::participations::responded(conn, std::slice::from_ref(&round.id))?
            .into_iter()
            .map(|(_, organization)| organization)
            .collect();
    passed.extend(outbox::reminded(conn, &round.id, days_before)?);
    let mut due = Vec::new();
    for body in eligible_bodies(conn, &procurement)? {
        if passed.contains(&body.id) {
            continue;
        }
        if outbox::mark_reminded(conn, &round.id, &body.id, days_before, now)? {
            due.push(body);
        }
    }
    if due.is_empty() {
        return Ok(0);
    }
    let messages = to_bodies(
        conn,
        Event::Reminder,
        &procurement,
        round,
        &due,
        json!({"days_before": days_before}),
    )?;
    enqueue(conn, messages, now)
}

/// Who a reminder sent now reached.
#[derive(Debug)]
pub struct Reminded {
    /// Bodies with at least one message, in code order.
    pub organizations: Vec<Member>,
    /// Messages written: one per address of each body.
    pub messages: usize,
}

/// Sends the reminder of an open round now, to each eligible body that has not answered (or to
/// those of `only`, by id or 団体コード, that have not), at the addresses that did not opt out of
/// reminders; audited once as `round.reminded`. Refuses non-administrators (403), an unknown round
/// (404), a round that does not take answers (409 `round_not_open`), and in `only` a body that is
/// unknown or not eligible (422). Runs in the caller's transaction.
pub fn remind_now(
    conn: &mut DbConnection,
    identity: &Identity,
    actor: &Actor,
    round_id: &RoundId,
    only: Option<&[String]>,
    now: NaiveDateTime,
) -> Result<Reminded, ApiError> {
    identity.require_admin()?;
    let (round, procurement) = visible_round(conn, identity, round_id)?;
    takes_answers(&round, now)?;
    let answered: HashSet<OrganizationId> =
        db::participations::responded(conn, std::slice::from_ref(&round.id))?
            .into_iter()
            .map(|(_, organization)| organization)
            .collect();
    let eligible = eligible_bodies(conn, &procurement)?;
    let wanted: Option<HashSet<OrganizationId>> = match only {
        None => None,
        Some(keys) => Some(listed_bodies(conn, keys, &eligible)?),
    };
    let due: Vec<Member> = eligible
        .into_iter()
        .filter(|b| !answered.contains(&b.id))
        .filter(|b| wanted.as_ref().is_none_or(|w| w.contains(&b.id)))
        .collect();
    // Whole days left, rounded up, as the scheduled reminders count them.
    let seconds_left = (round.closes_at - now).num_seconds();
    let days_before = (seconds_left + 86_399) / 86_400;
    let messages = to_bodies(
        conn,
        Event::Reminder,
        &procurement,
        &round,
        &due,
        json!({"days_before": days_before}),
    )?;
    let messages = without_opt_outs(conn, messages)?;
    let reached: HashSet<OrganizationId> = messages
        .iter()
        .filter_map(|m| m.organization_id.clone())
        .collect();
    let written = write(conn, messages, now)?;
    let organizations: Vec<Member> = due
        .into_iter()
        .filter(|b| reached.contains(&b.id))
        .collect();
    let codes: Vec<String> = organizations
        .iter()
        .map(|b| b.lg_code.clone().unwrap_or_else(|| b.id.to_string()))
        .collect();
    db::audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Round,
            entity_id: &round.id,
            action: Action::Reminded,
            procurement_id: Some(&round.procurement_id),
            audience: Audience::Admins,
            before: None,
            after: json!({
                "round_id": round.id,
                "reminded": organizations.len(),
                "messages": written,
                "organizations": codes,
            }),
            reason: None,
        },
        now,
    )?;
    Ok(Reminded {
        organizations,
        messages: written,
    })
}

/// The eligible bodies `keys` name (by id or 団体コード); 422 naming every key that names none.
fn listed_bodies(
    conn: &mut DbConnection,
    keys: &[String],
    eligible: &[Member],
) -> Result<HashSet<OrganizationId>, ApiError> {
    let mut errors = Vec::new();
    check_count(
        keys.len(),
        MAX_LISTED_ORGANIZATIONS,
        "organizations",
        &mut errors,
    );
    check(errors)?;
    let mut found = HashSet::new();
    let mut errors = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let field = format!("organizations[{i}]");
        match crate::service::organizations::find(conn, key.trim())? {
            None => errors.push(FieldError::new(
                field,
                "unknown_organization",
                format!("no organization has the id or code {key:?}"),
            )),
            Some(o) if !eligible.iter().any(|b| b.id == o.id) => errors.push(FieldError::new(
                field,
                "not_eligible",
                format!("{} is not eligible for this procurement", o.name),
            )),
            Some(o) => {
                found.insert(o.id);
            }
        }
    }
    check(errors)?;
    Ok(found)
}

/// Tells the body that asked (the person who asked, and the body's addresses) that its question
/// has an answer.
pub fn question_answered(
    conn: &mut DbConnection,
    question: &QuestionRow,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let title = db::procurements::find(conn, &question.procurement_id)?
        .map(|p| p.title)
        .unwrap_or_default();
    let organization_name = db::organizations::find(conn, &question.organization_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    let context = json!({
        "organization_name": organization_name,
        "procurement_id": question.procurement_id,
        "procurement_title": title,
        "question": question.question,
        "answer": question.answer,
        "answered_at": question.answered_at.map(japanese_datetime),
        "path": format!("/procurements/{}#questions", question.procurement_id),
    });
    let mut recipients: Vec<String> = db::users::find(conn, &question.asked_by)?
        .map(|u| u.email)
        .into_iter()
        .collect();
    let organization = question.organization_id.clone();
    for email in addresses_of(conn, std::slice::from_ref(&organization), None)?
        .into_values()
        .flatten()
    {
        if !recipients.contains(&email) {
            recipients.push(email);
        }
    }
    let messages = recipients
        .into_iter()
        .map(|recipient| Message {
            event: Event::QuestionAnswered,
            recipient,
            organization_id: Some(organization.clone()),
            round_id: None,
            context: context.clone(),
        })
        .collect();
    enqueue(conn, messages, now)
}

/// Puts a failed message back in the queue, due now: 404 when unknown, 409 unless failed.
pub fn retry(
    conn: &mut DbConnection,
    id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<OutboxRow, ApiError> {
    let current = outbox::find(conn, id)?.ok_or_else(|| {
        ApiError::not_found(
            "notification_not_found",
            format!("No message has the id {id:?}."),
        )
    })?;
    if !outbox::retry(conn, id, now)? {
        return Err(ApiError::conflict(
            "notification_not_failed",
            format!(
                "The message is {}: only failed messages are retried.",
                current.state
            ),
        ));
    }
    db::audit::record_simple(
        conn,
        actor,
        (EntityType::Notification, id),
        Action::Retried,
        Some(
            json!({"state": current.state, "attempts": current.attempts, "last_error": current.last_error}),
        ),
        Some(json!({"state": DeliveryState::Pending})),
        now,
    )?;
    Ok(outbox::find(conn, id)?.ok_or_else(|| anyhow::anyhow!("a retried message vanished"))?)
}

/// Stops reminders to `email`, as its unsubscribe link asks; messages already written stay.
pub fn opt_out_of_reminders(
    conn: &mut DbConnection,
    email: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    outbox::set_opt_out(conn, email, true, now)?;
    db::audit::record_simple(
        conn,
        &Actor::system(),
        (EntityType::Notification, email),
        Action::OptedOut,
        None,
        Some(json!({"email": email, "reminders": false})),
        now,
    )?;
    Ok(())
}
