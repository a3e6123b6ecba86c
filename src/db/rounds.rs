use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

use crate::db::DbConnection;
use crate::db::organizations::{Key, OrganizationRow};
use crate::db::participations::ParticipationRow;
use crate::db::procurements::ProcurementRow;
use crate::db::schema::{organizations, participations, procurements, rounds};
use crate::db::tokens::{self, ActiveToken};
use crate::domain::id::{ProcurementId, RoundId};
use crate::domain::round::{RoundKind, RoundState};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rounds, treat_none_as_null = true)]
pub struct RoundRow {
    pub id: RoundId,
    pub procurement_id: ProcurementId,
    pub kind: RoundKind,
    pub fiscal_year: Option<i32>,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub population_base_date: chrono::NaiveDate,
    /// JSON list of days before closing on which reminders go out.
    pub reminder_days: String,
    pub state: RoundState,
    pub cancel_reason: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a listing shows of an open round.
#[derive(Debug, Clone, Queryable)]
pub struct OpenRoundRow {
    pub id: RoundId,
    pub kind: RoundKind,
    pub closes_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &RoundRow) -> QueryResult<()> {
    diesel::insert_into(rounds::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, id: &RoundId) -> QueryResult<Option<RoundRow>> {
    rounds::table
        .find(id)
        .select(RoundRow::as_select())
        .first(conn)
        .optional()
}

/// The round with its procurement, in one query.
pub fn find_with_procurement(
    conn: &mut DbConnection,
    id: &RoundId,
) -> QueryResult<Option<(RoundRow, ProcurementRow)>> {
    crate::db::direct!(conn, |c| {
        rounds::table
            .inner_join(procurements::table)
            .filter(rounds::id.eq(id))
            .select((RoundRow::as_select(), ProcurementRow::as_select()))
            .first(c)
            .optional()
    })
}

/// The round with its procurement and the API token `token` names if it is active (see
/// [`tokens::TokenLookup`]), in one query; `None` when the round is missing. Without a token to
/// look up (a caller known already), the statement joins no token: the join would cost every
/// execution two relations and their columns for nothing.
pub fn find_with_procurement_for(
    conn: &mut DbConnection,
    id: &RoundId,
    token: tokens::TokenLookup<'_>,
) -> QueryResult<Option<(RoundRow, ProcurementRow, Option<ActiveToken>)>> {
    let Some((digest, now)) = token else {
        let found = find_with_procurement(conn, id)?;
        return Ok(found.map(|(round, procurement)| (round, procurement, None)));
    };
    let digest = Some(digest.to_owned());
    let found: Option<(RoundRow, ProcurementRow, _)> = crate::db::direct!(conn, |c| {
        tokens::left_join_active_token!(
            rounds::table.inner_join(procurements::table),
            digest.clone(),
            now
        )
        .filter(rounds::id.eq(id))
        .select((
            RoundRow::as_select(),
            ProcurementRow::as_select(),
            tokens::active_token_columns!(),
        ))
        .first(c)
        .optional()
    })?;
    Ok(found.map(|(round, procurement, token)| (round, procurement, tokens::found_token(token))))
}

/// The round with its procurement, the round locked against state changes until the transaction
/// ends (PostgreSQL `FOR SHARE OF rounds`; SQLite's write transactions already exclude each
/// other). Registrations share the lock, so they run side by side, while closing the round waits
/// for them, and they for it. The procurement is read, not locked: a transaction that changes a
/// procurement and then its rounds would otherwise wait for a registration that waits for it.
pub fn find_for_share(
    conn: &mut DbConnection,
    id: &RoundId,
) -> QueryResult<Option<(RoundRow, ProcurementRow)>> {
    match conn {
        DbConnection::Postgres(pg) => ShareRound(
            rounds::table
                .inner_join(procurements::table)
                .filter(rounds::id.eq(id))
                .select((RoundRow::as_select(), ProcurementRow::as_select()))
                .limit(1),
        )
        .get_result(pg)
        .optional(),
        DbConnection::Sqlite(_) => find_with_procurement(conn, id),
    }
}

/// What a registration reads before it writes, in one statement: the round with its procurement
/// (the round locked as by `find_for_share`), the body `key` names, the body's answer in the round
/// if it has one, and the API token with the digest `token` names if it is active at the given
/// time (`None` when the caller is known already, or when no such token is active). `None` when
/// the round or the body is missing (ask `find_for_share` and the organization which).
///
/// On PostgreSQL the answer is read locked (`FOR UPDATE`, in a `WITH` part that takes the table's
/// name: PostgreSQL refuses to lock the nullable side of an outer join), so that two writers of
/// one answer change it one after the other and its history stays unbroken; a row that another
/// writer changed while this one waited is read as that writer committed it. SQLite's write
/// transactions exclude each other already.
pub fn find_for_answer(
    conn: &mut DbConnection,
    id: &RoundId,
    key: &Key,
    token: tokens::TokenLookup<'_>,
) -> QueryResult<Option<ForAnswer>> {
    let (organization_id, lg_code) = key.binds();
    let (digest, now) = tokens::lookup_binds(token);
    // The binds are owned: with a subquery in it, diesel's `get_result` takes the query only as
    // 'static.
    macro_rules! named_body {
        () => {
            organizations::id
                .nullable()
                .eq(organization_id.clone())
                .or(organizations::lg_code.eq(lg_code.clone()))
        };
    }
    // Written once, built for each backend (a selection is typed by its backend).
    macro_rules! query {
        () => {
            tokens::left_join_active_token!(
                rounds::table
                    .inner_join(procurements::table)
                    .inner_join(organizations::table.on(named_body!()))
                    .left_join(
                        participations::table.on(participations::round_id
                            .eq(rounds::id)
                            .and(participations::organization_id.eq(organizations::id))),
                    ),
                digest.clone(),
                now
            )
            .filter(rounds::id.eq(id))
            .select((
                RoundRow::as_select(),
                ProcurementRow::as_select(),
                OrganizationRow::as_select(),
                participations::all_columns.nullable(),
                tokens::active_token_columns!(),
            ))
            .limit(1)
        };
    }
    let found: Option<Found> = match conn {
        DbConnection::Postgres(pg) => {
            let answer = participations::table
                .filter(participations::round_id.eq(id.clone()))
                // The body first (a value, found once), then its answer by the unique index.
                .filter(
                    participations::organization_id
                        .nullable()
                        .eq(organizations::table
                            .filter(named_body!())
                            .select(organizations::id)
                            .limit(1)
                            .single_value()),
                )
                .select(participations::all_columns)
                .for_update();
            WithLockedAnswer {
                answer,
                query: ShareRound(query!()),
            }
            .get_result(pg)
            .optional()?
        }
        DbConnection::Sqlite(sqlite) => query!().get_result(sqlite).optional()?,
    };
    Ok(found.map(
        |(round, procurement, organization, answer, token)| ForAnswer {
            round,
            procurement,
            organization,
            answer,
            token: tokens::found_token(token),
        },
    ))
}

type Found = (
    RoundRow,
    ProcurementRow,
    OrganizationRow,
    Option<ParticipationRow>,
    tokens::JoinedToken,
);

/// What [`find_for_answer`] found.
pub struct ForAnswer {
    pub round: RoundRow,
    pub procurement: ProcurementRow,
    pub organization: OrganizationRow,
    pub answer: Option<ParticipationRow>,
    pub token: Option<ActiveToken>,
}

/// `WITH "participations" AS (answer) query`: `query` reads the locked answer under the table's
/// own name (a `WITH` part does not see its own name, so `answer` reads the table).
struct WithLockedAnswer<A, Q> {
    answer: A,
    query: Q,
}

impl<A: QueryFragment<Pg>, Q: QueryFragment<Pg>> QueryFragment<Pg> for WithLockedAnswer<A, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH \"participations\" AS (");
        self.answer.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.query.walk_ast(out.reborrow())
    }
}

