use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiTokenView;
use crate::auth::Identity;
use crate::domain::user::TokenScope;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::API_V1;
use crate::routes::extract::JsonBody;
use crate::service::tokens::{self, TokenRequest};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "participation sync script", "scope": "read_write", "expires_in_days": 90}))]
pub struct CreateTokenRequest {
    /// What the token is for, so that it can be recognized later.
    pub name: String,
    pub scope: TokenScope,
    /// Days until the token stops working (1 to 366).
    #[schema(minimum = 1, maximum = 366, default = 90)]
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret, shown this once: send it as `Authorization: Bearer …`.
    pub token: String,
    #[serde(flatten)]
    pub details: ApiTokenView,
}

/// Create an API token for scripts and other API clients.
///
/// The token acts as the caller, with the caller's role; a `read_only` token may only read.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, body = CreatedToken, headers(("Location" = String, description = "The token, for revoking it"))),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
    body: JsonBody<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    // Refused before the body is read: an API token learns nothing of what it may not do.
    identity.require_session()?;
    let actor = identity.actor(&request_id);
    let body = body.parse()?;
    let now = state.now();
    let issued = state
        .transaction(move |conn| {
            let request = TokenRequest {
                name: &body.name,
                scope: body.scope,
                expires_in_days: body.expires_in_days,
            };
            tokens::issue(conn, &identity, request, &actor, now)
        })
        .await?;
    let location = format!("{API_V1}/tokens/{}", issued.row.id);
    let created = CreatedToken {
        token: issued.secret,
        details: ApiTokenView::from(issued.row),
    };
    Ok(Reply::created(&location, &created)?.into_response())
}
