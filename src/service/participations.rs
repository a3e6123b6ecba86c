use anyhow::Context as _;
use chrono::NaiveDateTime;
use serde_json::json;

use crate::auth::Identity;
use crate::db::DbConnection;
use crate::db::audit::{self, Actor, Audience, Change};
use crate::db::new_id;
use crate::db::organizations::OrganizationRow;
use crate::db::participations::{self, ParticipationRow};
use crate::db::procurements as procurement_rows;
use crate::db::rounds::{self, RoundRow};
use crate::domain::audit::{Action, EntityType};
use crate::domain::id::RoundId;
use crate::domain::participation::ParticipationStatus;
use crate::domain::procurement::ProcurementStatus;
use crate::domain::round::{self as round_rules, RoundState};
use crate::domain::user::Role;
use crate::error::ApiError;
use crate::service::procurements::Procurement;

/// What a body does to its participation in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipationChange {
    Join,
    Decline,
    Withdraw,
}

impl ParticipationChange {
    /// The participation's status afterwards.
    fn status(self) -> ParticipationStatus {
        match self {
            Self::Join => ParticipationStatus::Joined,
            Self::Decline => ParticipationStatus::Declined,
            Self::Withdraw => ParticipationStatus::Withdrawn,
        }
    }

    /// The change once done, as the audit log and the feed name it.
    fn done(self) -> Action {
        match self {
            Self::Join => Action::Joined,
            Self::Decline => Action::Declined,
            Self::Withdraw => Action::Withdrawn,
        }
    }
}

/// What comes with a body's answer, already checked for shape.
#[derive(Debug, Clone, Default)]
pub struct AnswerDetails {
    pub selected_options: Vec<String>,
    pub declared_quantity: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub note: Option<String>,
    /// Why an administrator answers on a body's behalf.
    pub reason: Option<String>,
}

/// The round, its procurement and the body, once the caller may act for the body in this round.
pub struct Context {
    pub round: RoundRow,
    pub procurement: Procurement,
    pub organization: OrganizationRow,
}

/// Checks, in order: the round exists and is visible (404), the caller may act for the body (403),
/// the body is eligible (403 with the reason), the round takes answers now (409). What the answer
/// says is judged after this, and the reason an administrator gives with `require_reason`.
pub fn authorize(
    conn: &mut DbConnection,
    identity: &Identity,
    round_id: &RoundId,
    organization_key: &str,
    now: NaiveDateTime,
) -> Result<Context, ApiError> {
    let round = rounds::find_for_share(conn, round_id)?.ok_or_else(|| round_not_found(round_id))?;
    // Drafts stay hidden; an ineligible body learns why it cannot answer (below) rather than 404.
    let stored = procurement_rows::find(conn, &round.procurement_id)?
        .context("the round's procurement is missing")?;
    let procurement = Procurement::decode(stored)?;
    if procurement.row.status == ProcurementStatus::Draft && !identity.is_admin() {
        return Err(round_not_found(round_id));
    }
    let organization = crate::service::organizations::resolve(conn, organization_key)?;
    if identity.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Viewers cannot answer for their organization.",
        ));
    }
    if !identity.may_act_for(&organization.id) {
        return Err(ApiError::forbidden(
            "not_your_organization",
            "Coordinators answer for their own organization only.",
        ));
    }
    procurement.admits(&organization).map_err(|why| {
        ApiError::forbidden(
            "not_eligible",
            format!("{} cannot take part: {why}.", organization.name),
        )
    })?;
    if !round_rules::accepts_responses(round.state, round.closes_at, now) {
        let detail = match round.state {
            RoundState::Open => format!(
                "The round closed at {} UTC; answers are no longer accepted.",
                round.closes_at
            ),
            RoundState::Scheduled => format!("The round opens at {} UTC.", round.opens_at),
            other => format!("The round is {other}; answers are no longer accepted."),
        };
        return Err(ApiError::conflict("round_not_open", detail));
    }
    Ok(Context {
        round,
        procurement,
        organization,
    })
}

/// An administrator answering for another body says why.
pub fn require_reason(
    identity: &Identity,
    context: &Context,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    if identity.is_admin()
        && identity.organization_id != context.organization.id
        && reason.is_none()
    {
        return Err(ApiError::invalid_field(
            "reason",
            "required",
            "an administrator answering for another organization gives a reason",
        ));
    }
    Ok(())
}

