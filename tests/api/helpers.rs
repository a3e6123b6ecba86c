//! A real server on a random port with its own database: a SQLite file in a temporary directory,
//! or, when `TEST_DATABASE_URL` names a PostgreSQL server, a database created for this test.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header::HeaderMap};
use actix_web::web;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};
use tempfile::TempDir;

use kyodo::clock::ManualClock;
use kyodo::config::Config;
use kyodo::db::{self, DatabaseUrl, Pool};
use kyodo::notify::Dispatcher;
use kyodo::startup::Application;
use kyodo::state::AppState;

pub const ADMIN_EMAIL: &str = "dx@pref.nagano.lg.jp";
pub const ADMIN_PASSWORD: &str = "council secretariat passphrase";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const USER_PASSWORD: &str = "municipal passphrase 2026";

pub struct TestApp {
    pub port: u16,
    pub client: awc::Client,
    pub database_url: String,
    /// The time the service acts on: it stands still until a test moves it.
    pub clock: Arc<ManualClock>,
    pub state: web::Data<AppState>,
    /// Delivers the outbox by hand (the background dispatcher is off unless a test turns it on).
    pub dispatcher: Arc<Dispatcher>,
    pub data_dir: std::path::PathBuf,
    _data_dir: TempDir,
    /// Dropped (and the database with it) by the instance that created it.
    _database: Option<TestDatabase>,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The problem's `code`, after checking that the response is a problem document.
    #[track_caller]
    pub fn problem_code(&self) -> &str {
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "not a problem: {} {}",
            self.status,
            self.text
        );
        assert_eq!(self.body["status"], self.status.as_u16(), "{}", self.text);
        self.body["code"].as_str().unwrap_or("")
    }
}

/// A logged-in user of some organization.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub organization_id: String,
    pub token: String,
}

/// A procurement for `eligibility` with one fixed pool shared equally and one fiscal year, so that
/// finalizing it needs one total.
pub fn procurement_input(title: &str, eligibility: Value) -> Value {
    json!({
        "title": title,
        "category": "administration",
        "lead_organization": "200000",
        "eligibility": eligibility,
        "cost_model": {"pools": [{"code": "base", "total": {"kind": "fixed", "amount": 1_000_000}, "weights": {"equal": 10_000}}]},
        "contract_start_fiscal_year": 2027,
        "contract_end_fiscal_year": 2027,
    })
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let database = TestDatabase::create(&data_dir);
    let clock = Arc::new(ManualClock::new(kyodo::clock::utc_now()));
    start(
        data_dir,
        database.url.clone(),
        Some(database),
        clock,
        adjust,
    )
    .await
}

impl TestApp {
    /// Another instance of the service on the same database and clock, as behind a load balancer.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// `another_instance`, with its settings adjusted.
    pub async fn another_instance_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        start(
            data_dir,
            self.database_url.clone(),
            None,
            self.clock.clone(),
            adjust,
        )
        .await
    }

    /// One pass of the scheduler (which is off in tests unless a test turns it on).
    pub async fn tick(&self) -> usize {
        kyodo::scheduler::tick(&self.state)
            .await
            .expect("the scheduler runs")
    }
}

async fn start(
    data_dir: TempDir,
    database_url: String,
    database: Option<TestDatabase>,
    clock: Arc<ManualClock>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::defaults();
    config.database_url = Some(database_url.clone().into());
    config.scheduler_interval_seconds = 0;
    config.dispatch_interval_ms = 0;
    config.data_dir = data_dir.path().to_owned();
    config.bind_address = "127.0.0.1:0".parse().unwrap();
    config.database_pool_size = 4;
    config.jwt_secret = Some(JWT_SECRET.into());
    config.admin_email = Some(ADMIN_EMAIL.into());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.login_attempts_per_address = 10_000;
    config.login_attempts_per_account = 100;
    if std::env::var_os("TEST_LOG").is_some() {
        kyodo::telemetry::init("info", kyodo::config::LogFormat::Auto);
    }
    adjust(&mut config);
    let app = Application::build_with_clock(config, clock.clone())
        .await
        .expect("the service starts");
    let port = app.port();
    let state = app.state();
    let dispatcher = app.dispatcher();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    TestApp {
        port,
        client,
        database_url,
        clock,
        state,
        dispatcher,
        data_dir: data_dir.path().to_owned(),
        _data_dir: data_dir,
        _database: database,
    }
}

impl TestApp {
    /// What the service takes as now.
    pub fn clock_now(&self) -> chrono::NaiveDateTime {
        use kyodo::clock::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        };
        collect(response.expect("the request reaches the service")).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .insert_header(("content-type", content_type));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        collect(
            request
                .send_body(body)
                .await
                .expect("the request reaches the service"),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Sends and expects success (a set-up step); returns the body.
    pub async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let response = self.request(method.clone(), path, Some(token), body).await;
        assert!(
            response.status.is_success(),
            "setting up: {method} {path}: {} {}",
            response.status,
            response.text
        );
        response.body
    }

    /// A published procurement made of `input` (see `procurement_input`); its id.
    pub async fn published(&self, admin: &str, input: Value) -> String {
        let created = self
            .ok(Method::POST, "/api/v1/procurements", admin, Some(input))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/procurements/{id}/publish");
        self.ok(Method::POST, &path, admin, None).await;
        id
    }

