//! Signing in and out, and accepting an invitation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::see_other;
use crate::auth::login::{self, client_address, verify_credentials};
use crate::auth::secret;
use crate::service::users;
use crate::state::AppState;
use crate::web::error::{PageError, is_local_path};
use crate::web::form::CsrfForm;
use crate::web::session::{self, SESSION_COOKIE, VISITOR_COOKIE};
use crate::web::templates;

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

fn local_or_home(next: Option<&str>) -> &str {
    next.filter(|n| is_local_path(n)).unwrap_or("/")
}

/// A form shown before signing in, with the visitor cookie its CSRF token is bound to.
fn anonymous_form(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    template: &str,
    mut context: serde_json::Value,
) -> Result<HttpResponse, PageError> {
    let mut response = HttpResponse::build(status);
    let csrf = match state.console.csrf_token(req) {
        Some(token) => token,
        None => {
            let visitor = secret::generate("").plain;
            let token = state.console.csrf.token(&format!("visitor:{visitor}"));
            response.cookie(state.console.visitor_cookie(visitor));
            token
        }
    };
    context["csrf"] = json!(csrf);
    Ok(response
        .content_type(actix_web::http::header::ContentType::html())
        .body(templates::render(template, context)?))
}

#[get("/login")]
pub async fn sign_in_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextParam>,
) -> Result<HttpResponse, PageError> {
    let next = local_or_home(query.next.as_deref());
    anonymous_form(
        &req,
        &state,
        StatusCode::OK,
        "login.j2",
        json!({"next": next, "email": ""}),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

#[post("/login")]
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let next = local_or_home(form.next.as_deref()).to_owned();
    let address = client_address(&req, state.forwarded_for_hops);
    let password = SecretString::from(form.password);
    let user = match verify_credentials(&state, &form.email, password, address).await {
        Ok(user) => user,
        Err(error) => {
            let problem = error.problem();
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNAUTHORIZED);
            let message = if status == StatusCode::TOO_MANY_REQUESTS {
                "試行回数が多すぎます。しばらく待ってからやり直してください。"
            } else {
                "メールアドレスまたはパスワードが違います。"
            };
            let mut page = anonymous_form(
                &req,
                &state,
                status,
                "login.j2",
                json!({"next": next, "email": form.email, "error": message}),
            )?;
            if let Some(seconds) = error.retry_after_seconds() {
                page.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, seconds.into());
            }
            return Ok(page);
        }
    };
    signed_in(&state, user, &next).await
}

/// Starts a session for `user` and sends the browser on to `next`.
async fn signed_in(
    state: &AppState,
    user: crate::db::users::UserRow,
    next: &str,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let ttl = state.console.session_ttl;
    let cookie = state
        .transaction(move |conn| session::start(conn, &user, now, ttl))
        .await?;
    let mut response = see_other(next);
    response
        .add_cookie(&state.console.session_cookie(cookie))
        .map_err(anyhow::Error::from)?;
    response
        .add_cookie(&state.console.removal(VISITOR_COOKIE))
        .map_err(anyhow::Error::from)?;
    Ok(response)
}

#[derive(Deserialize)]
struct Empty {}

#[post("/logout")]
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: CsrfForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    state
        .transaction(move |conn| session::end(conn, cookie.as_deref()))
        .await?;
    let mut response = see_other("/login");
    response
        .add_cookie(&state.console.removal(SESSION_COOKIE))
        .map_err(anyhow::Error::from)?;
    Ok(response)
}

#[get("/invitations/{token}")]
pub async fn invitation_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let digest = secret::digest(&token);
    let now = state.now();
    let invited = state
        .db(move |conn| users::pending_invitation(conn, &digest, now))
        .await?;
    anonymous_form(
        &req,
        &state,
        StatusCode::OK,
        "invitation.j2",
        json!({"email": invited.email, "display_name": invited.display_name, "token": token.as_str()}),
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

#[post("/invitations/{token}")]
pub async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    request_id: tracing_actix_web::RequestId,
    token: web::Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let address = client_address(&req, state.forwarded_for_hops);
    let password = SecretString::from(form.password);
    match login::accept_invitation(&state, &token, password, address, request_id.to_string()).await
    {
        Ok(user) => signed_in(&state, user, "/").await,
        Err(error) if error.problem().code == "validation_failed" => {
            let digest = secret::digest(&token);
            let now = state.now();
            let invited = state
                .db(move |conn| users::pending_invitation(conn, &digest, now))
                .await?;
            let message = error
                .problem()
                .errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            anonymous_form(
                &req,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invitation.j2",
                json!({
                    "email": invited.email,
                    "display_name": invited.display_name,
                    "token": token.as_str(),
                    "error": format!("このパスワードは使えません: {message}"),
                }),
            )
        }
        Err(error) => Err(PageError::Api(error)),
    }
}
