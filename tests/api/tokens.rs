//! API tokens for scripts: created with a session, shown once, scoped, revocable, expiring.

use actix_web::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use kyodo::db::schema::api_tokens;

use crate::helpers::{Response, TestApp, eventually, procurement_input, spawn_app};

/// A created token: its id and its secret.
struct ApiToken {
    id: String,
    secret: String,
}

async fn create(app: &TestApp, session: &str, name: &str, scope: &str) -> ApiToken {
    let response = app
        .post(
            "/api/v1/tokens",
            Some(session),
            json!({"name": name, "scope": scope}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    ApiToken {
        id: response.body["id"].as_str().unwrap().to_owned(),
        secret: response.body["token"].as_str().unwrap().to_owned(),
    }
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Response {
    app.request(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(token),
        None,
    )
    .await
}

#[track_caller]
fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.problem_code(), code, "{}", response.text);
}

#[track_caller]
fn invalid_fields(response: &Response) -> Vec<&str> {
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

fn datetime(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .expect("a timestamp")
        .parse()
        .expect("an RFC 3339 timestamp")
}

const PATCH_CONTACTS: &str = "/api/v1/organizations/202011";

fn contacts_update() -> Value {
    json!({"contacts": [{"name": "信州 太郎", "email": "dx@city.nagano.lg.jp"}]})
}

// --- creating and listing -----------------------------------------------------------------------

#[actix_web::test]
async fn a_token_is_shown_once_and_listed_without_its_secret() {
    let app = spawn_app().await;
    let session = app.admin_token().await;

    let before = Utc::now();
    let reader = app
        .post(
            "/api/v1/tokens",
            Some(&session),
            json!({"name": "nightly export", "scope": "read_only"}),
        )
        .await;
    assert_eq!(reader.status, StatusCode::CREATED, "{}", reader.text);
    let reader_secret = reader.body["token"].as_str().unwrap();
    assert!(reader_secret.starts_with("kyd_"), "{reader_secret}");
    assert_eq!(reader.body["name"], "nightly export");
    assert_eq!(reader.body["scope"], "read_only");
    assert_eq!(reader.body["revoked_at"], Value::Null);
    // 90 days unless asked otherwise.
    let expires = datetime(&reader.body["expires_at"]);
    assert!(
        expires > before + Duration::days(90) - Duration::minutes(1),
        "{expires}"
    );
    assert!(
        expires < Utc::now() + Duration::days(90) + Duration::minutes(1),
        "{expires}"
    );

    let writer = app
        .post(
            "/api/v1/tokens",
            Some(&session),
            json!({"name": "participation sync", "scope": "read_write", "expires_in_days": 7}),
        )
        .await;
    assert_eq!(writer.status, StatusCode::CREATED, "{}", writer.text);
    let writer_secret = writer.body["token"].as_str().unwrap();
    assert!(writer_secret.starts_with("kyd_"), "{writer_secret}");
    assert_ne!(reader_secret, writer_secret);
    assert_eq!(writer.body["scope"], "read_write");
    let expires = datetime(&writer.body["expires_at"]);
    assert!(
        expires < Utc::now() + Duration::days(7) + Duration::minutes(1),
        "{expires}"
    );
    assert!(
        expires > before + Duration::days(7) - Duration::minutes(1),
        "{expires}"
    );

    let listed = app.get("/api/v1/tokens", &session).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let tokens = listed.body.as_array().expect("an array of tokens");
    // Newest first.
    let ids: Vec<&Value> = tokens.iter().map(|t| &t["id"]).collect();
    assert_eq!(ids, [&writer.body["id"], &reader.body["id"]]);
    for (entry, created) in tokens.iter().zip([&writer.body, &reader.body]) {
        for key in ["id", "name", "scope"] {
            assert_eq!(entry[key], created[key], "{key}");
        }
        // The database may keep timestamps to the microsecond only.
        for key in ["expires_at", "created_at"] {
            let difference = datetime(&entry[key]) - datetime(&created[key]);
            assert!(
                difference.abs() < Duration::milliseconds(1),
                "{key}: {entry} {created}"
            );
        }
        assert!(entry.get("token").is_none(), "{entry}");
    }
    // Neither secret, nor the random part of it, appears anywhere.
    for secret in [reader_secret, writer_secret] {
        assert!(!listed.text.contains(secret));
        assert!(!listed.text.contains(&secret[4..]));
    }
}

#[actix_web::test]
async fn each_user_lists_only_their_own_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let coordinator = app.user("coordinator", "202011").await;
    create(&app, &admin, "admin's script", "read_write").await;
    let mine = create(&app, &coordinator.token, "my script", "read_only").await;

    let listed = app.get("/api/v1/tokens", &coordinator.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.id.as_str()]);
}

