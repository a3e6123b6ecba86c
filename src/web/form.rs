//! Form posts of the console: the body parsed as `application/x-www-form-urlencoded` (repeated
//! fields, such as checked options, become lists), after its CSRF token has been checked.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use anyhow::Context as _;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::session;

/// A form's fields, once the request has proved it comes from one of this site's pages.
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct Token {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body
                .await
                .map_err(|_| PageError::Api(ApiError::payload_too_large()))?;
            let field = serde_html_form::from_bytes::<Token>(&body)
                .ok()
                .and_then(|t| t.csrf);
            verify(&req, field.as_deref())?;
            // No field takes a NUL, and PostgreSQL cannot even compare text with one (the
            // e-mail address looked up at sign-in).
            let holds_nul =
                serde_html_form::from_bytes::<Vec<(String, String)>>(&body).is_ok_and(|fields| {
                    fields
                        .iter()
                        .any(|(name, value)| name.contains('\0') || value.contains('\0'))
                });
            if holds_nul {
                return Err(ApiError::bad_request(
                    "invalid_form",
                    "A field of the form holds the control character U+0000.",
                )
                .into());
            }
            let fields = serde_html_form::from_bytes::<T>(&body).map_err(|e| {
                ApiError::bad_request("invalid_form", format!("The form could not be read: {e}."))
            })?;
            Ok(Self(fields))
        })
    }
}

/// Whether the request carries this browser's CSRF token, in the `X-CSRF-Token` header or as the
/// form's `field`.
pub fn verify(req: &HttpRequest, field: Option<&str>) -> Result<(), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .context("the application state is not registered")?;
    let header = req
        .headers()
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok());
    let submitted = header.or(field).unwrap_or_default();
    let genuine =
        session::binding(req).is_some_and(|binding| state.console.csrf.verify(&binding, submitted));
    if genuine {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "csrf_failed",
            "The form is out of date or did not come from this site; reload the page and send it again.",
        ))
    }
}

/// A page's query string, read as forms write it (repeated fields become lists, empty ones
/// none); 400 `invalid_query` when it does not fit `T`.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_html_form::from_str(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
}
