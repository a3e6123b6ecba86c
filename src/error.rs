//! Error policy: which error lives in which layer, and where a failure is logged.
//!
//! - `domain/` returns its own small error enums (`LgCodeError`, …); they know nothing of HTTP.
//! - `db/` returns diesel's errors, and "not found" as `None`, never as an error: a caller can then
//!   tell a client's mistake (an unknown id, a 404 or a field error) from a failure of the service.
//!   A database failure is never reported as the client's mistake.
//! - The HTTP edge and `service/` return [`ApiError`], rendered as `application/problem+json`
//!   (RFC 9457) with a stable machine-readable `code`. Clients branch on `code`, never on `detail`.
//! - Anything unexpected (database, pool, I/O, a broken invariant) becomes a 500 `internal_error`
//!   that keeps its cause, with `anyhow::Context` saying what was being done; the client never sees
//!   it. `?` on a diesel, pool or `anyhow` error does this (the `From` impls below).
//! - Except an outage, which the client can wait out: a database that cannot be reached (the
//!   connection lost or refused, PostgreSQL shutting down or starting up, no pooled connection in
//!   time) is a 503 `database_unavailable`, SQLite's lock held past its busy timeout a 503
//!   `database_busy`, and SQLite's full disk a 503 `storage_full`, all with `Retry-After`
//!   ([`outage`]). The write they interrupted committed nothing, or committed with its
//!   `Idempotency-Key`, so retrying with the same key is safe either way.
//! - Nothing is logged where an error is made or converted: that may be a blocking thread outside the
//!   request's span. The request's root span logs each failed request (5xx) once, as its response
//!   is built, with its `request_id` and the whole cause chain (`telemetry::RequestSpan`). A client's
//!   mistake (4xx) is an answer, not an incident: its status is on the request's completion line.
//!   Work outside a request (start-up, the scheduler, the cache watcher) logs its own failures.
//! - Handlers run their writes in one transaction and return `Err` before committing, so a failed
//!   request changes nothing.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::field_error::FieldError;

/// RFC 9457 problem details, as sent.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:kyodo:problem:validation_failed",
    "title": "Unprocessable Entity",
    "status": 422,
    "code": "validation_failed",
    "detail": "The request has 1 invalid field.",
    "errors": [{"field": "email", "code": "invalid_format", "message": "not an e-mail address"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after_seconds: Option<u64>,
    /// Why the service failed: logged with the request, never sent.
    cause: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_seconds: None,
            cause: None,
        }
    }

    /// A failure the client can do nothing about; `cause` says what failed, for the log. When
    /// the cause is an outage it can wait out (see [`outage`]), a 503 with `Retry-After`.
    pub fn unexpected(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        let error = match outage(&cause) {
            Some(Outage::DatabaseUnavailable) => Self {
                retry_after_seconds: Some(DATABASE_RETRY_AFTER_SECONDS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "The database cannot be reached at the moment; nothing was changed \
                     unless a retry with the same Idempotency-Key says so. Try again shortly.",
                )
            },
            Some(Outage::DatabaseBusy) => Self {
                retry_after_seconds: Some(DATABASE_RETRY_AFTER_SECONDS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_busy",
                    "Another writer held what this request needed (for longer than the service \
                     waits, or while waiting for this one); nothing was changed. Try again shortly.",
                )
            },
            Some(Outage::StorageFull) => Self {
                retry_after_seconds: Some(STORAGE_RETRY_AFTER_SECONDS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_full",
                    "The service's storage is full; nothing was changed. Reads still work; \
                     try the change again later.",
                )
            },
            None => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The service failed to handle the request; it has been logged.",
            ),
        };
        Self {
            cause: Some(cause),
            ..error
        }
    }

    /// Keeps what made the service answer this way (e.g. why it is not ready), for the log.
    pub fn caused_by(self, cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..self
        }
    }

    /// For the log: what made the service answer this way, cause after cause (`a: b: c`).
    pub fn cause_chain(&self) -> String {
        match &self.cause {
            Some(cause) => format!("{cause:#}"),
            None => self.to_string(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn gone(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "The request has 1 invalid field.".to_owned(),
            n => format!("The request has {n} invalid fields."),
        };
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    /// 422 with `code` and every error found, for inputs checked as a whole (an uploaded file).
    pub fn unprocessable(
        code: &'static str,
        detail: impl Into<String>,
        errors: Vec<FieldError>,
    ) -> Self {
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
        }
    }

    /// A refusal of one item among many, as field errors: its own when it has some, else one on
    /// `field` with its code and detail. A failure of the service (5xx) stays what it is.
    pub fn into_field_errors(self, field: &str) -> Result<Vec<FieldError>, Self> {
        if !self.status.is_client_error() {
            return Err(self);
        }
        if self.errors.is_empty() {
            Ok(vec![FieldError::new(field, self.code, self.detail)])
        } else {
            Ok(self.errors)
        }
    }

    pub fn invalid_field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many attempts; wait before trying again.",
            )
        }
    }

    /// 412: the resource changed under the request.
    pub fn stale(how: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            format!("The resource changed ({how}). Fetch it again and reapply your change."),
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is larger than the service accepts.",
        )
    }

    /// Seconds to wait before trying again (429, 503).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after_seconds
    }

    /// Whether this is a 404: a lookup may turn another resource's "not found" into its own.
    pub fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:kyodo:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code.to_owned(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        response.json(self.problem())
    }
}

/// `Retry-After` of a 503 `database_unavailable`: a restarting database is back in seconds.
const DATABASE_RETRY_AFTER_SECONDS: u64 = 2;
/// `Retry-After` of a 503 `storage_full`: someone has to free space first.
const STORAGE_RETRY_AFTER_SECONDS: u64 = 30;