#[actix_web::test]
async fn a_lifetime_outside_one_to_366_days_is_rejected() {
    let app = spawn_app().await;
    let session = app.admin_token().await;
    for days in [0, -1, 367] {
        let response = app
            .post(
                "/api/v1/tokens",
                Some(&session),
                json!({"name": "script", "scope": "read_only", "expires_in_days": days}),
            )
            .await;
        assert_eq!(invalid_fields(&response), ["expires_in_days"], "{days}");
    }
    for days in [1, 366] {
        let response = app
            .post(
                "/api/v1/tokens",
                Some(&session),
                json!({"name": "script", "scope": "read_only", "expires_in_days": days}),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{days}: {}",
            response.text
        );
    }
    // None of the refused requests created a token.
    assert_eq!(
        app.get("/api/v1/tokens", &session)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[actix_web::test]
async fn a_token_needs_a_name() {
    let app = spawn_app().await;
    let session = app.admin_token().await;
    for name in ["", "   ", &"x".repeat(101)] {
        let response = app
            .post(
                "/api/v1/tokens",
                Some(&session),
                json!({"name": name, "scope": "read_only"}),
            )
            .await;
        assert_eq!(invalid_fields(&response), ["name"], "{name:?}");
    }
    let both = app
        .post(
            "/api/v1/tokens",
            Some(&session),
            json!({"name": " ", "scope": "read_only", "expires_in_days": 0}),
        )
        .await;
    assert_eq!(invalid_fields(&both), ["name", "expires_in_days"]);
}

// --- using --------------------------------------------------------------------------------------

#[actix_web::test]
async fn me_tells_that_an_api_token_is_in_use_and_its_scope() {
    let app = spawn_app().await;
    let coordinator = app.user("coordinator", "202011").await;
    let token = create(&app, &coordinator.token, "reader", "read_only").await;

    let me = app.get("/api/v1/me", &token.secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(
        me.body["credential"],
        json!({"kind": "api_token", "id": token.id, "scope": "read_only"})
    );
    assert_eq!(me.body["user"]["email"], coordinator.email);
    assert_eq!(me.body["user"]["id"], coordinator.id);
    assert_eq!(me.body["user"]["role"], "coordinator");
    assert_eq!(me.body["organization"]["lg_code"], "202011");

    let writer = create(&app, &coordinator.token, "writer", "read_write").await;
    let me = app.get("/api/v1/me", &writer.secret).await;
    assert_eq!(me.body["credential"]["kind"], "api_token");
    assert_eq!(me.body["credential"]["scope"], "read_write");
}

#[actix_web::test]
async fn a_read_only_token_may_read_but_not_write() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let token = create(&app, &admin, "reader", "read_only").await;

    for path in [
        "/api/v1/organizations",
        "/api/v1/organizations/202011",
        "/api/v1/users",
    ] {
        let response = app.get(path, &token.secret).await;
        assert_eq!(response.status, StatusCode::OK, "{path}: {}", response.text);
    }

    let invite = app
        .post("/api/v1/users", Some(&token.secret), json!({"email": "x@city.nagano.lg.jp", "display_name": "x", "role": "viewer", "organization": "202011"}))
        .await;
    assert_problem(&invite, StatusCode::FORBIDDEN, "read_only_token");
    let update = app
        .patch(PATCH_CONTACTS, &token.secret, contacts_update())
        .await;
    assert_problem(&update, StatusCode::FORBIDDEN, "read_only_token");

    // Nothing was written.
    assert_eq!(app.get("/api/v1/users", &admin).await.body["total"], 1);
    assert_eq!(
        app.get(PATCH_CONTACTS, &admin).await.body["contacts"],
        json!([])
    );
}

#[actix_web::test]
async fn a_read_write_admin_token_may_write() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let token = create(&app, &admin, "writer", "read_write").await;

    let update = app
        .patch(PATCH_CONTACTS, &token.secret, contacts_update())
        .await;
    assert_eq!(update.status, StatusCode::OK, "{}", update.text);
    assert_eq!(update.body["contacts"][0]["name"], "信州 太郎");
}

/// A leaked read-write token must not mint an account that outlives it: inviting (and with it
/// choosing anyone's role) needs a password login, as managing tokens does.
#[actix_web::test]
async fn a_leaked_token_cannot_invite_an_account_that_outlives_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let coordinator = app.user("coordinator", "202011").await;
    for (session, role) in [(&admin, "admin"), (&coordinator.token, "viewer")] {
        let leaked = create(&app, session, "leaked", "read_write").await;
        let email = format!("attacker.{role}@example.com");
        let invite = app
            .post(
                "/api/v1/users",
                Some(&leaked.secret),
                json!({"email": email, "display_name": "x", "role": role}),
            )
            .await;
        assert_problem(&invite, StatusCode::FORBIDDEN, "session_required");
        assert!(invite.body.get("invitation_token").is_none());
    }
    let users = app.get("/api/v1/users?per_page=200", &admin).await;
    let emails: Vec<&str> = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert!(
        !emails.iter().any(|e| e.starts_with("attacker")),
        "{emails:?}"
    );
}

