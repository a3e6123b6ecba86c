//! Cost shares: estimates while a round runs, the finalized allocation and its corrections.
//! The engine (`domain::allocation`) computes; this module gathers its inputs from the database
//! and stores what it returns.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::db::DbConnection;
use crate::db::allocations::{self, AllocationRow};
use crate::db::audit::{self, Actor, Audience, Change};
use crate::db::new_id;
use crate::db::organizations::{self, Member};
use crate::db::participations::{self, ParticipationRow};
use crate::db::rounds::{self, RoundRow};
use crate::domain::allocation::{
    self as engine, Allocation, AllocationError, Participant, PoolAllocation, PoolYearTotal, Share,
};
use crate::domain::audit::{Action, EntityType};
use crate::domain::field_error::FieldError;
use crate::domain::id::{OrganizationId, ProcurementId, RoundId, UserId};
use crate::domain::notification::{Event, yen};
use crate::domain::organization::OrganizationKind;
use crate::domain::participation::ParticipationStatus;
use crate::domain::procurement::{BASE_POOL, CostModel, ProcurementStatus};
use crate::domain::round::{RoundAction, RoundState};
use crate::error::{ApiError, check};
use crate::service::notifications::{self, Message};
use crate::service::procurements::Procurement;
use crate::service::rounds::{Details, transition};

/// A body in an allocation, with what the engine read of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllocatedBody {
    #[serde(flatten)]
    pub participant: Participant,
    pub kind: OrganizationKind,
    /// The base date of the population figure used: the newest on or before the round's.
    pub population_base_date: Option<NaiveDate>,
}

/// The lead (signing) body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Party {
    pub organization_id: String,
    pub lg_code: Option<String>,
    pub name: String,
}

/// A finalized allocation, whole: every input the engine read and every share it gave. Stored
/// as it is served; a correction is a new version, and no version changes once written.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AllocationDocument {
    #[schema(value_type = String)]
    pub round_id: RoundId,
    #[schema(value_type = String)]
    pub procurement_id: ProcurementId,
    pub procurement_title: String,
    /// 1 for the finalization, then one more for each correction.
    pub version: i32,
    /// Why this version corrects the previous one.
    pub reason: Option<String>,
    pub finalized_at: DateTime<Utc>,
    /// Each body's population is the figure in force on this date.
    pub population_base_date: NaiveDate,
    pub lead_organization: Party,
    /// The cost model as it stood: pools, weights, transforms, remainder rules.
    pub cost_model: CostModel,
    /// Pool code → name (基本 for `base`, the option's name otherwise).
    pub pool_names: BTreeMap<String, String>,
    /// The contracted totals, per pool and fiscal year.
    pub totals: Vec<PoolYearTotal>,
    /// Every body that joined, in organization id order.
    pub participants: Vec<AllocatedBody>,
    /// Every share, per pool and fiscal year.
    pub pools: Vec<PoolAllocation>,
    /// Yen: the sum of `totals`, and of every share.
    pub total: i64,
}

impl AllocationDocument {
    /// The name its CSV is saved under, wherever it is downloaded or attached.
    pub fn csv_file_name(&self) -> String {
        format!("allocation-{}-v{}.csv", self.round_id, self.version)
    }

    pub fn decode(row: &AllocationRow) -> Result<Self, ApiError> {
        serde_json::from_str(&row.document)
            .context("reading a stored allocation")
            .map_err(ApiError::unexpected)
    }

    pub fn pool_name<'a>(&'a self, pool: &'a str) -> &'a str {
        self.pool_names.get(pool).map_or(pool, String::as_str)
    }

    pub fn body(&self, organization_id: &str) -> Option<&AllocatedBody> {
        self.participants
            .iter()
            .find(|b| b.participant.organization_id == organization_id)
    }
}

/// The names of a procurement's pools.
fn pool_names(procurement: &Procurement) -> BTreeMap<String, String> {
    let mut names = BTreeMap::from([(BASE_POOL.to_owned(), "基本".to_owned())]);
    for option in &procurement.options {
        names.insert(option.code.clone(), option.name.clone());
    }
    names
}

/// The fiscal years a round's shares are for: the renewed year of a renewal round, else the
/// procurement's contract term.
pub fn fiscal_years(round: &RoundRow, procurement: &Procurement) -> Vec<i32> {
    match round.fiscal_year {
        Some(year) => vec![year],
        None => (procurement.row.contract_start_fy..=procurement.row.contract_end_fy).collect(),
    }
}

