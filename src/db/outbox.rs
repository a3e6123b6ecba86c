//! The outbox: messages written with the change that causes them, claimed and delivered by the
//! dispatchers. Reminders sent, reminder opt-outs and the dispatcher's lease live here too.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::DbConnection;
use crate::db::columns::{PendingDelivery, SendingDelivery};
use crate::db::schema::{leases, outbox, reminder_opt_outs, reminders_sent};
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::notification::{Channel, DeliveryState};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub channel: String,
    pub event: String,
    pub recipient: String,
    pub organization_id: Option<OrganizationId>,
    pub round_id: Option<RoundId>,
    /// JSON: what the message says, captured when it was written.
    pub context: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub claimed_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

impl OutboxRow {
    /// A message due now, not yet tried.
    pub fn pending(
        channel: Channel,
        event: &str,
        recipient: String,
        organization_id: Option<OrganizationId>,
        round_id: Option<RoundId>,
        context: String,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: crate::db::new_id(),
            channel: channel.to_string(),
            event: event.to_owned(),
            recipient,
            organization_id,
            round_id,
            context,
            state: DeliveryState::Pending.to_string(),
            attempts: 0,
            next_attempt_at: now,
            claimed_until: None,
            claimed_by: None,
            last_error: None,
            created_at: now,
            sent_at: None,
        }
    }
}

/// Whether any message is due at `now`: a read without a lock, before a dispatcher claims.
pub fn any_due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(outbox::table.filter(due(now)))).get_result(conn)
}

/// Pending messages whose next attempt has come, and claimed ones whose claim ran out.
#[diesel::dsl::auto_type]
fn due(now: NaiveDateTime) -> _ {
    outbox::state
        .eq(PendingDelivery)
        .and(outbox::next_attempt_at.le(now))
        .or(outbox::state
            .eq(SendingDelivery)
            .and(outbox::claimed_until.lt(now)))
}

pub fn insert(conn: &mut DbConnection, rows: &[OutboxRow]) -> QueryResult<()> {
    match conn {
        // One statement for many rows; PostgreSQL binds at most 65,535 values (15 a row).
        DbConnection::Postgres(pg) => {
            for chunk in rows.chunks(4_000) {
                diesel::insert_into(outbox::table)
                    .values(chunk)
                    .execute(pg)?;
            }
        }
        // In-process, within the caller's transaction, a statement per row costs little.
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                diesel::insert_into(outbox::table)
                    .values(row)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}

/// Claims up to `limit` messages that are due, for `holder`, until `now + lease`: pending ones
/// whose next attempt has come, and ones a dispatcher claimed and never finished (it stopped
/// or lost its connection) once that claim has run out. Each claim counts as an attempt.
/// On PostgreSQL rows another dispatcher is claiming are skipped (`FOR UPDATE SKIP LOCKED`), so
/// several instances never take the same message; SQLite runs one dispatcher, under a lease.
pub fn claim(
    conn: &mut DbConnection,
    holder: &str,
    now: NaiveDateTime,
    lease: Duration,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    crate::db::transaction(conn, |conn| {
        let query = outbox::table
            .filter(due(now))
            .order(outbox::next_attempt_at)
            .limit(limit)
            .select(outbox::id);
        let ids: Vec<String> = match conn {
            DbConnection::Postgres(pg) => query.for_update().skip_locked().load(pg)?,
            DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::state.eq(DeliveryState::Sending.as_str()),
                outbox::claimed_by.eq(holder),
                outbox::claimed_until.eq(now + lease),
                outbox::attempts.eq(outbox::attempts + 1),
            ))
            .execute(conn)?;
        outbox::table
            .filter(outbox::id.eq_any(&ids))
            .order(outbox::next_attempt_at)
            .select(OutboxRow::as_select())
            .load(conn)
    })
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    /// Try again at that time.
    Retry {
        at: NaiveDateTime,
        error: String,
    },
    /// No more attempts: refused for good, or out of attempts.
    Failed {
        error: String,
    },
}

