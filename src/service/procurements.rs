use anyhow::Context as _;
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use crate::auth::Identity;
use crate::auth::identity::Caller;
use crate::db::DbConnection;
use crate::db::audit::Actor;
use crate::db::organizations::{self, AsCandidate, BodyName, Member};
use crate::db::procurements::{self, ProcurementRow};
use crate::db::rounds::{self, OpenRoundRow};
use crate::domain::audit::{Action, EntityType};
use crate::domain::field_error::FieldError;
use crate::domain::id::ProcurementId;
use crate::domain::procurement::{
    Category, CostModel, Document, Eligibility, ProcurementOption, ProcurementStatus,
};
use crate::domain::procurement::{ProcurementInput, ProcurementPatch};
use crate::domain::round::RoundAction;
use crate::error::{ApiError, check};
use crate::service::check_version;
use crate::service::organizations as organization_service;
use crate::service::rounds::{Details, transition};

/// A procurement with its JSON columns decoded.
#[derive(Debug, Clone)]
pub struct Procurement {
    pub row: ProcurementRow,
    pub eligibility: Eligibility,
    pub options: Vec<ProcurementOption>,
    pub documents: Vec<Document>,
    pub cost_model: CostModel,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    anyhow::anyhow!("stored {what} does not decode: {e}").into()
}

impl Procurement {
    pub fn decode(row: ProcurementRow) -> Result<Self, ApiError> {
        Ok(Self {
            eligibility: serde_json::from_str(&row.eligibility)
                .map_err(|e| corrupt("eligibility", e))?,
            options: serde_json::from_str(&row.options).map_err(|e| corrupt("options", e))?,
            documents: serde_json::from_str(&row.documents).map_err(|e| corrupt("documents", e))?,
            cost_model: serde_json::from_str(&row.cost_model)
                .map_err(|e| corrupt("cost model", e))?,
            row,
        })
    }

    pub fn id(&self) -> &ProcurementId {
        &self.row.id
    }

    /// Whether `organization` may take part; `Err` says why not.
    pub fn admits(&self, organization: &impl AsCandidate) -> Result<(), String> {
        self.eligibility.check(&organization.candidate())
    }

    /// Whether a body joining with these options shares a cost by usage, and so must declare a
    /// quantity: the base pool or a chosen option's pool has a usage weight.
    pub fn needs_quantity(&self, selected_options: &[String]) -> bool {
        self.cost_model
            .pools
            .iter()
            .filter(|p| {
                p.code == crate::domain::procurement::BASE_POOL
                    || selected_options.contains(&p.code)
            })
            .any(|p| p.weights.usage > 0)
    }
}

/// Loads a procurement the caller may see: administrators see every one; other users see
/// published (and later) procurements their body is eligible for. Anything else is "not found".
pub fn visible(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &ProcurementId,
) -> Result<Procurement, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "procurement_not_found",
            format!("No procurement has the id {id:?}."),
        )
    };
    let procurement = Procurement::decode(procurements::find(conn, id)?.ok_or_else(not_found)?)?;
    if !may_see(conn, identity, &procurement)? {
        return Err(not_found());
    }
    Ok(procurement)
}

/// Whether the caller sees `procurement` (see [`shown_to`]); asks for the caller's body only
/// when the caller is not an administrator.
pub fn may_see(
    conn: &mut DbConnection,
    identity: &Identity,
    procurement: &Procurement,
) -> Result<bool, ApiError> {
    if identity.is_admin() {
        return Ok(true);
    }
    let own = organizations::member(conn, &identity.organization_id)?
        .context("the caller's organization is missing")?;
    Ok(shown_to(procurement, &own, false))
}

/// Whether the users of `own` see `procurement`: administrators see every one; everyone else the
/// published (and later) procurements their body is eligible for.
pub fn shown_to(procurement: &Procurement, own: &impl AsCandidate, admin: bool) -> bool {
    admin || (procurement.row.status != ProcurementStatus::Draft && procurement.admits(own).is_ok())
}

/// Every council member the procurement admits.
pub fn eligible_bodies(
    conn: &mut DbConnection,
    procurement: &Procurement,
) -> Result<Vec<Member>, ApiError> {
    Ok(organizations::members(conn)?
        .into_iter()
        .filter(|o| procurement.admits(o).is_ok())
        .collect())
}

