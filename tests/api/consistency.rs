//! Concurrent writers, a complete change feed and caches that follow every write.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::{Method, StatusCode};
use chrono::Duration;
use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{Response, eventually, procurement_input, spawn_app};
use crate::lifecycle::{published_procurement, round};

#[actix_web::test]
async fn two_coordinators_of_one_body_answering_at_once_leave_one_row_and_an_unbroken_history() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let first = app.user("coordinator", "202011").await;
    let second = app.user("coordinator", "202011").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::days(3)).await;
    let round_id = round["id"].as_str().unwrap();
    let path = format!("/api/v1/rounds/{round_id}/participations/202011");
    let requests = (0..10).map(|i| {
        let token = if i % 2 == 0 {
            &first.token
        } else {
            &second.token
        };
        let status = if i % 3 == 0 { "declined" } else { "joined" };
        app.request(
            Method::PUT,
            &path,
            Some(token),
            Some(json!({"status": status})),
        )
    });
    let responses = join_all(requests).await;
    assert!(
        responses.iter().all(|r| r.status.is_success()),
        "{:?}",
        responses.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(
        responses
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count(),
        1,
        "exactly one request created the answer"
    );

    let list = app
        .get(&format!("/api/v1/rounds/{round_id}/participations"), &admin)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let history = app.get(&format!("{path}/history"), &first.token).await;
    let versions: Vec<i64> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (1..=10).collect::<Vec<_>>());
    assert_eq!(list.body["items"][0]["version"], 10);
}

#[actix_web::test]
async fn a_client_polling_the_feed_sees_each_of_100_concurrent_changes_exactly_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let reader = app.user("viewer", "202045").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::days(3)).await;
    let round_id = round["id"].as_str().unwrap().to_owned();
    let mut cursor = String::from("0-0");
    let before = app.follow_feed(&reader.token, &mut cursor, 3).await.len();
    assert_eq!(before, 3, "published, round created, round opened");

    let towns = app
        .get("/api/v1/organizations?kind=town&per_page=50", &admin)
        .await;
    let villages = app
        .get("/api/v1/organizations?kind=village&per_page=50", &admin)
        .await;
    let codes: Vec<String> = [towns, villages]
        .iter()
        .flat_map(|page| page.body["items"].as_array().unwrap().clone())
        .map(|o| o["lg_code"].as_str().unwrap().to_owned())
        .take(50)
        .collect();
    // 50 bodies join, then each changes its options: 100 changes from 10 concurrent writers.
    let writes = async {
        for batch in codes.chunks(10).chain(codes.chunks(10)) {
            let requests = batch.iter().map(|code| {
                let path = format!("/api/v1/rounds/{round_id}/participations/{code}");
                let body = json!({"status": "joined", "selected_options": ["lgwan"], "reason": "代理登録"});
                let (app, admin) = (&app, &admin);
                async move { app.request(Method::PUT, &path, Some(admin), Some(body)).await }
            });
            for response in join_all(requests).await {
                assert!(response.status.is_success(), "{}", response.text);
            }
        }
    };
    let mut polled = Vec::new();
    let poll = async {
        for _ in 0..2000 {
            let page = app
                .get(
                    &format!("/api/v1/changes?since={cursor}&limit=7"),
                    &reader.token,
                )
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            polled.extend(page.body["items"].as_array().unwrap().clone());
            cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
            if polled.len() >= 100 {
                break;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    futures_util::join!(writes, poll);
    polled.extend(app.follow_feed(&reader.token, &mut cursor, 0).await);

    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for entry in &polled {
        assert_eq!(entry["entity_type"], "participation");
        *seen
            .entry((
                entry["entity_id"].as_str().unwrap().to_owned(),
                entry["data"]["version"].as_i64().unwrap(),
            ))
            .or_default() += 1;
    }
    assert_eq!(polled.len(), 100, "every change once, none twice");
    assert!(seen.values().all(|&n| n == 1));
    let bodies: BTreeSet<&str> = polled
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 50);
    let cursors: Vec<&str> = polled
        .iter()
        .map(|e| e["cursor"].as_str().unwrap())
        .collect();
    assert_eq!(cursors.iter().collect::<BTreeSet<_>>().len(), 100);
}

/// Hot reads are cached, but never past a change: the instance that wrote serves the change at
/// once; another instance on the same database, and a change made behind the service's back,
/// show as soon as the cache watcher sees the commit (it looks every 20 ms). API tokens are cached
/// the same way, so a token revoked on one instance stops working on the other.
#[actix_web::test]
async fn cached_reads_and_tokens_follow_every_write_on_any_instance() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::days(3)).await;
    let round_id = round["id"].as_str().unwrap().to_owned();
    let list = format!("/api/v1/rounds/{round_id}/participations");
    let created = app
        .post(
            "/api/v1/tokens",
            Some(&nagano.token),
            json!({"name": "sync", "scope": "read_write"}),
        )
        .await;
    let secret = created.body["token"].as_str().unwrap().to_owned();
    let token_id = created.body["id"].as_str().unwrap().to_owned();
    let answers = |response: Response| response.body["items"].as_array().map(Vec::len);
    for instance in [&app, &other, &app, &other] {
        assert_eq!(answers(instance.get(&list, &secret).await), Some(0));
    }

    let joined = app
        .request(
            Method::PUT,
            &format!("{list}/202011"),
            Some(&secret),
            Some(json!({"status": "joined"})),
        )
        .await;
    assert!(joined.status.is_success(), "{}", joined.text);
    assert_eq!(answers(app.get(&list, &secret).await), Some(1));
    assert!(
        eventually(|| async { answers(other.get(&list, &secret).await) == Some(1) }).await,
        "the other instance kept serving the answer list from before the change"
    );

    // Behind the service's back (another process on the same database).
    {
        use diesel::prelude::*;
        use kyodo::db::schema::organizations;
        let mut conn = app.pool().get().unwrap();
        diesel::update(organizations::table.filter(organizations::lg_code.eq("202011")))
            .set(organizations::name.eq("長野市（改称）"))
            .execute(&mut *conn)
            .unwrap();
    }
    for instance in [&app, &other] {
        assert!(
            eventually(|| async {
                instance.get(&list, &secret).await.body["items"][0]["organization_name"]
                    == "長野市（改称）"
            })
            .await,
            "a change made by another process never showed"
        );
    }

    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            Some(&nagano.token),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    assert_eq!(
        app.get(&list, &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        eventually(|| async { other.get(&list, &secret).await.status == StatusCode::UNAUTHORIZED })
            .await,
        "the other instance kept accepting a revoked token"
    );
}

