use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::DbConnection;
use crate::db::schema::idempotency_keys;
use crate::domain::id::UserId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub user_id: UserId,
    pub idempotency_key: String,
    pub request_hash: String,
    /// Null while the first request is still being handled.
    pub status_code: Option<i32>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Claims the key for a new request; `Err(existing)` when it was used before.
pub fn claim(
    conn: &mut DbConnection,
    row: &IdempotencyRow,
) -> QueryResult<Result<(), IdempotencyRow>> {
    match diesel::insert_into(idempotency_keys::table)
        .values(row)
        .execute(conn)
    {
        Ok(_) => Ok(Ok(())),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => idempotency_keys::table
            .find((&row.user_id, &row.idempotency_key))
            .select(IdempotencyRow::as_select())
            .first(conn)
            .map(Err),
        Err(e) => Err(e),
    }
}

pub fn complete(
    conn: &mut DbConnection,
    user_id: &UserId,
    key: &str,
    status: i32,
    body: &str,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((user_id, key)))
        .set((
            idempotency_keys::status_code.eq(status),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .map(drop)
}

/// Frees the key after a failure the client may retry (a server error).
pub fn release(conn: &mut DbConnection, user_id: &UserId, key: &str) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find((user_id, key)))
        .execute(conn)
        .map(drop)
}

/// Forgets keys older than `before`.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
}