#[actix_web::test]
async fn a_token_acts_with_its_owners_role() {
    let app = spawn_app().await;
    let coordinator = app.user("coordinator", "202011").await;
    let token = create(&app, &coordinator.token, "writer", "read_write").await;

    let update = app
        .patch(PATCH_CONTACTS, &token.secret, contacts_update())
        .await;
    assert_problem(&update, StatusCode::FORBIDDEN, "admin_only");

    // What the coordinator may do, the token may do: answer for the own body, not for another.
    let own = app
        .get("/api/v1/users?organization=202011", &token.secret)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(
        own.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["organization_id"] == coordinator.organization_id.as_str())
    );
    let other = app
        .get("/api/v1/users?organization=202029", &token.secret)
        .await;
    assert_problem(&other, StatusCode::FORBIDDEN, "not_your_organization");
}

#[actix_web::test]
async fn api_tokens_cannot_manage_api_tokens() {
    let app = spawn_app().await;
    let session = app.admin_token().await;
    let writer = create(&app, &session, "writer", "read_write").await;
    let reader = create(&app, &session, "reader", "read_only").await;

    let list = app.get("/api/v1/tokens", &writer.secret).await;
    assert_problem(&list, StatusCode::FORBIDDEN, "session_required");
    let list = app.get("/api/v1/tokens", &reader.secret).await;
    assert_problem(&list, StatusCode::FORBIDDEN, "session_required");
    let mint = app
        .post(
            "/api/v1/tokens",
            Some(&writer.secret),
            json!({"name": "another", "scope": "read_write"}),
        )
        .await;
    assert_problem(&mint, StatusCode::FORBIDDEN, "session_required");
    let revoke = delete(&app, &writer.secret, &reader.id).await;
    assert_problem(&revoke, StatusCode::FORBIDDEN, "session_required");

    // Neither a token was minted nor one revoked.
    let listed = app.get("/api/v1/tokens", &session).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/api/v1/me", &reader.secret).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn an_unknown_api_token_is_invalid() {
    let app = spawn_app().await;
    let response = app
        .get("/api/v1/me", "kyd_this-token-was-never-issued")
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_token");
}

