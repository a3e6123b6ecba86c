use actix_web::{HttpResponse, delete, web};

use crate::auth::Identity;
use crate::db;
use crate::domain::audit::{Action, EntityType};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Revoke an API token. Users revoke their own; administrators any.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    identity.require_session()?;
    let actor = identity.actor(&request_id);
    let id = id.into_inner();
    let now = state.now();
    state
        .transaction(move |conn| match db::tokens::find_api_token(conn, &id)? {
            Some(token) if token.user_id == identity.user_id || identity.is_admin() => {
                if db::tokens::revoke_api_token(conn, &id, now)? == 1 {
                    let revoked = serde_json::json!({"id": token.id, "name": token.name, "user_id": token.user_id});
                    db::audit::record_simple(conn, &actor, (EntityType::ApiToken, &id), Action::Revoked, None, Some(revoked), now)?;
                }
                Ok(())
            }
            _ => Err(ApiError::not_found("token_not_found", "No such API token.")),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
