//! Write transactions, committed together.
//!
//! Every write transaction of a request runs on a *lane*: a thread of this instance with a
//! database connection of its own. A lane takes whatever transactions are waiting when it is
//! free (at most [`BATCH_LIMIT`]), runs each inside one outer transaction under a savepoint of
//! its own (one round trip: see [`SAVEPOINT`]), and commits them with one `COMMIT`: one commit
//! record and one flush of the log for the lot, where each used to cost its own. A transaction
//! that fails is rolled back to its savepoint and leaves the others alone; no request is answered
//! before the commit that holds its writes has succeeded, and when that commit fails every
//! request in it fails and nothing of any of them is written. Alone in the queue, a transaction
//! commits by itself at once: batches form only from what waits while the lane is busy, so
//! nothing is held back for company.
//!
//! SQLite lets one transaction write at a time, so it has one lane: writers then queue in
//! arrival order instead of on SQLite's busy timeout, whose back-off sleeps wake them late and in
//! no order. PostgreSQL has several; requests for the same resource (the same path) go to the
//! same lane, one after the other, so that two lanes' batches seldom wait for each other's rows.
//! A batch runs its transactions in the order of their resources, so that the batches of two
//! instances lock the rows of the same resources in the same order.
//!
//! A transaction runs to its end also when the request that asked for it is gone.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::connection::TransactionManager;
use diesel::r2d2::R2D2Connection;

use crate::db::{self, DatabaseUrl, DbConnection};
use crate::error::ApiError;

/// At most this many transactions share one commit. PostgreSQL keeps the ids of 64
/// subtransactions per transaction at hand before it has to look them up on disk.
const BATCH_LIMIT: usize = 16;

/// The lanes of one instance.
pub struct WriteQueue {
    lanes: Vec<mpsc::Sender<WriteJob>>,
    /// How many transactions each commit held.
    batch_sizes: prometheus::Histogram,
    /// The lane of the next transaction that names no resource.
    turn: AtomicUsize,
    hasher: std::hash::RandomState,
}

/// A transaction waiting for its lane, and the resource it writes to, if named.
struct WriteJob {
    resource: Option<Box<str>>,
    work: Work,
}

/// A transaction's work: it runs on the lane's connection (or learns why there is none) and
/// hands back how to answer its request once its batch's commit is known, and whether it failed
/// (its writes then to be rolled back).
type Work = Box<dyn FnOnce(Result<&mut DbConnection, ApiError>) -> (Settle, bool) + Send>;

/// Answers a request with its transaction's outcome, or with why the batch's commit failed.
type Settle = Box<dyn FnOnce(Result<(), ApiError>) + Send>;

impl WriteQueue {
    /// One lane for SQLite; `postgres_lanes` (at least one) for PostgreSQL.
    pub fn start(url: &DatabaseUrl, postgres_lanes: usize) -> anyhow::Result<Self> {
        let count = match url {
            DatabaseUrl::Sqlite(_) => 1,
            DatabaseUrl::Postgres(_) => postgres_lanes.max(1),
        };
        let batch_sizes = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "write_batch_transactions",
                "Write transactions run in one database transaction, per batch",
            )
            .namespace(crate::metrics::NAMESPACE)
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0]),
        )?;
        let lanes = (0..count)
            .map(|i| {
                let (jobs, queue) = mpsc::channel::<WriteJob>();
                let url = url.clone();
                let batch_sizes = batch_sizes.clone();
                std::thread::Builder::new()
                    .name(format!("db-writer-{i}"))
                    .spawn(move || run_lane(&url, &queue, &batch_sizes))
                    .context("starting a database writer thread")?;
                Ok(jobs)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            lanes,
            batch_sizes,
            turn: AtomicUsize::new(0),
            hasher: std::hash::RandomState::new(),
        })
    }

    /// Registers the size of the batches with `/metrics`.
    pub fn register_metrics(&self, registry: &prometheus::Registry) -> anyhow::Result<()> {
        registry.register(Box::new(self.batch_sizes.clone()))?;
        Ok(())
    }

    /// Runs `f` in a transaction of its own (a savepoint in its lane's batch), on the lane that
    /// `resource` picks (none: the next lane in turn), and answers once it is committed.
    pub async fn run<T, F>(&self, resource: Option<&str>, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let lane = match resource {
            Some(resource) => self.hasher.hash_one(resource) as usize,
            None => self.turn.fetch_add(1, Ordering::Relaxed),
        } % self.lanes.len();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let work: Work = Box::new(move |conn| {
            let _in_request = span.enter();
            let outcome = conn.and_then(|conn| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a write transaction panicked").into()))
            });
            let failed = outcome.is_err();
            let settle: Settle = Box::new(move |committed: Result<(), ApiError>| {
                // A failed transaction wrote nothing whatever the batch did; a successful one
                // stands only with its batch.
                let outcome = match (outcome, committed) {
                    (Ok(_), Err(error)) => Err(error),
                    (outcome, _) => outcome,
                };
                let _ = reply.send(outcome);
            });
            (settle, failed)
        });
        let job = WriteJob {
            resource: resource.map(Box::from),
            work,
        };
        if self.lanes[lane].send(job).is_err() {
            return Err(anyhow::anyhow!("the database writer thread has stopped").into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the write transaction was lost").into()))
    }
}

