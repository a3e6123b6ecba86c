//! Holes found when the service was attacked from outside, one test each: accounts, invitations,
//! input sizes, text and paging. (Authorization order is in `authorization.rs`, token-minting in
//! `tokens.rs`.)

use actix_web::http::{Method, StatusCode};
use chrono::Duration;
use diesel::prelude::*;
use serde_json::{Value, json};

use kyodo::db::schema::{participation_history, participations, users};

use crate::helpers::{Response, TestApp, USER_PASSWORD, spawn_app, spawn_app_with};
use crate::lifecycle::{published_procurement, round};

#[track_caller]
fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.problem_code(), code, "{}", response.text);
}

fn field_codes(response: &Response) -> Vec<(String, String)> {
    response.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                    (text("field"), text("code"))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn invite(app: &TestApp, token: &str, email: &str, organization: &str) -> Response {
    app.post(
        "/api/v1/users",
        Some(token),
        json!({"email": email, "display_name": "信州 太郎", "role": "viewer", "organization": organization}),
    )
    .await
}

async fn accept(app: &TestApp, token: &str, password: &str) -> Response {
    app.post(
        &format!("/api/v1/invitations/{token}/accept"),
        None,
        json!({"password": password}),
    )
    .await
}

/// Point 4: an invitation token is looked up before any password is hashed, and guessing tokens
/// is throttled per client address like guessing passwords.
#[actix_web::test]
async fn guessing_invitation_tokens_is_throttled_and_looked_up_first() {
    let app = spawn_app_with(|config| config.login_attempts_per_address = 3).await;
    // An unknown token is 404 whatever the password: nothing was hashed to find that out.
    let bogus = accept(&app, "kyi_guess", "short").await;
    assert_problem(&bogus, StatusCode::NOT_FOUND, "invitation_not_found");
    for _ in 0..2 {
        let bogus = accept(&app, "kyi_guess", USER_PASSWORD).await;
        assert_problem(&bogus, StatusCode::NOT_FOUND, "invitation_not_found");
    }
    let throttled = accept(&app, "kyi_guess", USER_PASSWORD).await;
    assert_problem(
        &throttled,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    assert!(throttled.headers.contains_key("retry-after"));
}

/// Point 5: a coordinator cannot learn whether an address has an account in another body.
#[actix_web::test]
async fn inviting_an_address_that_has_an_account_elsewhere_looks_like_any_invitation() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let elsewhere = app.user("coordinator", "202029").await;
    let coordinator = app.user("coordinator", "202011").await;

    let fresh = invite(
        &app,
        &coordinator.token,
        "new.person@example.lg.jp",
        "202011",
    )
    .await;
    let taken = invite(&app, &coordinator.token, &elsewhere.email, "202011").await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.text);
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
    let keys = |r: &Response| {
        let mut keys: Vec<String> = r.body.as_object().unwrap().keys().cloned().collect();
        keys.extend(r.body["user"].as_object().unwrap().keys().cloned());
        keys
    };
    assert_eq!(keys(&fresh), keys(&taken));
    assert_eq!(taken.body["user"]["active"], false);
    assert!(!taken.text.contains(&elsewhere.id), "{}", taken.text);

    // Nothing changed for the existing account: no second invitation was e-mailed to it, and it
    // still logs in.
    assert_eq!(app.outbox("invitation", &elsewhere.email).len(), 1);
    assert_eq!(app.login(&elsewhere.email, USER_PASSWORD).await.status, 200);
    let stored: i64 = users::table
        .filter(users::email.eq(&elsewhere.email))
        .count()
        .get_result(&mut app.pool().get().unwrap())
        .unwrap();
    assert_eq!(stored, 1);

    // Who may see the account anyway is told plainly.
    let same_body = invite(&app, &coordinator.token, &coordinator.email, "202011").await;
    assert_problem(&same_body, StatusCode::CONFLICT, "email_taken");
    let by_admin = invite(&app, &admin, &elsewhere.email, "202011").await;
    assert_problem(&by_admin, StatusCode::CONFLICT, "email_taken");
    // And administrators see the attempt in the audit log.
    let audit = app
        .get(
            "/api/v1/audit-events?action=user.invitation_not_sent",
            &admin,
        )
        .await;
    assert_eq!(audit.body["total"], 1, "{}", audit.text);
}

async fn open_round(app: &TestApp, admin: &str) -> String {
    let procurement = published_procurement(app, admin, json!({})).await;
    let round = round(
        app,
        admin,
        &procurement,
        -Duration::hours(1),
        Duration::days(7),
    )
    .await;
    round["id"].as_str().unwrap().to_owned()
}

