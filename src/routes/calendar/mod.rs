//! The calendar feed: `/me/calendar` manages the caller's secret address, and
//! `/calendar/{token}.ics` serves it to calendar clients, which send no bearer token.

pub mod create;
pub mod feed;
pub mod get;
pub mod revoke;

use crate::error::ApiError;
use crate::routes::API_V1;

/// Where the caller's feed is managed.
pub const MY_CALENDAR: &str = "/me/calendar";

/// The feed's address, secret included.
pub fn feed_url(base: &str, secret: &str) -> String {
    format!("{base}{API_V1}/calendar/{secret}.ics")
}

/// The same answer for an address that never existed and one that was replaced or revoked.
pub fn feed_not_found() -> ApiError {
    ApiError::not_found(
        "calendar_feed_not_found",
        "No calendar feed has this address; it may have been replaced or revoked.",
    )
}
