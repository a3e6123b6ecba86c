use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use anyhow::Context;
use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::auth::jwt::AccessTokens;
use crate::auth::throttle::LoginThrottle;
use crate::cache::ReadCache;
use crate::clock::Clock;
use crate::db::{self, DbConnection, Pool};
use crate::error::ApiError;

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

    /// Runs `f` in one transaction: either all of its writes land or none do.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = self.db(move |conn| db::transaction(conn, f)).await;
        // Before the caller answers, so that its client reads its own write.
        self.cache.invalidate();
        outcome
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