/// Point 6: options are checked against the procurement, once each, and every array is capped.
#[actix_web::test]
async fn selected_options_must_be_offered_distinct_and_few() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let coordinator = app.user("coordinator", "202011").await;
    let round = open_round(&app, &admin).await;
    let path = format!("/api/v1/rounds/{round}/participations/202011");
    let put = |body: Value| app.request(Method::PUT, &path, Some(&coordinator.token), Some(body));

    let repeated = put(json!({"status": "joined", "selected_options": ["lgwan", "lgwan"]})).await;
    assert_problem(
        &repeated,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        field_codes(&repeated),
        [("selected_options".to_owned(), "duplicate".to_owned())]
    );
    let flood = put(json!({"status": "joined", "selected_options": vec!["lgwan"; 25_000]})).await;
    assert_problem(
        &flood,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        field_codes(&flood).contains(&("selected_options".to_owned(), "too_many".to_owned())),
        "{}",
        flood.text
    );
    let unknown = put(json!({"status": "joined", "selected_options": ["cloud"]})).await;
    assert_problem(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let mut conn = app.pool().get().unwrap();
    let rows: i64 = participations::table.count().get_result(&mut conn).unwrap();
    let history: i64 = participation_history::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((rows, history), (0, 0));

    let fine = put(json!({"status": "joined", "selected_options": ["voice", "lgwan"]})).await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.text);

    // The procurement's own lists are capped too.
    let options: Vec<Value> = (0..21)
        .map(|i| json!({"code": format!("o{i}"), "name": "オプション"}))
        .collect();
    let too_many = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            crate::lifecycle::procurement_body(json!({"options": options})),
        )
        .await;
    assert_problem(
        &too_many,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        field_codes(&too_many).contains(&("options".to_owned(), "too_many".to_owned())),
        "{}",
        too_many.text
    );
}

/// Point 7: a page number whose offset does not fit is refused, not wrapped to the first page.
#[actix_web::test]
async fn a_page_beyond_the_last_possible_one_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for list in [
        "/api/v1/users",
        "/api/v1/organizations",
        "/api/v1/audit-events",
    ] {
        let path = format!("{list}?page=9223372036854775807");
        let response = app.get(&path, &admin).await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            field_codes(&response),
            [("page".to_owned(), "out_of_range".to_owned())],
            "{list}"
        );
        // The last page the document allows is simply empty.
        let last = format!("{list}?page={}&per_page=200", kyodo::routes::MAX_PAGE);
        let response = app.get(&last, &admin).await;
        assert_eq!(response.status, StatusCode::OK, "{list}: {}", response.text);
        assert_eq!(response.body["items"], json!([]), "{list}");
    }
}

/// Point 8: long but guessable passwords are refused, and the answer says why.
#[actix_web::test]
async fn long_but_guessable_passwords_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    invite(&app, &admin, "weak.password@example.lg.jp", "202011").await;
    let token = &app.invitation_token("weak.password@example.lg.jp");
    for weak in [
        "            ",
        "aaaaaaaaaaaa",
        "123456789012",
        "password1234",
        "weak.password@example.lg.jp",
    ] {
        let refused = accept(&app, token, weak).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            field_codes(&refused),
            [("password".to_owned(), "weak_password".to_owned())],
            "{weak:?}"
        );
        let message = refused.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("the password is too easy to guess: "),
            "{message}"
        );
    }
    // The invitation is still good for a strong one.
    assert_eq!(
        accept(&app, token, USER_PASSWORD).await.status,
        StatusCode::OK
    );
}

/// Point 9: text is stored in NFC, and control or direction-changing characters are refused in
/// every text field.
#[actix_web::test]
async fn names_are_normalized_and_control_characters_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let spoof = invite_named(
        &app,
        &admin,
        "spoof@example.lg.jp",
        "\u{202e}evil\u{0000}name",
    )
    .await;
    assert_problem(
        &spoof,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        field_codes(&spoof),
        [("display_name".to_owned(), "invalid_characters".to_owned())]
    );
    let decomposed = invite_named(
        &app,
        &admin,
        "nfc@example.lg.jp",
        "\u{304B}\u{3099}くと 太郎",
    )
    .await;
    assert_eq!(
        decomposed.status,
        StatusCode::CREATED,
        "{}",
        decomposed.text
    );
    assert_eq!(decomposed.body["user"]["display_name"], "がくと 太郎");

    let round = open_round(&app, &admin).await;
    let path = format!("/api/v1/rounds/{round}/participations/202011");
    for body in [
        json!({"status": "joined", "note": "nul\u{0000}"}),
        json!({"status": "joined", "contact": {"name": "\u{2067}担当"}}),
        json!({"status": "joined", "reason": "bidi\u{202d}"}),
    ] {
        let refused = app
            .request(Method::PUT, &path, Some(&admin), Some(body.clone()))
            .await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            field_codes(&refused)[0].1,
            "invalid_characters",
            "{body}: {}",
            refused.text
        );
    }
    let title = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            crate::lifecycle::procurement_body(json!({"title": "AI\u{202e}チャット"})),
        )
        .await;
    assert!(
        field_codes(&title).contains(&("title".to_owned(), "invalid_characters".to_owned())),
        "{}",
        title.text
    );
}

