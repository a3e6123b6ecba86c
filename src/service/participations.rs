use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use serde_json::json;

use crate::auth::Identity;
use crate::auth::identity::Caller;
use crate::db::DbConnection;
use crate::db::audit::{Actor, Audience, Change, ChangeRows};
use crate::db::new_id;
use crate::db::organizations::OrganizationRow;
use crate::db::participations::{self, ParticipationRow};
use crate::db::procurements::ProcurementRow;
use crate::db::rounds::{self, RoundRow};
use crate::domain::audit::{Action, EntityType};
use crate::domain::contact::clean_contact;
use crate::domain::field_error::FieldError;
use crate::domain::id::RoundId;
use crate::domain::limits::{MAX_OPTIONS, MAX_REASON, check_count};
use crate::domain::participation::ParticipationStatus;
use crate::domain::procurement::ProcurementStatus;
use crate::domain::round::{self as round_rules, RoundState};
use crate::domain::text::{Lines, optional_text};
use crate::domain::user::Role;
use crate::error::{ApiError, check};
use crate::service::procurements::Procurement;

/// Longest name of a contact person, and of a note with an answer.
pub const MAX_CONTACT_NAME: usize = crate::domain::limits::MAX_NAME;
pub const MAX_NOTE: usize = 2000;

/// What a body does to its participation in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipationChange {
    Join,
    Decline,
    Withdraw,
}

