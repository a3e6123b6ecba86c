use actix_web::http::{Method, StatusCode};

use crate::helpers::spawn_app;

#[actix_web::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.request(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    let expected = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready.body["database"], expected);
}

#[actix_web::test]
async fn metrics_are_exposed_for_prometheus() {
    let app = spawn_app().await;
    app.request(Method::GET, "/health", None, None).await;
    let metrics = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("kyodo_http_requests_total"),
        "{}",
        metrics.text
    );
}

#[actix_web::test]
async fn interactive_docs_and_the_document_are_served() {
    let app = spawn_app().await;
    let no_follow = awc::Client::builder().disable_redirects().finish();
    let bare = no_follow.get(app.url("/docs")).send().await.unwrap();
    assert!(bare.status().is_redirection(), "/docs redirects to /docs/");
    let docs = app.request(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text.contains("swagger"), "{}", docs.text);
    let served = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.body,
        serde_json::to_value(kyodo::openapi::document()).unwrap()
    );
}

#[actix_web::test]
async fn the_committed_openapi_document_is_current() {
    let generated = kyodo::openapi::document().to_pretty_json().unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/api-spec/openapi.json"
    ))
    .unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "api-spec/openapi.json is stale: run `cargo run -- openapi > api-spec/openapi.json`"
    );
    let document: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
}
