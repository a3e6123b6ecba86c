//! Signing in to the console: a session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when the
//! service is reached over TLS) whose secret is stored only as a digest, and the signed-in person
//! as every page sees them.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use anyhow::Context as _;
use chrono::{Duration, NaiveDateTime};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::auth::identity::{Credential, Identity};
use crate::auth::secret;
use crate::db::console_sessions::{self, ConsoleSessionRow};
use crate::db::users::UserRow;
use crate::db::{DbConnection, new_id};
use crate::domain::user::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::csrf::CsrfKey;
use crate::web::error::PageError;

pub const SESSION_COOKIE: &str = "kyodo_session";
/// Binds the CSRF token of the forms shown before signing in (sign-in, invitation).
pub const VISITOR_COOKIE: &str = "kyodo_visitor";
/// Session secrets carry this prefix, so that a leaked one is recognizable.
const SESSION_PREFIX: &str = "kys_";

/// How the console's cookies are set.
#[derive(Clone)]
pub struct ConsoleSettings {
    pub session_ttl: Duration,
    /// `Secure` cookies: the service's public address is https.
    pub secure_cookies: bool,
    pub csrf: CsrfKey,
    /// Largest file a form may upload (`MAX_BODY_BYTES`).
    pub max_upload_bytes: usize,
}

impl ConsoleSettings {
    fn cookie(&self, name: &'static str, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(max_age.num_seconds()))
            .finish()
    }

    pub fn session_cookie(&self, secret: String) -> Cookie<'static> {
        self.cookie(SESSION_COOKIE, secret, self.session_ttl)
    }

    pub fn visitor_cookie(&self, value: String) -> Cookie<'static> {
        self.cookie(VISITOR_COOKIE, value, Duration::days(1))
    }

    /// A cookie that makes the browser forget `name`.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new(), Duration::zero());
        cookie.make_removal();
        cookie
    }

    /// The CSRF token of the browser that sent `req`; `None` before it has any cookie.
    pub fn csrf_token(&self, req: &HttpRequest) -> Option<String> {
        binding(req).map(|b| self.csrf.token(&b))
    }
}

/// What a CSRF token is bound to: the session cookie, else the visitor cookie.
pub fn binding(req: &HttpRequest) -> Option<String> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        return Some(format!("session:{}", cookie.value()));
    }
    req.cookie(VISITOR_COOKIE)
        .map(|cookie| format!("visitor:{}", cookie.value()))
}

/// Starts a session for `user`; returns the secret for the cookie.
pub fn start(
    conn: &mut DbConnection,
    user: &UserRow,
    now: NaiveDateTime,
    ttl: Duration,
) -> Result<String, ApiError> {
    let secret = secret::generate(SESSION_PREFIX);
    console_sessions::insert(
        conn,
        &ConsoleSessionRow {
            id: new_id(),
            user_id: user.id.clone(),
            token_hash: secret.digest,
            created_at: now,
            expires_at: now + ttl,
        },
    )?;
    Ok(secret.plain)
}

/// Ends the session of the browser that sent `req`, if it has one.
pub fn end(conn: &mut DbConnection, cookie: Option<&str>) -> Result<(), ApiError> {
    if let Some(value) = cookie {
        console_sessions::delete(conn, &secret::digest(value))?;
    }
    Ok(())
}

/// The signed-in person: their identity for the services, and what the layout shows.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub identity: Identity,
    pub display_name: String,
    pub organization_name: String,
    pub csrf: String,
}

/// What every page's layout knows of the viewer.
#[derive(Debug, Serialize)]
pub struct ViewerContext<'a> {
    pub display_name: &'a str,
    pub organization_name: &'a str,
    pub organization_id: &'a str,
    pub role: &'static str,
    pub is_admin: bool,
    /// Coordinators and administrators invite users; viewers only read.
    pub is_viewer: bool,
    pub csrf: &'a str,
}

impl Viewer {
    pub fn context(&self) -> ViewerContext<'_> {
        ViewerContext {
            display_name: &self.display_name,
            organization_name: &self.organization_name,
            organization_id: &self.identity.organization_id,
            role: self.identity.role.label_ja(),
            is_admin: self.identity.role == Role::Admin,
            is_viewer: self.identity.role == Role::Viewer,
            csrf: &self.csrf,
        }
    }
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(viewer) = req.extensions().get::<Viewer>().cloned() {
            return Box::pin(async move { Ok(viewer) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let next = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let req = req.clone();
        Box::pin(async move {
            let state = state
                .context("the application state is not registered")
                .map_err(ApiError::from)?;
            let Some(cookie) = cookie else {
                return Err(PageError::SignIn { next });
            };
            let digest = secret::digest(&cookie);
            let now = state.now();
            let found = state
                .db(move |conn| Ok(console_sessions::find_active(conn, &digest, now)?))
                .await?;
            let Some((user, organization_name)) = found else {
                return Err(PageError::SignIn { next });
            };
            let viewer = Viewer {
                identity: Identity {
                    user_id: user.id,
                    organization_id: user.organization_id,
                    role: user.role,
                    credential: Credential::Session,
                },
                display_name: user.display_name,
                organization_name,
                csrf: state.console.csrf.token(&format!("session:{cookie}")),
            };
            req.extensions_mut().insert(viewer.clone());
            Ok(viewer)
        })
    }
}
