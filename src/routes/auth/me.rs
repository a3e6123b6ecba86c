use actix_web::{HttpResponse, get, web};
use anyhow::Context as _;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::auth::identity::Credential;
use crate::db;
use crate::domain::user::TokenScope;
use crate::error::{ApiError, Problem};
use crate::routes::organizations::OrganizationSummary;
use crate::routes::users::UserView;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialView {
    /// Logged in with a password.
    Session,
    ApiToken {
        id: String,
        scope: TokenScope,
    },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub organization: OrganizationSummary,
    pub credential: CredentialView,
}

/// The caller: user, organization and the credential in use.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, identity: Identity) -> Result<HttpResponse, ApiError> {
    let user_id = identity.user_id.clone();
    let (user, organization) = state
        .db(move |conn| {
            let user = db::users::find(conn, &user_id)?.ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "The account no longer exists.")
            })?;
            let organization = db::organizations::find(conn, &user.organization_id)?
                .context("the caller's organization is missing")?;
            Ok((user, organization))
        })
        .await?;
    let credential = match identity.credential {
        Credential::Session => CredentialView::Session,
        Credential::ApiToken { id, scope } => CredentialView::ApiToken { id, scope },
    };
    Ok(HttpResponse::Ok().json(MeView {
        user: UserView::from(user),
        organization: OrganizationSummary::from(&organization),
        credential,
    }))
}
