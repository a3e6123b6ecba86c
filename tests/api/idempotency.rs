//! `Idempotency-Key`: a retry gets the first answer instead of a second change; the key commits
//! with the change it answers; operations on credentials take no key, so no secret is stored.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Response, TestApp, collect, eventually, spawn_app,
};
use crate::lifecycle::{procurement_body, published_procurement, round};

async fn send_with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    key: &str,
    body: &Value,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .insert_header(("idempotency-key", key));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    collect(request.send_json(body).await.unwrap()).await
}

async fn post_with_key(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> Response {
    send_with_key(app, Method::POST, path, Some(token), key, body).await
}

#[track_caller]
fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header: {} {}", response.status, response.text))
}

fn is_replay(response: &Response) -> bool {
    response.headers.contains_key("idempotent-replayed")
}

#[actix_web::test]
async fn a_retried_request_with_the_same_key_returns_the_first_response() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = procurement_body(json!({}));
    let first = post_with_key(
        &app,
        &admin,
        "/api/v1/procurements",
        "create-chatbot-1",
        &body,
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let id = first.body["id"].as_str().unwrap();
    assert_eq!(
        header(&first, "location"),
        format!("/api/v1/procurements/{id}")
    );
    assert_eq!(header(&first, "etag"), "\"1\"");
    let retry = post_with_key(
        &app,
        &admin,
        "/api/v1/procurements",
        "create-chatbot-1",
        &body,
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body, first.body);
    assert_eq!(header(&retry, "idempotent-replayed"), "true");
    assert_eq!(header(&retry, "location"), header(&first, "location"));
    assert_eq!(header(&retry, "etag"), header(&first, "etag"));
    assert_eq!(
        app.get("/api/v1/procurements", &admin).await.body["total"],
        1,
        "one procurement, not two"
    );

    let other_body = procurement_body(json!({"title": "別の案件"}));
    let misuse = post_with_key(
        &app,
        &admin,
        "/api/v1/procurements",
        "create-chatbot-1",
        &other_body,
    )
    .await;
    assert_eq!(misuse.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(misuse.problem_code(), "idempotency_key_reused");

    // A refusal is not stored: the retry is judged afresh, and refused for the same reason.
    let invalid = procurement_body(json!({"contract_end_fiscal_year": 1999}));
    let refused = post_with_key(
        &app,
        &admin,
        "/api/v1/procurements",
        "create-invalid",
        &invalid,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let refused_again = post_with_key(
        &app,
        &admin,
        "/api/v1/procurements",
        "create-invalid",
        &invalid,
    )
    .await;
    assert_eq!(
        (refused_again.status, refused_again.problem_code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(!refused_again.headers.contains_key("idempotent-replayed"));
    assert_eq!(
        app.get("/api/v1/procurements", &admin).await.body["total"],
        1
    );
}

#[actix_web::test]
async fn keys_belong_to_their_user() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let ask = json!({"question": "LGWANから利用できますか。"});
    let path = format!("/api/v1/procurements/{id}/questions");
    let mine = post_with_key(&app, &nagano.token, &path, "q-1", &ask).await;
    let matsumoto = app.user("coordinator", "202029").await;
    let theirs = post_with_key(&app, &matsumoto.token, &path, "q-1", &ask).await;
    assert_eq!(
        (mine.status, theirs.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(mine.body["id"], theirs.body["id"]);
}

#[actix_web::test]
async fn a_refused_write_leaves_its_key_free_for_the_retry() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::days(1), Duration::days(3)).await;
    let round_id = round["id"].as_str().unwrap();
    let path = format!("/api/v1/rounds/{round_id}/participations/202011");
    let joined = json!({"status": "joined"});
    let put = || {
        send_with_key(
            &app,
            Method::PUT,
            &path,
            Some(&nagano.token),
            "join-1",
            &joined,
        )
    };

    let early = put().await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.problem_code(), "round_not_open");
    let opened = app
        .post(
            &format!("/api/v1/rounds/{round_id}/open"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.text);

    let accepted = put().await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
    assert!(!is_replay(&accepted), "the refusal was stored and replayed");
    assert_eq!(
        header(&accepted, "location"),
        format!(
            "/api/v1/rounds/{round_id}/participations/{}",
            nagano.organization_id
        )
    );
    let replayed = put().await;
    assert_eq!(replayed.status, StatusCode::CREATED, "{}", replayed.text);
    assert!(is_replay(&replayed));
    assert_eq!(replayed.body, accepted.body);
    assert_eq!(header(&replayed, "location"), header(&accepted, "location"));
}

/// The client gives up while its write waits for the database, as a client does whose connection
/// drops or whose server restarts: the write still commits, with its answer, and the retry gets
/// that answer instead of finding the key stuck "in progress".
#[actix_web::test]
async fn a_write_whose_client_gave_up_commits_with_its_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = procurement_body(json!({}));
    let pool = app.pool();
    let mut blocker = pool.get().unwrap();
    let (hold, release) = if app.database_url.starts_with("postgres") {
        (
            "BEGIN; LOCK TABLE idempotency_keys IN EXCLUSIVE MODE",
            "COMMIT",
        )
    } else {
        ("BEGIN IMMEDIATE", "COMMIT")
    };
    blocker.batch_execute(hold).unwrap();
    let impatient = awc::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .finish();
    let gave_up = impatient
        .post(app.url("/api/v1/procurements"))
        .bearer_auth(&admin)
        .insert_header(("idempotency-key", "create-while-busy"))
        .send_json(&body)
        .await;
    assert!(gave_up.is_err(), "the write did not wait for the lock");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    blocker.batch_execute(release).unwrap();
    let stored = || async {
        use kyodo::db::schema::idempotency_keys::dsl::*;
        let mut conn = pool.get().unwrap();
        idempotency_keys
            .count()
            .get_result::<i64>(&mut *conn)
            .unwrap()
            == 1
    };
    assert!(
        eventually(stored).await,
        "the abandoned write never committed"
    );

    let retry = post_with_key(
        &app,
        &admin,
        "/api/v1/procurements",
        "create-while-busy",
        &body,
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
    assert!(is_replay(&retry), "the write ran twice");
    let id = retry.body["id"].as_str().unwrap();
    assert_eq!(
        header(&retry, "location"),
        format!("/api/v1/procurements/{id}")
    );
    assert_eq!(header(&retry, "etag"), "\"1\"");
    assert_eq!(
        app.get("/api/v1/procurements", &admin).await.body["total"],
        1
    );
}

#[actix_web::test]
async fn duplicates_sent_at_once_wait_for_the_first_and_get_its_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = procurement_body(json!({}));
    let answers = join_all(
        (0..8).map(|_| post_with_key(&app, &admin, "/api/v1/procurements", "rush-1", &body)),
    )
    .await;
    let statuses: Vec<_> = answers.iter().map(|a| (a.status, a.text.clone())).collect();
    assert!(
        answers.iter().all(|a| a.status == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(answers.iter().filter(|a| !is_replay(a)).count(), 1);
    let ids: BTreeSet<_> = answers.iter().map(|a| a.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.get("/api/v1/procurements", &admin).await.body["total"],
        1
    );
}

/// What a client gets back from the operations the document says take no key.
#[actix_web::test]
async fn operations_take_a_key_exactly_when_the_document_lists_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let document = serde_json::to_value(kyodo::openapi::document()).unwrap();
    let mut keyed = BTreeSet::new();
    let mut refused = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let lists_key = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header");
            let operation = format!("{} {path}", method.to_uppercase());
            if lists_key {
                keyed.insert(operation);
            } else if method == "post" || method == "put" {
                refused.push(operation);
            }
        }
    }
    let expected: BTreeSet<String> = [
        "POST /api/v1/procurements",
        "POST /api/v1/procurements/{id}/publish",
        "POST /api/v1/procurements/{id}/cancel",
        "POST /api/v1/procurements/{id}/rounds",
        "POST /api/v1/procurements/{id}/questions",
        "POST /api/v1/questions/{id}/answer",
        "POST /api/v1/rounds/{id}/open",
        "POST /api/v1/rounds/{id}/close",
        "POST /api/v1/rounds/{id}/reopen",
        "POST /api/v1/rounds/{id}/cancel",
        "POST /api/v1/rounds/{id}/finalize",
        "POST /api/v1/rounds/{id}/allocations",
        "POST /api/v1/rounds/{id}/reminders",
        "POST /api/v1/rounds/{id}/participations:import",
        "PUT /api/v1/rounds/{id}/participations/{org}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keyed, expected);
    for operation in [
        "POST /api/v1/tokens",
        "POST /api/v1/users",
        "POST /api/v1/auth/refresh",
    ] {
        assert!(refused.iter().any(|r| r == operation), "{operation}");
    }

    let mut accepted = Vec::new();
    for operation in &refused {
        let (method, template) = operation.split_once(' ').unwrap();
        let path = template.replace("{token}", "kyi_unknown");
        let response = send_with_key(
            &app,
            method.parse().unwrap(),
            &path,
            Some(&admin),
            "any-key",
            &json!({}),
        )
        .await;
        if (response.status, response.problem_code())
            != (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_not_accepted",
            )
        {
            accepted.push(format!(
                "{operation}: {} {}",
                response.status, response.text
            ));
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
}

/// Reuse detection holds with a key: a spent refresh token sent again is never answered with a
/// stored pair.
#[actix_web::test]
async fn a_spent_refresh_token_cannot_be_replayed_past_reuse_detection() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let spent = login.body["refresh_token"].as_str().unwrap();
    let refresh = json!({"refresh_token": spent});

    let keyed = send_with_key(
        &app,
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        "refresh-1",
        &refresh,
    )
    .await;
    assert_eq!(
        keyed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        keyed.text
    );
    assert_eq!(keyed.problem_code(), "idempotency_key_not_accepted");
    // Refused before anything ran: the token is still unspent.
    let rotated = app
        .post("/api/v1/auth/refresh", None, refresh.clone())
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);

    let again = send_with_key(
        &app,
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        "refresh-1",
        &refresh,
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.text
    );
    let reused = app.post("/api/v1/auth/refresh", None, refresh).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.text);
    assert_eq!(reused.problem_code(), "refresh_token_reused");
    let descendant = json!({"refresh_token": rotated.body["refresh_token"]});
    let revoked = app.post("/api/v1/auth/refresh", None, descendant).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED, "{}", revoked.text);
}