/// A lane: batches of waiting transactions, one after the other, on a connection opened on the
/// first write and again after one broke.
fn run_lane(
    url: &DatabaseUrl,
    queue: &mpsc::Receiver<WriteJob>,
    batch_sizes: &prometheus::Histogram,
) {
    let mut conn: Option<DbConnection> = None;
    while let Ok(first) = queue.recv() {
        let mut batch: Vec<WriteJob> = std::iter::once(first)
            .chain(queue.try_iter().take(BATCH_LIMIT - 1))
            .collect();
        // In the order of their resources (a stable sort: one resource's in arrival order), so
        // that batches of other instances, which may write the same rows, take their locks in
        // the same order as this one and cannot deadlock with it over them.
        batch.sort_by(|a, b| a.resource.cmp(&b.resource));
        batch_sizes.observe(batch.len() as f64);
        if conn.is_none() {
            match db::connect(url) {
                Ok(opened) => conn = Some(opened),
                Err(error) => {
                    tracing::error!(%error, "opening a database connection for writes");
                    let cause = error.to_string();
                    refuse(batch, || {
                        anyhow::Error::new(diesel::ConnectionError::BadConnection(cause.clone()))
                            .context("opening a database connection for writes")
                            .into()
                    });
                    continue;
                }
            }
        }
        if let Some(open) = conn.as_mut()
            && !run_batch(open, batch)
        {
            conn = None;
        }
    }
}

/// Answers every transaction of `batch` with the error `why` makes, without running it.
fn refuse(batch: Vec<WriteJob>, why: impl Fn() -> ApiError) {
    for job in batch {
        (job.work)(Err(why())).0(Ok(()));
    }
}

/// Runs `batch` in one transaction, each under a savepoint, commits it and answers every request.
/// False when the connection is no longer fit for the next batch.
fn run_batch(conn: &mut DbConnection, batch: Vec<WriteJob>) -> bool {
    // The first transaction's savepoint comes with the `BEGIN`, in the same round trip.
    if let Err(error) = db::begin(conn, Some(SAVEPOINT)) {
        refuse(batch, || replica(&error).into());
        return false;
    }
    let mut settles = Vec::with_capacity(batch.len());
    // Set once the batch's transaction cannot go on: the rest of the batch is not run.
    let mut broken: Option<diesel::result::Error> = None;
    for (i, job) in batch.into_iter().enumerate() {
        if let Some(error) = &broken {
            settles.push((job.work)(Err(replica(error).into())).0);
            continue;
        }
        if i > 0
            && let Err(error) = conn.batch_execute(SAVEPOINT)
        {
            let error = cause(conn, error);
            settles.push((job.work)(Err(replica(&error).into())).0);
            broken = Some(error);
            continue;
        }
        let (settle, failed) = (job.work)(Ok(conn));
        settles.push(settle);
        // A transaction that panicked may also have left savepoints of diesel's open.
        if (failed || db::transaction_depth(conn) != Some(1))
            && let Err(error) = roll_back_to_savepoint(conn)
        {
            broken = Some(cause(conn, error));
        }
    }
    let committed = match broken {
        None => DbConnection::commit_transaction(conn).map_err(|error| cause(conn, error)),
        Some(error) => Err(error),
    };
    match committed {
        Ok(()) => {
            for settle in settles {
                settle(Ok(()));
            }
            true
        }
        Err(error) => {
            tracing::error!(%error, "a batch of writes did not commit");
            // diesel rolls back a failed commit; a batch left incomplete is rolled back here.
            let usable = match db::transaction_depth(conn) {
                Some(0) => true,
                Some(_) => DbConnection::rollback_transaction(conn).is_ok(),
                None => false,
            } && !conn.is_broken();
            for settle in settles {
                settle(Err(replica(&error).into()));
            }
            usable
        }
    }
}