pub fn round_not_found(id: &RoundId) -> ApiError {
    ApiError::not_found("round_not_found", format!("No round has the id {id:?}."))
}

/// Records a body's answer with its history, audit entry and feed entry. Returns the row and
/// whether it was created.
pub fn answer(
    conn: &mut DbConnection,
    actor: &Actor,
    context: &Context,
    change: ParticipationChange,
    details: AnswerDetails,
    now: NaiveDateTime,
) -> Result<(ParticipationRow, bool), ApiError> {
    let Context {
        round,
        procurement,
        organization,
    } = context;
    if procurement.row.mandatory && change != ParticipationChange::Join {
        return Err(ApiError::conflict(
            "participation_mandatory",
            "Every eligible body takes part in this procurement; it can choose options but not decline or withdraw.",
        ));
    }
    for code in &details.selected_options {
        if !procurement.options.iter().any(|o| &o.code == code) {
            return Err(ApiError::invalid_field(
                "selected_options",
                "unknown_option",
                format!("the procurement has no option {code:?}"),
            ));
        }
    }
    if change == ParticipationChange::Join
        && procurement.needs_quantity(&details.selected_options)
        && details.declared_quantity.is_none()
    {
        return Err(ApiError::invalid_field(
            "declared_quantity",
            "required",
            "this procurement shares cost by usage: declare a quantity",
        ));
    }

    participations::lock(conn, &round.id, &organization.id)?;
    let existing = participations::find(conn, &round.id, &organization.id)?;
    if change == ParticipationChange::Withdraw
        && existing
            .as_ref()
            .is_none_or(|p| p.status == ParticipationStatus::Withdrawn)
    {
        return Err(ApiError::not_found(
            "participation_not_found",
            format!("{} has no answer to withdraw.", organization.name),
        ));
    }
    let before = existing.as_ref().map(public_view);
    let is_new = existing.is_none();
    // Only a body that joins has options and a quantity.
    let keeps_options = change == ParticipationChange::Join;
    let options: &[String] = if keeps_options {
        &details.selected_options
    } else {
        &[]
    };
    let row = ParticipationRow {
        id: existing.as_ref().map_or_else(new_id, |p| p.id.clone()),
        round_id: round.id.clone(),
        organization_id: organization.id.clone(),
        status: change.status(),
        selected_options: serde_json::to_string(options).map_err(anyhow::Error::from)?,
        declared_quantity: if keeps_options {
            details.declared_quantity
        } else {
            None
        },
        contact_name: details
            .contact_name
            .or_else(|| existing.as_ref().and_then(|p| p.contact_name.clone())),
        contact_email: details
            .contact_email
            .or_else(|| existing.as_ref().and_then(|p| p.contact_email.clone())),
        contact_phone: details
            .contact_phone
            .or_else(|| existing.as_ref().and_then(|p| p.contact_phone.clone())),
        note: details
            .note
            .or_else(|| existing.as_ref().and_then(|p| p.note.clone())),
        version: existing.as_ref().map_or(1, |p| p.version + 1),
        updated_by: actor.user_id.clone(),
        created_at: existing.as_ref().map_or(now, |p| p.created_at),
        updated_at: now,
    };
    participations::save(conn, &row, is_new, details.reason.as_deref())?;
    let mut after = public_view(&row);
    after["organization_name"] = json!(organization.name);
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Participation,
            entity_id: &row.id,
            action: change.done(),
            procurement_id: Some(&round.procurement_id),
            audience: Audience::Council,
            before,
            after,
            reason: details.reason.as_deref(),
        },
        now,
    )?;
    Ok((row, is_new))
}

/// What every body may know of an answer: who, and what they chose. Contacts and notes stay private.
pub fn public_view(row: &ParticipationRow) -> serde_json::Value {
    json!({
        "round_id": row.round_id,
        "organization_id": row.organization_id,
        "status": row.status,
        "selected_options": serde_json::from_str::<serde_json::Value>(&row.selected_options).unwrap_or_default(),
        "version": row.version,
    })
}
