use actix_web::{HttpResponse, post, web};

use super::refresh::RefreshRequest;
use crate::auth::secret;
use crate::db;
use crate::error::ApiError;
use crate::routes::extract::JsonBody;
use crate::state::AppState;

/// Log out: revoke the refresh token and every token of the same login.
///
/// Answers 204 whether or not the token was known, so that logging out twice is harmless. The
/// access token stays valid until it expires (minutes); clients should discard it.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Logged out"))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let digest = secret::digest(body.parse()?.refresh_token.trim());
    let now = state.now();
    state
        .transaction(move |conn| {
            if let Some(token) = db::tokens::find_refresh_token(conn, &digest)? {
                db::tokens::revoke_refresh_family(conn, &token.family_id, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
