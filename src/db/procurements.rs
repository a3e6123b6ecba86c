use chrono::NaiveDateTime;
use diesel::prelude::*;
use strum::VariantArray as _;

use crate::db::DbConnection;
use crate::db::organizations::Member;
use crate::db::schema::{organizations, procurements};
use crate::domain::id::{OrganizationId, ProcurementId, UserId};
use crate::domain::procurement::{Category, ProcurementStatus};

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

/// Every procurement, newest first; filtering by eligibility happens in the caller.
pub fn list(
    conn: &mut DbConnection,
    statuses: &[ProcurementStatus],
    category: Option<Category>,
    small_body_friendly: Option<bool>,
) -> QueryResult<Vec<ProcurementRow>> {
    let listed = list_with_lead(conn, statuses, category, small_body_friendly)?;
    Ok(listed.into_iter().map(|(row, _)| row).collect())
}

/// Every procurement, newest first, with its lead organization, in one query: of `statuses`
/// (every status when empty), of `category` and `small_body_friendly` where given.
pub fn list_with_lead(
    conn: &mut DbConnection,
    statuses: &[ProcurementStatus],
    category: Option<Category>,
    small_body_friendly: Option<bool>,
) -> QueryResult<Vec<(ProcurementRow, Member)>> {
    // Each filter admits a list of values, all of them when it is not given, so that the
    // statement's text is one whatever the filters and PostgreSQL prepares it once.
    let statuses = if statuses.is_empty() {
        ProcurementStatus::VARIANTS
    } else {
        statuses
    };
    let categories = category.as_slice();
    let categories = if categories.is_empty() {
        Category::VARIANTS
    } else {
        categories
    };
    let flags: &[bool] = match small_body_friendly {
        Some(true) => &[true],
        Some(false) => &[false],
        None => &[true, false],
    };
    procurements::table
        .inner_join(
            organizations::table.on(organizations::id.eq(procurements::lead_organization_id)),
        )
        .filter(procurements::status.eq_any(statuses))
        .filter(procurements::category.eq_any(categories))
        .filter(procurements::small_body_friendly.eq_any(flags))
        .order((procurements::created_at.desc(), procurements::id.desc()))
        .select((ProcurementRow::as_select(), Member::as_select()))
        .load(conn)
}
