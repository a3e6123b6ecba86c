use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{calendar_feeds, users};
use crate::db::users::UserRow;
use crate::domain::id::UserId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = calendar_feeds)]
pub struct CalendarFeedRow {
    pub id: String,
    pub user_id: UserId,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// Holds the user's feeds until the transaction ends (PostgreSQL; SQLite's write transactions
/// already exclude each other), so that two rotations at once leave one active feed, not an error.
pub fn lock(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(format!("calendar_feed:{user_id}"))
            .execute(pg)?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConnection, row: &CalendarFeedRow) -> QueryResult<()> {
    diesel::insert_into(calendar_feeds::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The user's feed that is not revoked, if any.
pub fn find_active(
    conn: &mut DbConnection,
    user_id: &UserId,
) -> QueryResult<Option<CalendarFeedRow>> {
    calendar_feeds::table
        .filter(calendar_feeds::user_id.eq(user_id))
        .filter(calendar_feeds::revoked_at.is_null())
        .select(CalendarFeedRow::as_select())
        .first(conn)
        .optional()
}

/// The feed with this digest and its owner, unless it is revoked.
pub fn find_active_by_digest(
    conn: &mut DbConnection,
    digest: &str,
) -> QueryResult<Option<(CalendarFeedRow, UserRow)>> {
    calendar_feeds::table
        .inner_join(users::table)
        .filter(calendar_feeds::token_hash.eq(digest))
        .filter(calendar_feeds::revoked_at.is_null())
        .select((CalendarFeedRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        calendar_feeds::table
            .find(id)
            .filter(calendar_feeds::revoked_at.is_null()),
    )
    .set(calendar_feeds::revoked_at.eq(now))
    .execute(conn)
}
