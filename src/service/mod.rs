//! Operations that span several tables and must run in one transaction: used by the handlers and
//! by the scheduler alike.

pub mod allocations;
pub mod calendar;
pub mod charts;
pub mod exports;
pub mod feed;
pub mod imports;
pub mod notifications;
pub mod organizations;
pub mod participations;
pub mod procurements;
pub mod questions;
pub mod rounds;
pub mod tokens;
pub mod users;
pub mod webhooks;

use crate::domain::text::required_prose;
use crate::error::{ApiError, check};

/// A resource's version as clients see it, in `ETag` and `If-Match`: `"3"`.
pub fn version_tag(version: i64) -> String {
    format!("\"{version}\"")
}

/// 412 unless `expected` (from `If-Match`) is absent, `*`, or the current version's tag.
pub fn check_version(expected: Option<&str>, current_version: i64) -> Result<(), ApiError> {
    match expected {
        None | Some("*") => Ok(()),
        Some(tag) if tag == version_tag(current_version) => Ok(()),
        Some(tag) => Err(ApiError::stale(&format!(
            "you sent If-Match {tag}, it is now {}",
            version_tag(current_version)
        ))),
    }
}

/// `required_prose` for a request with that one field.
pub fn single_text(value: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    let value = required_prose(value, field, max, &mut errors);
    check(errors).map(|()| value)
}
