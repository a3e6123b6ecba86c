//! Idempotency keys and the answers stored under them (the policy is in `crate::idempotency`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::idempotency_keys;
use crate::domain::id::UserId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub user_id: UserId,
    pub idempotency_key: String,
    pub request_hash: String,
    /// The answer: null only inside the transaction that claims the key, which stores it before
    /// it commits.
    pub status_code: Option<i32>,
    /// JSON, `[[name, value], …]`.
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A request's claim on a key: made by the middleware, taken by the transaction of the write.
#[derive(Debug, Clone)]
pub struct Claim {
    pub user_id: UserId,
    pub idempotency_key: String,
    /// Method, path and body, hashed: a key is replayed only for the same request.
    pub request_hash: String,
}

/// The answer stored under a key.
#[derive(Debug, Clone)]
pub struct StoredReply {
    pub status_code: i32,
    pub headers: String,
    pub body: String,
}

pub fn find(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
) -> QueryResult<Option<IdempotencyRow>> {
    idempotency_keys::table
        .find((user_id, key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()
}

/// Claims the key inside the caller's transaction; `false` when it was taken. On PostgreSQL the
/// insert first waits for a transaction holding the same key, and a `false` leaves the caller's
/// transaction aborted: roll it back.
pub fn claim(conn: &mut DbConnection, claim: &Claim, now: NaiveDateTime) -> QueryResult<bool> {
    let row = IdempotencyRow {
        user_id: claim.user_id.clone(),
        idempotency_key: claim.idempotency_key.clone(),
        request_hash: claim.request_hash.clone(),
        status_code: None,
        response_headers: None,
        response_body: None,
        created_at: now,
    };
    // Not a unique violation, which would abort the transaction the claim runs in.
    let insert = diesel::insert_into(idempotency_keys::table)
        .values(&row)
        .on_conflict_do_nothing();
    crate::db::direct!(conn, |c| insert.execute(c)).map(|inserted| inserted == 1)
}

/// Stores the answer under a key claimed in the same transaction.
pub fn complete(conn: &mut DbConnection, claim: &Claim, answer: StoredReply) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((&claim.user_id, &claim.idempotency_key)))
        .set((
            idempotency_keys::status_code.eq(answer.status_code),
            idempotency_keys::response_headers.eq(answer.headers),
            idempotency_keys::response_body.eq(answer.body),
        ))
        .execute(conn)
        .map(drop)
}

/// Forgets keys older than `before`.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
}
