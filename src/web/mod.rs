//! The web console: pages for people, served by the same binary under `/` (scripts use the JSON
//! API under `/api/v1`). Server-rendered HTML that works without JavaScript for every read; htmx
//! (vendored in `static/vendor/`) makes the answer form's estimate live. Pages call the same
//! services as the API with the same [`Identity`](crate::auth::Identity), so one set of rules
//! decides what each caller may see and do.

pub mod assets;
pub mod charts;
pub mod csrf;
pub mod error;
mod form;
mod pages;
mod procurement_form;
pub mod session;
pub mod templates;

use actix_web::web;

/// Where the console's stylesheet and scripts are served from.
pub const ASSETS: &str = "/assets";

/// Every page of the console.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::asset).configure(pages::configure);
}

/// `2026-12-01T17:00` as a browser's `datetime-local` field sends it, read as JST.
pub fn jst_input(value: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M")
        .ok()
        .map(crate::domain::notification::from_jst)
}
