//! Security headers on every answer: successes, unknown routes and errors alike.

use std::collections::BTreeMap;

use actix_web::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, Response, TestApp, spawn_app, spawn_app_with};

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The directives of the answer's Content-Security-Policy, each with its sources.
fn policy(response: &Response) -> BTreeMap<String, Vec<String>> {
    header(response, "content-security-policy")
        .unwrap_or_default()
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace().map(str::to_owned);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

fn allows(policy: &BTreeMap<String, Vec<String>>, directive: &str, source: &str) -> bool {
    policy
        .get(directive)
        .or_else(|| policy.get("default-src"))
        .is_some_and(|sources| sources.iter().any(|s| s == source))
}

/// A 200, a 404 for a path no route takes, a 401 and a 422.
async fn sample_answers(app: &TestApp) -> Vec<(&'static str, Response)> {
    let ok = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    let not_found = app.request(Method::GET, "/nowhere", None, None).await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    let unauthorized = app.request(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    let invalid = app
        .post("/api/v1/auth/login", None, json!({"email": ADMIN_EMAIL}))
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    vec![
        ("200", ok),
        ("404", not_found),
        ("401", unauthorized),
        ("422", invalid),
    ]
}

#[actix_web::test]
async fn every_answer_forbids_sniffing_referrers_and_active_content() {
    let app = spawn_app().await;
    for (name, response) in sample_answers(&app).await {
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            Some("no-referrer"),
            "{name}"
        );
        let policy = policy(&response);
        assert_eq!(
            policy.get("default-src"),
            Some(&vec!["'none'".to_owned()]),
            "{name}"
        );
        assert_eq!(
            policy.get("frame-ancestors"),
            Some(&vec!["'none'".to_owned()]),
            "{name}"
        );
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{name}: no https address is configured"
        );
    }
}

#[actix_web::test]
async fn authenticated_and_credential_answers_are_not_stored() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.body["access_token"].as_str().unwrap();
    let failed_login = app.login(ADMIN_EMAIL, "not the password at all").await;
    let organizations = app.get("/api/v1/organizations", token).await;
    assert_eq!(organizations.status, StatusCode::OK);
    let missing = app.get("/api/v1/nowhere", token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let invitation = app
        .post(
            "/api/v1/invitations/no-such-token/accept",
            None,
            json!({"password": "a passphrase of some length"}),
        )
        .await;
    let anonymous_users = app.request(Method::GET, "/api/v1/users", None, None).await;
    for (name, response) in [
        ("login", &login),
        ("failed login", &failed_login),
        ("organizations", &organizations),
        ("404 with a token", &missing),
        ("invitation", &invitation),
        ("users without a token", &anonymous_users),
    ] {
        assert_eq!(
            header(response, "cache-control"),
            Some("no-store"),
            "{name}: {} {}",
            response.status,
            response.text
        );
    }
    let health = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(header(&health, "cache-control"), None);
}

#[actix_web::test]
async fn the_docs_policy_allows_what_the_page_loads_and_nothing_inline() {
    let app = spawn_app().await;
    let page = app.request(Method::GET, "/docs/", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let policy = policy(&page);
    assert_eq!(policy.get("default-src"), Some(&vec!["'none'".to_owned()]));
    assert_eq!(
        policy.get("frame-ancestors"),
        Some(&vec!["'none'".to_owned()])
    );
    for (directive, forbidden) in [
        ("script-src", "'unsafe-inline'"),
        ("script-src", "'unsafe-eval'"),
    ] {
        assert!(!allows(&policy, directive, forbidden), "{policy:?}");
    }
    let scripts: Vec<&str> = page.text.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{}", page.text);
    for script in &scripts {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains("src="), "an inline script: <script{script}");
    }
    assert!(allows(&policy, "script-src", "'self'"), "{policy:?}");
    assert!(allows(&policy, "style-src", "'self'"), "{policy:?}");
    assert!(allows(&policy, "img-src", "'self'"), "{policy:?}");

    let mut loaded = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for rest in page.text.split(attribute).skip(1) {
            let target = rest.split('"').next().unwrap_or_default();
            assert!(
                !target.contains("//"),
                "{target} is not loaded from the service itself"
            );
            let path = format!("/docs/{}", target.trim_start_matches("./"));
            let asset = app.request(Method::GET, &path, None, None).await;
            assert_eq!(asset.status, StatusCode::OK, "{path}");
            loaded.push((path, asset));
        }
    }
    assert!(
        loaded.len() >= 5,
        "{loaded:?}",
        loaded = loaded.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (path, asset) in &loaded {
        if asset.text.contains("url(\"data:") {
            assert!(
                allows(&policy, "img-src", "data:"),
                "{path} draws data: images"
            );
        }
        if path.ends_with("swagger-initializer.js") {
            assert!(
                asset.text.contains("\"/api-docs/openapi.json\""),
                "the page fetches its document from the service: {}",
                asset.text
            );
            assert!(allows(&policy, "connect-src", "'self'"), "{policy:?}");
        }
    }
}

#[actix_web::test]
async fn an_https_public_address_asks_browsers_for_https_only() {
    let app = spawn_app_with(|config| {
        config.public_base_url = Some("https://kyodo.example.lg.jp".parse().unwrap());
    })
    .await;
    for (name, response) in sample_answers(&app).await {
        assert_eq!(
            header(&response, "strict-transport-security"),
            Some("max-age=31536000"),
            "{name}"
        );
    }
    let plain = spawn_app_with(|config| {
        config.public_base_url = Some("http://kyodo.example.lg.jp".parse().unwrap());
    })
    .await;
    let health = plain.request(Method::GET, "/health", None, None).await;
    assert_eq!(header(&health, "strict-transport-security"), None);
}
