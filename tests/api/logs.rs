//! The log as an operator's shipper reads it: the real binary, its standard output piped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, Response, TestApp, collect, spawn_app,
};

/// The service as a separate process on the test's database, its output collected line by line.
pub struct LoggedService {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
    _data_dir: TempDir,
}

impl LoggedService {
    /// Starts the binary with the environment of a plain deployment: no `LOG_FORMAT`, so the
    /// format follows standard output, which is a pipe here.
    pub fn start(app: &TestApp) -> Self {
        Self::start_with(app, "info")
    }

    /// As `start`, logging at `level` (`debug` logs the most).
    fn start_with(app: &TestApp, level: &str) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kyodo"))
            .env_clear()
            .env("DATABASE_URL", &app.database_url)
            .env("DATA_DIR", data_dir.path())
            .env("JWT_SECRET", JWT_SECRET)
            .env("BIND_ADDRESS", "127.0.0.1:0")
            .env("DATABASE_POOL_SIZE", "2")
            .env("SCHEDULER_INTERVAL_SECONDS", "0")
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the service binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut service = Self {
            child,
            lines,
            port: 0,
            _data_dir: data_dir,
        };
        let serving = service.wait_for(|line| line["fields"]["message"] == "serving");
        service.port = serving["fields"]["port"]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .expect("the port it serves on");
        service
    }

    /// Every line so far, each of which must be a JSON object.
    fn log(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }

    fn wait_for(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.iter().find(|line| wanted(line)) {
                return line.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the line never came; the log: {log:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn get(&self, app: &TestApp, path: &str, token: &str) -> Response {
        let response = app
            .client
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(token)
            .send()
            .await
            .expect("the request reaches the service");
        collect(response).await
    }

    async fn post(&self, app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut request = app
            .client
            .post(format!("http://127.0.0.1:{}{path}", self.port));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send_json(&body)
            .await
            .expect("the request reaches the service");
        collect(response).await
    }

    /// The invitation token in the e-mail this instance wrote for `address`.
    fn invitation_for(&self, address: &str) -> String {
        let started = Instant::now();
        loop {
            let outbox = self._data_dir.path().join("outbox");
            for entry in std::fs::read_dir(&outbox).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if let Some(at) = text
                    .find("invitations/kyi_")
                    .filter(|_| text.contains(address))
                {
                    let token: String = text[at + "invitations/".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    return token;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no invitation for {address}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl LoggedService {
    /// The address of `path` on this instance.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Kills the process outright (SIGKILL), as the kernel's OOM killer or a lost host would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LoggedService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request_id(response: &Response) -> String {
    response
        .headers
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn in_request(line: &Value, request_id: &str) -> bool {
    line["span"]["request_id"] == request_id
}

/// What the database says when the table is gone, on SQLite or on PostgreSQL.
fn names_the_missing_table(line: &Value) -> bool {
    let text = line.to_string();
    text.contains("organizations")
        && (text.contains("no such table") || text.contains("does not exist"))
}

#[actix_web::test]
async fn an_unexpected_failure_is_logged_once_in_its_request_with_its_cause() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let service = LoggedService::start(&app);
    app.break_table("organizations");

    let failed = service
        .get(&app, "/api/v1/organizations/202011", &admin)
        .await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        failed.text
    );
    let failed_id = request_id(&failed);
    // Its line comes before the next request's: once that one is logged, the failure's are all in.
    let next_id = request_id(&service.get(&app, "/health", &admin).await);
    service.wait_for(|line| in_request(line, &next_id));

    let log = service.log();
    let failure: Vec<&Value> = log
        .iter()
        .filter(|line| in_request(line, &failed_id))
        .collect();
    assert_eq!(failure.len(), 1, "one line for the request: {failure:#?}");
    let line = failure[0];
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["fields"]["status"], 500, "{line}");
    assert!(names_the_missing_table(line), "the cause is logged: {line}");
    let mentions: Vec<&Value> = log
        .iter()
        .filter(|line| names_the_missing_table(line))
        .collect();
    assert_eq!(mentions.len(), 1, "the cause is logged once: {mentions:#?}");
}

#[actix_web::test]
async fn no_log_line_carries_a_password_a_token_or_the_database_address() {
    let app = spawn_app().await;
    let service = LoggedService::start_with(&app, "debug");
    let login = service
        .post(
            &app,
            "/api/v1/auth/login",
            None,
            serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    let wrong = "a wrong passphrase for the log test";
    service
        .post(
            &app,
            "/api/v1/auth/login",
            None,
            serde_json::json!({"email": ADMIN_EMAIL, "password": wrong}),
        )
        .await;
    let refreshed = service
        .post(
            &app,
            "/api/v1/auth/refresh",
            None,
            serde_json::json!({"refresh_token": refresh}),
        )
        .await;
    let new_refresh = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    let api_token = service
        .post(
            &app,
            "/api/v1/tokens",
            Some(&access),
            serde_json::json!({"name": "ログ試験", "scope": "read_only"}),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    service.get(&app, "/api/v1/me", &api_token).await;
    let invited = "logs@city.nagano.lg.jp";
    let invitation = service
        .post(&app, "/api/v1/users", Some(&access), serde_json::json!({"email": invited, "display_name": "記録 試験", "role": "coordinator", "organization": "202011"}))
        .await;
    assert_eq!(
        invitation.status,
        StatusCode::CREATED,
        "{}",
        invitation.text
    );
    let invitation_token = service.invitation_for(invited);
    let chosen = "a coordinator's own passphrase 2026";
    let accepted = service
        .post(
            &app,
            &format!("/api/v1/invitations/{invitation_token}/accept"),
            None,
            serde_json::json!({"password": chosen}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let calendar = service
        .post(
            &app,
            "/api/v1/me/calendar",
            Some(&access),
            serde_json::json!({}),
        )
        .await;
    let calendar_url = calendar.body["url"].as_str().unwrap_or_default().to_owned();
    let calendar_token = calendar_url
        .rsplit('/')
        .next()
        .and_then(|last| last.strip_suffix(".ics"))
        .unwrap_or_default()
        .to_owned();
    assert!(calendar_token.starts_with("kydcal_"), "{calendar_url}");
    service
        .get(&app, &format!("/api/v1/calendar/{calendar_token}.ics"), "")
        .await;
    // A wrong token and a forged one are logged as failures, not as themselves.
    service
        .get(&app, "/api/v1/me", "kyd_not-a-real-token-0123456789")
        .await;
    let last = request_id(&service.get(&app, "/health", &access).await);
    service.wait_for(|line| in_request(line, &last));

    let secrets = [
        ("the administrator's password", ADMIN_PASSWORD.to_owned()),
        ("a wrong password", wrong.to_owned()),
        ("an invited user's password", chosen.to_owned()),
        ("an access token", access.clone()),
        (
            "an access token's signature",
            access.rsplit('.').next().unwrap().to_owned(),
        ),
        ("a refresh token", refresh),
        ("a rotated refresh token", new_refresh),
        ("an API token", api_token),
        ("an invitation token", invitation_token),
        ("a calendar token", calendar_token),
        (
            "a forged API token",
            "kyd_not-a-real-token-0123456789".to_owned(),
        ),
        ("the signing secret", JWT_SECRET.to_owned()),
        ("the database address", app.database_url.clone()),
    ];
    let log = service.lines.lock().unwrap().clone();
    assert!(log.len() > 10, "the run was logged: {log:#?}");
    for line in &log {
        for (what, secret) in &secrets {
            assert!(!line.contains(secret.as_str()), "{what} in the log: {line}");
        }
    }
}