/// Why a batch cannot go on: `error` itself when the database said it, else (diesel lost track
/// of the transaction after a rollback failed) what the connection says now, so that a lost
/// connection is the outage the clients may wait out.
fn cause(conn: &mut DbConnection, error: diesel::result::Error) -> diesel::result::Error {
    match error {
        diesel::result::Error::DatabaseError(..)
        | diesel::result::Error::RollbackErrorOnCommit { .. } => error,
        other => conn.ping().err().unwrap_or(other),
    }
}

/// The savepoint each transaction of a batch runs under, and the way back to it. One that
/// succeeds leaves it in place, so that the next one's nests inside it (a `RELEASE` would cost a
/// round trip, and the batch's commit ends them all); rolling back to it undoes the latest
/// transaction only.
const SAVEPOINT: &str = "SAVEPOINT batched_write";
const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT batched_write";

/// Undoes the latest transaction of the batch: rolls back any of diesel's savepoints it left
/// open, then to its own savepoint.
fn roll_back_to_savepoint(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    loop {
        match db::transaction_depth(conn) {
            Some(1) => break,
            Some(_) => DbConnection::rollback_transaction(conn)?,
            None => return Err(diesel::result::Error::BrokenTransactionManager),
        }
    }
    conn.batch_execute(ROLLBACK_TO_SAVEPOINT)
}

