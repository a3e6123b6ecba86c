//! API tokens for scripts and other API clients: issued and revoked from a signed-in session
//! (never with an API token), shown once, stored as digests.

use chrono::{Duration, NaiveDateTime};

use crate::auth::Identity;
use crate::auth::secret::{self, API_TOKEN_PREFIX};
use crate::db::audit::{self, Actor};
use crate::db::tokens::{self, ApiTokenRow};
use crate::db::{DbConnection, new_id};
use crate::domain::audit::{Action, EntityType};
use crate::domain::field_error::FieldError;
use crate::domain::limits::MAX_NAME;
use crate::domain::text::required_text;
use crate::domain::user::TokenScope;
use crate::error::{ApiError, check};

/// Longest life of an API token, in days.
pub const MAX_LIFETIME_DAYS: i64 = 366;
/// Lifetime of an API token when none is asked for, in days.
pub const DEFAULT_LIFETIME_DAYS: i64 = 90;

/// What a caller asks for when creating a token.
pub struct TokenRequest<'a> {
    pub name: &'a str,
    pub scope: TokenScope,
    pub expires_in_days: Option<i64>,
}

/// A new token: its row, and the secret to show once.
pub struct IssuedToken {
    pub row: ApiTokenRow,
    pub secret: String,
}

/// Checks the request, stores a new API token of the caller (only its digest) and audits it,
/// without the secret.
pub fn issue(
    conn: &mut DbConnection,
    identity: &Identity,
    request: TokenRequest<'_>,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<IssuedToken, ApiError> {
    identity.require_session()?;
    let days = request.expires_in_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
    let mut errors = Vec::new();
    let name = required_text(request.name, "name", MAX_NAME, &mut errors);
    if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
        errors.push(FieldError::new(
            "expires_in_days",
            "out_of_range",
            format!("expires_in_days is between 1 and {MAX_LIFETIME_DAYS}"),
        ));
    }
    check(errors)?;
    let secret = secret::generate(API_TOKEN_PREFIX);
    let row = ApiTokenRow {
        id: new_id(),
        user_id: identity.user_id.clone(),
        name,
        token_hash: secret.digest,
        scope: request.scope,
        expires_at: now + Duration::days(days),
        created_at: now,
        revoked_at: None,
    };
    tokens::insert_api_token(conn, &row)?;
    let created = serde_json::json!({
        "id": row.id, "name": row.name, "scope": row.scope,
        "expires_at": row.expires_at.and_utc(),
    });
    audit::record_simple(
        conn,
        actor,
        (EntityType::ApiToken, &row.id),
        Action::Created,
        None,
        Some(created),
        now,
    )?;
    Ok(IssuedToken {
        row,
        secret: secret.plain,
    })
}

/// The caller's tokens, newest first.
pub fn list(conn: &mut DbConnection, identity: &Identity) -> Result<Vec<ApiTokenRow>, ApiError> {
    identity.require_session()?;
    Ok(tokens::list_api_tokens(conn, &identity.user_id)?)
}

/// Revokes a token of the caller (administrators: anyone's); revoking twice is harmless.
pub fn revoke(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    identity.require_session()?;
    match tokens::find_api_token(conn, id)? {
        Some(token) if token.user_id == identity.user_id || identity.is_admin() => {
            if tokens::revoke_api_token(conn, id, now)? == 1 {
                let revoked = serde_json::json!({"id": token.id, "name": token.name, "user_id": token.user_id});
                audit::record_simple(
                    conn,
                    actor,
                    (EntityType::ApiToken, id),
                    Action::Revoked,
                    None,
                    Some(revoked),
                    now,
                )?;
            }
            Ok(())
        }
        _ => Err(ApiError::not_found("token_not_found", "No such API token.")),
    }
}
