use chrono::NaiveDateTime;
use diesel::prelude::*;
use strum::VariantArray as _;

use crate::db::DbConnection;
use crate::db::organizations::Member;
use crate::db::rounds::RoundRow;
use crate::db::schema::{organizations, participations, procurements, rounds};
use crate::domain::id::{OrganizationId, ProcurementId, UserId};
use crate::domain::procurement::{Category, ProcurementStatus};
use crate::domain::round::RoundState;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = procurements, treat_none_as_null = true)]
pub struct ProcurementRow {
    pub id: ProcurementId,
    pub title: String,
    pub summary: String,
    pub category: Category,
    pub lead_organization_id: OrganizationId,
    pub mandatory: bool,
    pub small_body_friendly: bool,
    /// JSON `Eligibility`.
    pub eligibility: String,
    /// JSON list of `ProcurementOption`.
    pub options: String,
    /// JSON list of `Document`.
    pub documents: String,
    /// JSON `CostModel`.
    pub cost_model: String,
    pub contract_start_fy: i32,
    pub contract_end_fy: i32,
    pub status: ProcurementStatus,
    pub cancel_reason: Option<String>,
    pub version: i64,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &ProcurementRow) -> QueryResult<()> {
    diesel::insert_into(procurements::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, id: &ProcurementId) -> QueryResult<Option<ProcurementRow>> {
    procurements::table
        .find(id)
        .select(ProcurementRow::as_select())
        .first(conn)
        .optional()
}

/// Writes `row` if its stored version is still `expected_version`; false when someone else
/// changed it first.
pub fn update(
    conn: &mut DbConnection,
    row: &ProcurementRow,
    expected_version: i64,
) -> QueryResult<bool> {
    diesel::update(
        procurements::table
            .find(&row.id)
            .filter(procurements::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)
    .map(|n| n == 1)
}

/// What a list of procurements is filtered by; filtering by eligibility happens in the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Every status when empty.
    pub statuses: &'a [ProcurementStatus],
    pub category: Option<Category>,
    pub small_body_friendly: Option<bool>,
}

impl Filter<'_> {
    /// Each filter as the list of values it admits, all of them when it is not given, so that a
    /// statement's text is one whatever the filters and PostgreSQL prepares it once.
    fn admitted(&self) -> (&[ProcurementStatus], &[Category], &'static [bool]) {
        let statuses = if self.statuses.is_empty() {
            ProcurementStatus::VARIANTS
        } else {
            self.statuses
        };
        let categories = match &self.category {
            Some(category) => std::slice::from_ref(category),
            None => Category::VARIANTS,
        };
        let flags: &[bool] = match self.small_body_friendly {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[true, false],
        };
        (statuses, categories, flags)
    }
}

/// Every procurement `filter` admits, newest first.
pub fn list(conn: &mut DbConnection, filter: Filter<'_>) -> QueryResult<Vec<ProcurementRow>> {
    let (statuses, categories, flags) = filter.admitted();
    procurements::table
        .filter(procurements::status.eq_any(statuses))
        .filter(procurements::category.eq_any(categories))
        .filter(procurements::small_body_friendly.eq_any(flags))
        .order((procurements::created_at.desc(), procurements::id.desc()))
        .select(ProcurementRow::as_select())
        .load(conn)
}

/// A procurement in a list, with its lead organization, and one of its open rounds with whether
/// the caller's body has answered it.
pub type ListedRow = (ProcurementRow, Member, Option<(RoundRow, bool)>);

/// Every procurement `filter` admits, newest first, each with its lead organization and each of
/// its open rounds with whether `organization_id` has answered it, in one query: a procurement
/// with no open round comes once, one with several once per round, one after the other.
pub fn list_with_open_rounds(
    conn: &mut DbConnection,
    filter: Filter<'_>,
    organization_id: &OrganizationId,
) -> QueryResult<Vec<ListedRow>> {
    let (statuses, categories, flags) = filter.admitted();
    let found: Vec<(ProcurementRow, Member, Option<RoundRow>, Option<String>)> =
        procurements::table
            .inner_join(
                organizations::table.on(organizations::id.eq(procurements::lead_organization_id)),
            )
            .left_join(
                rounds::table.on(rounds::procurement_id
                    .eq(procurements::id)
                    .and(rounds::state.eq(RoundState::Open))),
            )
            .left_join(
                participations::table.on(participations::round_id
                    .eq(rounds::id)
                    .and(participations::organization_id.eq(organization_id))),
            )
            .filter(procurements::status.eq_any(statuses))
            .filter(procurements::category.eq_any(categories))
            .filter(procurements::small_body_friendly.eq_any(flags))
            .order((
                procurements::created_at.desc(),
                procurements::id.desc(),
                rounds::opens_at.asc(),
                rounds::id.asc(),
            ))
            .select((
                ProcurementRow::as_select(),
                Member::as_select(),
                rounds::all_columns.nullable(),
                participations::id.nullable(),
            ))
            .load(conn)?;
    Ok(found
        .into_iter()
        .map(|(procurement, lead, round, answer)| {
            (procurement, lead, round.map(|r| (r, answer.is_some())))
        })
        .collect())
}
