//! Domain values kept in TEXT columns: how each binds to `Text` and converts, all here, so that
//! the domain knows nothing of diesel. They are written once for any backend that stores `Text` as a string, which
//! covers PostgreSQL, SQLite and the `MultiBackend` of `DbConnection`.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::QueryResult;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::id::{OrganizationId, ProcurementId, RoundId, UserId};
use crate::domain::notification::DeliveryState;
use crate::domain::organization::OrganizationKind;
use crate::domain::participation::ParticipationStatus;
use crate::domain::procurement::{Category, ProcurementStatus};
use crate::domain::round::{RoundKind, RoundState};
use crate::domain::user::{Role, TokenScope};

/// Enums stored by their `strum` name. A stored name that no variant has fails the query with an
/// error naming the type and the value: a row written by a newer release, or by hand.
macro_rules! text_enums {
    ($($ty:ty),+ $(,)?) => {$(
        // The domain declares nothing of diesel: its types are bound to `Text` here, through a
        // stand-in that diesel's derives know to read as the type it wraps.
        const _: () = {
            #[derive(diesel::AsExpression, diesel::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Stored($ty);
        };

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(<&'static str>::from(*self), out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                text.parse()
                    .map_err(|_| format!("{text:?} is not a {}", stringify!($ty)).into())
            }
        }
    )+};
}

text_enums!(
    Role,
    TokenScope,
    OrganizationKind,
    RoundKind,
    RoundState,
    Category,
    ProcurementStatus,
    ParticipationStatus,
);

/// States written into a statement's text (`'open'`) rather than bound as parameters, so that
/// PostgreSQL plans a prepared statement knowing them. From `state = $1` its generic plan cannot
/// tell that few rows have the state asked for: the procurement list joined every answer of every
/// round by hash (14–22 ms at 24,000 answers, against 0.14 ms with `'open'` in the text), and the
/// dispatcher's look for due messages read the whole outbox (23 ms at 200,000 sent messages,
/// against an index scan). bench/RESULTS.md, 2026-12-06. (diesel's `sql()` would write them too,
/// but makes the statement one that is prepared anew on every request.)
macro_rules! fixed_states {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
        pub struct $name;

        impl Expression for $name {
            type SqlType = Text;
        }

        impl<QS> AppearsOnTable<QS> for $name {}

        impl<QS> SelectableExpression<QS> for $name {}

        impl<GroupBy> ValidGrouping<GroupBy> for $name {
            type IsAggregate = is_aggregate::Never;
        }

        impl<DB: Backend> QueryFragment<DB> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
                // A strum name (snake_case): nothing in it to quote.
                let name: &'static str = $value.into();
                out.push_sql("'");
                out.push_sql(name);
                out.push_sql("'");
                Ok(())
            }
        }
    )+};
}

fixed_states! {
    /// `'open'`, the state of the rounds the procurement list shows.
    OpenState = RoundState::Open;
    /// `'pending'`, a message waiting for its first or next attempt.
    PendingDelivery = DeliveryState::Pending;
    /// `'sending'`, a message a dispatcher has claimed.
    SendingDelivery = DeliveryState::Sending;
}

/// Ids stored as their text.
macro_rules! text_ids {
    ($($ty:ty),+ $(,)?) => {$(
        // The domain declares nothing of diesel: its types are bound to `Text` here, through a
        // stand-in that diesel's derives know to read as the type it wraps.
        const _: () = {
            #[derive(diesel::AsExpression, diesel::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Stored($ty);
        };

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self, out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                String::from_sql(bytes).map(Self::from)
            }
        }
    )+};
}