/// The procurement list, a round's answers and a registration look an API token up on their own
/// trip to the database (`auth::identity::Caller`): there too a valid token acts with its owner's
/// role, a read-only token cannot write, and an unknown or revoked one is refused, writing nothing.
#[actix_web::test]
async fn the_lists_and_the_registration_check_an_api_token_on_their_own_trip() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let procurement = app
        .published(&admin, procurement_input("トークン確認", json!({})))
        .await;
    let round = app.open_round(&admin, &procurement).await;
    let coordinator = app.user("coordinator", "202011").await;
    let writer = create(&app, &coordinator.token, "writer", "read_write").await;
    let reader = create(&app, &coordinator.token, "reader", "read_only").await;
    let answers = format!("/api/v1/rounds/{round}/participations");
    let own = format!("{answers}/202011");
    let put = |token: String, path: String| {
        let app = &app;
        async move {
            app.request(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({"status": "joined"})),
            )
            .await
        }
    };

    for token in [&writer.secret, &reader.secret] {
        let listed = app.get("/api/v1/procurements", token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        assert_eq!(listed.body["items"][0]["id"], procurement.as_str());
        let roll = app.get(&answers, token).await;
        assert_eq!(roll.status, StatusCode::OK, "{}", roll.text);
    }
    assert_problem(
        &put(reader.secret.clone(), own.clone()).await,
        StatusCode::FORBIDDEN,
        "read_only_token",
    );
    // The owner is a coordinator of 長野市: another body's answer is not theirs to give.
    assert_problem(
        &put(writer.secret.clone(), format!("{answers}/202029")).await,
        StatusCode::FORBIDDEN,
        "not_your_organization",
    );
    assert_problem(
        &put("kyd_this-token-was-never-issued".to_owned(), own.clone()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(app.get(&answers, &admin).await.body["items"], json!([]));

    // A missing round or body is looked up again to say which, after the token.
    let nowhere_list = "/api/v1/rounds/00000000-0000-7000-8000-000000000000/participations";
    assert_problem(
        &app.get(nowhere_list, "kyd_this-token-was-never-issued")
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_problem(
        &app.get(nowhere_list, &reader.secret).await,
        StatusCode::NOT_FOUND,
        "round_not_found",
    );
    let nowhere = format!("{nowhere_list}/202011");
    assert_problem(
        &put(
            "kyd_this-token-was-never-issued".to_owned(),
            nowhere.to_owned(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_problem(
        &put(writer.secret.clone(), nowhere).await,
        StatusCode::NOT_FOUND,
        "round_not_found",
    );
    assert_problem(
        &put(
            writer.secret.clone(),
            format!("{answers}/00000000-0000-7000-8000-000000000000"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "organization_not_found",
    );

    let first = put(writer.secret.clone(), own.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.body["organization_name"], "長野市");
    let second = put(writer.secret.clone(), own.clone()).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["version"], 2);

    let revoked = delete(&app, &coordinator.token, &writer.id).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    for path in ["/api/v1/procurements", answers.as_str()] {
        assert_problem(
            &app.get(path, &writer.secret).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        );
    }
    assert_problem(
        &put(writer.secret.clone(), own.clone()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    let items = app.get(&answers, &admin).await.body["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1));
    assert_eq!(items[0]["version"], 2);
}

#[actix_web::test]
async fn the_procurement_list_for_an_api_token_shows_drafts_to_administrators_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let published = app
        .published(&admin, procurement_input("公開済み", json!({})))
        .await;
    let draft = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_input("下書き", json!({})),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.text);
    let coordinator = app.user("coordinator", "202011").await;
    let admins = create(&app, &admin, "admin script", "read_only").await;
    let coordinators = create(&app, &coordinator.token, "script", "read_only").await;
    // The ids a list answered with; any other answer fails the test.
    let ids = |listed: &Response| -> Vec<String> {
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        let items = listed.body["items"].as_array().expect("a list of items");
        items
            .iter()
            .map(|item| item["id"].as_str().expect("an id").to_owned())
            .collect()
    };

    let by_admin = app.get("/api/v1/procurements", &admins.secret).await;
    assert_eq!(
        ids(&by_admin),
        [draft.body["id"].as_str().unwrap(), &published]
    );
    let by_coordinator = app.get("/api/v1/procurements", &coordinators.secret).await;
    assert_eq!(ids(&by_coordinator), [published.as_str()]);
    // Asking for drafts by name shows a coordinator's token none.
    let drafts = "/api/v1/procurements?status=draft";
    assert_eq!(
        ids(&app.get(drafts, &coordinators.secret).await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&app.get(drafts, &admins.secret).await).len(), 1);
    // A filter that admits nothing still checks the token.
    let nothing = "/api/v1/procurements?category=disaster";
    assert_eq!(
        ids(&app.get(nothing, &coordinators.secret).await),
        Vec::<String>::new()
    );
    assert_problem(
        &app.get(nothing, "kyd_this-token-was-never-issued").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

// --- revoking and expiry ------------------------------------------------------------------------

#[actix_web::test]
async fn a_revoked_token_stops_working() {
    let app = spawn_app().await;
    let coordinator = app.user("coordinator", "202011").await;
    let token = create(&app, &coordinator.token, "script", "read_write").await;
    let other = create(&app, &coordinator.token, "another script", "read_only").await;
    assert_eq!(
        app.get("/api/v1/me", &token.secret).await.status,
        StatusCode::OK
    );

    let revoked = delete(&app, &coordinator.token, &token.id).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    assert_problem(
        &app.get("/api/v1/me", &token.secret).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_problem(
        &app.get("/api/v1/organizations", &token.secret).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // The list shows when it was revoked; the other token is untouched.
    let listed = app.get("/api/v1/tokens", &coordinator.token).await;
    let entry = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token.id.as_str())
        .unwrap();
    assert!(datetime(&entry["revoked_at"]) <= Utc::now() + Duration::seconds(5));
    assert_eq!(
        app.get("/api/v1/me", &other.secret).await.status,
        StatusCode::OK
    );

    // Revoking again is harmless; an unknown id is not found.
    assert_eq!(
        delete(&app, &coordinator.token, &token.id).await.status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &delete(&app, &coordinator.token, "no-such-token").await,
        StatusCode::NOT_FOUND,
        "token_not_found",
    );
}

#[actix_web::test]
async fn only_the_owner_or_an_admin_may_revoke_a_token() {
    let app = spawn_app().await;
    let owner = app.user("viewer", "202011").await;
    let token = create(&app, &owner.token, "script", "read_only").await;

    // A coordinator of the same body and a user of another body are told nothing about it.
    for other in [
        app.user("coordinator", "202011").await,
        app.user("coordinator", "202029").await,
    ] {
        let response = delete(&app, &other.token, &token.id).await;
        assert_problem(&response, StatusCode::NOT_FOUND, "token_not_found");
        assert_eq!(
            app.get("/api/v1/me", &token.secret).await.status,
            StatusCode::OK
        );
    }

    let admin = app.admin_token().await;
    assert_eq!(
        delete(&app, &admin, &token.id).await.status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &app.get("/api/v1/me", &token.secret).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[actix_web::test]
async fn an_expired_token_is_invalid() {
    let app = spawn_app().await;
    let session = app.admin_token().await;
    let token = create(&app, &session, "short-lived", "read_write").await;
    let other = create(&app, &session, "long-lived", "read_write").await;
    assert_eq!(
        app.get("/api/v1/me", &token.secret).await.status,
        StatusCode::OK
    );

    let pool = app.pool();
    let updated = diesel::update(api_tokens::table.find(&token.id))
        .set(api_tokens::expires_at.eq(Utc::now().naive_utc() - Duration::minutes(1)))
        .execute(&mut *pool.get().unwrap())
        .unwrap();
    assert_eq!(updated, 1);

    // Changed behind the service's back: its cache watcher notices within milliseconds.
    assert!(
        eventually(|| async {
            app.get("/api/v1/me", &token.secret).await.status == StatusCode::UNAUTHORIZED
        })
        .await
    );
    assert_problem(
        &app.get("/api/v1/me", &token.secret).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(
        app.get("/api/v1/me", &other.secret).await.status,
        StatusCode::OK
    );
}
