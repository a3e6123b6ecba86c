//! The log as an operator's shipper reads it: the real binary, its standard output piped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{JWT_SECRET, Response, TestApp, collect, spawn_app};

/// The service as a separate process on the test's database, its output collected line by line.
struct LoggedService {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
    _data_dir: TempDir,
}

impl LoggedService {
    /// Starts the binary with the environment of a plain deployment: no `LOG_FORMAT`, so the
    /// format follows standard output, which is a pipe here.
    fn start(app: &TestApp) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kyodo"))
            .env_clear()
            .env("DATABASE_URL", &app.database_url)
            .env("DATA_DIR", data_dir.path())
            .env("JWT_SECRET", JWT_SECRET)
            .env("BIND_ADDRESS", "127.0.0.1:0")
            .env("DATABASE_POOL_SIZE", "2")
            .env("SCHEDULER_INTERVAL_SECONDS", "0")
            .env("RUST_LOG", "info")
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
