//! Stored allocations: immutable, one row per version (the database refuses updates and deletes).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::allocations;
use crate::domain::id::{ProcurementId, RoundId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = allocations)]
pub struct AllocationRow {
    pub id: String,
    pub round_id: RoundId,
    pub procurement_id: ProcurementId,
    pub version: i32,
    pub reason: Option<String>,
    /// Yen: the sum of every contracted total.
    pub total: i64,
    /// JSON: `service::allocations::AllocationDocument`.
    pub document: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &AllocationRow) -> QueryResult<()> {
    diesel::insert_into(allocations::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The newest version, or the one asked for.
pub fn find(
    conn: &mut DbConnection,
    round_id: &RoundId,
    version: Option<i32>,
) -> QueryResult<Option<AllocationRow>> {
    let mut query = allocations::table
        .filter(allocations::round_id.eq(round_id))
        .order(allocations::version.desc())
        .select(AllocationRow::as_select())
        .into_boxed();
    if let Some(version) = version {
        query = query.filter(allocations::version.eq(version));
    }
    query.first(conn).optional()
}

/// A version as listed, without its document.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = allocations)]
pub struct VersionRow {
    pub version: i32,
    pub reason: Option<String>,
    pub total: i64,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

/// Every version of a round's allocation, oldest first, without their documents.
pub fn versions(conn: &mut DbConnection, round_id: &RoundId) -> QueryResult<Vec<VersionRow>> {
    allocations::table
        .filter(allocations::round_id.eq(round_id))
        .order(allocations::version.asc())
        .select(VersionRow::as_select())
        .load(conn)
}

/// Every version of every allocation of a procurement, in the order they were made.
pub fn for_procurement(
    conn: &mut DbConnection,
    procurement_id: &ProcurementId,
) -> QueryResult<Vec<AllocationRow>> {
    allocations::table
        .filter(allocations::procurement_id.eq(procurement_id))
        .order((allocations::created_at.asc(), allocations::version.asc()))
        .select(AllocationRow::as_select())
        .load(conn)
}
