//! Cost shares: estimates (live too), finalization and corrections, the allocation and its exports.

pub mod estimate;
pub mod finalize;
pub mod get;
pub mod stream;

use crate::routes::API_V1;

/// Where a version of a round's allocation is found.
pub fn location(round_id: &str, version: i32) -> String {
    format!("{API_V1}/rounds/{round_id}/allocation?version={version}")
}