/// Every council member with the population in force on `date`.
struct Bodies {
    members: HashMap<OrganizationId, Member>,
    populations: HashMap<OrganizationId, (i64, NaiveDate)>,
}

impl Bodies {
    fn load(conn: &mut DbConnection, date: NaiveDate) -> Result<Self, ApiError> {
        let members: HashMap<OrganizationId, Member> = organizations::members(conn)?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let populations = organizations::populations_on(conn, date)?;
        Ok(Self {
            members,
            populations,
        })
    }

    fn body(
        &self,
        id: &OrganizationId,
        quantity: Option<i64>,
        options: Vec<String>,
    ) -> Result<AllocatedBody, ApiError> {
        let member = self
            .members
            .get(id)
            .with_context(|| format!("organization {id} is missing"))?;
        let population = self.populations.get(id);
        Ok(AllocatedBody {
            participant: Participant {
                organization_id: id.to_string(),
                lg_code: member.lg_code.clone(),
                name: member.name.clone(),
                population: population.map(|p| p.0),
                quantity,
                options,
            },
            kind: member.kind,
            population_base_date: population.map(|p| p.1),
        })
    }
}

/// The bodies that have joined the round, with their choices, in organization id order.
fn joined(
    conn: &mut DbConnection,
    round: &RoundRow,
    bodies: &Bodies,
) -> Result<Vec<AllocatedBody>, ApiError> {
    let answers: Vec<ParticipationRow> = participations::list_for_round(conn, &round.id)?
        .into_iter()
        .map(|(row, _)| row)
        .collect();
    joined_of(&answers, bodies)
}

/// Of these answers, the bodies that joined, in organization id order.
fn joined_of(
    answers: &[ParticipationRow],
    bodies: &Bodies,
) -> Result<Vec<AllocatedBody>, ApiError> {
    let mut joined = Vec::new();
    for row in answers {
        if row.status != ParticipationStatus::Joined {
            continue;
        }
        let options: Vec<String> =
            serde_json::from_str(&row.selected_options).context("reading selected options")?;
        joined.push(bodies.body(&row.organization_id, row.declared_quantity, options)?);
    }
    joined.sort_by(|a, b| {
        a.participant
            .organization_id
            .cmp(&b.participant.organization_id)
    });
    Ok(joined)
}

/// The model's totals for these participants: per pool with at least one member, per year.
fn model_totals(
    model: &CostModel,
    participants: &[Participant],
    years: &[i32],
) -> Result<Vec<PoolYearTotal>, AllocationError> {
    let mut totals = Vec::new();
    for pool in &model.pools {
        let n = engine::pool_members(&pool.code, participants).count();
        if n == 0 {
            continue;
        }
        let amount = engine::model_total(&pool.code, &pool.total, n)?;
        totals.extend(years.iter().map(|&fiscal_year| PoolYearTotal {
            pool: pool.code.clone(),
            fiscal_year,
            amount,
        }));
    }
    Ok(totals)
}

/// An allocation that what the request gave (the totals, the bodies named) makes impossible: 422,
/// a field error on the pool.
fn impossible(error: AllocationError) -> ApiError {
    ApiError::validation(vec![FieldError::new(
        format!("pools.{}", error.pool()),
        "allocation_impossible",
        error.to_string(),
    )])
}

/// An allocation that what is stored makes impossible (the cost model, the bodies' population
/// figures, their answers and quantities): a well-formed request that no change to it could mend,
/// so 409, until an administrator mends the data.
fn impossible_now(error: AllocationError) -> ApiError {
    ApiError::conflict(
        "allocation_impossible",
        format!("The cost model cannot be applied to these bodies as they stand: {error}."),
    )
}

/// Runs the engine on `participants` with the model's totals; `refusal` says whose the
/// impossibility is (see [`impossible`] and [`impossible_now`]).
fn estimate_with(
    procurement: &Procurement,
    participants: &[Participant],
    years: &[i32],
    refusal: fn(AllocationError) -> ApiError,
) -> Result<Allocation, ApiError> {
    let model = &procurement.cost_model;
    let totals = model_totals(model, participants, years).map_err(refusal)?;
    engine::allocate(&engine::Input {
        model,
        lead_organization_id: &procurement.row.lead_organization_id,
        participants,
        totals: &totals,
    })
    .map_err(refusal)
}

