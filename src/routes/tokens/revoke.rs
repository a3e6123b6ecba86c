use actix_web::{HttpResponse, delete, web};

use crate::auth::Identity;
use crate::error::{ApiError, Problem};
use crate::service::tokens;
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
    let actor = identity.actor(&request_id);
    let now = state.now();
    state
        .transaction(move |conn| tokens::revoke(conn, &identity, &id, &actor, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
