//! How the console answers when a page cannot be shown: a sign-in redirect, or an HTML page with
//! the same status and code the API would give.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::ApiError;
use crate::web::templates;

#[derive(Debug)]
pub enum PageError {
    /// Not signed in: to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    NotFound,
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(error: anyhow::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<diesel::result::Error> for PageError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<actix_web::error::BlockingError> for PageError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Api(error.into())
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignIn { .. } => f.write_str("401 sign_in_required"),
            Self::NotFound => f.write_str("404 page_not_found"),
            Self::Api(error) => error.fmt(f),
        }
    }
}

impl PageError {
    /// The API error behind the page, where there is one: its cause is what the log records.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) => Some(error),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct ErrorPage {
    status: u16,
    heading: &'static str,
    code: String,
    detail: String,
}

/// What a person is told, by status.
fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "入力内容を確認してください",
        401 => "サインインしてください",
        403 => "この操作の権限がありません",
        404 => "ページが見つかりません",
        409 => "現在の状態ではこの操作はできません",
        410 => "有効期限が切れています",
        412 => "他の人が先に変更しました。もう一度開いてください",
        413 => "送信された内容が大きすぎます",
        429 => "試行回数が多すぎます。しばらく待ってからやり直してください",
        503 => "サービスが一時的に利用できません",
        _ => "エラーが発生しました",
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, detail) = match self {
            Self::SignIn { next } => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, sign_in_location(next)))
                    .finish();
            }
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "page_not_found".to_owned(),
                String::new(),
            ),
            Self::Api(error) => {
                let problem = error.problem();
                (error.status_code(), problem.code, problem.detail)
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading: heading(status),
            code,
            detail,
        };
        let mut response = HttpResponse::build(status);
        if let Some(seconds) = self.api_error().and_then(ApiError::retry_after_seconds) {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        match templates::render("error.j2", &page) {
            Ok(html) => response.content_type(ContentType::html()).body(html),
            // The template is compiled in and tested; should it fail, the status still tells.
            Err(_) => response
                .content_type(ContentType::plaintext())
                .body(page.heading),
        }
    }
}

/// The sign-in page, coming back to `next` (a path of this site only).
pub fn sign_in_location(next: &str) -> String {
    let next = if is_local_path(next) { next } else { "/" };
    format!("/login?next={}", urlencode(next))
}

/// Whether `path` stays on this site: `/x`, never `//host` or `/\host`.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\")
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            sign_in_location("/rounds/1?x=y"),
            "/login?next=%2Frounds%2F1%3Fx%3Dy"
        );
        for outside in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "",
        ] {
            assert_eq!(sign_in_location(outside), "/login?next=%2F");
        }
    }
}