/// One pool in one year, as a body's estimate shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EstimatedPool {
    pub pool: String,
    pub name: String,
    pub fiscal_year: i32,
    /// Yen: the pool's total with this many participants.
    pub total: i64,
    pub participants: usize,
    /// This body's share; null for a pool it does not pay into.
    pub share: Option<Share>,
}

/// What a body pays under one assumption about who joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Scenario {
    /// Bodies taking part (the base pool's members).
    pub participants: usize,
    pub pools: Vec<EstimatedPool>,
    /// Yen per fiscal year (named by its number, as JSON's keys are text).
    #[schema(value_type = BTreeMap<String, i64>)]
    pub per_year: BTreeMap<i32, i64>,
    /// Yen over the whole term.
    pub amount: i64,
    /// Bodies this scenario could not price (no population figure in force where population
    /// weighs), by name.
    pub left_out: Vec<String>,
}

/// `GET /rounds/{id}/estimate`: what one body pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Estimate {
    #[schema(value_type = String)]
    pub round_id: RoundId,
    pub round_state: RoundState,
    #[schema(value_type = String)]
    pub organization_id: OrganizationId,
    pub organization_name: String,
    /// The body's answer now: joined, declined, withdrawn, or null without one.
    #[schema(value_type = Option<String>, example = "joined")]
    pub status: Option<ParticipationStatus>,
    /// Options priced for the body: its current choices.
    pub selected_options: Vec<String>,
    /// Estimates are never binding; only a finalized allocation is.
    pub binding: bool,
    /// If the body joins now (or stays joined) with its current choices.
    pub if_joined_now: Scenario,
    /// If, besides, every eligible body without an answer joined too (base pool only).
    pub if_all_join: Scenario,
}

fn scenario(
    procurement: &Procurement,
    participants: &[Participant],
    years: &[i32],
    organization_id: &str,
) -> Result<Scenario, ApiError> {
    let allocation = estimate_with(procurement, participants, years, impossible_now)?;
    let names = pool_names(procurement);
    let mut per_year = BTreeMap::new();
    let pools = allocation
        .pools
        .into_iter()
        .map(|pool| {
            let share = pool
                .shares
                .into_iter()
                .find(|s| s.organization_id == organization_id);
            *per_year.entry(pool.fiscal_year).or_insert(0) +=
                share.as_ref().map_or(0, |s| s.amount);
            EstimatedPool {
                name: names.get(&pool.pool).cloned().unwrap_or_default(),
                participants: engine::pool_members(&pool.pool, participants).count(),
                pool: pool.pool,
                fiscal_year: pool.fiscal_year,
                total: pool.total,
                share,
            }
        })
        .collect();
    Ok(Scenario {
        participants: participants.len(),
        pools,
        amount: per_year.values().sum(),
        per_year,
        left_out: Vec::new(),
    })
}

/// Options and quantity a body is considering, priced before it answers.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub options: Vec<String>,
    pub quantity: Option<i64>,
}

