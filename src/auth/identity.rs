//! The caller of a request, from `Authorization: Bearer` (an access token or an API token).

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use anyhow::Context;
use chrono::NaiveDateTime;
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::errors::ErrorKind;

use crate::auth::secret::{self, API_TOKEN_PREFIX};
use crate::cache::{Memo, Weight};
use crate::db;
use crate::domain::id::{OrganizationId, UserId};
use crate::domain::user::{Role, TokenScope};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub role: Role,
    pub credential: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token from `/auth/login`.
    Session,
    ApiToken {
        id: String,
        scope: TokenScope,
    },
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins act for every organization; coordinators for their own.
    pub fn may_act_for(&self, organization_id: &OrganizationId) -> bool {
        self.is_admin()
            || (self.role == Role::Coordinator && &self.organization_id == organization_id)
    }

    /// Admins read every organization's private data; everyone else only their own.
    pub fn may_read_private(&self, organization_id: &OrganizationId) -> bool {
        self.is_admin() || &self.organization_id == organization_id
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "admin_only",
                "Only council administrators may do this.",
            ))
        }
    }

    /// Names a read's answer in the cache: what the caller may see depends on its body and on
    /// whether it is an administrator, never on the user.
    pub fn view_key(&self, request: &HttpRequest) -> String {
        format!(
            "{}|{}|{}",
            self.organization_id,
            self.is_admin(),
            request.uri()
        )
    }

    /// The caller as the audit log records it.
    pub fn actor(&self, request_id: &tracing_actix_web::RequestId) -> crate::db::audit::Actor {
        crate::db::audit::Actor {
            user_id: Some(self.user_id.clone()),
            organization_id: Some(self.organization_id.clone()),
            request_id: Some(request_id.to_string()),
        }
    }

    /// Token management needs an interactive login, so that a leaked API token cannot mint more.
    pub fn require_session(&self) -> Result<(), ApiError> {
        match self.credential {
            Credential::Session => Ok(()),
            Credential::ApiToken { .. } => Err(ApiError::forbidden(
                "session_required",
                "API tokens cannot manage API tokens; log in with a password.",
            )),
        }
    }
}

impl FromRequest for Identity {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Already established for this request (by the idempotency middleware): no second lookup.
        if let Some(identity) = req.extensions().get::<Identity>().cloned() {
            return Box::pin(async move { Ok(identity) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let verified = req.app_data::<web::Data<VerifiedTokens>>().cloned();
        let bearer = bearer_token(req);
        let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        Box::pin(async move {
            let state = state.context("the application state is not registered")?;
            let verified = verified.context("the verified-token memo is not registered")?;
            let identity = authenticate(&state, &verified, bearer?).await?;
            if writes
                && matches!(
                    identity.credential,
                    Credential::ApiToken {
                        scope: TokenScope::ReadOnly,
                        ..
                    }
                )
            {
                return Err(ApiError::forbidden(
                    "read_only_token",
                    "This API token may only read; writes need a read-write token.",
                ));
            }
            Ok(identity)
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_credentials",
            "Send `Authorization: Bearer <token>`.",
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_credentials",
                "The Authorization header must be `Bearer <token>`.",
            )
        })
}

/// API tokens verified against the database, kept in a [`Memo`] of the read cache so that a
/// script's every request does not cost a query; the cache drops them when the database changes,
/// so a revocation takes effect at once.
pub struct VerifiedTokens(Memo<VerifiedToken>);

impl VerifiedTokens {
    pub fn new(budget: usize) -> Self {
        Self(Memo::new(budget))
    }
}

#[derive(Clone)]
struct VerifiedToken {
    identity: Identity,
    expires_at: NaiveDateTime,
}

impl Weight for VerifiedToken {
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.identity.user_id.len()
            + self.identity.organization_id.len()
    }
}

async fn authenticate(
    state: &AppState,
    verified: &VerifiedTokens,
    token: String,
) -> Result<Identity, ApiError> {
    if token.starts_with(API_TOKEN_PREFIX) {
        let now = state.now();
        let digest = secret::digest(&token);
        let cache = &state.cache;
        if let Some(hit) = cache.get(&verified.0, &digest)
            && hit.expires_at > now
        {
            return Ok(hit.identity);
        }
        let generation = cache.generation();
        let key = digest.clone();
        let found = state
            .db(move |conn| {
                Ok(db::tokens::find_active_api_token(conn, &digest, now)
                    .context("looking up an API token")?)
            })
            .await?;
        let (token, user) = found.ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "The API token is unknown, expired or revoked.",
            )
        })?;
        let identity = Identity {
            role: user.role,
            user_id: user.id,
            organization_id: user.organization_id,
            credential: Credential::ApiToken {
                scope: token.scope,
                id: token.id,
            },
        };
        let entry = VerifiedToken {
            identity: identity.clone(),
            expires_at: token.expires_at,
        };
        cache.put(&verified.0, key, generation, entry);
        return Ok(identity);
    }
    let claims = state
        .access_tokens
        .verify(&token)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => {
                ApiError::unauthorized("token_expired", "The access token has expired; refresh it.")
            }
            _ => ApiError::unauthorized("invalid_token", "The access token is not valid."),
        })?;
    Ok(Identity {
        user_id: claims.sub,
        organization_id: claims.org,
        role: claims.role,
        credential: Credential::Session,
    })
}