async fn invite_named(app: &TestApp, token: &str, email: &str, name: &str) -> Response {
    app.post(
        "/api/v1/users",
        Some(token),
        json!({"email": email, "display_name": name, "role": "viewer", "organization": "202011"}),
    )
    .await
}

/// Mass assignment (OWASP API3): no body field lets a coordinator give itself a role, act for
/// another body, or set a state, status or id the service decides; each such field is refused by
/// name, and nothing changes.
#[actix_web::test]
async fn no_body_field_sets_what_the_service_decides() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let matsumoto = app.user("coordinator", "202029").await;
    let round_id = open_round(&app, &admin).await;
    let procurement = app
        .get(&format!("/api/v1/rounds/{round_id}"), &admin)
        .await
        .body["procurement_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me_before = app.get("/api/v1/me", &nagano.token).await.body;

    let attempts: Vec<(Method, String, Value)> = vec![
        (
            Method::PUT,
            format!("/api/v1/rounds/{round_id}/participations/202011"),
            json!({"status": "joined", "organization_id": matsumoto.organization_id}),
        ),
        (
            Method::PUT,
            format!("/api/v1/rounds/{round_id}/participations/202011"),
            json!({"status": "joined", "state": "binding", "version": 99}),
        ),
        (
            Method::POST,
            "/api/v1/tokens".to_owned(),
            json!({"name": "昇格", "scope": "read_write", "role": "admin"}),
        ),
        (
            Method::POST,
            format!("/api/v1/procurements/{procurement}/questions"),
            json!({"question": "自分で回答できますか", "answer": "はい", "answered_by": nagano.id}),
        ),
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            json!({"email": "new@city.nagano.lg.jp", "display_name": "新人", "role": "viewer", "organization_id": matsumoto.organization_id, "status": "active"}),
        ),
        (
            Method::POST,
            "/api/v1/webhooks".to_owned(),
            json!({"url": "https://hooks.example.jp/k", "events": ["*"], "organization_id": matsumoto.organization_id, "disabled_at": null}),
        ),
    ];
    for (method, path, body) in attempts {
        let response = app
            .request(
                method.clone(),
                &path,
                Some(&nagano.token),
                Some(body.clone()),
            )
            .await;
        assert_problem(&response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
        assert!(
            response.text.contains("unknown field"),
            "{method} {path}: the field is named: {}",
            response.text
        );
    }

    // Fields that exist but name what the caller may not choose are refused for what they say.
    let admin_role = app
        .post(
            "/api/v1/users",
            Some(&nagano.token),
            json!({"email": "boss@city.nagano.lg.jp", "display_name": "上司", "role": "admin"}),
        )
        .await;
    assert!(
        matches!(
            admin_role.status,
            StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{}",
        admin_role.text
    );
    let other_body = app
        .post("/api/v1/users", Some(&nagano.token), json!({"email": "x@city.matsumoto.lg.jp", "display_name": "他団体", "role": "viewer", "organization": "202029"}))
        .await;
    assert_eq!(
        other_body.status,
        StatusCode::FORBIDDEN,
        "{}",
        other_body.text
    );
    let other_answer = app
        .request(
            Method::PUT,
            &format!("/api/v1/rounds/{round_id}/participations/202029"),
            Some(&nagano.token),
            Some(json!({"status": "joined"})),
        )
        .await;
    assert_eq!(
        other_answer.status,
        StatusCode::FORBIDDEN,
        "{}",
        other_answer.text
    );

    // Nothing changed: the caller, the round's answers, the tokens.
    assert_eq!(app.get("/api/v1/me", &nagano.token).await.body, me_before);
    let answers = app
        .get(&format!("/api/v1/rounds/{round_id}/participations"), &admin)
        .await;
    assert_eq!(answers.body["items"], json!([]), "{}", answers.text);
    let tokens = app.get("/api/v1/tokens", &nagano.token).await;
    assert_eq!(tokens.body, json!([]), "{}", tokens.text);
    let users = app.get("/api/v1/users?organization=202011", &admin).await;
    assert_eq!(users.body["total"], 1, "{}", users.text);
}
