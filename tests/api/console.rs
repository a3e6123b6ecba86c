//! The web console over real HTTP, as a browser without JavaScript uses it: cookies, forms and
//! redirects. (`tests/browser` drives the same pages in Chromium.)

use std::collections::BTreeMap;

use actix_web::http::{Method, StatusCode};
use serde_json::json;

use crate::allocations::{KAWAKAMI, NAGANO, open_round, put};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, USER_PASSWORD, spawn_app, spawn_app_with,
};
use crate::lifecycle::procurement_body;

/// A browser: its cookies, and the page it last loaded.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: awc::Client,
    cookies: BTreeMap<String, String>,
    /// `Set-Cookie` headers of the last answer, as sent.
    pub set_cookies: Vec<String>,
    pub page: String,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: awc::Client::builder().disable_redirects().finish(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
            page: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<String>) -> Page {
        let mut request = self.client.request(method, self.app.url(path));
        if !self.cookies.is_empty() {
            request = request.insert_header(("cookie", self.cookie_header()));
        }
        let response = match form {
            Some(body) => {
                request
                    .insert_header(("content-type", "application/x-www-form-urlencoded"))
                    .send_body(body)
                    .await
            }
            None => request.send().await,
        };
        let mut response = response.expect("the console answers");
        self.set_cookies = response
            .headers()
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &self.set_cookies {
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.body().limit(8 << 20).await.expect("a body");
        let body = String::from_utf8_lossy(&body).into_owned();
        if response.status() == StatusCode::OK {
            self.page.clone_from(&body);
        }
        Page {
            status: response.status(),
            location,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    /// The CSRF token of the last page's forms.
    pub fn csrf(&self) -> String {
        self.page
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form on the page")
            .to_owned()
    }

    /// Posts `fields` with the page's CSRF token, as its form would.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf();
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// Posts exactly `fields`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(Method::POST, path, Some(body)).await
    }

    /// Posts a `multipart/form-data` form, as a file upload does: the page's CSRF token, the
    /// text `fields`, and `file` as the part named `file`.
    pub async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: &[u8]) -> Page {
        let boundary = "kyodo-test-boundary";
        let mut body = Vec::new();
        let token = self.csrf();
        for (name, value) in
            std::iter::once(("_csrf", token.as_str())).chain(fields.iter().copied())
        {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"answers.csv\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(self.app.url(path))
            .insert_header(("cookie", self.cookie_header()))
            .insert_header((
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            ))
            .send_body(body)
            .await;
        let mut response = response.expect("the console answers");
        let body = response.body().limit(8 << 20).await.expect("a body");
        let body = String::from_utf8_lossy(&body).into_owned();
        if response.status() == StatusCode::OK {
            self.page.clone_from(&body);
        }
        Page {
            status: response.status(),
            location: None,
            body,
        }
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let signed_in = self
            .submit(
                "/login",
                &[("email", email), ("password", password), ("next", "/")],
            )
            .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        assert_eq!(signed_in.location.as_deref(), Some("/"));
    }

    pub fn has_session(&self) -> bool {
        self.cookies.contains_key("kyodo_session")
    }
}

/// A coordinator of `organization` with the tests' password; returns the e-mail address.
async fn coordinator(app: &TestApp, organization: &str) -> String {
    app.user("coordinator", organization).await.email
}

#[actix_web::test]
async fn signing_in_sets_a_private_session_cookie_and_signing_out_ends_it() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location.as_deref(), Some("/login?next=%2F"));

    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kyodo_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("長野県"), "{}", home.body);
    assert!(home.body.contains("<html lang=\"ja\">"));

    let out = browser.submit("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.has_session());
    assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn the_session_cookie_is_secure_behind_tls_and_a_stolen_cookie_dies_with_sign_out() {
    let app = spawn_app_with(|config| {
        config.public_base_url = Some("https://kyodo.example.lg.jp".parse().unwrap());
    })
    .await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        browser
            .set_cookies
            .iter()
            .any(|c| c.starts_with("kyodo_session=") && c.contains("Secure")),
        "{:?}",
        browser.set_cookies
    );
    // A copy of the cookie taken before signing out is worth nothing after.
    let mut thief = Browser::new(&app);
    thief.cookies = browser.cookies.clone();
    assert_eq!(thief.get("/").await.status, StatusCode::OK);
    browser.get("/").await;
    browser.submit("/logout", &[]).await;
    assert_eq!(thief.get("/").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn every_form_is_refused_without_its_csrf_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.get("/").await;
    let genuine = browser.csrf();
    // Another browser's token is no better than none.
    let mut other = Browser::new(&app);
    other.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    other.get("/").await;
    let foreign = other.csrf();
    assert_ne!(genuine, foreign);
    let forms = [
        "/login".to_owned(),
        "/logout".to_owned(),
        "/invitations/kyi_unknown".to_owned(),
        format!("/rounds/{round}/answer"),
        format!("/rounds/{round}/actions"),
        format!("/rounds/{round}/finalize"),
        "/procurements/any/questions".to_owned(),
        "/questions/any/answer".to_owned(),
        "/account/tokens".to_owned(),
        "/account/tokens/any/revoke".to_owned(),
        "/account/calendar".to_owned(),
        "/account/users".to_owned(),
        format!("/rounds/{round}/reminders"),
        "/procurements".to_owned(),
        "/procurements/any/edit".to_owned(),
        "/procurements/any/publish".to_owned(),
        "/procurements/any/rounds".to_owned(),
        "/admin/outbox/any/retry".to_owned(),
        // The answers upload is multipart: its token is checked in
        // `the_secretariat_fills_in_the_answers_sheet_uploads_it_and_reminds_the_rest`.
    ];
    for path in &forms {
        for token in ["", "forged", foreign.as_str()] {
            let refused = browser
                .post(
                    path,
                    &[("_csrf", token), ("action", "close"), ("status", "joined")],
                )
                .await;
            assert_eq!(
                refused.status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}"
            );
            assert!(
                refused.body.contains("csrf_failed"),
                "{path}: {}",
                refused.body
            );
        }
    }
    // Nothing happened: the round is still open, and still signed in.
    let round_now = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    assert_eq!(round_now.body["state"], "open");
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_coordinator_answers_and_the_estimate_falls_when_another_body_joins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let email = coordinator(&app, KAWAKAMI).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, USER_PASSWORD).await;

    let home = browser.get("/").await;
    assert!(
        home.body.contains(&format!("/rounds/{round}")),
        "{}",
        home.body
    );
    assert!(home.body.contains("未回答"));
    let page = browser.get(&format!("/rounds/{round}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("川上村の回答"), "{}", page.body);
    // The estimate is in the page as sent: it reads without JavaScript.
    assert!(page.body.contains("data-amount=\""), "{}", page.body);

    // A quantity that is not a number is shown beside its field, and nothing is written.
    let wrong = browser
        .submit(
            &format!("/rounds/{round}/answer"),
            &[
                ("status", "joined"),
                ("quantity", "many"),
                ("contact_email", "not-an-address"),
            ],
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains("id=\"declared_quantity-error\""),
        "{}",
        wrong.body
    );
    let answers = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(answers.body["counts"]["joined"], 0);

    let joined = browser
        .submit(
            &format!("/rounds/{round}/answer"),
            &[
                ("status", "joined"),
                ("options", "lgwan"),
                ("contact_name", "川上 花子"),
                ("contact_email", "dx@vill.kawakami.example.jp"),
            ],
        )
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
    let answers = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(answers.body["counts"]["joined"], 1, "{}", answers.text);
    assert_eq!(
        answers.body["items"][0]["selected_options"],
        json!(["lgwan"])
    );

    let amount = |page: &str| -> i64 {
        page.split("data-amount=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .expect("an amount")
    };
    let alone = amount(
        &browser
            .get(&format!("/rounds/{round}/estimate?options=lgwan"))
            .await
            .body,
    );
    let without_option = amount(&browser.get(&format!("/rounds/{round}/estimate")).await.body);
    assert!(without_option < alone, "{without_option} < {alone}");
    let nagano = put(
        &app,
        &admin,
        &round,
        NAGANO,
        json!({"status": "joined", "selected_options": ["lgwan"], "reason": "代理登録"}),
    )
    .await;
    assert_eq!(nagano.status, 201, "{}", nagano.text);
    let shared = amount(
        &browser
            .get(&format!("/rounds/{round}/estimate?options=lgwan"))
            .await
            .body,
    );
    assert!(shared < alone, "{shared} < {alone}");
}

#[actix_web::test]
async fn pages_refuse_what_the_api_refuses() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let draft = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_body(json!({"title": "下書きの調達"})),
        )
        .await;
    let draft = draft.body["id"].as_str().unwrap().to_owned();
    let email = coordinator(&app, KAWAKAMI).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, USER_PASSWORD).await;
    browser.get("/").await;

    let hidden = browser.get(&format!("/procurements/{draft}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert!(
        hidden.body.contains("procurement_not_found"),
        "{}",
        hidden.body
    );
    assert!(!browser.get("/").await.body.contains("下書きの調達"));
    for (path, fields) in [
        (
            format!("/rounds/{round}/actions"),
            vec![("action", "close")],
        ),
        (
            format!("/rounds/{round}/finalize"),
            vec![("total.base.2027", "1")],
        ),
    ] {
        let refused = browser.submit(&path, &fields).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.body
        );
        assert!(refused.body.contains("admin_only"), "{}", refused.body);
    }
    let viewer = app.user("viewer", KAWAKAMI).await;
    let mut looking = Browser::new(&app);
    looking.sign_in(&viewer.email, USER_PASSWORD).await;
    looking.get(&format!("/rounds/{round}")).await;
    let refused = looking
        .submit(&format!("/rounds/{round}/answer"), &[("status", "joined")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("role_forbidden"), "{}", refused.body);
    let answers = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(answers.body["counts"]["joined"], 0);
}

