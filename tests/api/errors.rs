//! Every kind of bad input gets a problem document with a stable code.

use actix_web::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::allocations::{NAGANO, open_round, put};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Response, spawn_app, spawn_app_with};
use crate::lifecycle::procurement_body;

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .send_raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            "application/json",
            b"{\"email\": ".to_vec(),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.problem_code(), "malformed_json");
}

#[actix_web::test]
async fn json_of_the_wrong_shape_is_422() {
    let app = spawn_app().await;
    for body in [
        json!({"email": "a@b.jp"}),
        json!({"email": 1, "password": "x"}),
        json!({"email": "a@b.jp", "password": "x", "extra": true}),
    ] {
        let response = app.post("/api/v1/auth/login", None, body.clone()).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(response.problem_code(), "invalid_body");
    }
}

#[actix_web::test]
async fn a_body_must_be_an_object_even_where_an_array_of_its_fields_would_decode() {
    // serde takes a struct from an array of its fields in order; the API takes only objects.
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = login.body["refresh_token"].as_str().unwrap();
    for (path, body) in [
        ("/api/v1/auth/logout", json!([token])),
        ("/api/v1/auth/login", json!([ADMIN_EMAIL, ADMIN_PASSWORD])),
        ("/api/v1/auth/logout", json!("x")),
        ("/api/v1/auth/logout", json!(null)),
    ] {
        let response = app.post(path, None, body.clone()).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(response.problem_code(), "invalid_body", "{body}");
    }
    // The refused logout revoked nothing.
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": token}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
}

#[actix_web::test]
async fn an_object_anywhere_in_a_body_must_be_an_object() {
    // At any depth, and inside an internally tagged enum (a pool's `total`), where serde buffers
    // the value before it knows the variant.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let nagano = app.user("coordinator", NAGANO).await;
    let answer = |body: Value| put(&app, &nagano.token, &round, NAGANO, body);
    let contact = json!([
        "信州 花子",
        "情報政策課",
        "hanako@example.lg.jp",
        "026-000-0000"
    ]);
    let refused = answer(json!({"status": "joined", "contact": contact})).await;
    assert_refused_at(&refused, "/contact");
    // Also when serde reads the body twice, for a whole number written `25.0`.
    let contact = json!(["信州 花子", null, null]);
    let refused =
        answer(json!({"status": "joined", "declared_quantity": 25.0, "contact": contact}));
    assert_refused_at(&refused.await, "/contact");
    // Nothing was written: the same answer with the contact as an object is the first.
    let contact = json!({"name": "信州 花子", "phone": "026-000-0000"});
    let first = answer(json!({"status": "joined", "contact": contact})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.body["version"], 1);

    let steps = json!({"pools": [{"code": "base", "weights": {"equal": 10_000},
        "total": {"kind": "schedule", "steps": [[10, 10_000_000], {"up_to": null, "amount": 14_000_000}]}}]});
    let refused = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_body(json!({"cost_model": steps})),
        )
        .await;
    assert_refused_at(&refused, "/cost_model/pools/0/total/steps/0");
    // The same written as objects is taken.
    let steps = json!({"pools": [{"code": "base", "weights": {"equal": 10_000},
        "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10_000_000}, {"up_to": null, "amount": 14_000_000}]}}]});
    let taken = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_body(json!({"cost_model": steps, "options": [], "documents": []})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
}

/// A 422 `invalid_body` that names the place `at`.
fn assert_refused_at(response: &Response, at: &str) {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text
    );
    assert_eq!(response.problem_code(), "invalid_body");
    assert!(response.text.contains(at), "{at}: {}", response.text);
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let response = app
        .send_raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            "text/plain",
            b"email=a".to_vec(),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.problem_code(), "unsupported_media_type");
}

#[actix_web::test]
async fn a_whole_number_written_with_a_zero_fraction_is_taken_and_a_fraction_is_not() {
    // JSON Schema counts 366.0 as an integer; so does the service.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = |days: &str| {
        format!(r#"{{"name": "夜間バッチ", "scope": "read_only", "expires_in_days": {days}}}"#)
    };
    let whole = app
        .send_raw(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            "application/json",
            body("30.0").into_bytes(),
        )
        .await;
    assert_eq!(whole.status, StatusCode::CREATED, "{}", whole.text);
    let fraction = app
        .send_raw(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            "application/json",
            body("30.5").into_bytes(),
        )
        .await;
    assert_eq!(fraction.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fraction.problem_code(), "invalid_body");
}

#[actix_web::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    let big =
        serde_json::to_vec(&json!({"email": "a@b.jp", "password": "x".repeat(4096)})).unwrap();
    let response = app
        .send_raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            "application/json",
            big,
        )
        .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.problem_code(), "payload_too_large");
}

#[actix_web::test]
async fn unknown_routes_are_404_and_known_paths_asked_with_another_method_405() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for (method, path) in [
        (Method::GET, "/api/v1/nothing-here"),
        (Method::GET, "/api/v1/"),
        (
            Method::GET,
            "/api/v1/rounds/r-1/participations/202011/nothing",
        ),
    ] {
        let response = app.request(method.clone(), path, Some(&token), None).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(response.problem_code(), "route_not_found");
    }
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/me", "GET, HEAD"),
        (Method::TRACE, "/health", "GET, HEAD"),
        (
            Method::PATCH,
            "/api/v1/rounds/r-1/participations/202011",
            "PUT, DELETE",
        ),
        (
            Method::GET,
            "/api/v1/rounds/r-1/participations:import",
            "POST",
        ),
    ] {
        let response = app.request(method.clone(), path, Some(&token), None).await;
        assert_eq!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.problem_code(), "method_not_allowed");
        assert_eq!(
            response.headers.get("allow").unwrap(),
            allow,
            "{method} {path}"
        );
    }
}

#[actix_web::test]
async fn a_bad_query_string_is_400() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for path in [
        "/api/v1/organizations?kind=metropolis",
        "/api/v1/organizations?page=abc",
    ] {
        let response = app.get(path, &token).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(response.problem_code(), "invalid_query");
    }
}

#[actix_web::test]
async fn validation_errors_list_every_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .post("/api/v1/users", Some(&token), json!({"email": "not-an-address", "display_name": "  ", "role": "viewer", "organization": "202011"}))
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.problem_code(), "validation_failed");
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "display_name"]);
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let ok = app.request(Method::GET, "/health", None, None).await;
    let failed = app.request(Method::GET, "/api/v1/me", None, None).await;
    for response in [ok, failed] {
        let id = response
            .headers
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

#[actix_web::test]
async fn a_failing_database_is_a_500_never_the_clients_mistake() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.break_table("organizations");
    // Looking up the lead organization fails; it is not an unknown organization.
    let response = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_body(json!({})),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        response.text
    );
    assert_eq!(response.problem_code(), "internal_error");
    assert!(
        !response.text.contains("organizations"),
        "the cause stays in the log: {}",
        response.text
    );
}
