use std::sync::Arc;

use actix_web::http::Uri;
use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use anyhow::Context;
use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::auth::identity::{Caller, Identity};
use crate::auth::jwt::AccessTokens;
use crate::auth::throttle::LoginThrottle;
use crate::cache::ReadCache;
use crate::clock::Clock;
use crate::db::idempotency::{self, Claim};
use crate::db::{DbConnection, Pool};
use crate::domain::webhook::WebhookTarget;
use crate::error::ApiError;
use crate::notify::unsubscribe::UnsubscribeLinks;
use crate::reply::{self, Reply};
use crate::web::session::ConsoleSettings;
use crate::write_queue::WriteQueue;

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
    /// Where this instance's write transactions run and commit (see [`WriteQueue`]).
    pub write_queue: WriteQueue,
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
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            // What the database work logs belongs to the request that asked for it.
            let _in_request = span.enter();
            let mut conn = pool.get().context("getting a database connection")?;
            f(&mut conn)
        })
        .await
        .context("running a database task")?
    }

    /// Runs `f` in one transaction: either all of its writes land or none do (see
    /// [`WriteQueue`]).
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_in(None, f).await
    }

    /// `transaction`, queued behind the other writes to `resource` on this instance.
    async fn write_in<T, F>(&self, resource: Option<&str>, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = self.write_queue.run(resource, f).await;
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
        let resource = Some(req.path());
        let Some(claim) = req.extensions().get::<Claim>().cloned() else {
            return Ok(self.write_in(resource, f).await?.into_response());
        };
        let now = self.now();
        let request_hash = claim.request_hash.clone();
        let written = self
            .write_in(resource, move |conn| {
                if !idempotency::claim(conn, &claim, now)? {
                    // A request with the same key committed first.
                    return idempotency::find(conn, &claim.user_id, &claim.idempotency_key)?
                        .map(Err)
                        .ok_or_else(|| anyhow::anyhow!("a taken idempotency key vanished").into());
                }
                let reply = f(conn)?;
                idempotency::complete(conn, &claim, reply.stored()?)?;
                Ok(Ok(reply))
            })
            .await?;
        match written {
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
                // Rendered where it was read: the value's many small allocations are made, used
                // and freed on one thread, and the request's worker, which serves other
                // connections meanwhile, gets only the bytes.
                let body = self.db(move |conn| render(&f(conn)?)).await?;
                cache.put(&cache.responses, key, generation, body.clone());
                body
            }
        };
        Ok(json(body))
    }

    /// Serves, as `cached_json` does, the JSON that the read `f` renders for `caller` at `uri`
    /// (what it may see depends on its body and role, [`Identity::view_key`]). `f` looks an API
    /// token not yet verified up in its own first statement, rather than on a trip to the
    /// database of its own, and returns the identity with what it read; such a caller's answer
    /// is computed without asking the cache first (its key needs the identity), then kept for
    /// the next (the memo knows the token by then).
    pub async fn cached_json_for<T, F>(
        &self,
        caller: Caller,
        uri: &Uri,
        f: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce(&mut DbConnection, Caller) -> Result<(Identity, T), ApiError> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        if let Caller::Known(identity) = caller {
            let key = identity.view_key(uri);
            let caller = Caller::Known(identity);
            return self
                .cached_json(key, move |conn| f(conn, caller).map(|(_, value)| value))
                .await;
        }
        let cache = Arc::clone(&self.cache);
        let generation = cache.generation();
        let uri = uri.clone();
        let body = self
            .db(move |conn| {
                let (identity, value) = f(conn, caller)?;
                let body = render(&value)?;
                cache.put(
                    &cache.responses,
                    identity.view_key(&uri),
                    generation,
                    body.clone(),
                );
                Ok(body)
            })
            .await?;
        Ok(json(body))
    }
}

/// A read's answer as the JSON body it is served and cached as.
fn render<T: Serialize>(value: &T) -> Result<Bytes, ApiError> {
    Ok(Bytes::from(
        serde_json::to_vec(value).context("rendering a response")?,
    ))
}

fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}