/// What `organization` would pay: joining now with its current choices (or with `considering`,
/// when given), and if every body without an answer joined too.
pub fn estimate(
    conn: &mut DbConnection,
    round: &RoundRow,
    procurement: &Procurement,
    organization: &OrganizationId,
    considering: Option<Choices>,
) -> Result<Estimate, ApiError> {
    let bodies = Bodies::load(conn, round.population_base_date)?;
    let member = bodies
        .members
        .get(organization)
        .with_context(|| format!("organization {organization} is missing"))?;
    procurement.admits(member).map_err(|why| {
        ApiError::forbidden(
            "not_eligible",
            format!("{} cannot take part: {why}.", member.name),
        )
    })?;
    let organization_name = member.name.clone();
    let answers: Vec<ParticipationRow> = participations::list_for_round(conn, &round.id)?
        .into_iter()
        .map(|(row, _)| row)
        .collect();
    let answered: HashSet<&OrganizationId> =
        answers.iter().map(|row| &row.organization_id).collect();
    let own = answers
        .iter()
        .find(|row| &row.organization_id == organization);
    let stored = match own {
        Some(row) => Choices {
            options: serde_json::from_str(&row.selected_options)
                .context("reading selected options")?,
            quantity: row.declared_quantity,
        },
        None => Choices::default(),
    };
    let considered = considering.is_some();
    let Choices {
        options: selected_options,
        quantity,
    } = considering.unwrap_or(stored);
    let mut now: Vec<Participant> = joined_of(&answers, &bodies)?
        .into_iter()
        .map(|b| b.participant)
        .filter(|p| !considered || p.organization_id != **organization)
        .collect();
    if !now.iter().any(|p| p.organization_id == **organization) {
        now.push(
            bodies
                .body(organization, quantity, selected_options.clone())?
                .participant,
        );
    }
    // Bodies that have not answered join the base pool. Where it weighs population, a body with
    // no figure in force cannot be priced: it is left out, and named.
    let weighs_population = procurement
        .cost_model
        .pools
        .iter()
        .any(|p| p.code == BASE_POOL && p.weights.population > 0);
    let mut everyone = now.clone();
    let mut left_out = Vec::new();
    // Every council member the procurement admits, in code order (as `eligible_bodies` lists them).
    let mut unanswered: Vec<&Member> = bodies
        .members
        .values()
        .filter(|m| !answered.contains(&m.id) && &m.id != organization)
        .filter(|m| procurement.admits(*m).is_ok())
        .collect();
    unanswered.sort_by(|a, b| {
        (a.lg_code.is_none(), &a.lg_code, &a.name).cmp(&(b.lg_code.is_none(), &b.lg_code, &b.name))
    });
    for body in unanswered {
        let hypothetical = bodies.body(&body.id, None, Vec::new())?.participant;
        if weighs_population && hypothetical.population.is_none() {
            left_out.push(hypothetical.name);
        } else {
            everyone.push(hypothetical);
        }
    }
    let years = fiscal_years(round, procurement);
    Ok(Estimate {
        round_id: round.id.clone(),
        round_state: round.state,
        organization_id: organization.clone(),
        organization_name,
        status: own.map(|row| row.status),
        selected_options,
        binding: false,
        if_joined_now: scenario(procurement, &now, &years, organization)?,
        if_all_join: Scenario {
            left_out,
            ..scenario(procurement, &everyone, &years, organization)?
        },
    })
}

/// A body in an administrator's what-if.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfBody {
    /// Id or 団体コード.
    pub organization: String,
    #[serde(default)]
    pub options: Vec<String>,
    pub quantity: Option<i64>,
}

/// `POST /rounds/{id}/estimate`: every share if exactly these bodies took part.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhatIf {
    #[schema(value_type = String)]
    pub round_id: RoundId,
    pub binding: bool,
    pub participants: Vec<AllocatedBody>,
    pub pool_names: BTreeMap<String, String>,
    pub pools: Vec<PoolAllocation>,
}

