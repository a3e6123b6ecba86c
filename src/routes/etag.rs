//! Optimistic concurrency: a resource's `version` is its ETag, and a PATCH carrying `If-Match`
//! with an older one is refused with 412.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

use crate::error::ApiError;

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

pub fn header(version: i64) -> (header::HeaderName, HeaderValue) {
    (
        header::ETAG,
        HeaderValue::from_str(&etag(version)).unwrap_or(HeaderValue::from_static("\"0\"")),
    )
}

/// The version a client's `If-Match` names, if it sent one.
pub fn if_match(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get(header::IF_MATCH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim().trim_start_matches("W/").to_owned()))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_if_match",
                    "If-Match must be an ETag such as \"3\".",
                )
            }),
    }
}

/// 412 unless `expected` (from `If-Match`) is absent, `*`, or the current version.
pub fn check(expected: Option<&str>, current_version: i64) -> Result<(), ApiError> {
    match expected {
        None | Some("*") => Ok(()),
        Some(tag) if tag == etag(current_version) => Ok(()),
        Some(tag) => Err(stale(&format!(
            "you sent If-Match {tag}, it is now {}",
            etag(current_version)
        ))),
    }
}

/// 412: the resource changed under the request.
pub fn stale(how: &str) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        format!("The resource changed ({how}). Fetch it again and reapply your change."),
    )
}
