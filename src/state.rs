use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use anyhow::Context;
use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::auth::jwt::AccessTokens;
use crate::auth::throttle::LoginThrottle;
use crate::cache::ReadCache;
use crate::clock::Clock;
use crate::db::idempotency::{self, Claim};
use crate::db::{self, DbConnection, Pool};
use crate::domain::webhook::WebhookTarget;
use crate::error::ApiError;
use crate::notify::unsubscribe::UnsubscribeLinks;
use crate::reply::{self, Reply};
use crate::web::session::ConsoleSettings;

/// What every handler may reach, shared by all workers.
pub struct AppState {
    pub pool: Pool,
    pub access_tokens: AccessTokens,
    pub login_throttle: LoginThrottle,
    pub refresh_token_ttl: Duration,
    /// How many `X-Forwarded-For` entries, from the right, trusted proxies appended; `None` when
    /// the connecting peer is the client.
    pub forwarded_for_hops: Option<usize>,
    /// `sqlite` or `postgres`.
    pub database_backend: &'static str,
    /// What deadlines and the scheduler take as now.
    pub clock: Arc<dyn Clock>,
    /// Answers to hot reads, until the database changes.
    pub cache: Arc<ReadCache>,
    pub exports: ExportSettings,
    /// Checks the links in reminders that stop them.
    pub unsubscribe: UnsubscribeLinks,
    /// Where webhooks may point.
    pub webhook_target: WebhookTarget,
    /// The web console's sessions and cookies.
    pub console: ConsoleSettings,
    /// On SQLite, the queue of this instance's write transactions (see [`WriteQueue`]).
    pub write_queue: WriteQueue,
}

/// SQLite lets one transaction write at a time. Writers that each try `BEGIN IMMEDIATE` and wait on
/// the busy timeout are woken by SQLite's back-off sleeps (up to 100 ms each, in no order), so
/// under load some wait a second; this queue lets them in one after the other, first come first
/// served, and each starts the moment the one before it ends. PostgreSQL needs no queue.
pub struct WriteQueue(Option<Arc<tokio::sync::Mutex<()>>>);

impl WriteQueue {
    pub fn for_backend(backend: &str) -> Self {
        Self((backend == "sqlite").then(|| Arc::new(tokio::sync::Mutex::new(()))))
    }

    /// This writer's turn: held until its transaction has ended, even when the request that
    /// asked for it is gone.
    async fn turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.0 {
            Some(queue) => Some(queue.clone().lock_owned().await),
            None => None,
        }
    }
}

/// How allocations are published.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Whether OCDS release packages are served without signing in.
    pub public_ocds: bool,
    /// `ocds-` and the publisher's prefix, before each procurement's id in an `ocid`.
    pub ocid_prefix: String,
    /// Where clients reach the service (`PUBLIC_BASE_URL`), without a trailing slash.
    pub public_base_url: Option<String>,
}

impl ExportSettings {
    /// The service's address for links in documents: `PUBLIC_BASE_URL`, else as the request
    /// reached it.
    pub fn base_url(&self, request: &HttpRequest) -> String {
        self.public_base_url.clone().unwrap_or_else(|| {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        })
    }
}

impl AppState {
    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }

    /// Runs `f` on a pooled connection off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(None, f).await
    }

    /// Runs `f` as `db` does, once it is this instance's turn to write.
    async fn db_write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let turn = self.write_queue.turn().await;
        self.run(turn, f).await
    }

    async fn run<T, F>(
        &self,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
        f: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            // What the database work logs belongs to the request that asked for it.
            let _in_request = span.enter();
            let mut conn = pool.get().context("getting a database connection")?;
            let outcome = f(&mut conn);
            drop(turn);
            outcome
        })
        .await
        .context("running a database task")?
    }

    /// Runs `f` in one transaction: either all of its writes land or none do.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = self.db_write(move |conn| db::transaction(conn, f)).await;
        // Before the caller answers, so that its client reads its own write.
        self.cache.invalidate();
        outcome
    }

    /// Runs the write `f` in one transaction, as `transaction` does, and answers with the reply
    /// it renders. Under an `Idempotency-Key` (see `crate::idempotency`) the key is claimed first
    /// and the reply stored last in that same transaction: a duplicate running at the same time
    /// waits for the key, then gets the reply; when `f` fails, the key goes with the writes.
    pub async fn write<F>(&self, req: &HttpRequest, f: F) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<Reply, ApiError> + Send + 'static,
    {
        let Some(claim) = req.extensions().get::<Claim>().cloned() else {
            return Ok(self.transaction(f).await?.into_response());
        };
        let now = self.now();
        let request_hash = claim.request_hash.clone();
        let written = self
            .db_write(move |conn| {
                let outcome = db::transaction(conn, |conn| {
                    if !idempotency::claim(conn, &claim, now)? {
                        return Err(Interrupted::KeyTaken);
                    }
                    let reply = f(conn)?;
                    idempotency::complete(conn, &claim, reply.stored()?)?;
                    Ok(reply)
                });
                match outcome {
                    Ok(reply) => Ok(Ok(reply)),
                    Err(Interrupted::Failed(error)) => Err(error),
                    Err(Interrupted::KeyTaken) => {
                        idempotency::find(conn, &claim.user_id, &claim.idempotency_key)?
                            .map(Err)
                            .ok_or_else(|| {
                                anyhow::anyhow!("a taken idempotency key vanished").into()
                            })
                    }
                }
            })
            .await;
        self.cache.invalidate();
        match written? {
            Ok(reply) => Ok(reply.into_response()),
            Err(first) => reply::replay(first, &request_hash),
        }
    }

    /// Serves the JSON that the read `f` renders, from the cache while the database has not
    /// changed since it was rendered. `key` names everything the answer depends on.
    pub async fn cached_json<T, F>(&self, key: String, f: F) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let cache = &self.cache;
        let body = match cache.get(&cache.responses, &key) {
            Some(body) => body,
            None => {
                let generation = cache.generation();
                let value = self.db(f).await?;
                let body = Bytes::from(serde_json::to_vec(&value).context("rendering a response")?);
                cache.put(&cache.responses, key, generation, body.clone());
                body
            }
        };
        Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body))
    }
}

/// Why a write under an idempotency key did not commit.
enum Interrupted {
    Failed(ApiError),
    /// A request with the same key committed first.
    KeyTaken,
}

impl From<ApiError> for Interrupted {
    fn from(error: ApiError) -> Self {
        Self::Failed(error)
    }
}

impl From<diesel::result::Error> for Interrupted {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(error.into())
    }
}
