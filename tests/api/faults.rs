//! Faults the service must survive: the process killed outright in the middle of writes.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use crate::helpers::{Response, collect, spawn_app};
use crate::lifecycle::{published_procurement, round};
use crate::logs::LoggedService;

/// One body's answer, sent to `service` with its own Idempotency-Key; `None` when the connection
/// broke before an answer came.
async fn answer(
    client: &awc::Client,
    base: &str,
    token: &str,
    round: &str,
    org: &str,
) -> Option<Response> {
    let response = client
        .request(
            Method::PUT,
            format!("{base}/api/v1/rounds/{round}/participations/{org}"),
        )
        .bearer_auth(token)
        .insert_header(("idempotency-key", format!("burst-{org}")))
        .timeout(Duration::from_secs(30))
        .send_json(&json!({"status": "joined", "note": format!("{org} joins"), "reason": "電話で回答を受けた"}))
        .await
        .ok()?;
    Some(collect(response).await)
}

/// SIGKILL during a burst of registrations: after a restart every registration is whole or
/// absent, and retrying each with its key gets the first answer (when one was given) or a clean
/// run, so that in the end every body has joined exactly once, with one history entry.
#[actix_web::test]
async fn registrations_killed_mid_burst_are_all_or_nothing_and_retries_finish_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let procurement = published_procurement(&app, &admin, json!({})).await;
    let round = round(
        &app,
        &admin,
        &procurement,
        chrono::Duration::zero(),
        chrono::Duration::days(7),
    )
    .await;
    let round_id = round["id"].as_str().unwrap().to_owned();
    assert_eq!(
        round["state"], "open",
        "a round opening now is open at once"
    );
    let mut bodies = Vec::new();
    for kind in ["city", "town"] {
        let page = app
            .get(
                &format!("/api/v1/organizations?kind={kind}&per_page=100"),
                &admin,
            )
            .await;
        for item in page.body["items"].as_array().unwrap() {
            bodies.push(item["lg_code"].as_str().unwrap().to_owned());
        }
    }
    bodies.truncate(40);

    let mut service = LoggedService::start(&app);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let base = service.url("");
    let mut first: BTreeMap<String, Option<Response>> = BTreeMap::new();
    let mut burst: FuturesUnordered<_> = bodies
        .iter()
        .map(|org| {
            let (client, base, admin, round_id) = (&client, &base, &admin, &round_id);
            async move {
                (
                    org.clone(),
                    answer(client, base, admin, round_id, org).await,
                )
            }
        })
        .collect();
    // Let a few commit, then kill the process with the rest in flight.
    while let Some((org, answer)) = burst.next().await {
        first.insert(org, answer);
        if first.len() == 5 {
            service.kill();
        }
    }
    let answered = first.values().filter(|a| a.is_some()).count();

    // Restarted on the same database: the retries finish what the kill interrupted.
    let service = LoggedService::start(&app);
    for org in &bodies {
        let retried = answer(&client, &service.url(""), &admin, &round_id, org)
            .await
            .expect("the restarted service answers");
        assert!(
            retried.status == StatusCode::CREATED || retried.status == StatusCode::OK,
            "{org}: {} {}",
            retried.status,
            retried.text
        );
        if let Some(Some(original)) = first.get(org) {
            assert_eq!(
                original.status,
                StatusCode::CREATED,
                "{org}: {}",
                original.text
            );
            assert_eq!(
                retried.status, original.status,
                "{org}: the first answer again"
            );
            assert_eq!(retried.body, original.body, "{org}: the first answer again");
        }
    }

    let list = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participations?per_page=200"),
            &admin,
        )
        .await;
    let items = list.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", list.text));
    assert_eq!(
        items.len(),
        bodies.len(),
        "one participation a body: {}",
        list.text
    );
    for org in &bodies {
        let history = app
            .get(
                &format!("/api/v1/rounds/{round_id}/participations/{org}/history"),
                &admin,
            )
            .await;
        let entries: Vec<&Value> = history.body["items"]
            .as_array()
            .or_else(|| history.body.as_array())
            .unwrap_or_else(|| panic!("{}", history.text))
            .iter()
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "{org}: one history entry, not lost or doubled: {}",
            history.text
        );
    }
    eprintln!("{answered} of {} answered before the kill", bodies.len());
}

