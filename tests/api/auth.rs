use actix_web::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, TestApp, spawn_app, spawn_app_with};

#[actix_web::test]
async fn login_returns_tokens_that_identify_the_caller() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["token_type"], "Bearer");
    assert_eq!(login.body["expires_in"], 900);
    assert!(
        login.body["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("kyr_")
    );

    let me = app
        .get("/api/v1/me", login.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me.body["user"]["role"], "admin");
    assert_eq!(me.body["organization"]["lg_code"], "200000");
    assert_eq!(me.body["credential"]["kind"], "session");
}

#[actix_web::test]
async fn login_is_case_insensitive_in_the_email_only() {
    let app = spawn_app().await;
    assert_eq!(
        app.login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    let wrong_case = app.login(ADMIN_EMAIL, &ADMIN_PASSWORD.to_uppercase()).await;
    assert_eq!(wrong_case.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn wrong_password_and_unknown_account_fail_alike() {
    let app = spawn_app().await;
    let wrong = app.login(ADMIN_EMAIL, "not the password at all").await;
    let unknown = app.login("nobody@example.lg.jp", ADMIN_PASSWORD).await;
    for response in [&wrong, &unknown] {
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert_eq!(response.problem_code(), "invalid_login");
    }
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
}

#[actix_web::test]
async fn an_invited_user_cannot_log_in_before_accepting() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let invited = app
        .post("/api/v1/users", Some(&admin), json!({"email": "new@city.nagano.lg.jp", "display_name": "新人", "role": "viewer", "organization": "202011"}))
        .await;
    assert_eq!(invited.status, StatusCode::CREATED);
    let login = app.login("new@city.nagano.lg.jp", "").await;
    assert_eq!(login.problem_code(), "invalid_login");
}

fn claims(overrides: Value) -> Value {
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "sub": "someone", "org": "some-org", "role": "admin",
        "iss": "kyodo", "aud": "kyodo-api", "iat": now, "nbf": now, "exp": now + 600,
    });
    for (key, value) in overrides.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

fn sign(claims: &Value, secret: &str) -> String {
    sign_with(jsonwebtoken::Algorithm::HS256, claims, secret)
}

fn sign_with(algorithm: jsonwebtoken::Algorithm, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// `token` with its header replaced (its signature kept).
fn with_header(token: &str, header: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header))
}

async fn me_code(app: &TestApp, token: &str) -> (StatusCode, String) {
    let response = app.get("/api/v1/me", token).await;
    let code = if response.status == StatusCode::OK {
        String::new()
    } else {
        response.problem_code().to_owned()
    };
    (response.status, code)
}

