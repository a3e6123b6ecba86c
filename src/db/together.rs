//! Fewer round trips to PostgreSQL: statements that diesel would send unprepared, prepared once per
//! connection ([`Fixed`]), and several writes sent as one statement ([`execute_together`]).
//!
//! diesel prepares and keeps a statement only when its type says that its SQL never changes
//! (`QueryId::HAS_STATIC_QUERY_ID`). Its `UPDATE` and `ON CONFLICT` statements never say so, even
//! where the SQL is in fact always the same, so each costs PostgreSQL a parse and a plan and the
//! service two round trips (prepare, then execute). A registration writes four rows; sent one by
//! one, that is four more round trips inside its transaction.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::sqlite::Sqlite;
use diesel::{PgConnection, QueryResult, RunQueryDsl, SqliteConnection};

use crate::db::DbConnection;

/// A statement whose SQL is the same on every call from one place in the code, named by the
/// marker type `M` (one per place), so that diesel prepares it once per connection and keeps it.
///
/// Only for statements whose text cannot vary: no boxed parts, no `Option` field that drops its
/// column, no `IN` list of a variable length. (A `Fixed` whose SQL changed would run the statement
/// prepared first.)
pub struct Fixed<M, Q> {
    query: Q,
    place: PhantomData<M>,
}

impl<M, Q> Fixed<M, Q> {
    pub fn new(query: Q) -> Self {
        Self {
            query,
            place: PhantomData,
        }
    }
}

impl<M: 'static, Q> QueryId for Fixed<M, Q> {
    type QueryId = M;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB: Backend, M, Q: QueryFragment<DB>> QueryFragment<DB> for Fixed<M, Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }
}

impl<M, Q: Query> Query for Fixed<M, Q> {
    type SqlType = Q::SqlType;
}

impl<M, Q, Conn> RunQueryDsl<Conn> for Fixed<M, Q> {}

/// `UPDATE table SET changeset WHERE filter`, as diesel's `update(…).set(…)` writes it, except
/// that diesel's says its text may vary (whatever the changeset), so that no statement holding it
/// is ever kept prepared. Wrapped in [`Fixed`] where the changeset's columns never vary (a
/// struct with `treat_none_as_null`).
pub struct UpdateWhere<F, V, W> {
    table: F,
    changeset: V,
    filter: W,
}

impl<F, V, W> UpdateWhere<F, V, W> {
    pub fn new<T>(table: T, changeset: V, filter: W) -> Self
    where
        T: diesel::Table<FromClause = F>,
    {
        Self {
            table: table.from_clause(),
            changeset,
            filter,
        }
    }
}

impl<DB, F, V, W> QueryFragment<DB> for UpdateWhere<F, V, W>
where
    DB: Backend,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changeset.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

/// Writes that belong together, as one statement on PostgreSQL: `WITH s0 AS (first), s1 AS
/// (second) last`. PostgreSQL runs every data-modifying part of a `WITH`, on one snapshot, and
/// checks foreign keys at the end of the statement, so a part may insert a row that refers to a
/// row another part inserts. No part may change a row another part changes.
pub struct Together<T>(T);

/// Runs the statements of the tuple `statements` (two to four), in order: on PostgreSQL as one
/// statement, one round trip (prepared once when every part's SQL is fixed); on SQLite, which
/// has no round trips to save and no data-modifying `WITH`, one after the other.
pub fn execute_together<T>(conn: &mut DbConnection, statements: T) -> QueryResult<()>
where
    T: Statements,
{
    match conn {
        DbConnection::Postgres(pg) => statements.on_postgres(pg),
        DbConnection::Sqlite(sqlite) => statements.on_sqlite(sqlite),
    }
}

/// A statement that either backend can run.
pub trait Statement: QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId {}

impl<T: QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId> Statement for T {}

/// A tuple of statements that [`execute_together`] can run.
pub trait Statements {
    fn on_postgres(self, conn: &mut PgConnection) -> QueryResult<()>;
    fn on_sqlite(self, conn: &mut SqliteConnection) -> QueryResult<()>;
}

macro_rules! together {
    ($($part:ident $index:tt),+ ; $last:ident $last_index:tt) => {
        impl<$($part,)+ $last> QueryFragment<Pg> for Together<($($part,)+ $last)>
        where
            $($part: QueryFragment<Pg>,)+
            $last: QueryFragment<Pg>,
        {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                out.push_sql("WITH ");
                $(
                    if $index > 0 {
                        out.push_sql(", ");
                    }
                    out.push_sql(concat!("s", stringify!($index), " AS ("));
                    self.0.$index.walk_ast(out.reborrow())?;
                    out.push_sql(")");
                )+
                out.push_sql(" ");
                self.0.$last_index.walk_ast(out.reborrow())
            }

        }

        impl<$($part: QueryId,)+ $last: QueryId> QueryId for Together<($($part,)+ $last)> {
            type QueryId = Together<($($part::QueryId,)+ $last::QueryId)>;
            const HAS_STATIC_QUERY_ID: bool =
                $($part::HAS_STATIC_QUERY_ID &&)+ $last::HAS_STATIC_QUERY_ID;
        }

        impl<$($part,)+ $last> Statements for ($($part,)+ $last)
        where
            $($part: Statement,)+
            $last: Statement,
        {
            fn on_postgres(self, conn: &mut PgConnection) -> QueryResult<()> {
                ExecuteDsl::execute(Together(self), conn).map(drop)
            }

            fn on_sqlite(self, conn: &mut SqliteConnection) -> QueryResult<()> {
                $(ExecuteDsl::execute(self.$index, conn)?;)+
                ExecuteDsl::execute(self.$last_index, conn).map(drop)
            }
        }
    };
}

together!(A 0; B 1);
together!(A 0, B 1; C 2);
together!(A 0, B 1, C 2; D 3);

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::{changes, webhook_relay};

    #[test]
    fn writes_together_are_one_statement_that_postgresql_keeps_prepared() {
        struct MoveRelay;
        let update = Fixed::<MoveRelay, _>::new(UpdateWhere::new(
            webhook_relay::table,
            webhook_relay::seq.eq(2_i64).as_changeset(),
            webhook_relay::id.eq(1),
        ));
        let insert = diesel::insert_into(changes::table)
            .values((changes::entity_type.eq("round"), changes::payload.eq("{}")));
        let together = Together((update, insert));
        let sql = diesel::debug_query::<Pg, _>(&together).to_string();
        assert!(
            sql.starts_with(
                r#"WITH s0 AS (UPDATE "webhook_relay" SET "seq" = $1 WHERE ("webhook_relay"."id" = $2)) INSERT INTO "changes" ("entity_type", "payload") VALUES ($3, $4)"#
            ),
            "{sql}"
        );
        assert!(together.is_safe_to_cache_prepared(&Pg).unwrap());
        assert!(static_id(&together));
        // diesel's own UPDATE may never be kept, and neither may a whole that holds it.
        let plain = Together((
            diesel::update(webhook_relay::table.find(1)).set(webhook_relay::seq.eq(2_i64)),
            diesel::insert_into(changes::table).values(changes::payload.eq("{}")),
        ));
        assert!(!plain.is_safe_to_cache_prepared(&Pg).unwrap());
    }

    fn static_id<T: QueryId>(_: &T) -> bool {
        T::HAS_STATIC_QUERY_ID
    }
}