#[actix_web::test]
async fn the_secretariat_closes_finalizes_and_downloads_the_csv() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    for org in [NAGANO, KAWAKAMI] {
        let joined = put(
            &app,
            &admin,
            &round,
            org,
            json!({"status": "joined", "reason": "代理登録"}),
        )
        .await;
        assert_eq!(joined.status, 201, "{}", joined.text);
    }
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let dashboard = browser.get(&format!("/rounds/{round}")).await;
    assert!(
        dashboard.body.contains("未回答の団体"),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains("広域連合別"));
    let closed = browser
        .submit(&format!("/rounds/{round}/actions"), &[("action", "close")])
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.body);
    let dashboard = browser.get(&format!("/rounds/{round}")).await;
    assert!(
        dashboard.body.contains("負担額を確定"),
        "{}",
        dashboard.body
    );
    let mut fields = Vec::new();
    for year in ["2027", "2028", "2029"] {
        fields.push((format!("total.base.{year}"), "9,000,000".to_owned()));
    }
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let finalized = browser
        .submit(&format!("/rounds/{round}/finalize"), &fields)
        .await;
    assert_eq!(
        finalized.status,
        StatusCode::SEE_OTHER,
        "{}",
        finalized.body
    );
    let page = browser.get(&format!("/rounds/{round}")).await;
    assert!(
        page.body.contains("確定した負担額（第1版）"),
        "{}",
        page.body
    );
    assert!(page.body.contains("¥27,000,000"), "{}", page.body);
    let csv = browser
        .get(&format!("/rounds/{round}/allocation.csv"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.starts_with('\u{feff}'));
    assert!(csv.body.contains("長野市") && csv.body.contains("川上村"));
}

