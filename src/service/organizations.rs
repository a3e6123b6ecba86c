//! Finding council members by what callers know them by.

use anyhow::Context as _;

use crate::db::DbConnection;
use crate::db::organizations::{self, OrganizationRow};
use crate::domain::id::OrganizationId;
use crate::domain::lg_code::LgCode;
use crate::error::ApiError;

/// The organization with this id or 6-digit local government code, if any; a code with a wrong
/// check digit names none.
pub fn find(conn: &mut DbConnection, key: &str) -> diesel::QueryResult<Option<OrganizationRow>> {
    if LgCode::is_code_shaped(key) {
        match LgCode::parse(key) {
            Ok(code) => organizations::find_by_lg_code(conn, code.as_str()),
            Err(_) => Ok(None),
        }
    } else {
        organizations::find(conn, &OrganizationId::from(key.to_owned()))
    }
}

/// `find`, or why not: 422 for a code with a wrong check digit, 404 for no such organization.
pub fn resolve(conn: &mut DbConnection, key: &str) -> Result<OrganizationRow, ApiError> {
    if LgCode::is_code_shaped(key) {
        LgCode::parse(key)
            .map_err(|e| ApiError::invalid_field("lg_code", "invalid_lg_code", e.to_string()))?;
    }
    let found = find(conn, key).context("finding an organization")?;
    found.ok_or_else(|| {
        ApiError::not_found(
            "organization_not_found",
            format!("No organization has the id or code {key:?}."),
        )
    })
}