/// An outage a client can wait out, rather than a failure of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The database cannot be reached: connection lost or refused, PostgreSQL shutting down,
    /// starting up or recovering, or no pooled connection within the pool's timeout.
    DatabaseUnavailable,
    /// SQLite's lock stayed taken for longer than its busy timeout (10 s): another process (a
    /// backup, a second instance, a person with the sqlite3 shell) holds a write transaction.
    DatabaseBusy,
    /// SQLite could not write: the disk (or its quota) is full.
    StorageFull,
}

/// Messages of PostgreSQL (SQLSTATE 57P01–57P03, class 08) and libpq that mean the server went away
/// or is not taking connections yet; diesel reports some of them as `Unknown`, with the message only.
const POSTGRES_UNAVAILABLE: &[&str] = &[
    "terminating connection due to administrator command",
    "terminating connection due to unexpected postmaster exit",
    "terminating connection because of crash of another server process",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
    "connection to server at",
];

/// SQLite's message for SQLITE_FULL (diesel reports it as `Unknown`, with the message only).
const SQLITE_FULL: &str = "database or disk is full";
/// SQLite's message for SQLITE_BUSY, likewise.
const SQLITE_BUSY: &str = "database is locked";

/// PostgreSQL's message when it breaks a deadlock between two writers by failing a statement of
/// one (SQLSTATE 40P01): the other goes on, and this one may simply be tried again.
const POSTGRES_DEADLOCK: &str = "deadlock detected";

/// Whether `cause`, anywhere in its chain, is an outage rather than a failure of the service.
pub fn outage(cause: &anyhow::Error) -> Option<Outage> {
    cause.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<diesel::result::Error>() {
            diesel_outage(e)
        } else if e.downcast_ref::<diesel::r2d2::PoolError>().is_some() {
            // r2d2 says only that no connection came in time: the database refused them, or
            // every connection stayed busy that long. Either way, a retry later may succeed.
            Some(Outage::DatabaseUnavailable)
        } else if e.downcast_ref::<diesel::ConnectionError>().is_some() {
            Some(Outage::DatabaseUnavailable)
        } else {
            None
        }
    })
}

fn diesel_outage(e: &diesel::result::Error) -> Option<Outage> {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => Some(Outage::DatabaseUnavailable),
        Error::DatabaseError(_, info) => message_outage(info.message()),
        Error::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => diesel_outage(commit_error).or_else(|| diesel_outage(rollback_error)),
        _ => None,
    }
}

fn message_outage(message: &str) -> Option<Outage> {
    if message.contains(SQLITE_FULL) {
        Some(Outage::StorageFull)
    } else if message.contains(SQLITE_BUSY) || message.contains(POSTGRES_DEADLOCK) {
        Some(Outage::DatabaseBusy)
    } else if POSTGRES_UNAVAILABLE.iter().any(|m| message.contains(m)) {
        Some(Outage::DatabaseUnavailable)
    } else {
        None
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::unexpected(e)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::unexpected(e)
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::unexpected(e)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::unexpected(e)
    }
}

/// A path that does not fit its route (the body and query are judged by `routes::extract`).
pub fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::not_found("not_found", format!("No such resource: {err}.")).into()
}

pub async fn route_not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(
        "route_not_found",
        format!("There is no {} {}.", req.method(), req.path()),
    )
    .error_response()
}

/// `Ok(())` when no field failed, else a 422 listing them all.
pub fn check(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> anyhow::Error {
        anyhow::Error::new(Error::DatabaseError(kind, Box::new(message.to_owned())))
            .context("answering for a body")
    }

    #[test]
    fn a_lost_connection_is_503_database_unavailable_with_retry_after() {
        for (kind, message) in [
            (
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            (
                DatabaseErrorKind::UnableToSendCommand,
                "no connection to the server",
            ),
            (
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            (
                DatabaseErrorKind::Unknown,
                "FATAL:  the database system is starting up",
            ),
        ] {
            let error = ApiError::unexpected(database_error(kind, message));
            assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE, "{message}");
            assert_eq!(error.code, "database_unavailable");
            assert_eq!(error.retry_after_seconds(), Some(2));
            assert!(error.cause_chain().contains(message));
        }
    }

    #[test]
    fn storage_and_lock_outages_are_503_with_their_code_and_retry_after() {
        // A full disk, a lock held past SQLite's busy timeout, and a deadlock PostgreSQL broke.
        for (message, code, retry_after) in [
            ("database or disk is full", "storage_full", 30),
            ("database is locked", "database_busy", 2),
            ("deadlock detected", "database_busy", 2),
        ] {
            let error = ApiError::unexpected(database_error(DatabaseErrorKind::Unknown, message));
            assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE, "{message}");
            assert_eq!(error.code, code);
            assert_eq!(error.retry_after_seconds(), Some(retry_after));
        }
    }

    #[test]
    fn a_failed_commit_is_judged_by_its_commit_error() {
        let error = Error::RollbackErrorOnCommit {
            rollback_error: Box::new(Error::BrokenTransactionManager),
            commit_error: Box::new(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new("server closed the connection".to_owned()),
            )),
        };
        assert_eq!(ApiError::from(error).code, "database_unavailable");
    }

    #[test]
    fn other_database_errors_stay_500() {
        for error in [
            database_error(DatabaseErrorKind::Unknown, "no such table: organizations"),
            database_error(DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            anyhow::Error::new(Error::NotFound),
        ] {
            let error = ApiError::unexpected(error);
            assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(error.code, "internal_error");
            assert_eq!(error.retry_after_seconds(), None);
        }
    }
}
