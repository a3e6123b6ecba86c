use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `sqlite` or `postgres`; only on `/ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, body = Status)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok",
        database: None,
    })
}

/// How long `/ready` waits for a pooled connection: a probe must get its answer (503) sooner
/// than the pool's own timeout while the database is away.
const READY_CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Status),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let not_ready =
        |detail: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail);
    let pool = state.pool.clone();
    let applied = web::block(move || {
        pool.get_timeout(READY_CONNECTION_TIMEOUT)
            .map_err(anyhow::Error::from)
            .and_then(|mut c| db::migrations_applied(&mut c))
    })
    .await?;
    match applied {
        Ok(true) => Ok(HttpResponse::Ok().json(Status {
            status: "ready",
            database: Some(state.database_backend),
        })),
        Ok(false) => Err(not_ready("Database migrations are pending.")),
        Err(e) => Err(not_ready("The database does not answer.").caused_by(e)),
    }
}