/// The procurement as its administrator would write it, to merge a patch into.
pub fn input_of(p: &Procurement) -> ProcurementInput {
    ProcurementInput {
        title: p.row.title.clone(),
        summary: p.row.summary.clone(),
        category: p.row.category,
        lead_organization: p.row.lead_organization_id.to_string(),
        mandatory: p.row.mandatory,
        small_body_friendly: p.row.small_body_friendly,
        eligibility: p.eligibility.clone(),
        options: p.options.clone(),
        documents: p.documents.clone(),
        cost_model: p.cost_model.clone(),
        contract_start_fiscal_year: p.row.contract_start_fy,
        contract_end_fiscal_year: p.row.contract_end_fy,
    }
}

/// Checks every rule of `input` and writes the result over `row` (a new draft when `row` is
/// None). Errors of the input itself and of the organizations it names come in one answer.
fn write(
    conn: &mut DbConnection,
    mut input: ProcurementInput,
    row: Option<ProcurementRow>,
    now: NaiveDateTime,
) -> Result<ProcurementRow, ApiError> {
    let mut errors = Vec::new();
    input.validate(&mut errors);
    // An unknown organization is the request's mistake; a failed lookup is not.
    let lead = match organization_service::find(conn, &input.lead_organization)
        .context("finding the lead organization")?
    {
        Some(lead) => {
            if !lead.kind.runs_the_council() {
                errors.push(FieldError::new("lead_organization", "not_a_lead", format!("{} cannot sign for the council: the lead is 長野県 or 長野県市町村自治振興組合", lead.name)));
            }
            Some(lead.id)
        }
        None => {
            errors.push(FieldError::new(
                "lead_organization",
                "unknown_organization",
                format!("no organization {:?}", input.lead_organization),
            ));
            None
        }
    };
    for (list, field) in [
        (&mut input.eligibility.include, "eligibility.include"),
        (&mut input.eligibility.exclude, "eligibility.exclude"),
    ] {
        for (i, key) in list.iter_mut().enumerate() {
            match organization_service::find(conn, key).context("finding an eligible body")? {
                Some(org) => *key = org.id.to_string(),
                None => errors.push(FieldError::new(
                    format!("{field}[{i}]"),
                    "unknown_organization",
                    format!("no organization {key:?}"),
                )),
            }
        }
    }
    check(errors)?;
    let lead = lead.context("a checked lead organization is missing")?;
    let mut row = row.unwrap_or_else(|| ProcurementRow {
        id: ProcurementId::generate(),
        title: String::new(),
        summary: String::new(),
        category: input.category,
        lead_organization_id: lead.clone(),
        mandatory: false,
        small_body_friendly: false,
        eligibility: String::new(),
        options: String::new(),
        documents: String::new(),
        cost_model: String::new(),
        contract_start_fy: 0,
        contract_end_fy: 0,
        status: ProcurementStatus::Draft,
        cancel_reason: None,
        version: 0,
        created_by: None,
        created_at: now,
        updated_at: now,
        published_at: None,
    });
    row.title = input.title;
    row.summary = input.summary;
    row.category = input.category;
    row.lead_organization_id = lead;
    row.mandatory = input.mandatory;
    row.small_body_friendly = input.small_body_friendly;
    row.eligibility = to_json(&input.eligibility)?;
    row.options = to_json(&input.options)?;
    row.documents = to_json(&input.documents)?;
    row.cost_model = to_json(&input.cost_model)?;
    row.contract_start_fy = input.contract_start_fiscal_year;
    row.contract_end_fy = input.contract_end_fiscal_year;
    row.version += 1;
    row.updated_at = now;
    Ok(row)
}

