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
pub mod session;
pub mod templates;

use actix_web::web;

/// Where the console's stylesheet and scripts are served from.
pub const ASSETS: &str = "/assets";

/// Every page of the console.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::asset).configure(pages::configure);
}
