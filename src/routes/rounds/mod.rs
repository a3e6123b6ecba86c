pub mod actions;
pub mod create;
pub mod get;
pub mod list;
pub mod reminders;
pub mod update;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::db::rounds::RoundRow;
use crate::domain::id::{ProcurementId, RoundId};
use crate::domain::participation::ParticipationStatus;
use crate::domain::round::{RoundKind, RoundState};
use crate::error::ApiError;
use crate::routes::API_V1;
use crate::service::procurements::Procurement;
use crate::service::rounds::Roll;

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ResponseCounts {
    /// Bodies the procurement admits.
    pub eligible: usize,
    pub joined: usize,
    pub declined: usize,
    pub withdrawn: usize,
    /// Eligible bodies without any answer.
    pub not_responded: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoundView {
    #[schema(value_type = String)]
    pub id: RoundId,
    #[schema(value_type = String)]
    pub procurement_id: ProcurementId,
    pub kind: RoundKind,
    /// For renewal rounds: the fiscal year (年度) renewed.
    pub fiscal_year: Option<i32>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// Allocations use each body's population figure in force on this date.
    pub population_base_date: NaiveDate,
    /// Reminders go out this many days before closing.
    pub reminder_days: Vec<u32>,
    pub state: RoundState,
    pub cancel_reason: Option<String>,
    /// Also the `ETag`.
    pub version: i64,
    pub counts: ResponseCounts,
}

/// Where a round is found.
pub fn location(id: &str) -> String {
    format!("{API_V1}/rounds/{id}")
}

pub fn view(
    conn: &mut DbConnection,
    row: &RoundRow,
    procurement: &Procurement,
) -> Result<RoundView, ApiError> {
    let roll = Roll::of(conn, &row.id)?;
    view_with_counts(row, counts(procurement, &roll))
}

/// Tallies a round's answers against the bodies the procurement admits.
pub fn counts(procurement: &Procurement, roll: &Roll) -> ResponseCounts {
    let mut counts = ResponseCounts::default();
    for (participation, _) in roll.answers() {
        match participation.status {
            ParticipationStatus::Joined => counts.joined += 1,
            ParticipationStatus::Declined => counts.declined += 1,
            ParticipationStatus::Withdrawn => counts.withdrawn += 1,
        }
    }
    for (_, answer) in roll.eligible(procurement) {
        counts.eligible += 1;
        counts.not_responded += usize::from(answer.is_none());
    }
    counts
}

pub fn view_with_counts(row: &RoundRow, counts: ResponseCounts) -> Result<RoundView, ApiError> {
    Ok(RoundView {
        id: row.id.clone(),
        procurement_id: row.procurement_id.clone(),
        kind: row.kind,
        fiscal_year: row.fiscal_year,
        opens_at: row.opens_at.and_utc(),
        closes_at: row.closes_at.and_utc(),
        population_base_date: row.population_base_date,
        reminder_days: serde_json::from_str(&row.reminder_days).map_err(anyhow::Error::from)?,
        state: row.state,
        cancel_reason: row.cancel_reason.clone(),
        version: row.version,
        counts,
    })
}
