//! Persistence: one diesel connection type over SQLite and PostgreSQL, picked by the URL scheme.

pub mod allocations;
pub mod audit;
pub mod calendar_feeds;
pub mod columns;
pub mod console_sessions;
pub mod idempotency;
pub mod organizations;
pub mod outbox;
pub mod participations;
pub mod procurements;
pub mod questions;
pub mod rounds;
pub mod schema;
pub mod seed;
pub mod together;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::{ExposeSecret, SecretString};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;

/// Runs a query built alike for both backends on the concrete connection, where the hot paths
/// need it: through [`DbConnection`] diesel writes a query's SQL out again on every execution
/// (to check that it may be cached, before finding it prepared), which through the concrete
/// connection it does not for a query of static type.
/// `direct!(conn, |c| query.load(c))`; `direct!(conn, |c, Db| …)` also names the backend's
/// type `Db` in the query, for a selection that must name it.
macro_rules! direct {
    ($conn:expr, |$c:ident| $body:expr) => {
        $crate::db::direct!($conn, |$c, _Db| $body)
    };
    ($conn:expr, |$c:ident, $db:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => {
                #[allow(dead_code)]
                type $db = diesel::pg::Pg;
                $body
            }
            $crate::db::DbConnection::Sqlite($c) => {
                #[allow(dead_code)]
                type $db = diesel::sqlite::Sqlite;
                $body
            }
        }
    };
}
pub(crate) use direct;

/// Where the data lives. SQLite URLs name a file; PostgreSQL URLs go to libpq unchanged.
#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(SecretString),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Self::Sqlite(path.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            Ok(Self::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(SecretString::from(url)))
        } else {
            bail!("DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join("kyodo.db").to_string_lossy().into_owned())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Opens connections of the backend the URL names. (`MultiConnection::establish` would try each
/// backend in turn, and SQLite accepts any string as a file name.)
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url.expose_secret())
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // The busy timeout comes first: it makes this connection wait, rather than fail,
                // while another one holds the lock (switching a new file to WAL takes it too).
                // WAL lets readers proceed during a write.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// One connection outside the pool, configured as the pool's are.
pub fn connect(url: &DatabaseUrl) -> Result<DbConnection, r2d2::Error> {
    ConnectionManager { url: url.clone() }.connect()
}

pub fn connect_pool(url: &DatabaseUrl, size: u32) -> anyhow::Result<Pool> {
    if let DatabaseUrl::Sqlite(path) = url {
        create_sqlite_file(Path::new(path))?;
    }
    r2d2::Pool::builder()
        .max_size(size)
        // Checking out would otherwise cost a `SELECT 1` per request; a connection that failed is
        // marked broken by diesel and dropped on return instead.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .build(ConnectionManager { url: url.clone() })
        .with_context(|| format!("connecting to the {} database", url.backend()))
}

/// SQLite would create the database readable by everyone (0644), and its `-wal` and `-shm`
/// files with the database's mode: created here first, all three are the owner's alone.
fn create_sqlite_file(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_data_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the database {}", path.display())),
    }
}

/// Creates `dir`, and any missing parent, for the service's user alone (0700). An existing
/// directory keeps its mode: its owner may share it on purpose (a backup group, a mounted
/// volume), and the service may not own it. A warning says when others may enter it.
pub fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        if let Ok(metadata) = std::fs::metadata(dir)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                directory = %dir.display(),
                mode = format!("{:o}", metadata.permissions().mode() & 0o777),
                "other users may enter the data directory; `chmod 700` it unless that is intended"
            );
        }
    }
    builder
        .create(dir)
        .with_context(|| format!("creating the directory {}", dir.display()))
}

pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<()> {
    let result = match conn {
        DbConnection::Postgres(c) => {
            // Instances starting together on one database migrate one after the other.
            diesel::sql_query("SELECT pg_advisory_lock(2020000)").execute(c)?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop);
            diesel::sql_query("SELECT pg_advisory_unlock(2020000)").execute(c)?;
            result
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
    };
    result
        .map_err(|e| anyhow::anyhow!(e))
        .context("applying database migrations")
}

/// True when the database answers and every embedded migration has been applied.
pub fn migrations_applied(conn: &mut DbConnection) -> anyhow::Result<bool> {
    let pending = match conn {
        DbConnection::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending.map(|p| !p).map_err(|e| anyhow::anyhow!(e))
}

/// `Connection::transaction`, except that SQLite takes its write lock at the start
/// (`BEGIN IMMEDIATE`): two writers then queue on the busy timeout, where a deferred transaction
/// would fail with `SQLITE_BUSY` when it upgrades its read lock. Inside a transaction already
/// (such as a write of `crate::write_queue`'s batches), `f` runs under a savepoint of its own.
pub fn transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::TransactionManager;
    if transaction_depth(conn) == Some(0) {
        begin(conn, None)?;
    } else {
        DbConnection::begin_transaction(conn)?;
    }
    match f(conn) {
        Ok(value) => {
            DbConnection::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = DbConnection::rollback_transaction(conn) {
                tracing::error!(error = %rollback, "rolling back a failed transaction");
            }
            Err(e)
        }
    }
}

/// Begins a transaction as [`transaction`] does (`BEGIN IMMEDIATE` on SQLite), with `then`, a
/// statement that returns nothing (a savepoint), sent in the same round trip.
pub fn begin(conn: &mut DbConnection, then: Option<&str>) -> diesel::QueryResult<()> {
    use diesel::connection::AnsiTransactionManager;
    let begin = match conn {
        DbConnection::Postgres(_) => "BEGIN",
        DbConnection::Sqlite(_) => "BEGIN IMMEDIATE",
    };
    let sql = match then {
        Some(then) => std::borrow::Cow::Owned(format!("{begin}; {then}")),
        None => std::borrow::Cow::Borrowed(begin),
    };
    match conn {
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(c, &sql),
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, &sql),
    }
}

/// How many transactions and savepoints are open on `conn` (0 outside a transaction); `None`
/// once diesel has lost track of them (a rollback failed).
pub fn transaction_depth(conn: &mut DbConnection) -> Option<u32> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Postgres(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        DbConnection::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
    }
    .transaction_depth()
    .ok()
    .map(|depth| depth.map_or(0, |depth| depth.get()))
}

/// A new primary key: UUIDv7, so that ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    /// Whether the SQLite compiled into the binary was built with `option` (without `SQLITE_`).
    fn compiled_with(option: &CStr) -> bool {
        // SAFETY: a NUL-terminated string that SQLite only reads.
        unsafe { libsqlite3_sys::sqlite3_compileoption_used(option.as_ptr()) == 1 }
    }

    /// `.cargo/config.toml` builds SQLite with a stable query plan (no statement prepared anew on
    /// each execution), without memory statistics (no process-wide lock per allocation) and
    /// without a lock per call on a connection.
    #[test]
    fn sqlite_is_built_with_the_options_the_service_relies_on() {
        assert!(
            compiled_with(c"ENABLE_QPSG"),
            "LIBSQLITE3_FLAGS lacks SQLITE_ENABLE_QPSG"
        );
        assert!(
            compiled_with(c"DEFAULT_MEMSTATUS=0"),
            "LIBSQLITE3_FLAGS lacks SQLITE_DEFAULT_MEMSTATUS=0"
        );
        // SAFETY: takes no arguments and reads a compile-time constant.
        let mode = unsafe { libsqlite3_sys::sqlite3_threadsafe() };
        assert_eq!(mode, 2, "LIBSQLITE3_FLAGS lacks SQLITE_THREADSAFE=2");
    }
}
