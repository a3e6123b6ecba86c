//! API tokens for scripts and other API clients.

use chrono::NaiveDateTime;

use crate::db::DbConnection;
use crate::db::audit::{self, Actor};
use crate::db::tokens::{self, ApiTokenRow};
use crate::domain::audit::{Action, EntityType};
use crate::error::ApiError;

/// Stores a new API token (only its digest) and audits it, without the secret.
pub fn create(
    conn: &mut DbConnection,
    token: &ApiTokenRow,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    tokens::insert_api_token(conn, token)?;
    let created = serde_json::json!({
        "id": token.id, "name": token.name, "scope": token.scope,
        "expires_at": token.expires_at.and_utc(),
    });
    audit::record_simple(
        conn,
        actor,
        (EntityType::ApiToken, &token.id),
        Action::Created,
        None,
        Some(created),
        now,
    )?;
    Ok(())
}