#[actix_web::test]
async fn an_invitation_link_sets_the_password_and_signs_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let invited = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "it@vill.example.jp", "display_name": "村 一人", "role": "coordinator", "organization": KAWAKAMI}),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let token = app.invitation_token("it@vill.example.jp");
    let mut browser = Browser::new(&app);
    let form = browser.get(&format!("/invitations/{token}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("it@vill.example.jp"));
    let weak = browser
        .submit(
            &format!("/invitations/{token}"),
            &[("password", "password")],
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.body
    );
    assert!(!browser.has_session());
    browser.get(&format!("/invitations/{token}")).await;
    let accepted = browser
        .submit(
            &format!("/invitations/{token}"),
            &[("password", USER_PASSWORD)],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    assert!(browser.has_session());
    assert!(browser.get("/").await.body.contains("川上村"));
    // The link works once.
    assert_eq!(
        Browser::new(&app)
            .get(&format!("/invitations/{token}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn signing_in_is_throttled_alike_for_unknown_and_known_accounts() {
    let app = spawn_app_with(|c| c.login_attempts_per_account = 3).await;
    for email in [ADMIN_EMAIL, "nobody@example.jp"] {
        let mut browser = Browser::new(&app);
        let mut last = None;
        for _ in 0..4 {
            browser.get("/login").await;
            last = Some(
                browser
                    .submit(
                        "/login",
                        &[("email", email), ("password", "wrong password here")],
                    )
                    .await,
            );
        }
        let last = last.expect("attempts");
        assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(last.body.contains("試行回数が多すぎます"));
        assert!(last.location.is_none());
    }
}

#[actix_web::test]
async fn api_tokens_are_shown_once_and_revoked_from_the_account_page() {
    let app = spawn_app().await;
    let email = coordinator(&app, KAWAKAMI).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, USER_PASSWORD).await;
    browser.get("/account").await;
    let created = browser
        .submit(
            "/account/tokens",
            &[
                ("name", "夜間同期"),
                ("scope", "read_only"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = created
        .body
        .split("id=\"new-token\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the new token")
        .to_owned();
    assert!(secret.starts_with("kyd_"));
    let me = app.get("/api/v1/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let again = browser.get("/account").await;
    assert!(!again.body.contains(&secret), "shown once");
    let session = app.login(&email, USER_PASSWORD).await;
    let access = session.body["access_token"].as_str().unwrap();
    let id = app.get("/api/v1/tokens", access).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = browser
        .submit(&format!("/account/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn the_secretariat_reads_the_outbox_and_the_audit_log_and_retries_a_failed_message() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let email = coordinator(&app, KAWAKAMI).await;
    let invitation = app.outbox("invitation", &email).remove(0);
    let mut conn = app.pool().get().unwrap();
    diesel::sql_query(format!(
        "UPDATE outbox SET state = 'failed', attempts = 10, last_error = '550 mailbox unavailable' WHERE id = '{}'",
        invitation.id
    ))
    .execute(&mut conn)
    .unwrap();

    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let failed = browser.get("/admin/outbox?state=failed").await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert!(
        failed.body.contains("550 mailbox unavailable"),
        "{}",
        failed.body
    );
    assert!(failed.body.contains(&email));
    let retried = browser
        .submit(&format!("/admin/outbox/{}/retry", invitation.id), &[])
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert!(
        !browser
            .get("/admin/outbox?state=failed")
            .await
            .body
            .contains(&email)
    );

    let log = browser.get("/admin/audit?entity_type=notification").await;
    assert!(log.body.contains("notification.retried"), "{}", log.body);
    assert!(
        !log.body.contains("<code>user.invited</code>"),
        "filtered to notifications"
    );
    let wrong = browser.get("/admin/audit?from=yesterday").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);

    let mut coordinator_browser = Browser::new(&app);
    coordinator_browser.sign_in(&email, USER_PASSWORD).await;
    for path in ["/admin/outbox", "/admin/audit"] {
        let refused = coordinator_browser.get(path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("admin_only"));
    }
}

#[actix_web::test]
async fn the_secretariat_writes_a_cost_model_in_the_form_and_runs_a_round() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let form = browser.get("/procurements/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let mut fields = vec![
        ("title", "電子申請システム"),
        ("summary", "オンライン申請の共同利用"),
        ("category", "residents"),
        ("lead_organization", "200000"),
        ("contract_start_fiscal_year", "2027"),
        ("contract_end_fiscal_year", "2028"),
        ("options", "lgwan | LGWAN接続 | 閉域網から利用"),
        (
            "documents",
            "仕様書 | https://www.pref.nagano.lg.jp/dx/spec.pdf",
        ),
        ("cost_model.pools[0].code", "base"),
        ("cost_model.pools[0].total.kind", "schedule"),
        (
            "cost_model.pools[0].total.steps",
            "10: 8,000,000\n*: 12,000,000",
        ),
        ("cost_model.pools[0].weights.equal", "20"),
        ("cost_model.pools[0].weights.population", "70"),
        (
            "cost_model.pools[0].population_transform.kind",
            "degressive",
        ),
        ("cost_model.pools[0].population_transform.exponent", "0.585"),
        ("cost_model.pools[1].code", "lgwan"),
        ("cost_model.pools[1].total.kind", "fixed"),
        ("cost_model.pools[1].total.amount", "1200000"),
        ("cost_model.pools[1].weights.equal", "100"),
    ];
    // 20 % + 70 % is not the whole: the model's rule speaks beside the weights.
    let refused = browser.submit("/procurements", &fields).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("id=\"cost_model.pools[0].weights-error\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("電子申請システム"),
        "the form keeps what was typed"
    );
    fields[12] = ("cost_model.pools[0].weights.population", "80");
    let created = browser.submit("/procurements", &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.expect("the new procurement");
    let id = location.trim_start_matches("/procurements/").to_owned();
    let admin = app.admin_token().await;
    let stored = app.get(&format!("/api/v1/procurements/{id}"), &admin).await;
    assert_eq!(stored.body["status"], "draft");
    assert_eq!(
        stored.body["cost_model"]["pools"][0]["weights"],
        json!({"equal": 2000, "population": 8000, "usage": 0})
    );
    assert_eq!(
        stored.body["cost_model"]["pools"][0]["total"]["steps"][1],
        json!({"up_to": null, "amount": 12000000})
    );

    // Edited through the same form, then published and given a round.
    let edit = browser.get(&format!("/procurements/{id}/edit")).await;
    assert!(edit.body.contains("10: 8000000"), "{}", edit.body);
    let published = browser
        .submit(&format!("/procurements/{id}/publish"), &[])
        .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    browser.get(&location).await;
    let now = app.clock_now() + chrono::Duration::hours(9);
    let opens = (now - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let closes = (now + chrono::Duration::days(7))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let round = browser
        .submit(
            &format!("/procurements/{id}/rounds"),
            &[
                ("kind", "commitment"),
                ("opens_at", &opens),
                ("closes_at", &closes),
                ("population_base_date", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(round.status, StatusCode::SEE_OTHER, "{}", round.body);
    let round_page = browser.get(round.location.as_deref().unwrap()).await;
    assert!(round_page.body.contains("受付中"), "{}", round_page.body);
}

#[actix_web::test]
async fn pages_run_only_their_own_scripts_and_signed_in_pages_are_not_stored() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let client = awc::Client::builder().disable_redirects().finish();
    let cookie = format!("kyodo_session={}", browser.cookies["kyodo_session"]);
    let page = client
        .get(app.url("/"))
        .insert_header(("cookie", cookie.as_str()))
        .send()
        .await
        .unwrap();
    let header = |response: &awc::ClientResponse<_>, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    // The stylesheet and scripts are the same for everyone: browsers keep them.
    for asset in [
        "console.css",
        "console.js",
        "htmx.min.js",
        "htmx-ext-sse.js",
    ] {
        let served = client
            .get(app.url(&format!("/assets/{asset}")))
            .insert_header(("cookie", cookie.as_str()))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), StatusCode::OK, "{asset}");
        assert_eq!(
            header(&served, "cache-control"),
            "public, max-age=86400",
            "{asset}"
        );
    }
    let missing = client
        .get(app.url("/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_secretariat_fills_in_the_answers_sheet_uploads_it_and_reminds_the_rest() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let village = coordinator(&app, KAWAKAMI).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let dashboard = browser.get(&format!("/rounds/{round}")).await;
    assert!(
        dashboard.body.contains("回答一覧をCSVでダウンロード"),
        "{}",
        dashboard.body
    );
    let sheet = browser.get(&format!("/rounds/{round}/answers.csv")).await;
    assert_eq!(sheet.status, StatusCode::OK);
    assert!(sheet.body.starts_with('\u{feff}'));
    let header = sheet
        .body
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let row = |code: &str, name: &str, answer: &str, options: &str| {
        format!("{code},{name},{answer},{options},,,,,,\r\n")
    };
    browser.get(&format!("/rounds/{round}")).await;
    // A body that does not exist, on line 3: listed with its line, and nothing written.
    let wrong = format!(
        "{header}\r\n{}{}",
        row("202011", "長野市", "参加", "lgwan"),
        row("999999", "架空村", "参加", "")
    );
    let refused = browser
        .upload(
            &format!("/rounds/{round}/answers"),
            &[("reason", "紙の調査票による代理登録")],
            wrong.as_bytes(),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("3行目"), "{}", refused.body);
    let answers = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(answers.body["counts"]["joined"], 0);

    let right = format!(
        "{header}\r\n{}{}",
        row("202011", "長野市", "参加", "lgwan"),
        row("202029", "松本市", "不参加", "")
    );
    let imported = browser
        .upload(
            &format!("/rounds/{round}/answers"),
            &[("reason", "紙の調査票による代理登録")],
            right.as_bytes(),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    assert!(
        imported.body.contains("参加 1、不参加 1"),
        "{}",
        imported.body
    );
    let answers = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(answers.body["counts"]["joined"], 1);
    assert_eq!(answers.body["counts"]["declined"], 1);
    let audit = app
        .get("/api/v1/audit-events?action=participation.joined", &admin)
        .await;
    assert_eq!(audit.body["items"][0]["reason"], "紙の調査票による代理登録");

    // Without its token the upload is refused like any other form.
    let mut forged = Browser::new(&app);
    forged.cookies = browser.cookies.clone();
    forged.page = "<input name=\"_csrf\" value=\"forged\">".to_owned();
    let refused = forged
        .upload(
            &format!("/rounds/{round}/answers"),
            &[("reason", "x")],
            right.as_bytes(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let reminded = browser
        .submit(&format!("/rounds/{round}/reminders"), &[])
        .await;
    assert_eq!(reminded.status, StatusCode::SEE_OTHER, "{}", reminded.body);
    let location = reminded.location.expect("back to the round");
    // Only bodies with someone to write to are reminded: here the village with its coordinator.
    assert!(location.ends_with("?reminded=1"), "{location}");
    assert!(
        browser
            .get(&location)
            .await
            .body
            .contains("1団体にリマインダーを送りました")
    );
    assert_eq!(app.outbox("reminder", &village).len(), 1);
}

#[actix_web::test]
async fn the_secretariat_extends_an_open_round_and_the_bodies_are_told() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let village = coordinator(&app, KAWAKAMI).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.get(&format!("/rounds/{round}")).await;
    let later = (app.clock_now() + chrono::Duration::days(20) + chrono::Duration::hours(9))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let wrong = browser
        .submit(
            &format!("/rounds/{round}/actions"),
            &[("action", "extend"), ("closes_at", "soon")],
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    let extended = browser
        .submit(
            &format!("/rounds/{round}/actions"),
            &[("action", "extend"), ("closes_at", &later)],
        )
        .await;
    assert_eq!(extended.status, StatusCode::SEE_OTHER, "{}", extended.body);
    let stored = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    let closes: chrono::DateTime<chrono::Utc> =
        stored.body["closes_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (closes + chrono::Duration::hours(9))
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        later
    );
    assert_eq!(app.outbox("deadline_extended", &village).len(), 1);
}

#[actix_web::test]
async fn a_coordinator_invites_a_colleague_of_their_body_and_a_viewer_cannot() {
    let app = spawn_app().await;
    let email = coordinator(&app, KAWAKAMI).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, USER_PASSWORD).await;
    let page = browser.get("/account").await;
    assert!(page.body.contains("招待メールを送る"), "{}", page.body);
    let invited = browser
        .submit(
            "/account/users",
            &[
                ("email", "colleague@vill.example.jp"),
                ("display_name", "同僚 次郎"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert!(
        invited
            .body
            .contains("colleague@vill.example.jp に招待メールを送りました")
    );
    assert_eq!(
        app.outbox("invitation", "colleague@vill.example.jp").len(),
        1
    );
    let refused = browser
        .submit(
            "/account/users",
            &[
                ("email", "boss@vill.example.jp"),
                ("display_name", "上司"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let again = browser.get("/account").await;
    assert!(again.status == StatusCode::OK);
    let duplicate = browser
        .submit(
            "/account/users",
            &[
                ("email", "colleague@vill.example.jp"),
                ("display_name", "同僚 次郎"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "{}", duplicate.body);

    let viewer = app.user("viewer", KAWAKAMI).await;
    let mut looking = Browser::new(&app);
    looking.sign_in(&viewer.email, USER_PASSWORD).await;
    let page = looking.get("/account").await;
    assert!(!page.body.contains("招待メールを送る"));
    let refused = looking
        .submit("/account/tokens", &[("name", "x"), ("scope", "read_only")])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::OK,
        "viewers may hold read-only tokens: {}",
        refused.body
    );
    let refused = looking
        .submit(
            "/account/users",
            &[
                ("email", "x@vill.example.jp"),
                ("display_name", "x"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("role_forbidden"));
}