/// A finalization sent with a key to `base`; `None` when the connection broke first.
async fn finalize(client: &awc::Client, base: &str, token: &str, round: &str) -> Option<Response> {
    let response = client
        .post(format!("{base}/api/v1/rounds/{round}/finalize"))
        .bearer_auth(token)
        .insert_header(("idempotency-key", format!("finalize-{round}")))
        .send_json(&crate::allocations::totals(9_000_000, 1_100_000))
        .await
        .ok()?;
    Some(collect(response).await)
}

/// SIGKILL during a finalization, at several moments: after a restart the round is finalized once
/// or not at all, and the retry with the same key gets the first answer or finalizes cleanly, so
/// that one version exists in the end.
#[actix_web::test]
async fn a_finalization_killed_midway_is_all_or_nothing_and_its_retry_finishes_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    for delay_ms in [0, 3, 10, 30, 100, 1000] {
        let (_, round) = crate::allocations::closed_round_with_three_bodies(&app, &admin).await;
        let mut service = LoggedService::start(&app);
        let base = service.url("");
        let (first, ()) = futures_util::join!(finalize(&client, &base, &admin, &round), async {
            actix_web::rt::time::sleep(Duration::from_millis(delay_ms)).await;
            service.kill();
        });

        let service = LoggedService::start(&app);
        let retried = finalize(&client, &service.url(""), &admin, &round)
            .await
            .expect("the restarted service answers");
        assert_eq!(
            retried.status,
            StatusCode::CREATED,
            "after {delay_ms} ms: {}",
            retried.text
        );
        if let Some(first) = &first {
            assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
            assert_eq!(
                retried.body, first.body,
                "after {delay_ms} ms: the first answer again"
            );
        }
        let versions = app
            .get(&format!("/api/v1/rounds/{round}/allocations"), &admin)
            .await;
        let versions = versions
            .body
            .as_array()
            .or_else(|| versions.body["items"].as_array())
            .unwrap_or_else(|| panic!("{}", versions.text))
            .len();
        assert_eq!(versions, 1, "after {delay_ms} ms: one version");
        let state = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
        assert_eq!(state.body["state"], "finalized");
        eprintln!(
            "killed after {delay_ms} ms: the first attempt was {}",
            if first.is_some() {
                "answered"
            } else {
                "cut off"
            }
        );
    }
}

/// SQLite: another process holds a write transaction for longer than the busy timeout (10 s).
/// A write meanwhile is 503 `database_busy` with `Retry-After`, writes nothing, and reads go on;
/// once the lock is let go the same write succeeds. (PostgreSQL has no such timeout: a writer
/// waits for the row it needs.)
#[actix_web::test]
async fn a_write_that_waits_out_the_sqlite_busy_timeout_is_503_database_busy() {
    use diesel::{Connection as _, RunQueryDsl as _, SqliteConnection};
    let app = spawn_app().await;
    let Some(path) = app.database_url.strip_prefix("sqlite://") else {
        return;
    };
    let admin = app.admin_token().await;
    let procurement = app
        .published(
            &admin,
            crate::helpers::procurement_input("ロック中の書き込み", json!({})),
        )
        .await;
    let round = app.open_round(&admin, &procurement).await;
    let answer = format!("/api/v1/rounds/{round}/participations/202011");
    let body = json!({"status": "joined", "reason": "電話で回答を受けた"});

    let mut other = SqliteConnection::establish(path).expect("a second connection to the file");
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .expect("the write lock");
    let refused = app
        .request(Method::PUT, &answer, Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.problem_code(), "database_busy");
    assert_eq!(refused.content_type(), "application/problem+json");
    assert_eq!(refused.headers.get("retry-after").unwrap(), "2");
    let read = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["items"], json!([]), "{}", read.text);
    diesel::sql_query("ROLLBACK")
        .execute(&mut other)
        .expect("letting the lock go");

    let joined = app
        .request(Method::PUT, &answer, Some(&admin), Some(body))
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.text);
    assert_eq!(joined.body["version"], 1, "{}", joined.text);
}
