pub mod login;
pub mod logout;
pub mod me;
pub mod refresh;

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::secret;
use crate::db::tokens::{self, RefreshTokenRow};
use crate::db::users::UserRow;
use crate::db::{DbConnection, new_id};
use crate::error::ApiError;
use crate::state::AppState;

/// Refresh tokens carry this prefix so that they are recognizable in a leak report.
const REFRESH_TOKEN_PREFIX: &str = "kyr_";

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiJ9…",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "kyr_q3Jx…",
    "refresh_expires_at": "2026-12-22T09:00:00Z"
}))]
pub struct TokenPair {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque, single-use: exchange it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    pub refresh_expires_at: chrono::DateTime<Utc>,
}

/// Issues an access token and a refresh token in `family` (a new family at login).
fn issue_pair(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
    family_id: String,
    now: NaiveDateTime,
) -> Result<TokenPair, ApiError> {
    let access = state
        .access_tokens
        .issue(&user.id, &user.organization_id, user.role, now)?;
    let refresh = secret::generate(REFRESH_TOKEN_PREFIX);
    let expires_at = now + state.refresh_token_ttl;
    tokens::insert_refresh_token(
        conn,
        &RefreshTokenRow {
            id: new_id(),
            user_id: user.id.clone(),
            family_id,
            token_hash: refresh.digest,
            expires_at,
            created_at: now,
            used_at: None,
            revoked_at: None,
        },
    )?;
    Ok(TokenPair {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        refresh_token: refresh.plain,
        refresh_expires_at: expires_at.and_utc(),
    })
}
