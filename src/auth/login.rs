//! Signing in with a password and accepting an invitation: the same checks, throttle and timing
//! for the JSON API (`/api/v1/auth/login`) and the console's forms.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{password, secret};
use crate::db;
use crate::db::users::UserRow;
use crate::domain::password::Password;
use crate::error::ApiError;
use crate::service::users;
use crate::state::AppState;

/// The account with this e-mail address and password. Unknown addresses cost the same hash as a
/// wrong password and get the same answer, so that neither timing nor wording tells them apart.
pub async fn verify_credentials(
    state: &AppState,
    email: &str,
    password: SecretString,
    address: IpAddr,
) -> Result<UserRow, ApiError> {
    let email = email.trim().to_lowercase();
    state
        .login_throttle
        .check(&email, address)
        .map_err(ApiError::too_many_requests)?;
    let lookup = email.clone();
    let user = state
        .db(move |conn| Ok(db::users::find_by_email(conn, &lookup)?))
        .await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified =
        password::bounded(move || password::verify(password.expose_secret(), hash.as_deref()))
            .await?;
    match user {
        Some(user) if verified => Ok(user),
        _ => {
            tracing::info!(account = %email, "login failed");
            Err(ApiError::unauthorized(
                "invalid_login",
                "The e-mail address or the password is wrong.",
            ))
        }
    }
}

/// Activates the invited account with the password it chose.
pub async fn accept_invitation(
    state: &AppState,
    token: &str,
    password: SecretString,
    address: IpAddr,
    request_id: String,
) -> Result<UserRow, ApiError> {
    // Guessing invitation tokens costs the same quota as guessing passwords.
    state
        .login_throttle
        .check_address(address)
        .map_err(ApiError::too_many_requests)?;
    let digest = secret::digest(token);
    let now = state.now();
    let lookup = digest.clone();
    let invited = state
        .db(move |conn| users::pending_invitation(conn, &lookup, now))
        .await?;
    // Only a real invitation is worth the slow hash; the account's own details must not be the
    // password.
    let password = Password::parse(password, &[&invited.email, &invited.display_name])
        .map_err(|e| ApiError::invalid_field("password", "weak_password", e.to_string()))?;
    let hash = password::bounded(move || password::hash(&password)).await??;
    state
        .transaction(move |conn| users::activate(conn, &invited, &digest, &hash, &request_id, now))
        .await
}

/// The caller's address, as the throttle counts it.
pub fn client_address(req: &HttpRequest, forwarded_for_hops: Option<usize>) -> IpAddr {
    forwarded_for_hops
        .and_then(|hops| forwarded_for(req, hops))
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The `hops`-th `X-Forwarded-For` entry from the right. Each trusted proxy appends the address
/// it was connected from, so the outermost one's entry is the client's and everything to its left
/// is whatever the client sent.
fn forwarded_for(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&[u8]> = req
        .headers()
        .get_all(header::X_FORWARDED_FOR)
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .collect();
    // With fewer entries, the request skipped the outer proxies; the first entry was still
    // appended by a trusted one.
    let entry = entries.get(entries.len().saturating_sub(hops))?;
    let entry = std::str::from_utf8(entry).ok()?.trim();
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}