impl<A: QueryId, Q: QueryId> QueryId for WithLockedAnswer<A, Q> {
    type QueryId = WithLockedAnswer<A::QueryId, Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID && Q::HAS_STATIC_QUERY_ID;
}

impl<A, Q: Query> Query for WithLockedAnswer<A, Q> {
    type SqlType = Q::SqlType;
}

impl<A, Q, Conn> RunQueryDsl<Conn> for WithLockedAnswer<A, Q> {}

/// A query of rounds joined with other tables, with `FOR SHARE OF rounds` (diesel's `for_share`
/// would lock a row of every table).
struct ShareRound<Q>(Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for ShareRound<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" FOR SHARE OF \"rounds\"");
        Ok(())
    }
}

impl<Q: QueryId> QueryId for ShareRound<Q> {
    type QueryId = ShareRound<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: Query> Query for ShareRound<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for ShareRound<Q> {}

pub fn list_for_procurement(
    conn: &mut DbConnection,
    procurement_id: &ProcurementId,
) -> QueryResult<Vec<RoundRow>> {
    rounds::table
        .filter(rounds::procurement_id.eq(procurement_id))
        .order((rounds::opens_at.asc(), rounds::id.asc()))
        .select(RoundRow::as_select())
        .load(conn)
}

/// Every round of these procurements, each procurement's in the order they were created.
pub fn for_procurements(
    conn: &mut DbConnection,
    procurement_ids: &[ProcurementId],
) -> QueryResult<Vec<RoundRow>> {
    rounds::table
        .filter(rounds::procurement_id.eq_any(procurement_ids))
        .order((
            rounds::procurement_id.asc(),
            rounds::created_at.asc(),
            rounds::id.asc(),
        ))
        .select(RoundRow::as_select())
        .load(conn)
}

/// Writes `row` if the stored round is still at `expected_version` and in `expected_state`:
/// when two instances (or an admin and the scheduler) act at once, exactly one succeeds.
pub fn update(
    conn: &mut DbConnection,
    row: &RoundRow,
    expected_version: i64,
    expected_state: RoundState,
) -> QueryResult<bool> {
    diesel::update(
        rounds::table
            .find(&row.id)
            .filter(rounds::version.eq(expected_version))
            .filter(rounds::state.eq(expected_state)),
    )
    .set(row)
    .execute(conn)
    .map(|n| n == 1)
}

/// Scheduled rounds whose opening time has come, and open rounds whose deadline has passed.
pub fn due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<RoundRow>> {
    rounds::table
        .filter(
            rounds::state
                .eq(RoundState::Scheduled)
                .and(rounds::opens_at.le(now))
                .or(rounds::state
                    .eq(RoundState::Open)
                    .and(rounds::closes_at.le(now))),
        )
        .order(rounds::opens_at.asc())
        .select(RoundRow::as_select())
        .load(conn)
}

/// Every round in `state`, soonest deadline first.
pub fn in_state(conn: &mut DbConnection, state: RoundState) -> QueryResult<Vec<RoundRow>> {
    rounds::table
        .filter(rounds::state.eq(state))
        .order((rounds::closes_at.asc(), rounds::id.asc()))
        .select(RoundRow::as_select())
        .load(conn)
}
