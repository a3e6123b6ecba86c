//! Demonstration procurements after the council's reference documents (`seeds/demo.json`), loaded
//! on the first start of the embedded default and by `seed --demo`, through the same code paths
//! as the API. Loading twice changes nothing.

use anyhow::Context as _;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::Deserialize;

use crate::db::audit::Actor;
use crate::db::{DbConnection, organizations, procurements};
use crate::domain::procurement::ProcurementInput;
use crate::domain::round::{DEFAULT_REMINDER_DAYS, RoundAction, RoundKind, Schedule};
use crate::error::ApiError;
use crate::service::allocations::{self, FinalizeRequest};
use crate::service::participations::{
    AnswerDetails, Context, Existing, ParticipationChange, answer,
};
use crate::service::procurements::{self as procurement_service, Procurement, eligible_bodies};
use crate::service::rounds::{self as round_service, Details, transition};

const DEMO: &str = include_str!("../seeds/demo.json");
const REASON: &str = "デモデータ";

#[derive(Deserialize)]
struct DemoFile {
    procurements: Vec<DemoProcurement>,
}

#[derive(Deserialize)]
struct DemoProcurement {
    procurement: ProcurementInput,
    rounds: Vec<DemoRound>,
}

#[derive(Deserialize)]
struct DemoRound {
    kind: RoundKind,
    /// Days from now; negative is in the past.
    opens_days: i64,
    closes_days: i64,
    /// The first this many eligible bodies (in code order) join, the next `declined` decline.
    #[serde(default)]
    joined: usize,
    #[serde(default)]
    declined: usize,
    #[serde(default)]
    options: Vec<String>,
    declared_quantity: Option<i64>,
    /// Finalized a week after closing, at the model's prices.
    #[serde(default)]
    finalize: bool,
}

/// Loads whatever of the demonstration is missing; returns how many procurements it created.
pub fn load(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    let demo: DemoFile =
        serde_json::from_str(DEMO).map_err(|e| anyhow::anyhow!("reading seeds/demo.json: {e}"))?;
    let actor = Actor::system();
    let existing: Vec<String> = procurements::list(conn, procurements::Filter::everything())?
        .into_iter()
        .map(|p| p.title)
        .collect();
    let mut created = 0;
    for item in demo.procurements {
        if existing.contains(&item.procurement.title) {
            continue;
        }
        let mut input = item.procurement;
        // The demo file names the lead body, which may have no code.
        if let Some(lead) = organizations::find_by_name(conn, &input.lead_organization)? {
            input.lead_organization = lead.id.to_string();
        }
        let draft = procurement_service::create(conn, input, &actor, now)?;
        let procurement = procurement_service::publish(conn, &draft, &actor, now)?;
        for round in item.rounds {
            load_round(conn, &procurement, round, &actor, now)?;
        }
        created += 1;
    }
    Ok(created)
}

fn load_round(
    conn: &mut DbConnection,
    procurement: &Procurement,
    demo: DemoRound,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let opens_at = now + Duration::days(demo.opens_days);
    let closes_at = now + Duration::days(demo.closes_days);
    let schedule = Schedule {
        kind: demo.kind,
        fiscal_year: None,
        opens_at,
        closes_at,
        population_base_date: NaiveDate::from_ymd_opt(2020, 1, 1)
            .context("2020-01-01 is not a date")?,
        reminder_days: DEFAULT_REMINDER_DAYS.to_vec(),
    };
    // Rounds in the past are created open, answered, then closed, as they would have been.
    let round = round_service::create(conn, procurement, schedule, actor, opens_at.min(now))?;
    let bodies = eligible_bodies(conn, procurement)?;
    let changes = std::iter::repeat_n(ParticipationChange::Join, demo.joined).chain(
        std::iter::repeat_n(ParticipationChange::Decline, demo.declined),
    );
    for (member, change) in bodies.into_iter().zip(changes) {
        let organization =
            organizations::find(conn, &member.id)?.context("an eligible body is missing")?;
        let context = Context {
            round: round.clone(),
            procurement: procurement.clone(),
            organization,
            existing: Existing::Unread,
        };
        let given = AnswerDetails {
            selected_options: demo.options.clone(),
            declared_quantity: demo.declared_quantity,
            reason: Some(REASON.to_owned()),
            ..AnswerDetails::default()
        };
        answer(conn, actor, &context, change, given, opens_at.min(now))?;
    }
    if closes_at <= now {
        let closed = transition(
            conn,
            &round,
            RoundAction::Close,
            Details::default(),
            actor,
            closes_at,
        )?
        .context("a demonstration round that is due cannot close")?;
        if demo.finalize {
            let totals = allocations::totals_at_model_prices(conn, &closed, procurement)?;
            let request = FinalizeRequest {
                totals,
                reason: None,
            };
            let at = (closes_at + Duration::days(7)).min(now);
            allocations::finalize(conn, &closed, procurement, request, actor, at)?;
        }
    }
    Ok(())
}