#[actix_web::test]
async fn forged_expired_and_misaddressed_tokens_are_rejected() {
    let app = spawn_app().await;
    let real = app.admin_token().await;
    let payload = real.split('.').nth(1).unwrap();
    let now = Utc::now().timestamp();
    let me = app.get("/api/v1/me", &real).await.body;
    let user_id = me["user"]["id"].as_str().unwrap().to_owned();
    let org_id = me["organization"]["id"].as_str().unwrap().to_owned();

    let unsigned = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let mut tampered_payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    tampered_payload["role"] = json!("admin");
    tampered_payload["org"] = json!("another-org");
    let signature = real.rsplit('.').next().unwrap();
    let header = real.split('.').next().unwrap();
    let tampered = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(tampered_payload.to_string())
    );

    let cases = [
        (
            "wrong signature",
            sign(
                &claims(json!({})),
                "another-secret-another-secret-another-secret",
            ),
            "invalid_token",
        ),
        ("alg none", unsigned, "invalid_token"),
        ("tampered claims", tampered, "invalid_token"),
        (
            "expired",
            sign(
                &claims(json!({"exp": now - 60, "nbf": now - 1000, "iat": now - 1000})),
                JWT_SECRET,
            ),
            "token_expired",
        ),
        (
            "wrong audience",
            sign(&claims(json!({"aud": "another-api"})), JWT_SECRET),
            "invalid_token",
        ),
        (
            "wrong issuer",
            sign(&claims(json!({"iss": "someone-else"})), JWT_SECRET),
            "invalid_token",
        ),
        (
            "not yet valid",
            sign(&claims(json!({"nbf": now + 600})), JWT_SECRET),
            "invalid_token",
        ),
        ("garbage", "not-a-token".to_owned(), "invalid_token"),
        // Algorithm confusion: the right secret under another HMAC, and an HMAC signature
        // presented as RS256 (as if the secret were a public key); only HS256 is taken.
        (
            "HS512 with the real secret",
            sign_with(
                jsonwebtoken::Algorithm::HS512,
                &claims(json!({"sub": user_id, "org": org_id})),
                JWT_SECRET,
            ),
            "invalid_token",
        ),
        (
            "RS256 header over an HMAC signature",
            with_header(
                &sign(&claims(json!({"sub": user_id, "org": org_id})), JWT_SECRET),
                r#"{"alg":"RS256","typ":"JWT"}"#,
            ),
            "invalid_token",
        ),
    ];
    for (case, token, code) in cases {
        assert_eq!(
            me_code(&app, &token).await,
            (StatusCode::UNAUTHORIZED, code.to_owned()),
            "{case}"
        );
    }
    // Within the small leeway for clock differences, a just-expired token still works.
    let user = app.get("/api/v1/me", &real).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = app.get("/api/v1/me", &real).await.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let just_expired = sign(
        &claims(json!({"sub": user, "org": org, "exp": now - 1, "nbf": now - 100})),
        JWT_SECRET,
    );
    assert_eq!(me_code(&app, &just_expired).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn requests_without_credentials_are_told_what_to_send() {
    let app = spawn_app().await;
    let none = app
        .request(actix_web::http::Method::GET, "/api/v1/me", None, None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.problem_code(), "missing_credentials");
    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .insert_header(("authorization", "Basic YWRtaW46YWRtaW4="))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

async fn refresh(app: &TestApp, token: &str) -> crate::helpers::Response {
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

#[actix_web::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_login() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let first = login.body["refresh_token"].as_str().unwrap().to_owned();

    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        app.get("/api/v1/me", rotated.body["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );

    // Someone replays the first token: it is refused and the legitimate successor dies with it.
    let replay = refresh(&app, &first).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.problem_code(), "refresh_token_reused");
    assert_eq!(
        refresh(&app, &second).await.problem_code(),
        "refresh_token_reused"
    );

    // Another login is a separate family and is unaffected.
    let other = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        refresh(&app, other.body["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        refresh(&app, "kyr_unknown").await.problem_code(),
        "invalid_refresh_token"
    );
}

#[actix_web::test]
async fn concurrent_use_of_one_refresh_token_succeeds_at_most_once() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = login.body["refresh_token"].as_str().unwrap().to_owned();
    let attempts = futures_util::future::join_all((0..6).map(|_| refresh(&app, &token))).await;
    let succeeded = attempts
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(succeeded, 1, "exactly one of the concurrent refreshes wins");
    assert!(
        attempts
            .iter()
            .filter(|r| r.status != StatusCode::OK)
            .all(|r| r.problem_code() == "refresh_token_reused")
    );
}

#[actix_web::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = login.body["refresh_token"].as_str().unwrap();
    let logout = app
        .post("/api/v1/auth/logout", None, json!({"refresh_token": token}))
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, token).await.status, StatusCode::UNAUTHORIZED);
    // Logging out twice is harmless.
    assert_eq!(
        app.post("/api/v1/auth/logout", None, json!({"refresh_token": token}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[actix_web::test]
async fn login_attempts_are_throttled_per_account() {
    let app = spawn_app_with(|c| c.login_attempts_per_account = 3).await;
    for _ in 0..3 {
        assert_eq!(
            app.login(ADMIN_EMAIL, "wrong password here").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.problem_code(), "too_many_requests");
    let retry_after: u64 = throttled
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Another account from the same address is not affected.
    assert_eq!(
        app.login("someone@example.lg.jp", "whatever password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn login_attempts_are_throttled_per_address() {
    let app = spawn_app_with(|c| c.login_attempts_per_address = 4).await;
    for i in 0..4 {
        let response = app
            .login(
                &format!("user{i}@example.lg.jp"),
                "a password of some length",
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.contains_key("retry-after"));
}

async fn login_forwarded_for(app: &TestApp, email: &str, forwarded_for: &str) -> StatusCode {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .insert_header(("x-forwarded-for", forwarded_for))
        .send_json(&json!({"email": email, "password": "a password of some length"}))
        .await
        .expect("the request reaches the service");
    response.status()
}

#[actix_web::test]
async fn the_address_throttled_is_the_one_the_trusted_proxy_appended() {
    let app = spawn_app_with(|c| {
        c.trust_forwarded_for = true;
        c.login_attempts_per_address = 30;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..45 {
        let email = format!("user{i}@example.lg.jp");
        let chain = format!("198.51.100.{i}, 203.0.113.7");
        statuses.push(login_forwarded_for(&app, &email, &chain).await);
    }
    assert_eq!(statuses[..30], [StatusCode::UNAUTHORIZED; 30]);
    // The quota refills by one every two seconds, so a slow run lets a few more through.
    let throttled = statuses[30..]
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(throttled >= 10, "{statuses:?}");
    // Another client behind the same proxy is not affected.
    assert_eq!(
        login_forwarded_for(&app, "other@example.lg.jp", "198.51.100.1, 203.0.113.8").await,
        StatusCode::UNAUTHORIZED
    );

    let two_proxies = spawn_app_with(|c| {
        c.trust_forwarded_for = true;
        c.trusted_proxy_hops = 2;
        c.login_attempts_per_address = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let email = format!("user{i}@example.lg.jp");
        let chain = format!("198.51.100.{i}, 203.0.113.7, 192.0.2.{i}");
        statuses.push(login_forwarded_for(&two_proxies, &email, &chain).await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}
