//! Webhook endpoints, and the relay's position in the change feed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::audit::Cursor;
use crate::db::schema::{webhook_endpoints, webhook_relay};
use crate::domain::id::{OrganizationId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookRow {
    pub id: String,
    pub organization_id: OrganizationId,
    pub url: String,
    /// JSON array of feed actions, or `["*"]`.
    pub events: String,
    pub secret: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub failing_since: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &WebhookRow) -> QueryResult<()> {
    diesel::insert_into(webhook_endpoints::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<WebhookRow>> {
    webhook_endpoints::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// The endpoints of one organization, or of all, oldest first.
pub fn list(
    conn: &mut DbConnection,
    organization: Option<&OrganizationId>,
) -> QueryResult<Vec<WebhookRow>> {
    let mut query = webhook_endpoints::table.into_boxed();
    if let Some(organization) = organization {
        query = query.filter(webhook_endpoints::organization_id.eq(organization.clone()));
    }
    query
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .select(WebhookRow::as_select())
        .load(conn)
}

/// Endpoints that take deliveries.
pub fn active(conn: &mut DbConnection) -> QueryResult<Vec<WebhookRow>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::disabled_at.is_null())
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .select(WebhookRow::as_select())
        .load(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(webhook_endpoints::table.find(id))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn set_secret(conn: &mut DbConnection, id: &str, secret: &str) -> QueryResult<()> {
    diesel::update(webhook_endpoints::table.find(id))
        .set(webhook_endpoints::secret.eq(secret))
        .execute(conn)
        .map(drop)
}

/// Records that a delivery to `id` failed at `now`: the start of its failing spell, unless one
/// is under way. Returns when the spell started.
pub fn failed(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    diesel::update(
        webhook_endpoints::table
            .find(id)
            .filter(webhook_endpoints::failing_since.is_null()),
    )
    .set(webhook_endpoints::failing_since.eq(now))
    .execute(conn)?;
    webhook_endpoints::table
        .find(id)
        .select(webhook_endpoints::failing_since)
        .first(conn)
        .optional()
        .map(Option::flatten)
}

/// A delivery to `id` succeeded: its failing spell, if any, is over.
pub fn succeeded(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(
        webhook_endpoints::table
            .find(id)
            .filter(webhook_endpoints::failing_since.is_not_null()),
    )
    .set(webhook_endpoints::failing_since.eq(None::<NaiveDateTime>))
    .execute(conn)
    .map(drop)
}

/// Disables an active endpoint; `false` when it already was.
pub fn disable(
    conn: &mut DbConnection,
    id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        webhook_endpoints::table
            .find(id)
            .filter(webhook_endpoints::disabled_at.is_null()),
    )
    .set((
        webhook_endpoints::disabled_at.eq(now),
        webhook_endpoints::disabled_reason.eq(reason),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// The relay's position, unlocked: to see whether there is anything to relay.
pub fn relay_position(conn: &mut DbConnection) -> QueryResult<Cursor> {
    let (txid, seq) = webhook_relay::table
        .find(1)
        .select((webhook_relay::txid, webhook_relay::seq))
        .first(conn)?;
    Ok(Cursor { txid, seq })
}

/// The relay's position, locked until the caller's transaction ends, so that two instances never
/// relay the same changes.
pub fn lock_relay(conn: &mut DbConnection) -> QueryResult<Cursor> {
    let query = webhook_relay::table
        .find(1)
        .select((webhook_relay::txid, webhook_relay::seq));
    let (txid, seq) = match conn {
        DbConnection::Postgres(pg) => query.for_update().first(pg)?,
        // The caller's transaction began IMMEDIATE: it holds SQLite's write lock already.
        DbConnection::Sqlite(sqlite) => query.first(sqlite)?,
    };
    Ok(Cursor { txid, seq })
}

pub fn advance_relay(conn: &mut DbConnection, cursor: Cursor) -> QueryResult<()> {
    diesel::update(webhook_relay::table.find(1))
        .set((
            webhook_relay::txid.eq(cursor.txid),
            webhook_relay::seq.eq(cursor.seq),
        ))
        .execute(conn)
        .map(drop)
}