/// A first answer whose insert meets another writer's first answer for the same body (PostgreSQL's
/// `ON CONFLICT DO NOTHING`, once the other commits) reads that answer again and records itself as
/// the next version: no error, no second participation, one history row of its own. The other
/// writer is held in a transaction of the test's own until the service's insert waits for it, so
/// the race is lost every time, not only under load. (On SQLite one writer at a time: no race.)
#[actix_web::test]
async fn a_first_answer_that_loses_the_race_becomes_the_next_version() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use kyodo::db::schema::{audit_events, participation_history, participations};

    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        eprintln!("PostgreSQL only: SQLite takes one writer at a time");
        return;
    }
    let admin = app.admin_token().await;
    let coordinator = app.user("coordinator", "202011").await;
    let procurement = app
        .published(&admin, procurement_input("共同調達 競合確認", json!({})))
        .await;
    let round = app.open_round(&admin, &procurement).await;

    // The other writer's first answer, inserted and not yet committed.
    let pool = app.pool();
    let mut other = pool.get().unwrap();
    other
        .batch_execute(&format!(
            "BEGIN; INSERT INTO participations (id, round_id, organization_id, status, selected_options, \
             note, version, created_at, updated_at) SELECT 'the-other-writer', '{round}', id, 'joined', '[]', \
             '先着の回答', 1, now(), now() FROM organizations WHERE lg_code = '202011'"
        ))
        .unwrap();
    let watcher = pool.clone();
    let release = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = watcher.get().unwrap();
        let waiting = |conn: &mut kyodo::db::DbConnection| {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"participations\"%')",
            ))
            .get_result::<i64>(conn)
            .unwrap()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut waited = false;
        while std::time::Instant::now() < deadline {
            if waiting(&mut conn) > 0 {
                waited = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        other.batch_execute("COMMIT").unwrap();
        waited
    });
    let path = format!("/api/v1/rounds/{round}/participations/202011");
    let answer = json!({"status": "declined", "note": "後着の回答", "reason": "予算不成立"});
    let (answered, waited) = futures_util::future::join(
        app.request(Method::PUT, &path, Some(&coordinator.token), Some(answer)),
        release,
    )
    .await;
    assert!(
        waited.unwrap(),
        "the service's insert never waited for the other writer"
    );

    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.body["id"], "the-other-writer");
    assert_eq!(answered.body["version"], 2, "{}", answered.text);
    assert_eq!(answered.body["status"], "declined");
    assert_eq!(answered.body["note"], "後着の回答");
    let mut conn = pool.get().unwrap();
    let rows: Vec<(String, i64)> = participations::table
        .filter(participations::round_id.eq(&round))
        .select((participations::id, participations::version))
        .load(&mut *conn)
        .unwrap();
    assert_eq!(rows, [("the-other-writer".to_owned(), 2)]);
    let history: Vec<(i64, Option<String>)> = participation_history::table
        .filter(participation_history::participation_id.eq("the-other-writer"))
        .select((participation_history::version, participation_history::note))
        .load(&mut *conn)
        .unwrap();
    assert_eq!(history, [(2, Some("後着の回答".to_owned()))]);
    let events: Vec<String> = audit_events::table
        .filter(audit_events::entity_id.eq("the-other-writer"))
        .select(audit_events::action)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(events, ["participation.declined"]);
}