text_ids!(OrganizationId, ProcurementId, RoundId, UserId);

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Nullable;
    use diesel::{IntoSql, SqliteConnection};
    use strum::VariantArray;

    use super::*;
    use crate::db::{self, DatabaseUrl, DbConnection};

    /// SQLite in memory, and PostgreSQL too when `TEST_DATABASE_URL` names one.
    fn connections() -> Vec<(&'static str, DbConnection)> {
        let sqlite = SqliteConnection::establish(":memory:").expect("SQLite in memory");
        let mut connections = vec![("sqlite", DbConnection::Sqlite(sqlite))];
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            let url = DatabaseUrl::parse(&url).expect("TEST_DATABASE_URL");
            connections.push(("postgres", db::connect(&url).expect("PostgreSQL")));
        }
        connections
    }

    /// Every variant goes to the database and back, stored under the name the API uses for it;
    /// a stored name that no variant has is an error that names it.
    macro_rules! check_round_trips {
        ($backend:expr, $conn:expr, $($ty:ty),+ $(,)?) => {$(
            for &value in <$ty>::VARIANTS {
                let stored: String = diesel::select(value.into_sql::<Text>())
                    .get_result($conn)
                    .expect("stored");
                assert_eq!(
                    serde_json::json!(stored),
                    serde_json::json!(value),
                    "{} on {}", stringify!($ty), $backend,
                );
                let read: $ty = diesel::select(value.into_sql::<Text>())
                    .get_result($conn)
                    .expect("read back");
                assert_eq!(read, value, "{} on {}", stringify!($ty), $backend);
            }
            let error = diesel::select("retired".into_sql::<Text>())
                .get_result::<$ty>($conn)
                .expect_err("an unknown name");
            // diesel names the field and keeps the reason as the source.
            let error = format!("{:#}", anyhow::Error::from(error));
            assert!(
                error.contains(concat!("\"retired\" is not a ", stringify!($ty))),
                "{} on {}: {error}", stringify!($ty), $backend,
            );
        )+};
    }

    #[test]
    fn every_id_round_trips_on_every_backend() {
        for (backend, mut conn) in connections() {
            let id = RoundId::generate();
            let read: RoundId = diesel::select(id.clone().into_sql::<Text>())
                .get_result(&mut conn)
                .expect("read back");
            assert_eq!(read, id, "on {backend}");
            let read: Option<UserId> = diesel::select(None::<UserId>.into_sql::<Nullable<Text>>())
                .get_result(&mut conn)
                .expect("read back");
            assert_eq!(read, None, "on {backend}");
        }
    }

    #[test]
    fn every_enum_round_trips_on_every_backend() {
        for (backend, mut conn) in connections() {
            check_round_trips!(
                backend,
                &mut conn,
                Role,
                TokenScope,
                OrganizationKind,
                RoundKind,
                RoundState,
                Category,
                ProcurementStatus,
                ParticipationStatus,
            );
        }
    }

    /// The fixed states are in the statement's text, not parameters, and read as the states.
    #[test]
    fn fixed_states_are_written_into_the_statement() {
        use crate::db::schema::{outbox, rounds};
        let query = rounds::table
            .filter(rounds::state.eq(OpenState))
            .select(rounds::id);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        assert!(
            sql.contains(r#"("rounds"."state" = 'open')"#) && sql.ends_with("-- binds: []"),
            "{sql}"
        );
        let query = outbox::table
            .filter(outbox::state.eq(PendingDelivery))
            .or_filter(outbox::state.eq(SendingDelivery))
            .select(outbox::id);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        assert!(
            sql.contains(r#"("outbox"."state" = 'pending') OR ("outbox"."state" = 'sending')"#)
                && sql.ends_with("-- binds: []"),
            "{sql}"
        );
        for (backend, mut conn) in connections() {
            let read: (RoundState, String, String) =
                diesel::select((OpenState, PendingDelivery, SendingDelivery))
                    .get_result(&mut conn)
                    .expect("read back");
            let expected = (
                RoundState::Open,
                DeliveryState::Pending.as_str().to_owned(),
                DeliveryState::Sending.as_str().to_owned(),
            );
            assert_eq!(read, expected, "on {backend}");
        }
    }
}
