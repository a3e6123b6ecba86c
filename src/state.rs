use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};

use crate::auth::jwt::AccessTokens;
use crate::auth::throttle::LoginThrottle;
use crate::clock::Clock;
use crate::db::{self, DbConnection, Pool};
use crate::error::ApiError;

/// What every handler may reach, shared by all workers.
pub struct AppState {
    pub pool: Pool,
    pub access_tokens: AccessTokens,
    pub login_throttle: LoginThrottle,
    pub refresh_token_ttl: Duration,
    pub trust_forwarded_for: bool,
    /// `sqlite` or `postgres`.
    pub database_backend: &'static str,
    /// What deadlines and the scheduler take as now.
    pub clock: Arc<dyn Clock>,
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
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Runs `f` in one transaction: either all of its writes land or none do.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db(move |conn| db::transaction(conn, f)).await
    }
}