impl ParticipationChange {
    /// The participation's status afterwards.
    pub fn status(self) -> ParticipationStatus {
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
    /// The body's answer, where the lookup that built the context read it.
    pub existing: Existing,
}

/// The body's answer in the round as the context's lookup read it: locked until the transaction
/// ends, so that [`answer`] need not read it again.
pub enum Existing {
    /// Not read: [`answer`] reads it.
    Unread,
    /// The answer, `None` when the body has none.
    Read(Box<Option<ParticipationRow>>),
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
    let caller = Caller::Known(identity.clone());
    authorize_caller(conn, caller, round_id, organization_key, now).map(|(_, context)| context)
}

/// `authorize` for a caller whose API token may still have to be looked up (401 first when it
/// is not active). The token, the round, its procurement, the body and the body's answer come
/// in one statement; when the round or the body is missing, each is looked up again to say which.
pub fn authorize_caller(
    conn: &mut DbConnection,
    caller: Caller,
    round_id: &RoundId,
    organization_key: &str,
    now: NaiveDateTime,
) -> Result<(Identity, Context), ApiError> {
    let found = match crate::service::organizations::parse_key(organization_key) {
        Some(key) => rounds::find_for_answer(conn, round_id, &key, caller.token_lookup())?,
        None => None,
    };
    let (identity, context) = match found {
        Some(found) => {
            let identity = caller.identify_with(found.token)?;
            let procurement = answered(&identity, round_id, found.procurement)?;
            let context = Context {
                round: found.round,
                procurement,
                organization: found.organization,
                existing: Existing::Read(Box::new(found.answer)),
            };
            (identity, context)
        }
        None => {
            let identity = caller.identify(conn)?;
            let (round, procurement) = answered_round(conn, &identity, round_id)?;
            let organization = crate::service::organizations::resolve(conn, organization_key)?;
            let context = Context {
                round,
                procurement,
                organization,
                existing: Existing::Unread,
            };
            (identity, context)
        }
    };
    may_answer_for(&identity, &context.procurement, &context.organization)?;
    takes_answers(&context.round, now)?;
    Ok((identity, context))
}

/// The round and its procurement, as a caller who answers sees them: a draft's rounds are hidden
/// from all but administrators (404), while a round the caller's body is not eligible for is found
/// (so that the body learns why it cannot answer, rather than a 404).
pub fn answered_round(
    conn: &mut DbConnection,
    identity: &Identity,
    round_id: &RoundId,
) -> Result<(RoundRow, Procurement), ApiError> {
    let (round, stored) =
        rounds::find_for_share(conn, round_id)?.ok_or_else(|| round_not_found(round_id))?;
    let procurement = answered(identity, round_id, stored)?;
    Ok((round, procurement))
}

/// The procurement of a round found, unless the caller may not see it (a draft's, 404).
fn answered(
    identity: &Identity,
    round_id: &RoundId,
    stored: ProcurementRow,
) -> Result<Procurement, ApiError> {
    let procurement = Procurement::decode(stored)?;
    if procurement.row.status == ProcurementStatus::Draft && !identity.is_admin() {
        return Err(round_not_found(round_id));
    }
    Ok(procurement)
}

/// Whether the caller may answer for `organization` in `procurement`: viewers never (403), a
/// coordinator for its own body only (403), and only for a body the procurement admits (403 with
/// the reason).
pub fn may_answer_for(
    identity: &Identity,
    procurement: &Procurement,
    organization: &OrganizationRow,
) -> Result<(), ApiError> {
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
    procurement.admits(organization).map_err(|why| {
        ApiError::forbidden(
            "not_eligible",
            format!("{} cannot take part: {why}.", organization.name),
        )
    })
}

/// 409 `round_not_open` unless the round takes answers at `now`.
pub fn takes_answers(round: &RoundRow, now: NaiveDateTime) -> Result<(), ApiError> {
    if round_rules::accepts_responses(round.state, round.closes_at, now) {
        return Ok(());
    }
    let detail = match round.state {
        RoundState::Open => format!(
            "The round closed at {} UTC; answers are no longer accepted.",
            round.closes_at
        ),
        RoundState::Scheduled => format!("The round opens at {} UTC.", round.opens_at),
        other => format!("The round is {other}; answers are no longer accepted."),
    };
    Err(ApiError::conflict("round_not_open", detail))
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

/// Whether `procurement` takes this answer: 409 `participation_mandatory` when a body of a
/// mandatory procurement declines or withdraws; else 422 listing every option it does not offer
/// and a missing quantity where the cost is shared by usage.
pub fn judge(
    procurement: &Procurement,
    change: ParticipationChange,
    details: &AnswerDetails,
) -> Result<(), ApiError> {
    if procurement.row.mandatory && change != ParticipationChange::Join {
        return Err(ApiError::conflict(
            "participation_mandatory",
            "Every eligible body takes part in this procurement; it can choose options but not decline or withdraw.",
        ));
    }
    let mut errors = Vec::new();
    for code in &details.selected_options {
        if !procurement.options.iter().any(|o| &o.code == code) {
            errors.push(FieldError::new(
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
        errors.push(FieldError::new(
            "declared_quantity",
            "required",
            "this procurement shares cost by usage: declare a quantity",
        ));
    }
    check(errors)
}

/// A body's answer (to join or to decline) as a client gives it, whichever way it comes: a
/// `PUT` of one answer, or a row of an uploaded spreadsheet.
#[derive(Debug, Clone)]
pub struct AnswerInput {
    pub join: bool,
    pub selected_options: Vec<String>,
    pub declared_quantity: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub note: Option<String>,
    pub reason: Option<String>,
}

impl AnswerInput {
    /// The answer with every field checked for shape, or every field that is not (named as in
    /// JSON: `selected_options`, `contact.email`, …). What the procurement offers is judged
    /// against it later (`judge`).
    pub fn checked(self) -> Result<(ParticipationChange, AnswerDetails), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.declared_quantity.is_some_and(|q| q < 0) {
            errors.push(FieldError::new(
                "declared_quantity",
                "out_of_range",
                "a quantity cannot be negative",
            ));
        }
        check_count(
            self.selected_options.len(),
            MAX_OPTIONS,
            "selected_options",
            &mut errors,
        );
        let distinct: BTreeSet<&String> = self.selected_options.iter().collect();
        if distinct.len() != self.selected_options.len() {
            errors.push(FieldError::new(
                "selected_options",
                "duplicate",
                "each option is selected once",
            ));
        }
        let contact_name = optional_text(
            self.contact_name.as_deref(),
            "contact.name",
            MAX_CONTACT_NAME,
            Lines::One,
            &mut errors,
        );
        let reach = clean_contact(
            "contact.",
            self.contact_email.as_deref(),
            self.contact_phone.as_deref(),
            &mut errors,
        );
        let details = AnswerDetails {
            selected_options: self.selected_options,
            declared_quantity: self.declared_quantity,
            contact_name,
            contact_email: reach.email,
            contact_phone: reach.phone,
            note: optional_text(
                self.note.as_deref(),
                "note",
                MAX_NOTE,
                Lines::Many,
                &mut errors,
            ),
            reason: optional_text(
                self.reason.as_deref(),
                "reason",
                MAX_REASON,
                Lines::Many,
                &mut errors,
            ),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let change = if self.join {
            ParticipationChange::Join
        } else {
            ParticipationChange::Decline
        };
        Ok((change, details))
    }
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
        existing: read,
    } = context;
    judge(procurement, change, &details)?;

    let mut read = match read {
        Existing::Read(answer) => Some(Option::clone(answer)),
        Existing::Unread => None,
    };
    // Twice at most: a new answer that another writer inserted first is read again and changed.
    for _ in 0..2 {
        let existing = match read.take() {
            Some(answer) => answer,
            None => participations::find_for_update(conn, &round.id, &organization.id)?,
        };
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
        let row = next_version(existing.as_ref(), context, actor, change, &details, now)?;
        let is_new = existing.is_none();
        let mut after = public_view(&row);
        after["organization_name"] = json!(organization.name);
        let recorded = ChangeRows::new(
            actor,
            Change {
                entity_type: EntityType::Participation,
                entity_id: &row.id,
                action: change.done(),
                procurement_id: Some(&round.procurement_id),
                audience: Audience::Council,
                before: existing.as_ref().map(public_view),
                after,
                reason: details.reason.as_deref(),
            },
            now,
        );
        if participations::save(conn, &row, is_new, details.reason.as_deref(), &recorded)? {
            drop(recorded);
            return Ok((row, is_new));
        }
    }
    Err(anyhow::anyhow!("an answer inserted by another writer could not be read back").into())
}

/// The participation after `change`: the next version of `existing`, or the first. Contacts and
/// the note are kept where the answer leaves them out; only a body that joins keeps options and a
/// quantity.
fn next_version(
    existing: Option<&ParticipationRow>,
    context: &Context,
    actor: &Actor,
    change: ParticipationChange,
    details: &AnswerDetails,
    now: NaiveDateTime,
) -> Result<ParticipationRow, ApiError> {
    let keeps_options = change == ParticipationChange::Join;
    let options: &[String] = if keeps_options {
        &details.selected_options
    } else {
        &[]
    };
    let kept = |given: &Option<String>, stored: fn(&ParticipationRow) -> &Option<String>| {
        given
            .clone()
            .or_else(|| existing.and_then(|p| stored(p).clone()))
    };
    Ok(ParticipationRow {
        id: existing.map_or_else(new_id, |p| p.id.clone()),
        round_id: context.round.id.clone(),
        organization_id: context.organization.id.clone(),
        status: change.status(),
        selected_options: serde_json::to_string(options).map_err(anyhow::Error::from)?,
        declared_quantity: if keeps_options {
            details.declared_quantity
        } else {
            None
        },
        contact_name: kept(&details.contact_name, |p| &p.contact_name),
        contact_email: kept(&details.contact_email, |p| &p.contact_email),
        contact_phone: kept(&details.contact_phone, |p| &p.contact_phone),
        note: kept(&details.note, |p| &p.note),
        version: existing.map_or(1, |p| p.version + 1),
        updated_by: actor.user_id.clone(),
        created_at: existing.map_or(now, |p| p.created_at),
        updated_at: now,
    })
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
