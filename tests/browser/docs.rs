//! The API documentation (Swagger UI at `/docs/`), the one page the service serves today.

use serde_json::Value;

use crate::browser::Browser;
use crate::helpers::spawn_app;

/// How many operations the served OpenAPI document describes.
async fn operation_count(app: &crate::helpers::TestApp) -> usize {
    let mut response = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("the OpenAPI document");
    let document: Value = response.json().limit(8 * 1024 * 1024).await.expect("JSON");
    document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().expect("a path item").len())
        .sum()
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn the_documentation_lists_every_operation_under_its_japanese_title() {
    let app = spawn_app().await;
    let browser = Browser::desktop().await;

    browser.open(&app, "/docs/").await;
    browser.wait_for(".opblock").await;
    browser.wait_for_text("共同調達 coordination API").await;

    let listed = browser
        .client()
        .find_all(fantoccini::Locator::Css(".opblock"))
        .await
        .expect("the operations");
    assert_eq!(listed.len(), operation_count(&app).await);
    browser
        .wait_for("#operations-auth-me .opblock-summary-control")
        .await
        .click()
        .await
        .expect("opening GET /api/v1/me");
    browser.wait_for_text("長野県").await;
    browser.screenshot("docs").await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn the_documentation_opens_on_a_phone() {
    let app = spawn_app().await;
    let browser = Browser::phone().await;

    browser.open(&app, "/docs/").await;
    browser.wait_for(".opblock").await;

    // The screen, not the layout viewport: Swagger UI has no `<meta name="viewport">`, so a phone
    // lays it out 980 pixels wide and shrinks it, as real phones do.
    let screen = browser
        .client()
        .execute(
            "return [screen.width, devicePixelRatio, matchMedia('(pointer: coarse)').matches, innerWidth];",
            vec![],
        )
        .await
        .expect("the screen");
    assert_eq!(screen, serde_json::json!([390, 2, true, 980]));
    browser.screenshot("docs-phone").await;
}

/// Swagger UI is not ours to fix: this shows what axe finds on it rather than asserting it clean.
#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn axe_reports_what_it_finds_on_the_documentation() {
    let app = spawn_app().await;
    let browser = Browser::desktop().await;
    browser.open(&app, "/docs/").await;
    browser.wait_for(".opblock").await;

    let violations = browser.axe().await;

    for violation in &violations {
        assert!(!violation.nodes.is_empty(), "{violation}");
        assert!(
            violation.nodes.iter().all(|n| !n.target.is_empty()),
            "{violation}"
        );
        eprintln!(
            "{} ({}): {} elements, the first {}",
            violation.id,
            violation.impact.as_deref().unwrap_or("no impact"),
            violation.nodes.len(),
            violation.nodes[0].target.join(" >>> ")
        );
    }
    eprintln!("axe on /docs/: {} rules broken", violations.len());
}