/// Records how `holder`'s attempt at message `id` ended. `false` when the claim was no longer
/// `holder`'s (it ran out and another dispatcher took the message).
pub fn finish(
    conn: &mut DbConnection,
    id: &str,
    holder: &str,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let mine = outbox::table
        .filter(outbox::id.eq(id))
        .filter(outbox::state.eq(DeliveryState::Sending.as_str()))
        .filter(outbox::claimed_by.eq(holder));
    let released = (
        outbox::claimed_by.eq(None::<String>),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
    );
    let changed = match outcome {
        Outcome::Sent => diesel::update(mine)
            .set((
                outbox::state.eq(DeliveryState::Sent.as_str()),
                outbox::sent_at.eq(now),
                outbox::last_error.eq(None::<String>),
                released,
            ))
            .execute(conn)?,
        Outcome::Retry { at, error } => diesel::update(mine)
            .set((
                outbox::state.eq(DeliveryState::Pending.as_str()),
                outbox::next_attempt_at.eq(at),
                outbox::last_error.eq(error),
                released,
            ))
            .execute(conn)?,
        Outcome::Failed { error } => diesel::update(mine)
            .set((
                outbox::state.eq(DeliveryState::Failed.as_str()),
                outbox::last_error.eq(error),
                released,
            ))
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// Hands back what `holder` claimed and has not finished, as pending and due now, without
/// counting the claim as an attempt: what a dispatcher does when the service stops.
pub fn release(conn: &mut DbConnection, holder: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        outbox::table
            .filter(outbox::state.eq(DeliveryState::Sending.as_str()))
            .filter(outbox::claimed_by.eq(holder)),
    )
    .set((
        outbox::state.eq(DeliveryState::Pending.as_str()),
        outbox::next_attempt_at.eq(now),
        outbox::attempts.eq(outbox::attempts - 1),
        outbox::claimed_by.eq(None::<String>),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Puts a failed message back in the queue, due now, with its attempts counted afresh. `false`
/// when it is not failed.
pub fn retry(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::state.eq(DeliveryState::Failed.as_str())),
    )
    .set((
        outbox::state.eq(DeliveryState::Pending.as_str()),
        outbox::next_attempt_at.eq(now),
        outbox::attempts.eq(0),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<OutboxRow>> {
    outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Default, Clone)]
pub struct OutboxFilter {
    pub state: Option<DeliveryState>,
    pub channel: Option<String>,
    pub event: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub round_id: Option<RoundId>,
    pub recipient: Option<String>,
}

/// Messages matching `filter`, newest first, and how many match on all pages.
pub fn list(
    conn: &mut DbConnection,
    filter: &OutboxFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<OutboxRow>, i64)> {
    let filtered = || {
        let mut query = outbox::table.into_boxed();
        if let Some(state) = filter.state {
            query = query.filter(outbox::state.eq(state.as_str()));
        }
        if let Some(channel) = &filter.channel {
            query = query.filter(outbox::channel.eq(channel.clone()));
        }
        if let Some(event) = &filter.event {
            query = query.filter(outbox::event.eq(event.clone()));
        }
        if let Some(organization) = &filter.organization_id {
            query = query.filter(outbox::organization_id.eq(organization.clone()));
        }
        if let Some(round) = &filter.round_id {
            query = query.filter(outbox::round_id.eq(round.clone()));
        }
        if let Some(recipient) = &filter.recipient {
            query = query.filter(outbox::recipient.eq(recipient.clone()));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((outbox::created_at.desc(), outbox::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// How many messages are in each state.
pub fn counts(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    outbox::table
        .group_by(outbox::state)
        .select((outbox::state, diesel::dsl::count_star()))
        .load(conn)
}

/// Records that the reminder `days_before` the deadline went to `organization` for `round`.
/// `false` when it already had: the caller then sends nothing. Several instances doing this at
/// once get one `true` between them.
pub fn mark_reminded(
    conn: &mut DbConnection,
    round: &RoundId,
    organization: &OrganizationId,
    days_before: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let row = (
        reminders_sent::round_id.eq(round),
        reminders_sent::organization_id.eq(organization),
        reminders_sent::days_before.eq(days_before),
        reminders_sent::sent_at.eq(now),
    );
    let inserted = match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(reminders_sent::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_into(reminders_sent::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(sqlite)?,
    };
    Ok(inserted == 1)
}

/// Which of `emails` asked for no reminders.
pub fn opted_out(conn: &mut DbConnection, emails: &[String]) -> QueryResult<Vec<String>> {
    reminder_opt_outs::table
        .filter(reminder_opt_outs::email.eq_any(emails))
        .select(reminder_opt_outs::email)
        .load(conn)
}

/// Records (`true`) or withdraws (`false`) `email`'s wish for no reminders.
pub fn set_opt_out(
    conn: &mut DbConnection,
    email: &str,
    opt_out: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if !opt_out {
        return diesel::delete(reminder_opt_outs::table.find(email))
            .execute(conn)
            .map(drop);
    }
    let row = (
        reminder_opt_outs::email.eq(email),
        reminder_opt_outs::created_at.eq(now),
    );
    match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(reminder_opt_outs::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(sqlite) => diesel::insert_into(reminder_opt_outs::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(sqlite)
            .map(drop),
    }
}

/// Takes or renews the lease `name` for `holder` until `now + ttl`, unless another holder's
/// lease is still running. Returns whether `holder` holds it.
pub fn acquire_lease(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> QueryResult<bool> {
    crate::db::transaction(conn, |conn| {
        let current: Option<(String, NaiveDateTime)> = leases::table
            .find(name)
            .select((leases::holder, leases::expires_at))
            .first(conn)
            .optional()?;
        match current {
            None => match diesel::insert_into(leases::table)
                .values((
                    leases::name.eq(name),
                    leases::holder.eq(holder),
                    leases::expires_at.eq(now + ttl),
                ))
                .execute(conn)
            {
                Ok(_) => Ok(true),
                Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
                Err(e) => Err(e),
            },
            Some((current, expires_at)) if current == holder || expires_at <= now => {
                diesel::update(leases::table.find(name))
                    .set((leases::holder.eq(holder), leases::expires_at.eq(now + ttl)))
                    .execute(conn)?;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    })
}

/// Gives up the lease `name` if `holder` has it.
pub fn release_lease(conn: &mut DbConnection, name: &str, holder: &str) -> QueryResult<()> {
    diesel::delete(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder)),
    )
    .execute(conn)
    .map(drop)
}

/// The bodies already reminded `days_before` the deadline of `round`.
pub fn reminded(
    conn: &mut DbConnection,
    round: &RoundId,
    days_before: i32,
) -> QueryResult<Vec<OrganizationId>> {
    reminders_sent::table
        .filter(reminders_sent::round_id.eq(round))
        .filter(reminders_sent::days_before.eq(days_before))
        .select(reminders_sent::organization_id)
        .load(conn)
}
