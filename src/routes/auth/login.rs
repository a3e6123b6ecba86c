use std::net::{IpAddr, SocketAddr};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{TokenPair, issue_pair};
use crate::auth::password;
use crate::db::{self, new_id};
use crate::error::{ApiError, Problem};
use crate::routes::extract::JsonBody;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "dx@pref.nagano.lg.jp", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Log in with e-mail and password.
///
/// Returns a short-lived access token and a single-use refresh token. Attempts are limited per
/// account and per client address; past the limit the answer is 429 with `Retry-After`.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Wrong e-mail or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.parse()?;
    let email = email.trim().to_lowercase();
    let address = client_address(&req, state.forwarded_for_hops);
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
        web::block(move || password::verify(password.expose_secret(), hash.as_deref())).await?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            tracing::info!(account = %email, "login failed");
            return Err(ApiError::unauthorized(
                "invalid_login",
                "The e-mail address or the password is wrong.",
            ));
        }
    };

    let issuer = state.clone();
    let now = state.now();
    let pair = state
        .transaction(move |conn| issue_pair(&issuer, conn, &user, new_id(), now))
        .await?;
    Ok(HttpResponse::Ok().json(pair))
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
