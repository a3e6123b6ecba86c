//! The caller of a request, from `Authorization: Bearer` (an access token or an API token).

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, Uri, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use anyhow::Context;
use chrono::NaiveDateTime;
use futures_util::future::{LocalBoxFuture, Ready, ready};
use jsonwebtoken::errors::ErrorKind;

use crate::auth::secret::{self, API_TOKEN_PREFIX};
use crate::cache::{Memo, ReadCache, Weight};
use crate::db::tokens::{ActiveToken, TokenLookup};
use crate::db::{self, DbConnection};
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
    pub fn view_key(&self, uri: &Uri) -> String {
        format!("{}|{}|{}", self.organization_id, self.is_admin(), uri)
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
        let caller = Caller::of(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            match caller? {
                Caller::Known(identity) => Ok(identity),
                Caller::ApiToken(token) => {
                    let state = state.context("the application state is not registered")?;
                    state.db(move |conn| token.verify(conn)).await
                }
            }
        })
    }
}

/// The caller of a request whose handler goes to the database anyway. An API token that is not
/// yet verified is looked up there, as the first statement on the handler's own connection,
/// rather than on a trip to the database of its own before the handler starts (that trip made
/// `GET /procurements` with an API token a fifth to a quarter slower than with an access token on
/// PostgreSQL, `bench/RESULTS.md`). Everything else ([`Identity`]'s checks, in the same order)
/// happens as the request is read.
pub enum Caller {
    Known(Identity),
    ApiToken(UnverifiedToken),
}

/// An API token to look up; see [`Caller`].
pub struct UnverifiedToken {
    digest: String,
    /// Whether the request writes (a read-only token may not).
    writes: bool,
    now: NaiveDateTime,
    cache: Arc<ReadCache>,
    verified: web::Data<VerifiedTokens>,
    /// The cache's generation before the lookup: a revocation committed since then keeps the
    /// answer out of the memo.
    generation: u64,
}

impl Caller {
    /// The caller as far as it is known without the database: an access token verified, an
    /// API token found in the memo, or an API token still to look up.
    fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        // Already established for this request (by the idempotency middleware): no second lookup.
        if let Some(identity) = req.extensions().get::<Identity>().cloned() {
            return Ok(Self::Known(identity));
        }
        let bearer = bearer_token(req)?;
        let state = req
            .app_data::<web::Data<AppState>>()
            .context("the application state is not registered")?;
        let verified = req
            .app_data::<web::Data<VerifiedTokens>>()
            .context("the verified-token memo is not registered")?;
        let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if !bearer.starts_with(API_TOKEN_PREFIX) {
            return Ok(Self::Known(session(state, &bearer)?));
        }
        let now = state.now();
        let digest = secret::digest(&bearer);
        let cache = &state.cache;
        if let Some(hit) = cache.get(&verified.0, &digest)
            && hit.expires_at > now
        {
            return admit(hit.identity, writes).map(Self::Known);
        }
        Ok(Self::ApiToken(UnverifiedToken {
            digest,
            writes,
            now,
            generation: cache.generation(),
            cache: Arc::clone(cache),
            verified: verified.clone(),
        }))
    }

    /// The identity, looking the API token up on `conn` if it is not known yet.
    pub fn identify(self, conn: &mut DbConnection) -> Result<Identity, ApiError> {
        match self {
            Self::Known(identity) => Ok(identity),
            Self::ApiToken(token) => token.verify(conn),
        }
    }

    /// What a query that looks the API token up itself needs; `None` when the caller is known.
    pub fn token_lookup(&self) -> TokenLookup<'_> {
        match self {
            Self::Known(_) => None,
            Self::ApiToken(token) => Some((&token.digest, token.now)),
        }
    }

    /// The identity, given what such a query found of the token (`found`, ignored when the
    /// caller is known).
    pub fn identify_with(self, found: Option<ActiveToken>) -> Result<Identity, ApiError> {
        match self {
            Self::Known(identity) => Ok(identity),
            Self::ApiToken(token) => token.admit_found(found),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::of(req))
    }
}

impl UnverifiedToken {
    /// Looks the token up, remembers it in the memo, and admits the request if its scope allows.
    fn verify(self, conn: &mut DbConnection) -> Result<Identity, ApiError> {
        let found = db::tokens::find_active_api_token(conn, &self.digest, self.now)
            .context("looking up an API token")?;
        self.admit_found(found)
    }

    /// Admits the request if the lookup found the token and its scope allows; remembers it.
    fn admit_found(self, found: Option<ActiveToken>) -> Result<Identity, ApiError> {
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
        self.cache
            .put(&self.verified.0, self.digest, self.generation, entry);
        admit(identity, self.writes)
    }
}

/// `identity`, unless the request writes with a read-only API token.
fn admit(identity: Identity, writes: bool) -> Result<Identity, ApiError> {
    let read_only = matches!(
        identity.credential,
        Credential::ApiToken {
            scope: TokenScope::ReadOnly,
            ..
        }
    );
    if writes && read_only {
        return Err(ApiError::forbidden(
            "read_only_token",
            "This API token may only read; writes need a read-write token.",
        ));
    }
    Ok(identity)
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

/// The caller of an access token from `/auth/login`.
fn session(state: &AppState, token: &str) -> Result<Identity, ApiError> {
    let claims = state
        .access_tokens
        .verify(token)
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
