use actix_web::{HttpRequest, HttpResponse, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::UserView;
use crate::auth::{password, secret};
use crate::domain::password::Password;
use crate::error::{ApiError, Problem};
use crate::routes::auth::login::client_address;
use crate::routes::extract::JsonBody;
use crate::service::users;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "a long passphrase of my own"}))]
pub struct AcceptInvitationRequest {
    /// 12 to 256 characters, and hard to guess: common passwords, repeats, sequences, keyboard
    /// patterns and the account's own e-mail address or name are refused, with the reason.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Accept an invitation by choosing a password; then log in with it.
///
/// Attempts count against the client address's login quota (429 with `Retry-After`).
#[utoipa::path(
    tag = "users",
    params(("token" = String, Path, description = "The invitation token")),
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, body = UserView),
        (status = 404, description = "Unknown or already used invitation", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired invitation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Password too short, too long or too easy to guess (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/invitations/{token}/accept")]
pub async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    request_id: tracing_actix_web::RequestId,
    token: web::Path<String>,
    body: JsonBody<AcceptInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    // Guessing invitation tokens costs the same quota as guessing passwords.
    state
        .login_throttle
        .check_address(client_address(&req, state.forwarded_for_hops))
        .map_err(ApiError::too_many_requests)?;
    let digest = secret::digest(&token.into_inner());
    let now = state.now();
    let lookup = digest.clone();
    let invited = state
        .db(move |conn| users::pending_invitation(conn, &lookup, now))
        .await?;
    // Only a real invitation is worth the slow hash; the account's own details must not be the
    // password.
    let password = Password::parse(
        body.parse()?.password,
        &[&invited.email, &invited.display_name],
    )
    .map_err(|e| ApiError::invalid_field("password", "weak_password", e.to_string()))?;
    let hash = web::block(move || password::hash(&password)).await??;
    let user = state
        .transaction(move |conn| {
            users::activate(conn, &invited, &digest, &hash, &request_id.to_string(), now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
