use actix_web::{HttpResponse, delete, web};

use crate::auth::Identity;
use crate::error::{ApiError, Problem};
use crate::service::calendar;
use crate::state::AppState;

/// Revoke the caller's calendar feed: its address stops working at once.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked (or there was none)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with a read-only API token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/me/calendar")]
pub async fn revoke_calendar_feed(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
) -> Result<HttpResponse, ApiError> {
    let actor = identity.actor(&request_id);
    let now = state.now();
    state
        .transaction(move |conn| calendar::revoke(conn, &identity.user_id, &actor, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
