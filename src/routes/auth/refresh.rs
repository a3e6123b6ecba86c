use actix_web::{HttpResponse, post, web};
use anyhow::Context as _;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{TokenPair, issue_pair};
use crate::auth::secret;
use crate::db;
use crate::error::{ApiError, Problem};
use crate::routes::extract::JsonBody;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "kyr_q3Jx…"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

enum Outcome {
    Rotated(TokenPair),
    Unknown,
    Expired,
    /// A spent or revoked token came back: someone else may hold it, so its whole family dies.
    Reused,
}

/// Exchange a refresh token for a new pair.
///
/// Each refresh token works once. Presenting a spent one revokes every token descended from the
/// same login (reuse detection), and the answer is 401 `refresh_token_reused`.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the old refresh token is spent", body = TokenPair),
        (status = 401, description = "Unknown, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let digest = secret::digest(body.parse()?.refresh_token.trim());
    let issuer = state.clone();
    // The reuse outcome commits (the family's revocation must stick), so it is an Ok here.
    let now = state.now();
    let outcome = state
        .transaction(move |conn| {
            let Some(token) = db::tokens::find_refresh_token(conn, &digest)? else {
                return Ok(Outcome::Unknown);
            };
            if token.used_at.is_some()
                || token.revoked_at.is_some()
                || !db::tokens::spend_refresh_token(conn, &token.id, now)?
            {
                db::tokens::revoke_refresh_family(conn, &token.family_id, now)?;
                return Ok(Outcome::Reused);
            }
            if token.expires_at <= now {
                return Ok(Outcome::Expired);
            }
            let user = db::users::find(conn, &token.user_id)?
                .context("the refresh token's user is missing")?;
            Ok(Outcome::Rotated(issue_pair(
                &issuer,
                conn,
                &user,
                token.family_id,
                now,
            )?))
        })
        .await?;
    outcome.into_response()
}

impl Outcome {
    /// The pair, or the reason the refresh failed.
    fn into_response(self) -> Result<HttpResponse, ApiError> {
        match self {
            Outcome::Rotated(pair) => Ok(HttpResponse::Ok().json(pair)),
            Outcome::Unknown => Err(ApiError::unauthorized(
                "invalid_refresh_token",
                "The refresh token is unknown.",
            )),
            Outcome::Expired => Err(ApiError::unauthorized(
                "refresh_token_expired",
                "The refresh token has expired; log in again.",
            )),
            Outcome::Reused => Err(ApiError::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; every token of this login is now revoked. Log in again.",
            )),
        }
    }
}