pub fn what_if(
    conn: &mut DbConnection,
    round: &RoundRow,
    procurement: &Procurement,
    given: Vec<WhatIfBody>,
) -> Result<WhatIf, ApiError> {
    let bodies = Bodies::load(conn, round.population_base_date)?;
    let mut errors = Vec::new();
    let mut participants: Vec<AllocatedBody> = Vec::new();
    for (i, body) in given.into_iter().enumerate() {
        let field = |f: &str| format!("participants[{i}].{f}");
        let organization = match crate::service::organizations::resolve(conn, &body.organization) {
            Ok(organization) => organization,
            Err(e) if e.is_not_found() => {
                errors.push(FieldError::new(
                    field("organization"),
                    "unknown_organization",
                    format!("no organization has the id or code {:?}", body.organization),
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if participants
            .iter()
            .any(|p| p.participant.organization_id == *organization.id)
        {
            errors.push(FieldError::new(
                field("organization"),
                "duplicate",
                format!("{} is listed twice", organization.name),
            ));
        }
        for option in &body.options {
            if !procurement.options.iter().any(|o| &o.code == option) {
                errors.push(FieldError::new(
                    field("options"),
                    "unknown_option",
                    format!("the procurement offers no option {option:?}"),
                ));
            }
        }
        if body.quantity.is_some_and(|q| q < 0) {
            errors.push(FieldError::new(
                field("quantity"),
                "out_of_range",
                "a quantity cannot be negative",
            ));
        }
        participants.push(bodies.body(&organization.id, body.quantity, body.options)?);
    }
    if participants.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "participants",
            "empty",
            "name at least one body",
        ));
    }
    check(errors)?;
    participants.sort_by(|a, b| {
        a.participant
            .organization_id
            .cmp(&b.participant.organization_id)
    });
    let engine_input: Vec<Participant> =
        participants.iter().map(|b| b.participant.clone()).collect();
    let allocation = estimate_with(
        procurement,
        &engine_input,
        &fiscal_years(round, procurement),
        impossible,
    )?;
    Ok(WhatIf {
        round_id: round.id.clone(),
        binding: false,
        participants,
        pool_names: pool_names(procurement),
        pools: allocation.pools,
    })
}

/// Checks contracted totals against the model and the term: each pool with participants has one
/// total per fiscal year; nothing else is given twice or for a pool the model lacks. A pool
/// without participants may be omitted or given 0.
fn check_totals(
    totals: &[PoolYearTotal],
    model: &CostModel,
    participants: &[Participant],
    years: &[i32],
) -> Result<Vec<PoolYearTotal>, ApiError> {
    let mut errors = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, total) in totals.iter().enumerate() {
        let field = |f: &str| format!("totals[{i}].{f}");
        if !model.pools.iter().any(|p| p.code == total.pool) {
            errors.push(FieldError::new(
                field("pool"),
                "unknown_pool",
                format!("the cost model has no pool {:?}", total.pool),
            ));
        }
        if !years.contains(&total.fiscal_year) {
            errors.push(FieldError::new(
                field("fiscal_year"),
                "out_of_term",
                format!(
                    "{} is not a fiscal year of this round ({:?})",
                    total.fiscal_year, years
                ),
            ));
        }
        if total.amount < 0 {
            errors.push(FieldError::new(
                field("amount"),
                "out_of_range",
                "a total cannot be negative",
            ));
        }
        if seen
            .insert((total.pool.clone(), total.fiscal_year), total.amount)
            .is_some()
        {
            errors.push(FieldError::new(
                field("pool"),
                "duplicate",
                format!("{} {} is given twice", total.pool, total.fiscal_year),
            ));
        }
    }
    let mut ordered = Vec::new();
    for pool in &model.pools {
        let members = engine::pool_members(&pool.code, participants).count();
        for &year in years {
            match seen.get(&(pool.code.clone(), year)) {
                Some(&amount) if members > 0 => ordered.push(PoolYearTotal {
                    pool: pool.code.clone(),
                    fiscal_year: year,
                    amount,
                }),
                Some(&amount) if amount > 0 => errors.push(FieldError::new(
                    "totals",
                    "no_participants",
                    format!("nobody takes part in pool {:?}: its total is 0", pool.code),
                )),
                Some(_) => {}
                None if members > 0 => errors.push(FieldError::new(
                    "totals",
                    "missing_total",
                    format!(
                        "pool {:?} has {members} participants and no total for {year}",
                        pool.code
                    ),
                )),
                None => {}
            }
        }
    }
    check(errors).map(|()| ordered)
}

/// The model's totals for the bodies that joined the round: what a contract at list price costs.
pub fn totals_at_model_prices(
    conn: &mut DbConnection,
    round: &RoundRow,
    procurement: &Procurement,
) -> Result<Vec<PoolYearTotal>, ApiError> {
    let bodies = Bodies::load(conn, round.population_base_date)?;
    let participants: Vec<Participant> = joined(conn, round, &bodies)?
        .into_iter()
        .map(|b| b.participant)
        .collect();
    model_totals(
        &procurement.cost_model,
        &participants,
        &fiscal_years(round, procurement),
    )
    .map_err(impossible_now)
}

/// What an administrator gives to finalize or correct.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"totals": [{"pool": "base", "fiscal_year": 2027, "amount": 14000000}]}))]
pub struct FinalizeRequest {
    /// The contracted total of every pool with participants, for every fiscal year of the term.
    pub totals: Vec<PoolYearTotal>,
    /// Why: required for a correction, optional when finalizing.
    pub reason: Option<String>,
}

