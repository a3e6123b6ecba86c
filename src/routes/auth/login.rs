use actix_web::{HttpRequest, HttpResponse, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{TokenPair, issue_pair};
use crate::auth::login::{client_address, verify_credentials};
use crate::db::new_id;
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
    let address = client_address(&req, state.forwarded_for_hops);
    let user = verify_credentials(&state, &email, password, address).await?;

    let issuer = state.clone();
    let now = state.now();
    let pair = state
        .transaction(move |conn| issue_pair(&issuer, conn, &user, new_id(), now))
        .await?;
    Ok(HttpResponse::Ok().json(pair))
}
