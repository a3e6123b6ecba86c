use actix_web::{HttpResponse, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::UserView;
use crate::auth::{password, secret};
use crate::db;
use crate::domain::password::Password;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "a long passphrase of my own"}))]
pub struct AcceptInvitationRequest {
    /// At least 12 characters.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Accept an invitation by choosing a password; then log in with it.
#[utoipa::path(
    tag = "users",
    params(("token" = String, Path, description = "The invitation token")),
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, body = UserView),
        (status = 404, description = "Unknown or already used invitation", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired invitation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Password too short or too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/invitations/{token}/accept")]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    request_id: tracing_actix_web::RequestId,
    token: web::Path<String>,
    body: web::Json<AcceptInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse(body.into_inner().password)
        .map_err(|e| ApiError::invalid_field("password", "weak_password", e.to_string()))?;
    let hash = web::block(move || password::hash(&password)).await??;
    let digest = secret::digest(&token.into_inner());
    let user = state
        .transaction(move |conn| {
            let now = crate::clock::utc_now();
            let user = db::users::find_by_invitation(conn, &digest)?.ok_or_else(|| {
                ApiError::not_found(
                    "invitation_not_found",
                    "The invitation is unknown or has already been used.",
                )
            })?;
            if user.invitation_expires_at.is_some_and(|t| t <= now) {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::GONE,
                    "invitation_expired",
                    "The invitation has expired; ask for a new one.",
                ));
            }
            if !db::users::accept_invitation(conn, &user.id, &digest, &hash, now)? {
                return Err(ApiError::not_found(
                    "invitation_not_found",
                    "The invitation has already been used.",
                ));
            }
            let actor = db::audit::Actor {
                user_id: Some(user.id.clone()),
                organization_id: Some(user.organization_id.clone()),
                request_id: Some(request_id.to_string()),
            };
            db::audit::record_simple(
                conn,
                &actor,
                "user.activated",
                ("user", &user.id),
                None,
                Some(serde_json::json!({"id": user.id, "email": user.email})),
                now,
            )?;
            db::users::find(conn, &user.id)?.ok_or_else(ApiError::internal)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserView::try_from(user)?))
}
