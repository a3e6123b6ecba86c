//! The audit log and the change feed, written in the same transaction as the change they record.

use chrono::NaiveDateTime;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use serde::Serialize;

use crate::db::schema::{audit_events, changes};
use crate::db::together::{Fixed, Statement, execute_together};
use crate::db::{DbConnection, new_id};
use crate::domain::audit::{Action, EntityType, audit_action};
use crate::domain::id::{OrganizationId, ProcurementId, UserId};

/// Who acted, for the audit log: a user, or the service itself (the scheduler) when `user_id` is None.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub organization_id: Option<OrganizationId>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self::default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct AuditEventRow {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor_user_id: Option<UserId>,
    pub actor_organization_id: Option<OrganizationId>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

/// One recorded change of an entity.
pub struct Event<'a> {
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub action: Action,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<&'a str>,
}

/// Records a change in the audit log only: what the feed does not carry (organizations,
/// accounts, API tokens). Changes the feed carries go through `record_change`.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    event: Event<'_>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(&event_row(actor, event, now))
        .execute(conn)
        .map(drop)
}

fn event_row(actor: &Actor, event: Event<'_>, now: NaiveDateTime) -> AuditEventRow {
    AuditEventRow {
        id: new_id(),
        occurred_at: now,
        actor_user_id: actor.user_id.clone(),
        actor_organization_id: actor.organization_id.clone(),
        action: audit_action(event.entity_type, event.action),
        entity_type: event.entity_type.as_str().to_owned(),
        entity_id: event.entity_id.to_owned(),
        before: event.before.map(|v| v.to_string()),
        after: event.after.map(|v| v.to_string()),
        reason: event.reason.map(str::to_owned),
        request_id: actor.request_id.clone(),
    }
}

/// `record` without a reason.
pub fn record_simple(
    conn: &mut DbConnection,
    actor: &Actor,
    (entity_type, entity_id): (EntityType, &str),
    action: Action,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    record(
        conn,
        actor,
        Event {
            entity_type,
            entity_id,
            action,
            before,
            after,
            reason: None,
        },
        now,
    )
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub actor_user_id: Option<UserId>,
    pub actor_organization_id: Option<OrganizationId>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

/// Audit events matching `filter`, newest first.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<AuditEventRow>, i64)> {
    let filtered = || {
        let mut q = audit_events::table.into_boxed();
        if let Some(v) = &filter.entity_type {
            q = q.filter(audit_events::entity_type.eq(v.clone()));
        }
        if let Some(v) = &filter.entity_id {
            q = q.filter(audit_events::entity_id.eq(v.clone()));
        }
        if let Some(v) = &filter.action {
            q = q.filter(audit_events::action.eq(v.clone()));
        }
        if let Some(v) = &filter.actor_user_id {
            q = q.filter(audit_events::actor_user_id.eq(v.clone()));
        }
        if let Some(v) = &filter.actor_organization_id {
            q = q.filter(audit_events::actor_organization_id.eq(v.clone()));
        }
        if let Some(v) = filter.since {
            q = q.filter(audit_events::occurred_at.ge(v));
        }
        if let Some(v) = filter.until {
            q = q.filter(audit_events::occurred_at.lt(v));
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(AuditEventRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Who may see a change in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every body that may see the procurement.
    Council,
    Admins,
    /// One body (and the admins).
    Organization(OrganizationId),
}

impl Audience {
    pub const COUNCIL: &'static str = "council";
    pub const ADMINS: &'static str = "admins";

    fn as_column(&self) -> &str {
        match self {
            Self::Council => Self::COUNCIL,
            Self::Admins => Self::ADMINS,
            Self::Organization(id) => id,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
struct NewChange<'a> {
    occurred_at: NaiveDateTime,
    entity_type: &'a str,
    entity_id: &'a str,
    action: &'a str,
    procurement_id: Option<&'a ProcurementId>,
    audience: String,
    payload: String,
}

/// A change the feed carries, as one audit event and one feed entry.
pub struct Change<'a> {
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub action: Action,
    pub procurement_id: Option<&'a ProcurementId>,
    pub audience: Audience,
    pub before: Option<serde_json::Value>,
    /// The entity's public state after the change: the audit event's `after` and the feed's data.
    pub after: serde_json::Value,
    pub reason: Option<&'a str>,
}

/// Records `change` in the audit log and publishes it to the feed, in the caller's transaction
/// (on PostgreSQL in one statement).
pub fn record_change(
    conn: &mut DbConnection,
    actor: &Actor,
    change: Change<'_>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let rows = ChangeRows::new(actor, change, now);
    execute_together(conn, rows.statements())
}

/// A change as the rows that record it, its audit event and its feed entry, for a caller that
/// writes them together with rows of its own (see `together`).
pub struct ChangeRows<'a> {
    event: AuditEventRow,
    entry: NewChange<'a>,
}

impl<'a> ChangeRows<'a> {
    pub fn new(actor: &Actor, change: Change<'a>, now: NaiveDateTime) -> Self {
        let entry = NewChange {
            occurred_at: now,
            entity_type: change.entity_type.as_str(),
            entity_id: change.entity_id,
            action: change.action.as_str(),
            procurement_id: change.procurement_id,
            audience: change.audience.as_column().to_owned(),
            payload: change.after.to_string(),
        };
        let event = event_row(
            actor,
            Event {
                entity_type: change.entity_type,
                entity_id: change.entity_id,
                action: change.action,
                before: change.before,
                after: Some(change.after),
                reason: change.reason,
            },
            now,
        );
        Self { event, entry }
    }

    /// The audit event's insert and the feed entry's.
    pub fn statements(&self) -> (impl Statement + '_, impl Statement + '_) {
        (
            diesel::insert_into(audit_events::table).values(&self.event),
            diesel::insert_into(changes::table).values(&self.entry),
        )
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub seq: i64,
    pub txid: i64,
    pub occurred_at: NaiveDateTime,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub procurement_id: Option<ProcurementId>,
    pub audience: String,
    pub payload: String,
}

/// Position in the feed: the last (txid, seq) a client has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub txid: i64,
    pub seq: i64,
}

/// `txid-seq`, as the feed's clients see it.
impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.txid, self.seq)
    }
}

