//! The console's stylesheet and scripts, compiled into the binary.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, get, web};

use crate::web::error::PageError;

/// `(name, content type, bytes)`.
const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/console.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/htmx.min.js"),
    ),
    (
        "htmx-ext-sse.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/htmx-ext-sse.js"),
    ),
];

/// Assets change only with the binary; a day of caching spares a page's every visit the scripts.
const CACHE_CONTROL: &str = "public, max-age=86400";

#[get("/assets/{name}")]
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(file, _, _)| *file == name.as_str())
        .ok_or(PageError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentType(
            content_type.parse().map_err(|_| PageError::NotFound)?,
        ))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .body(*body))
}