/// An error like `error`, for each of the requests it failed: what `ApiError` makes of it (a 503
/// for a lost connection, a busy or a full database) depends on its kind and message only.
fn replica(error: &diesel::result::Error) -> anyhow::Error {
    use diesel::result::Error;
    match error {
        Error::DatabaseError(kind, info) => {
            Error::DatabaseError(*kind, Box::new(info.message().to_owned())).into()
        }
        Error::RollbackErrorOnCommit { commit_error, .. } => replica(commit_error),
        other => anyhow::anyhow!("{other}"),
    }
    .context("the batch of writes this one belonged to did not commit")
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::mpsc as std_mpsc;
    use std::task::{Context, Poll, Waker};

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;

    /// A database of the test's own: an SQLite file, or a PostgreSQL database made on the server
    /// `TEST_DATABASE_URL` names (dropped at the end).
    struct Scratch {
        url: DatabaseUrl,
        _dir: Option<tempfile::TempDir>,
        server: Option<String>,
        name: String,
    }

    impl Scratch {
        fn new(backend: &str) -> Option<Self> {
            let name = format!("lanes_{}", uuid::Uuid::new_v4().simple());
            if backend == "sqlite" {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path = dir.path().join("lanes.db");
                return Some(Self {
                    url: DatabaseUrl::Sqlite(path.to_string_lossy().into_owned()),
                    _dir: Some(dir),
                    server: None,
                    name,
                });
            }
            let server = std::env::var("TEST_DATABASE_URL").ok()?;
            let mut admin = PgConnection::establish(&server).expect("TEST_DATABASE_URL");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("a scratch database");
            let (base, query) = server.split_once('?').unwrap_or((&server, ""));
            let (host, _) = base.rsplit_once('/').expect("a database name in the URL");
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            Some(Self {
                url: DatabaseUrl::parse(&format!("{host}/{name}{query}")).expect("a URL"),
                _dir: None,
                server: Some(server),
                name,
            })
        }

        fn connect(&self) -> DbConnection {
            db::connect(&self.url).expect("a connection")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            if let Some(server) = &self.server
                && let Ok(mut admin) = PgConnection::establish(server)
            {
                let _ = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }

    diesel::table! {
        probe (id) {
            id -> Text,
        }
    }

    fn insert(conn: &mut DbConnection, id: &str) -> Result<(), ApiError> {
        diesel::insert_into(probe::table)
            .values(probe::id.eq(id))
            .execute(conn)?;
        Ok(())
    }

    fn stored(conn: &mut DbConnection) -> Vec<String> {
        probe::table
            .select(probe::id)
            .order(probe::id)
            .load(conn)
            .expect("the probe rows")
    }

    /// Polls `future` once, so that a `run` sends its transaction to the lane.
    fn poll_once<F: Future>(future: Pin<&mut F>) {
        let pending = future.poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(pending, Poll::Pending),
            "answered before its lane ran it"
        );
    }

    type Answer<'q, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + 'q>>;

    /// Sends `f` to its lane and returns the future of its answer.
    fn queued<'q, T: Send + 'static>(
        queue: &'q WriteQueue,
        resource: Option<&'static str>,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> Answer<'q, T> {
        let mut answer = Box::pin(queue.run(resource, f));
        poll_once(answer.as_mut());
        answer
    }

    /// Holds the lane with a transaction that runs `f` once the returned sender says so: what is
    /// queued meanwhile waits, and makes the next batch.
    fn hold_lane<'q, T: Send + 'static>(
        queue: &'q WriteQueue,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> (Answer<'q, T>, std_mpsc::Sender<()>) {
        let (started, has_started) = std_mpsc::channel();
        let (release, released) = std_mpsc::channel::<()>();
        let held = queued(queue, None, move |conn| {
            started.send(()).expect("the test waits");
            released.recv().expect("the test releases the lane");
            f(conn)
        });
        has_started.recv().expect("the holding transaction started");
        (held, release)
    }

    /// Transactions that wait while their lane is busy are committed together, and each stands
    /// or falls alone: one that fails (on a database error, on its own error or by panicking) is
    /// rolled back to its savepoint and the others commit; a commit that fails fails them all and
    /// writes none.
    #[test]
    fn waiting_transactions_commit_together_and_fail_alone() {
        for backend in ["sqlite", "postgres"] {
            let Some(scratch) = Scratch::new(backend) else {
                continue;
            };
            let mut conn = scratch.connect();
            conn.batch_execute(
                "CREATE TABLE probe (id TEXT PRIMARY KEY); \
                 CREATE TABLE parent (id TEXT PRIMARY KEY); \
                 CREATE TABLE child (id TEXT PRIMARY KEY, \
                     parent TEXT NOT NULL REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("the probe tables");
            if backend == "postgres" {
                // Which transaction wrote each row (a row's `xmin` names its savepoint's).
                conn.batch_execute(
                    "ALTER TABLE probe ADD COLUMN txid TEXT DEFAULT (pg_current_xact_id()::text)",
                )
                .expect("the writer's column");
            }
            let queue = WriteQueue::start(&scratch.url, 1).expect("a lane");
            actix_web::rt::System::new().block_on(async {
                let (first, release) = hold_lane(&queue, |conn| {
                    insert(conn, "first")?;
                    Ok("first")
                });
                // The first of the batch fails: its savepoint came with the `BEGIN`.
                let duplicate = queued(&queue, None, |conn| insert(conn, "first"));
                let kept = queued(&queue, None, |conn| insert(conn, "kept"));
                let refused = queued(&queue, None, |conn| {
                    insert(conn, "refused")?;
                    Err::<(), _>(ApiError::not_found("gone", "refused after writing"))
                });
                let panicked = queued(&queue, None, |conn| -> Result<(), ApiError> {
                    insert(conn, "panicked")?;
                    panic!("a bug after writing");
                });
                let last = queued(&queue, None, |conn| {
                    insert(conn, "last")?;
                    // The batch's earlier writes are its own to see.
                    Ok(stored(conn))
                });
                release.send(()).expect("the lane waits");

                assert_eq!(first.await.expect("the first commits"), "first");
                assert!(duplicate.await.is_err(), "{backend}: a duplicate key fails");
                kept.await.expect("the next of the batch commits");
                let refused = refused.await.expect_err("refused");
                assert_eq!(
                    actix_web::ResponseError::status_code(&refused),
                    actix_web::http::StatusCode::NOT_FOUND,
                    "{backend}: its own error"
                );
                let panicked = panicked.await.expect_err("a panic is an error");
                assert!(panicked.cause_chain().contains("panicked"), "{backend}");
                assert_eq!(
                    last.await.expect("the last of the batch commits"),
                    ["first", "kept", "last"],
                    "{backend}"
                );
            });
            assert_eq!(stored(&mut conn), ["first", "kept", "last"], "{backend}");
            if backend == "postgres" {
                // One transaction wrote both of the batch's rows, another the first.
                let writers: Vec<String> =
                    diesel::sql_query("SELECT txid AS id FROM probe ORDER BY probe.id")
                        .load::<Writer>(&mut conn)
                        .expect("the writing transactions")
                        .into_iter()
                        .map(|w| w.id)
                        .collect();
                assert_eq!(writers[1], writers[2], "kept and last share a commit");
                assert_ne!(writers[0], writers[1], "first committed alone");
            }

            // A commit that fails (a deferred foreign key) fails every transaction in it.
            actix_web::rt::System::new().block_on(async {
                let (first, release) = hold_lane(&queue, |conn| insert(conn, "alone"));
                let orphan = queued(&queue, None, |conn| {
                    diesel::sql_query("INSERT INTO child (id, parent) VALUES ('c', 'missing')")
                        .execute(conn)?;
                    Ok(())
                });
                let innocent = queued(&queue, None, |conn| insert(conn, "innocent"));
                release.send(()).expect("the lane waits");
                first.await.expect("alone, it commits");
                assert!(
                    orphan.await.is_err(),
                    "{backend}: the orphan fails at commit"
                );
                let innocent = innocent.await.expect_err("its batch did not commit");
                assert!(
                    innocent.cause_chain().contains("did not commit"),
                    "{backend}: {}",
                    innocent.cause_chain()
                );
            });
            assert_eq!(
                stored(&mut conn),
                ["alone", "first", "kept", "last"],
                "{backend}: nothing of the failed batch is written"
            );
            // The lane goes on.
            actix_web::rt::System::new().block_on(async {
                queue
                    .run(None, |conn| insert(conn, "after"))
                    .await
                    .expect("the next batch commits");
            });
        }
    }

    /// A batch whose connection is lost fails as a whole with 503s, the clients' cue to try
    /// again, and the lane opens a new connection for the next.
    #[test]
    fn a_batch_that_loses_its_connection_fails_with_503_and_the_lane_reconnects() {
        let Some(scratch) = Scratch::new("postgres") else {
            return;
        };
        let mut conn = scratch.connect();
        conn.batch_execute("CREATE TABLE probe (id TEXT PRIMARY KEY)")
            .expect("the probe table");
        let queue = WriteQueue::start(&scratch.url, 1).expect("a lane");
        actix_web::rt::System::new().block_on(async {
            let (first, release) = hold_lane(&queue, |_| Ok(()));
            let before = queued(&queue, None, |conn| insert(conn, "before"));
            let killer = queued(&queue, None, |conn| {
                diesel::sql_query("SELECT pg_terminate_backend(pg_backend_pid())").execute(conn)?;
                Ok(())
            });
            let after = queued(&queue, None, |conn| insert(conn, "after"));
            release.send(()).expect("the lane waits");
            first.await.expect("the first commits");
            for (name, outcome) in [
                ("before", before.await),
                ("killer", killer.await),
                ("after", after.await),
            ] {
                let error = outcome.expect_err(name);
                assert_eq!(
                    actix_web::ResponseError::status_code(&error),
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    "{name}: {}",
                    error.cause_chain()
                );
            }
            queue
                .run(None, |conn| insert(conn, "next"))
                .await
                .expect("the next batch commits on a new connection");
        });
        assert_eq!(stored(&mut conn), ["next"]);
    }

    /// A batch runs its transactions by resource, each resource's in arrival order, whatever
    /// order the resources came in.
    #[test]
    fn a_batch_runs_its_transactions_in_the_order_of_their_resources() {
        let scratch = Scratch::new("sqlite").expect("SQLite");
        let queue = WriteQueue::start(&scratch.url, 1).expect("a lane");
        let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        actix_web::rt::System::new().block_on(async {
            let (first, release) = hold_lane(&queue, |_| Ok(()));
            let mut waiting = Vec::new();
            for (resource, name) in [
                (Some("/b"), "b1"),
                (Some("/a"), "a1"),
                (None, "none"),
                (Some("/b"), "b2"),
                (Some("/a"), "a2"),
            ] {
                let ran = ran.clone();
                waiting.push(queued(&queue, resource, move |_| {
                    ran.lock().expect("the record").push(name);
                    Ok(())
                }));
            }
            release.send(()).expect("the lane waits");
            first.await.expect("the first commits");
            for run in waiting {
                run.await.expect("each commits");
            }
        });
        assert_eq!(
            *ran.lock().expect("the record"),
            ["none", "a1", "a2", "b1", "b2"]
        );
    }

    #[derive(QueryableByName)]
    struct Writer {
        #[diesel(sql_type = Text)]
        id: String,
    }
}
