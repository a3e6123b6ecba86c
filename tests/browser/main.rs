//! Browser tests: headless Chromium, driven through chromedriver, on the real service (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` is set).
//!
//! They need Debian's `chromium` and `chromium-driver` (and `fonts-noto-cjk` for Japanese), so each
//! is ignored by a plain `cargo test`; `.ci/run` installs those and runs
//! `cargo test --test browser -- --ignored`. Screenshots go to `target/screenshots/`.

mod browser;
mod console;
mod docs;
mod fixtures;
mod harness;
// The API tests' helpers, shared so that both start the service the same way; this target uses
// only a part of them, and the rest would be flagged here as dead code.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
