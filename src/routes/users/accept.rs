use actix_web::{HttpRequest, HttpResponse, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::UserView;
use crate::auth::login::{self, client_address};
use crate::error::{ApiError, Problem};
use crate::routes::extract::JsonBody;
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
    let address = client_address(&req, state.forwarded_for_hops);
    let password = body.parse()?.password;
    let user = login::accept_invitation(
        &state,
        &token.into_inner(),
        password,
        address,
        request_id.to_string(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
