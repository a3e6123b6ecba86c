//! Optimistic concurrency at the edge: a resource's version travels as its `ETag`, and comes back
//! in `If-Match` (checked by `service::check_version`).

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};

use crate::error::ApiError;
use crate::service::version_tag;

pub fn header(version: i64) -> (header::HeaderName, HeaderValue) {
    (
        header::ETAG,
        HeaderValue::from_str(&version_tag(version)).unwrap_or(HeaderValue::from_static("\"0\"")),
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