/// Saves a new draft, recorded as created by `actor`.
pub fn create(
    conn: &mut DbConnection,
    input: ProcurementInput,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Procurement, ApiError> {
    let mut row = write(conn, input, None, now)?;
    row.created_by = actor.user_id.clone();
    procurements::insert(conn, &row)?;
    record(conn, actor, Action::Created, None, &row, None, now)?;
    Procurement::decode(row)
}

/// Changes a draft or published procurement, if it is still at the version the caller read.
pub fn update(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &ProcurementId,
    expected_version: Option<&str>,
    patch: ProcurementPatch,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Procurement, ApiError> {
    let current = visible(conn, identity, id)?;
    check_version(expected_version, current.row.version)?;
    if !matches!(
        current.row.status,
        ProcurementStatus::Draft | ProcurementStatus::Published
    ) {
        return Err(ApiError::conflict(
            "procurement_not_editable",
            format!("A {} procurement cannot be changed.", current.row.status),
        ));
    }
    let mut input = input_of(&current);
    patch.apply_to(&mut input);
    let row = write(conn, input, Some(current.row.clone()), now)?;
    save(conn, &current.row, row, Action::Updated, None, actor, now)
}

/// Publishes a draft, recorded as done by `actor`.
pub fn publish(
    conn: &mut DbConnection,
    current: &Procurement,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Procurement, ApiError> {
    if current.row.status != ProcurementStatus::Draft {
        return Err(ApiError::conflict(
            "procurement_not_draft",
            format!(
                "Only drafts are published; this one is {}.",
                current.row.status
            ),
        ));
    }
    let mut row = current.row.clone();
    row.status = ProcurementStatus::Published;
    row.published_at = Some(now);
    row.version += 1;
    row.updated_at = now;
    save(conn, &current.row, row, Action::Published, None, actor, now)
}

/// A published procurement whose round was finalized: its contract is signed.
pub fn mark_contracted(
    conn: &mut DbConnection,
    current: &Procurement,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Procurement, ApiError> {
    let mut row = current.row.clone();
    row.status = ProcurementStatus::Contracted;
    row.version += 1;
    row.updated_at = now;
    save(
        conn,
        &current.row,
        row,
        Action::Contracted,
        None,
        actor,
        now,
    )
}

/// Cancels a draft or published procurement, and with it every round not yet finalized.
pub fn cancel(
    conn: &mut DbConnection,
    current: &Procurement,
    reason: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Procurement, ApiError> {
    if !matches!(
        current.row.status,
        ProcurementStatus::Draft | ProcurementStatus::Published
    ) {
        return Err(ApiError::conflict(
            "procurement_not_cancellable",
            format!("A {} procurement cannot be cancelled.", current.row.status),
        ));
    }
    for round in rounds::list_for_procurement(conn, current.id())? {
        if round.state.after(RoundAction::Cancel, round.kind).is_ok() {
            transition(
                conn,
                &round,
                RoundAction::Cancel,
                Details {
                    reason: Some(reason),
                    ..Details::default()
                },
                actor,
                now,
            )?
            .ok_or_else(|| ApiError::stale("a round changed at the same time"))?;
        }
    }
    let mut row = current.row.clone();
    row.status = ProcurementStatus::Cancelled;
    row.cancel_reason = Some(reason.to_owned());
    row.version += 1;
    row.updated_at = now;
    save(
        conn,
        &current.row,
        row,
        Action::Cancelled,
        Some(reason),
        actor,
        now,
    )
}

/// Writes `row` over `before`, unless another request changed it first, and records the change.
fn save(
    conn: &mut DbConnection,
    before: &ProcurementRow,
    row: ProcurementRow,
    action: Action,
    reason: Option<&str>,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Procurement, ApiError> {
    if !procurements::update(conn, &row, before.version)? {
        return Err(ApiError::stale(
            "another request changed it at the same time",
        ));
    }
    record(conn, actor, action, Some(before), &row, reason, now)?;
    Procurement::decode(row)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| anyhow::Error::from(e).into())
}

/// The procurement as the audit log records it.
pub fn snapshot(row: &ProcurementRow) -> serde_json::Value {
    json!({
        "id": row.id, "title": row.title, "status": row.status, "category": row.category,
        "mandatory": row.mandatory, "small_body_friendly": row.small_body_friendly,
        "eligibility": serde_json::from_str::<serde_json::Value>(&row.eligibility).unwrap_or_default(),
        "options": serde_json::from_str::<serde_json::Value>(&row.options).unwrap_or_default(),
        "cost_model": serde_json::from_str::<serde_json::Value>(&row.cost_model).unwrap_or_default(),
        "contract_start_fy": row.contract_start_fy, "contract_end_fy": row.contract_end_fy,
        "version": row.version,
    })
}

/// Records a procurement change in the audit log and the feed (drafts: administrators only).
pub fn record(
    conn: &mut DbConnection,
    actor: &crate::db::audit::Actor,
    action: Action,
    before: Option<&ProcurementRow>,
    after: &ProcurementRow,
    reason: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    use crate::db::audit::{self, Audience, Change};
    let audience = if after.status == ProcurementStatus::Draft {
        Audience::Admins
    } else {
        Audience::Council
    };
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Procurement,
            entity_id: &after.id,
            action,
            procurement_id: Some(&after.id),
            audience,
            before: before.map(snapshot),
            after: snapshot(after),
            reason,
        },
        now,
    )?;
    Ok(())
}

/// What a list of procurements is narrowed to.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub status: Option<ProcurementStatus>,
    pub category: Option<Category>,
    pub small_body_friendly: Option<bool>,
    /// Only procurements with a round open now (or only those without, when false).
    pub open_round: Option<bool>,
    /// Only procurements with an open round that the caller's body has not answered.
    pub awaiting_my_response: Option<bool>,
}

/// A procurement in a list, with what a body deciding what to do next wants to know.
pub struct Listed {
    pub procurement: Procurement,
    pub lead: BodyName,
    /// Its open rounds, each with whether the caller's body has answered it.
    pub open_rounds: Vec<(OpenRoundRow, bool)>,
    pub awaiting_my_response: bool,
}

/// Procurements the caller may see, newest first: administrators all; other users the published
/// (and later) ones their body is eligible for.
pub fn list(
    conn: &mut DbConnection,
    identity: &Identity,
    filter: &ListFilter,
) -> Result<Vec<Listed>, ApiError> {
    let caller = Caller::Known(identity.clone());
    list_as(conn, caller, filter).map(|(_, listed)| listed)
}

/// `list` for a caller whose API token may still have to be looked up (401 when it is not
/// active): the token comes in the same statement as the list.
pub fn list_as(
    conn: &mut DbConnection,
    caller: Caller,
    filter: &ListFilter,
) -> Result<(Identity, Vec<Listed>), ApiError> {
    // A token's owner may be an administrator: the query then lists drafts as well.
    let (viewer, drafts) = match &caller {
        Caller::Known(identity) => (
            procurements::Viewer::Body(&identity.organization_id),
            identity.is_admin(),
        ),
        Caller::ApiToken(_) => (procurements::Viewer::Token(caller.token_lookup()), false),
    };
    let (rows, own, token) = procurements::list_with_open_rounds(
        conn,
        procurements::Filter {
            status: filter.status,
            drafts,
            category: filter.category,
            small_body_friendly: filter.small_body_friendly,
        },
        viewer,
    )?;
    let (identity, own) = match own {
        Some(own) => (caller.identify_with(token)?, own),
        // No procurement admitted (or, never with a valid identity, no such body); or no such
        // token, which the lookup of its own tells.
        None => return Ok((caller.identify(conn)?, Vec::new())),
    };
    if filter.status == Some(ProcurementStatus::Draft) && !identity.is_admin() {
        return Ok((identity, Vec::new()));
    }
    // A procurement with several open rounds comes in as many rows, one after the other.
    type Group = (ProcurementRow, BodyName, Vec<(OpenRoundRow, bool)>);
    let mut grouped: Vec<Group> = Vec::new();
    for (row, lead, open) in rows {
        match grouped.last_mut() {
            Some((last, _, rounds)) if last.id == row.id => rounds.extend(open),
            _ => grouped.push((row, lead, open.into_iter().collect())),
        }
    }
    let mut listed = Vec::new();
    for (row, lead, open_rounds) in grouped {
        let procurement = Procurement::decode(row)?;
        if !shown_to(&procurement, &own, identity.is_admin()) {
            continue;
        }
        let awaiting =
            open_rounds.iter().any(|(_, answered)| !answered) && procurement.admits(&own).is_ok();
        if filter
            .open_round
            .is_some_and(|wanted| wanted == open_rounds.is_empty())
            || filter
                .awaiting_my_response
                .is_some_and(|wanted| wanted != awaiting)
        {
            continue;
        }
        listed.push(Listed {
            lead,
            procurement,
            open_rounds,
            awaiting_my_response: awaiting,
        });
    }
    Ok((identity, listed))
}