    /// A commitment round of `procurement` opened an hour ago (by the service's clock), closing in
    /// ten days; its id.
    pub async fn open_round(&self, admin: &str, procurement: &str) -> String {
        let now = self.clock_now().and_utc();
        let body = json!({
            "kind": "commitment",
            "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(10)).to_rfc3339(),
            "population_base_date": "2020-01-01",
        });
        let path = format!("/api/v1/procurements/{procurement}/rounds");
        let round = self.ok(Method::POST, &path, admin, Some(body)).await;
        round["id"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn admin_token(&self) -> String {
        let response = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        response.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Invites a user of `organization` (id or code) with `role`, accepts, logs in.
    pub async fn user(&self, role: &str, organization: &str) -> TestUser {
        let admin = self.admin_token().await;
        let email = format!("{role}.{}@example.lg.jp", uuid::Uuid::new_v4().simple());
        let invited = self
            .post("/api/v1/users", Some(&admin), json!({"email": email, "display_name": "テスト 利用者", "role": role, "organization": organization}))
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
        let token = self.invitation_token(&email);
        let accepted = self
            .post(
                &format!("/api/v1/invitations/{token}/accept"),
                None,
                json!({"password": USER_PASSWORD}),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
        let login = self.login(&email, USER_PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.text);
        TestUser {
            id: invited.body["user"]["id"].as_str().unwrap().to_owned(),
            organization_id: invited.body["user"]["organization_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            email,
            token: login.body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// The one-time token of the latest invitation e-mailed to `email`, read from the outbox.
    pub fn invitation_token(&self, email: &str) -> String {
        let rows = self.outbox("invitation", email);
        let context: Value =
            serde_json::from_str(&rows.last().expect("an invitation was written").context).unwrap();
        let path = context["path"].as_str().unwrap();
        path.trim_start_matches("/invitations/").to_owned()
    }

    /// The messages about `event` written to `recipient`, oldest first.
    pub fn outbox(&self, event: &str, recipient: &str) -> Vec<kyodo::db::outbox::OutboxRow> {
        let filter = kyodo::db::outbox::OutboxFilter {
            event: Some(event.to_owned()),
            recipient: Some(recipient.to_owned()),
            ..Default::default()
        };
        let (mut rows, _) =
            kyodo::db::outbox::list(&mut self.pool().get().unwrap(), &filter, 0, 1000).unwrap();
        rows.reverse();
        rows
    }

    /// Every message in the outbox, oldest first.
    pub fn all_messages(&self) -> Vec<kyodo::db::outbox::OutboxRow> {
        let (mut rows, _) = kyodo::db::outbox::list(
            &mut self.pool().get().unwrap(),
            &Default::default(),
            0,
            100_000,
        )
        .unwrap();
        rows.reverse();
        rows
    }

    /// Whether the webhook relay has turned every committed change into deliveries. (On
    /// PostgreSQL the feed serves a change only once every older transaction of the server has
    /// ended, and tests in other databases run transactions too.)
    fn relay_caught_up(&self) -> bool {
        use diesel::prelude::*;
        use kyodo::db::schema::changes;
        let mut conn = self.pool().get().unwrap();
        let latest: Option<(i64, i64)> = changes::table
            .order((changes::txid.desc(), changes::seq.desc()))
            .select((changes::txid, changes::seq))
            .first(&mut *conn)
            .optional()
            .unwrap();
        let position = kyodo::db::webhooks::relay_position(&mut conn).unwrap();
        latest.is_none_or(|latest| (position.txid, position.seq) >= latest)
    }

    /// Runs the dispatcher until the outbox has nothing due and every change has been relayed.
    pub async fn deliver(&self) -> kyodo::notify::PassReport {
        let mut total = kyodo::notify::PassReport::default();
        for _ in 0..200 {
            if self.relay_caught_up() {
                break;
            }
            let report = self.dispatcher.pass().await.expect("the dispatcher runs");
            total.claimed += report.claimed;
            total.sent += report.sent;
            total.retried += report.retried;
            total.failed += report.failed;
            if !self.relay_caught_up() {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
        loop {
            let report = self.dispatcher.pass().await.expect("the dispatcher runs");
            total.claimed += report.claimed;
            total.sent += report.sent;
            total.retried += report.retried;
            total.failed += report.failed;
            if report.claimed == 0 {
                return total;
            }
        }
    }

    /// A pool on the test's database, for looking behind the API.
    pub fn pool(&self) -> Pool {
        db::connect_pool(&DatabaseUrl::parse(&self.database_url).unwrap(), 2).unwrap()
    }

    /// Renames `table` behind the service's back, so that every query of it fails: a database
    /// failure that no request can cause or fix.
    pub fn break_table(&self, table: &str) {
        diesel::sql_query(format!("ALTER TABLE {table} RENAME TO {table}_gone"))
            .execute(&mut *self.pool().get().unwrap())
            .expect("renaming a table");
    }
}

pub async fn collect<S>(mut response: awc::ClientResponse<S>) -> Response
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    let bytes = response
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .expect("a readable body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Response {
        status: response.status(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

struct TestDatabase {
    url: String,
    /// The server URL and database name to drop afterwards (PostgreSQL only).
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    fn create(dir: &TempDir) -> Self {
        // Before this process's first libpq connection, as the service does at start-up: OpenSSL
        // without its exit-time clean-up, which could crash the test process as it exits while
        // connection threads of the apps it started still run.
        openssl_sys::init();
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server) if server.starts_with("postgres") => {
                let name = format!("kyodo_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&server).expect("TEST_DATABASE_URL answers");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("creating a test database");
                let (base, _) = server
                    .rsplit_once('/')
                    .expect("TEST_DATABASE_URL names a database");
                Self {
                    url: format!("{base}/{name}"),
                    postgres: Some((server, name)),
                }
            }
            _ => Self {
                url: format!("sqlite://{}", dir.path().join("test.db").display()),
                postgres: None,
            },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(server)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Polls `check` until it holds; false when it still does not after five seconds. For what the
/// service notices in the background (a change made behind its back), never for timing.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return true;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