/// The oldest transaction still running on PostgreSQL, as a txid
/// (`pg_snapshot_xmin(pg_current_snapshot())`). An expression of its own: diesel's `sql()` would
/// make the statement holding it one that PostgreSQL parses and plans anew on every call.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
pub struct OldestRunningTxid;

impl Expression for OldestRunningTxid {
    type SqlType = diesel::sql_types::BigInt;
}

impl<QS> AppearsOnTable<QS> for OldestRunningTxid {}

impl<GroupBy> ValidGrouping<GroupBy> for OldestRunningTxid {
    type IsAggregate = is_aggregate::Never;
}

impl QueryFragment<Pg> for OldestRunningTxid {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("pg_snapshot_xmin(pg_current_snapshot())::text::bigint");
        Ok(())
    }
}

/// Changes after `cursor` in feed order, at most `limit`. On PostgreSQL only changes of
/// transactions older than every running one are served: a transaction that took a lower `seq`
/// but commits later can then never be skipped.
pub fn changes_after(
    conn: &mut DbConnection,
    cursor: Cursor,
    limit: i64,
) -> QueryResult<Vec<ChangeRow>> {
    let after = changes::txid.gt(cursor.txid).or(changes::txid
        .eq(cursor.txid)
        .and(changes::seq.gt(cursor.seq)));
    match conn {
        DbConnection::Postgres(pg) => {
            // The feed's readers and the webhook relay ask this often; its text never changes.
            struct ChangesAfter;
            Fixed::<ChangesAfter, _>::new(
                changes::table
                    .filter(after)
                    .filter(changes::txid.lt(OldestRunningTxid))
                    .order((changes::txid, changes::seq))
                    .limit(limit)
                    .select(ChangeRow::as_select()),
            )
            .load(pg)
        }
        DbConnection::Sqlite(sqlite) => changes::table
            .filter(after)
            .order((changes::txid, changes::seq))
            .limit(limit)
            .select(ChangeRow::as_select())
            .load(sqlite),
    }
}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::prelude::*;
    use diesel::query_builder::QueryFragment;

    use super::OldestRunningTxid;
    use crate::db::schema::changes;

    /// The feed's statement is one PostgreSQL keeps prepared: nothing in it says its text varies.
    #[test]
    fn the_oldest_running_transaction_keeps_the_feed_statement_prepared() {
        let query = changes::table
            .filter(changes::txid.lt(OldestRunningTxid))
            .select(changes::seq);
        let sql = diesel::debug_query::<Pg, _>(&query).to_string();
        assert!(
            sql.contains(
                r#"("changes"."txid" < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"#
            ),
            "{sql}"
        );
        assert!(QueryFragment::<Pg>::is_safe_to_cache_prepared(&query, &Pg).expect("walks"));
        // What it replaced could not be kept.
        let literal = changes::table
            .filter(changes::txid.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>("0")))
            .select(changes::seq);
        assert!(!QueryFragment::<Pg>::is_safe_to_cache_prepared(&literal, &Pg).expect("walks"));
    }
}