/// Computes and stores a version of the round's allocation.
fn store(
    conn: &mut DbConnection,
    round: &RoundRow,
    procurement: &Procurement,
    request: FinalizeRequest,
    version: i32,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<AllocationDocument, ApiError> {
    let bodies = Bodies::load(conn, round.population_base_date)?;
    let participants = joined(conn, round, &bodies)?;
    let engine_input: Vec<Participant> =
        participants.iter().map(|b| b.participant.clone()).collect();
    if engine_input.is_empty() {
        return Err(ApiError::conflict(
            "no_participants",
            "Nobody joined this round: there is nothing to allocate.",
        ));
    }
    let years = fiscal_years(round, procurement);
    let model = &procurement.cost_model;
    let totals = check_totals(&request.totals, model, &engine_input, &years)?;
    let allocation = engine::allocate(&engine::Input {
        model,
        lead_organization_id: &procurement.row.lead_organization_id,
        participants: &engine_input,
        totals: &totals,
    })
    .map_err(|error| {
        // The totals are the request's; the joined bodies' figures are what is stored.
        if error.in_participants() {
            impossible_now(error)
        } else {
            impossible(error)
        }
    })?;
    let lead = bodies
        .members
        .get(&procurement.row.lead_organization_id)
        .context("the lead organization is missing")?;
    let total = totals.iter().map(|t| t.amount).sum();
    let document = AllocationDocument {
        round_id: round.id.clone(),
        procurement_id: procurement.row.id.clone(),
        procurement_title: procurement.row.title.clone(),
        version,
        reason: request.reason.clone(),
        finalized_at: now.and_utc(),
        population_base_date: round.population_base_date,
        lead_organization: Party {
            organization_id: lead.id.to_string(),
            lg_code: lead.lg_code.clone(),
            name: lead.name.clone(),
        },
        cost_model: model.clone(),
        pool_names: pool_names(procurement),
        totals,
        participants,
        pools: allocation.pools,
        total,
    };
    let row = AllocationRow {
        id: new_id(),
        round_id: round.id.clone(),
        procurement_id: procurement.row.id.clone(),
        version,
        reason: request.reason.clone(),
        total,
        document: serde_json::to_string(&document).context("storing an allocation")?,
        created_by: actor.user_id.clone(),
        created_at: now,
    };
    allocations::insert(conn, &row)?;
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Allocation,
            entity_id: &row.id,
            action: if version == 1 {
                Action::Finalized
            } else {
                Action::Corrected
            },
            procurement_id: Some(&procurement.row.id),
            audience: Audience::Council,
            before: None,
            after: summary(&document),
            reason: request.reason.as_deref(),
        },
        now,
    )?;
    tell_participants(conn, &document, now)?;
    Ok(document)
}

/// E-mails each participant its own shares, per pool and fiscal year, with the whole table as
/// the CSV `GET /rounds/{id}/allocation` serves.
fn tell_participants(
    conn: &mut DbConnection,
    document: &AllocationDocument,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let csv = String::from_utf8(crate::service::exports::csv(document)?)
        .context("an allocation's CSV is UTF-8")?;
    let csv_filename = document.csv_file_name();
    let bodies: Vec<OrganizationId> = document
        .participants
        .iter()
        .map(|b| OrganizationId::from(b.participant.organization_id.clone()))
        .collect();
    let mut messages = Vec::new();
    for (organization, addresses) in
        notifications::addresses_of(conn, &bodies, Some(&document.round_id))?
    {
        let Some(body) = document.body(&organization) else {
            continue;
        };
        let mut total = 0;
        let shares: Vec<_> = document
            .pools
            .iter()
            .flat_map(|pool| {
                pool.shares
                    .iter()
                    .filter(|share| *share.organization_id == *organization)
                    .map(move |share| (pool, share))
            })
            .map(|(pool, share)| {
                total += share.amount;
                json!({
                    "pool": document.pool_name(&pool.pool),
                    "fiscal_year": pool.fiscal_year,
                    "amount": yen(share.amount),
                })
            })
            .collect();
        let context = json!({
            "procurement_id": document.procurement_id,
            "procurement_title": document.procurement_title,
            "round_id": document.round_id,
            "organization_name": body.participant.name,
            "version": document.version,
            "reason": document.reason,
            "shares": shares,
            "total": yen(total),
            "path": format!("/rounds/{}", document.round_id),
            "csv_filename": csv_filename,
            "csv": csv,
        });
        for recipient in addresses {
            messages.push(Message {
                event: Event::AllocationFinalized,
                recipient,
                organization_id: Some(organization.clone()),
                round_id: Some(document.round_id.clone()),
                context: context.clone(),
            });
        }
    }
    notifications::enqueue(conn, messages, now)
}

