use actix_web::{HttpResponse, post, web};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiTokenView;
use crate::auth::Identity;
use crate::auth::secret::{self, API_TOKEN_PREFIX};
use crate::db::new_id;
use crate::db::tokens::ApiTokenRow;
use crate::domain::field_error::FieldError;
use crate::domain::text::required_text;
use crate::domain::user::TokenScope;
use crate::error::check;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::API_V1;
use crate::routes::extract::JsonBody;
use crate::service::tokens;
use crate::state::AppState;

pub const MAX_LIFETIME_DAYS: i64 = 366;

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
    identity.require_session()?;
    let actor = identity.actor(&request_id);
    let body = body.parse()?;
    let days = body.expires_in_days.unwrap_or(90);
    let mut errors = Vec::new();
    let name = required_text(&body.name, "name", 100, &mut errors);
    if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
        errors.push(FieldError::new(
            "expires_in_days",
            "out_of_range",
            format!("expires_in_days is between 1 and {MAX_LIFETIME_DAYS}"),
        ));
    }
    check(errors)?;

    let secret = secret::generate(API_TOKEN_PREFIX);
    let now = state.now();
    let row = ApiTokenRow {
        id: new_id(),
        user_id: identity.user_id,
        name,
        token_hash: secret.digest,
        scope: body.scope,
        expires_at: now + Duration::days(days),
        created_at: now,
        revoked_at: None,
    };
    let stored = row.clone();
    state
        .transaction(move |conn| tokens::create(conn, &stored, &actor, now))
        .await?;
    let location = format!("{API_V1}/tokens/{}", row.id);
    let created = CreatedToken {
        token: secret.plain,
        details: ApiTokenView::from(row),
    };
    Ok(Reply::created(&location, &created)?.into_response())
}
