use actix_web::{HttpResponse, get, web};

use super::ApiTokenView;
use crate::auth::Identity;
use crate::error::{ApiError, Problem};
use crate::service::tokens;
use crate::state::AppState;

/// The caller's API tokens (never their secret), newest first.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<ApiTokenView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db(move |conn| tokens::list(conn, &identity)).await?;
    let views: Vec<ApiTokenView> = rows.into_iter().map(ApiTokenView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}