/// The allocation as the audit log and the feed describe it: no shares.
fn summary(document: &AllocationDocument) -> serde_json::Value {
    json!({
        "round_id": document.round_id,
        "procurement_id": document.procurement_id,
        "version": document.version,
        "participants": document.participants.len(),
        "totals": document.totals,
        "total": document.total,
    })
}

/// Finalizes a closed commitment or renewal round: stores version 1 of its allocation, moves the
/// round to `finalized` and the procurement to `contracted`, all in the caller's transaction.
pub fn finalize(
    conn: &mut DbConnection,
    round: &RoundRow,
    procurement: &Procurement,
    request: FinalizeRequest,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<AllocationDocument, ApiError> {
    // The transition first: a round that cannot be finalized is a 409 before any total is read.
    let reason = request.reason.clone();
    transition(
        conn,
        round,
        RoundAction::Finalize,
        Details {
            reason: reason.as_deref(),
            ..Details::default()
        },
        actor,
        now,
    )?
    .ok_or_else(|| ApiError::stale("another request changed the round at the same time"))?;
    let document = store(conn, round, procurement, request, 1, actor, now)?;
    if procurement.row.status == ProcurementStatus::Published {
        crate::service::procurements::mark_contracted(conn, procurement, actor, now)?;
    }
    Ok(document)
}

/// Corrects a finalized allocation: a new version with a reason; the earlier ones stay.
pub fn correct(
    conn: &mut DbConnection,
    round: &RoundRow,
    procurement: &Procurement,
    request: FinalizeRequest,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<AllocationDocument, ApiError> {
    if round.state != RoundState::Finalized {
        return Err(ApiError::conflict(
            "round_not_finalized",
            format!(
                "A {} round has no allocation to correct; finalize it first.",
                round.state
            ),
        ));
    }
    if request.reason.is_none() {
        return Err(ApiError::invalid_field(
            "reason",
            "required",
            "a correction says why",
        ));
    }
    let latest =
        allocations::find(conn, &round.id, None)?.context("a finalized round has no allocation")?;
    // A new version of the round serializes corrections: of two at once, one is stale.
    let mut updated = round.clone();
    updated.version += 1;
    updated.updated_at = now;
    if !rounds::update(conn, &updated, round.version, RoundState::Finalized)? {
        return Err(ApiError::stale(
            "another correction was made at the same time",
        ));
    }
    store(
        conn,
        round,
        procurement,
        request,
        latest.version + 1,
        actor,
        now,
    )
}

/// One version in `GET /rounds/{id}/allocations`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AllocationVersion {
    pub version: i32,
    pub reason: Option<String>,
    /// Yen.
    pub total: i64,
    #[schema(value_type = Option<String>)]
    pub created_by: Option<UserId>,
    pub finalized_at: DateTime<Utc>,
}

pub fn versions(
    conn: &mut DbConnection,
    round: &RoundRow,
) -> Result<Vec<AllocationVersion>, ApiError> {
    Ok(allocations::versions(conn, &round.id)?
        .into_iter()
        .map(|row| AllocationVersion {
            version: row.version,
            reason: row.reason,
            total: row.total,
            created_by: row.created_by,
            finalized_at: row.created_at.and_utc(),
        })
        .collect())
}

/// A version of the round's allocation (the newest without `version`), for anyone who may see
/// the round: once finalized, the whole table is public within the council.
pub fn find(
    conn: &mut DbConnection,
    round: &RoundRow,
    version: Option<i32>,
) -> Result<AllocationDocument, ApiError> {
    let row = allocations::find(conn, &round.id, version)?.ok_or_else(|| {
        ApiError::not_found(
            "allocation_not_found",
            match version {
                Some(v) => format!("The round has no allocation version {v}."),
                None => format!(
                    "The round is {}: it has no allocation until it is finalized.",
                    round.state
                ),
            },
        )
    })?;
    AllocationDocument::decode(&row)
}

/// Whether `identity` may ask for `organization`'s estimate: its own body, or any as an admin.
pub fn may_estimate_for(
    identity: &Identity,
    organization: &OrganizationId,
) -> Result<(), ApiError> {
    if identity.may_read_private(organization) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not_your_organization",
            "Estimates are for your own organization; the council's whole table is published once the round is finalized.",
        ))
    }
}
