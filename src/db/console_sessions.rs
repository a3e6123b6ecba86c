use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{console_sessions, organizations, users};
use crate::db::users::UserRow;
use crate::domain::id::UserId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct ConsoleSessionRow {
    pub id: String,
    pub user_id: UserId,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &ConsoleSessionRow) -> QueryResult<()> {
    diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The user of the session with this digest, with their organization's name, unless the session
/// has expired.
pub fn find_active(
    conn: &mut DbConnection,
    digest: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(UserRow, String)>> {
    console_sessions::table
        .inner_join(users::table.inner_join(organizations::table))
        .filter(console_sessions::token_hash.eq(digest))
        .filter(console_sessions::expires_at.gt(now))
        .select((UserRow::as_select(), organizations::name))
        .first(conn)
        .optional()
}

pub fn delete(conn: &mut DbConnection, digest: &str) -> QueryResult<usize> {
    diesel::delete(console_sessions::table.filter(console_sessions::token_hash.eq(digest)))
        .execute(conn)
}

/// Forgets sessions that have expired (the scheduler's housekeeping).
pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(console_sessions::table.filter(console_sessions::expires_at.le(now)))
        .execute(conn)
}