#[actix_web::test]
async fn no_answer_carrying_a_secret_is_stored_under_a_key() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = login.body["access_token"].as_str().unwrap();
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let requests = [
        (
            "/api/v1/tokens",
            Some(admin),
            json!({"name": "sync", "scope": "read_write"}),
        ),
        (
            "/api/v1/users",
            Some(admin),
            json!({"email": "dx@city.nagano.lg.jp", "display_name": "信州 太郎", "role": "coordinator", "organization": "202011"}),
        ),
        (
            "/api/v1/auth/refresh",
            Some(admin),
            json!({"refresh_token": refresh}),
        ),
        (
            "/api/v1/auth/login",
            Some(admin),
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        ),
    ];
    let mut answers = Vec::new();
    for (path, token, body) in requests {
        answers.push(send_with_key(&app, Method::POST, path, token, "secret-1", &body).await);
    }

    let stored: Vec<Option<String>> = {
        use kyodo::db::schema::idempotency_keys::dsl::*;
        let mut conn = app.pool().get().unwrap();
        idempotency_keys
            .select(response_body)
            .load(&mut *conn)
            .unwrap()
    };
    assert_eq!(
        stored,
        Vec::<Option<String>>::new(),
        "answers stored under a key"
    );
    for answer in &answers {
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.text
        );
        assert_eq!(answer.problem_code(), "idempotency_key_not_accepted");
        assert!(!answer.text.contains("kyd_") && !answer.text.contains("kyr_"));
    }
}
