//! The joint-procurement lifecycle through the API: procurements, rounds, participation, the
//! audit log and the change feed.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use chrono::{Duration, NaiveDateTime};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};

pub fn procurement_body(overrides: Value) -> Value {
    let mut body = json!({
        "title": "AIチャットボット",
        "summary": "住民問合せ対応チャットボットの共同利用",
        "category": "residents",
        "lead_organization": "200000",
        "small_body_friendly": true,
        "options": [{"code": "lgwan", "name": "LGWAN接続"}, {"code": "voice", "name": "音声入力"}],
        "documents": [{"title": "仕様書", "url": "https://www.pref.nagano.lg.jp/dx/chatbot.pdf"}],
        "cost_model": {"pools": [
            {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10000000}, {"up_to": null, "amount": 14000000}]},
             "weights": {"equal": 1000, "population": 9000}},
            {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "weights": {"equal": 10000}},
            {"code": "voice", "total": {"kind": "fixed", "amount": 600000}, "weights": {"equal": 10000}}
        ]},
        "contract_start_fiscal_year": 2027,
        "contract_end_fiscal_year": 2029
    });
    for (key, value) in overrides.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

pub fn at(time: NaiveDateTime) -> String {
    time.and_utc().to_rfc3339()
}

/// A published procurement; returns its id.
pub async fn published_procurement(app: &TestApp, admin: &str, overrides: Value) -> String {
    let created = app
        .post(
            "/api/v1/procurements",
            Some(admin),
            procurement_body(overrides),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let published = app
        .post(
            &format!("/api/v1/procurements/{id}/publish"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.text);
    id
}

/// A round of `procurement` opening `opens_in` from the service's now, lasting `lasts`.
pub async fn round(
    app: &TestApp,
    admin: &str,
    procurement: &str,
    opens_in: Duration,
    lasts: Duration,
) -> Value {
    let opens = app.clock_now() + opens_in;
    let body = json!({"kind": "commitment", "opens_at": at(opens), "closes_at": at(opens + lasts), "population_base_date": "2020-01-01"});
    let created = app
        .post(
            &format!("/api/v1/procurements/{procurement}/rounds"),
            Some(admin),
            body,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.body
}

async fn put(app: &TestApp, token: &str, round: &str, org: &str, body: Value) -> Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/rounds/{round}/participations/{org}"),
        Some(token),
        Some(body),
    )
    .await
}

impl TestApp {
    /// Follows the feed from `since` until `expected` entries have arrived and the feed is
    /// drained. On PostgreSQL a change becomes visible once every older transaction in the
    /// cluster has ended, so an empty page may only mean "not yet": poll again, boundedly.
    pub async fn follow_feed(
        &self,
        token: &str,
        since: &mut String,
        expected: usize,
    ) -> Vec<Value> {
        let mut entries = Vec::new();
        for _ in 0..500 {
            let page = self
                .get(&format!("/api/v1/changes?since={since}&limit=50"), token)
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            let items = page.body["items"].as_array().unwrap().clone();
            let next = page.body["next_cursor"].as_str().unwrap().to_owned();
            let empty = next == *since;
            *since = next;
            entries.extend(items);
            if empty {
                if entries.len() >= expected {
                    return entries;
                }
                actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        entries
    }
}

#[actix_web::test]
async fn a_procurement_goes_from_draft_to_a_closed_round_with_everything_recorded() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let matsumoto = app.user("coordinator", "202029").await;
    let ueda = app.user("coordinator", "202037").await;
    let okaya = app.user("coordinator", "202045").await;

    let created = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_body(json!({})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.headers.get("etag").unwrap(), "\"1\"");
    let id = created.body["id"].as_str().unwrap().to_owned();

    // Drafts are the administrators' alone.
    assert_eq!(
        app.get(&format!("/api/v1/procurements/{id}"), &nagano.token)
            .await
            .problem_code(),
        "procurement_not_found"
    );
    assert_eq!(
        app.get("/api/v1/procurements", &nagano.token).await.body["total"],
        0
    );

    let published = app
        .post(
            &format!("/api/v1/procurements/{id}/publish"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(published.body["status"], "published");
    let listed = app
        .get(
            "/api/v1/procurements?small_body_friendly=true",
            &nagano.token,
        )
        .await;
    assert_eq!(listed.body["total"], 1, "{}", listed.text);

    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::days(14)).await;
    assert_eq!(
        round["state"], "open",
        "a round whose time has come opens at once"
    );
    let round_id = round["id"].as_str().unwrap().to_owned();
    let awaiting = app
        .get(
            "/api/v1/procurements?awaiting_my_response=true",
            &nagano.token,
        )
        .await;
    assert_eq!(awaiting.body["total"], 1);

    let join = |options: Value| json!({"status": "joined", "selected_options": options, "contact": {"name": "担当 太郎", "email": "dx@example.lg.jp"}, "note": "来年度から"});
    assert_eq!(
        put(
            &app,
            &nagano.token,
            &round_id,
            "202011",
            join(json!(["lgwan"]))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        put(
            &app,
            &matsumoto.token,
            &round_id,
            "202029",
            join(json!(["lgwan", "voice"]))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        put(&app, &ueda.token, &round_id, "202037", join(json!([])))
            .await
            .status,
        StatusCode::CREATED
    );
    let declined = put(
        &app,
        &okaya.token,
        &round_id,
        "202045",
        json!({"status": "declined"}),
    )
    .await;
    assert_eq!(declined.status, StatusCode::CREATED, "{}", declined.text);
    // Changing an answer is a new version.
    let changed = put(
        &app,
        &ueda.token,
        &round_id,
        "202037",
        join(json!(["voice"])),
    )
    .await;
    assert_eq!(
        (changed.status, changed.body["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    assert_eq!(
        app.get(
            "/api/v1/procurements?awaiting_my_response=true",
            &nagano.token
        )
        .await
        .body["total"],
        0
    );

    let list = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participations"),
            &nagano.token,
        )
        .await;
    assert_eq!(list.body["counts"]["joined"], 3);
    assert_eq!(list.body["counts"]["declined"], 1);
    assert_eq!(list.body["counts"]["not_responded"], 85);
    let items = list.body["items"].as_array().unwrap();
    // Everyone sees who joined and what they chose; contacts and notes only their own.
    let own = items
        .iter()
        .find(|i| i["organization_id"] == nagano.organization_id)
        .unwrap();
    let other = items
        .iter()
        .find(|i| i["organization_id"] == matsumoto.organization_id)
        .unwrap();
    assert_eq!(own["contact"]["name"], "担当 太郎");
    assert_eq!(own["note"], "来年度から");
    assert_eq!(other["status"], "joined");
    assert_eq!(other["selected_options"], json!(["lgwan", "voice"]));
    assert!(other["contact"].is_null() && other["note"].is_null());
    let as_admin = app
        .get(&format!("/api/v1/rounds/{round_id}/participations"), &admin)
        .await;
    assert!(
        as_admin.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["contact"].is_null())
    );

    let closed = app
        .post(
            &format!("/api/v1/rounds/{round_id}/close"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(closed.body["state"], "closed", "{}", closed.text);
    let late = put(
        &app,
        &nagano.token,
        &round_id,
        "202011",
        json!({"status": "declined"}),
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.problem_code(), "round_not_open");
    let history = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participations/202011/history"),
            &nagano.token,
        )
        .await;
    assert_eq!(
        history.body.as_array().unwrap().len(),
        1,
        "a refused answer writes nothing"
    );

    let audit = app.get("/api/v1/audit-events?per_page=200", &admin).await;
    // The procurement's own story; inviting the four coordinators is audited too, but elsewhere.
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|action| !action.starts_with("user."))
        .collect();
    assert_eq!(
        actions,
        [
            "procurement.created",
            "procurement.published",
            "round.created",
            "round.opened",
            "participation.joined",
            "participation.joined",
            "participation.joined",
            "participation.declined",
            "participation.joined",
            "round.closed",
        ]
    );
    // Newest first: the latest join is 上田市 changing its options.
    let join_event = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "participation.joined")
        .unwrap();
    assert_eq!(join_event["actor_user_id"], ueda.id);
    assert_eq!(join_event["before"]["selected_options"], json!([]));
    assert_eq!(join_event["after"]["selected_options"], json!(["voice"]));
    assert!(
        join_event["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );

    let mut cursor = String::from("0-0");
    let feed = app.follow_feed(&okaya.token, &mut cursor, 9).await;
    let seen: Vec<(String, String)> = feed
        .iter()
        .map(|e| {
            (
                e["entity_type"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("procurement", "published"),
        ("round", "created"),
        ("round", "opened"),
        ("participation", "joined"),
        ("participation", "joined"),
        ("participation", "joined"),
        ("participation", "declined"),
        ("participation", "joined"),
        ("round", "closed"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        seen, expected,
        "the draft's creation is for administrators only"
    );
    assert!(
        feed.iter()
            .all(|e| e["data"].get("contact_name").is_none() && e["data"].get("note").is_none())
    );
    assert!(
        app.follow_feed(&okaya.token, &mut cursor, 0)
            .await
            .is_empty(),
        "an up-to-date client sees nothing new"
    );
}

#[actix_web::test]
async fn answers_are_taken_until_the_second_before_the_deadline() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::hours(1)).await;
    let round_id = round["id"].as_str().unwrap();
    let closes_at: NaiveDateTime = round["closes_at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .naive_utc();

    app.clock.set(closes_at - Duration::seconds(1));
    assert_eq!(
        put(
            &app,
            &nagano.token,
            round_id,
            "202011",
            json!({"status": "joined"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    app.clock.set(closes_at);
    let at_deadline = put(
        &app,
        &nagano.token,
        round_id,
        "202011",
        json!({"status": "declined"}),
    )
    .await;
    assert_eq!(at_deadline.problem_code(), "round_not_open");
    app.clock.set(closes_at + Duration::seconds(1));
    assert_eq!(
        put(
            &app,
            &nagano.token,
            round_id,
            "202011",
            json!({"status": "declined"})
        )
        .await
        .problem_code(),
        "round_not_open"
    );
    let list = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participations"),
            &nagano.token,
        )
        .await;
    assert_eq!(list.body["items"][0]["status"], "joined");
}

#[actix_web::test]
async fn a_mandatory_procurement_enrolls_every_eligible_body_when_its_round_opens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let otaki = app.user("coordinator", "204293").await; // 王滝村
    let id = published_procurement(&app, &admin, json!({"title": "内部事務系システム", "mandatory": true, "eligibility": {"kinds": ["village"]}})).await;
    let round = round(&app, &admin, &id, Duration::hours(1), Duration::days(7)).await;
    assert_eq!(round["state"], "scheduled");
    let round_id = round["id"].as_str().unwrap();

    app.clock.advance(Duration::hours(1));
    assert_eq!(app.tick().await, 1);
    let list = app
        .get(&format!("/api/v1/rounds/{round_id}/participations"), &admin)
        .await;
    assert_eq!(list.body["counts"]["joined"], 35, "{}", list.text);
    assert_eq!(list.body["counts"]["not_responded"], 0);

    let decline = put(
        &app,
        &otaki.token,
        round_id,
        "204293",
        json!({"status": "declined"}),
    )
    .await;
    assert_eq!(decline.problem_code(), "participation_mandatory");
    let withdraw = app
        .request(
            Method::DELETE,
            &format!("/api/v1/rounds/{round_id}/participations/204293"),
            Some(&otaki.token),
            None,
        )
        .await;
    assert_eq!(withdraw.problem_code(), "participation_mandatory");
    let options = put(
        &app,
        &otaki.token,
        round_id,
        "204293",
        json!({"status": "joined", "selected_options": ["voice"]}),
    )
    .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.text);
    assert_eq!(options.body["version"], 2);
    let history = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participations/204293/history"),
            &otaki.token,
        )
        .await;
    assert!(
        history.body[0]["changed_by"].is_null(),
        "the first version is the service's enrolment"
    );
}

#[actix_web::test]
async fn an_ineligible_body_is_told_why_it_cannot_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let id =
        published_procurement(&app, &admin, json!({"eligibility": {"kinds": ["village"]}})).await;
    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::days(7)).await;
    assert_eq!(
        app.get(&format!("/api/v1/procurements/{id}"), &nagano.token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let refused = put(
        &app,
        &nagano.token,
        round["id"].as_str().unwrap(),
        "202011",
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.problem_code(), "not_eligible");
    assert!(
        refused.body["detail"].as_str().unwrap().contains("village"),
        "{}",
        refused.text
    );
}

#[actix_web::test]
async fn the_scheduler_opens_and_closes_rounds_on_time() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::hours(2), Duration::hours(3)).await;
    let path = format!("/api/v1/rounds/{}", round["id"].as_str().unwrap());
    assert_eq!(app.tick().await, 0);
    app.clock.advance(Duration::hours(2) - Duration::seconds(1));
    assert_eq!(app.tick().await, 0, "one second early");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(app.tick().await, 1);
    assert_eq!(app.get(&path, &admin).await.body["state"], "open");
    app.clock.advance(Duration::hours(3));
    assert_eq!(app.tick().await, 1);
    assert_eq!(app.get(&path, &admin).await.body["state"], "closed");
    let audit = app
        .get(
            "/api/v1/audit-events?entity_type=round&action=round.closed",
            &admin,
        )
        .await;
    assert!(
        audit.body["items"][0]["actor_user_id"].is_null(),
        "the scheduler acts as the service"
    );
}

#[actix_web::test]
async fn rounds_due_while_the_service_was_down_change_when_it_comes_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let whole = round(&app, &admin, &id, Duration::hours(1), Duration::hours(1)).await;
    let opening = round(&app, &admin, &id, Duration::hours(1), Duration::days(5)).await;
    // The service is down while both rounds' opening (and the first one's closing) passes.
    app.clock.advance(Duration::hours(3));
    let restarted = app.another_instance().await;
    let state = |round: &Value| {
        let path = format!("/api/v1/rounds/{}", round["id"].as_str().unwrap());
        let restarted = &restarted;
        let admin = admin.clone();
        async move { restarted.get(&path, &admin).await.body["state"].clone() }
    };
    assert_eq!(state(&whole).await, "closed");
    assert_eq!(state(&opening).await, "open");
}

#[actix_web::test]
async fn two_instances_open_a_round_exactly_once() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let admin = app.admin_token().await;
    let id = published_procurement(
        &app,
        &admin,
        json!({"mandatory": true, "eligibility": {"kinds": ["town"]}}),
    )
    .await;
    let round = round(&app, &admin, &id, Duration::minutes(5), Duration::days(5)).await;
    app.clock.advance(Duration::minutes(5));
    let (a, b) = futures_util::join!(app.tick(), other.tick());
    assert_eq!(a + b, 1, "exactly one instance opened the round");
    let round_id = round["id"].as_str().unwrap();
    let opened = app
        .get(
            &format!("/api/v1/audit-events?entity_id={round_id}&action=round.opened"),
            &admin,
        )
        .await;
    assert_eq!(opened.body["total"], 1);
    let list = app
        .get(&format!("/api/v1/rounds/{round_id}/participations"), &admin)
        .await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        23,
        "each town enrolled once"
    );
}

#[actix_web::test]
async fn a_stale_if_match_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let path = format!("/api/v1/procurements/{id}");
    let read = app.get(&path, &admin).await;
    let etag = read
        .headers
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(etag, "\"2\"");

    let patch = |tag: &'static str, summary: &'static str| {
        let request = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&admin)
            .insert_header(("if-match", tag));
        async move {
            request
                .send_json(&json!({"summary": summary}))
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(patch("\"2\"", "first").await, StatusCode::OK);
    assert_eq!(
        patch("\"2\"", "second, from a stale copy").await,
        StatusCode::PRECONDITION_FAILED
    );
    let now = app.get(&path, &admin).await;
    assert_eq!(now.body["summary"], "first");
    assert_eq!(now.headers.get("etag").unwrap(), "\"3\"");
}

#[actix_web::test]
async fn a_cost_model_that_breaks_the_rules_is_refused_naming_each_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = procurement_body(json!({"cost_model": {"pools": [
        {"code": "base", "total": {"kind": "schedule", "steps": []}, "weights": {"equal": 1000, "population": 8000},
         "population_transform": {"kind": "degressive", "exponent": 0}},
        {"code": "lgwan", "total": {"kind": "fixed", "amount": 1}, "weights": {"equal": 10000}}
    ]}}));
    let refused = app.post("/api/v1/procurements", Some(&admin), body).await;
    assert_eq!(refused.problem_code(), "validation_failed");
    let fields: BTreeSet<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "cost_model.pools[0].total.steps",
        "cost_model.pools[0].weights",
        "cost_model.pools[0].population_transform.exponent",
        "cost_model.pools",
    ] {
        assert!(fields.contains(field), "{field} in {fields:?}");
    }
    assert_eq!(
        app.get("/api/v1/procurements", &admin).await.body["total"],
        0
    );
}

#[actix_web::test]
async fn changes_to_accounts_tokens_and_organizations_are_audited_too() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let patched = app
        .patch(
            "/api/v1/organizations/202011",
            &admin,
            json!({"contacts": [{"name": "信州 太郎"}]}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let user = app.user("coordinator", "202011").await;
    let token = app
        .post(
            "/api/v1/tokens",
            Some(&user.token),
            json!({"name": "sync", "scope": "read_only"}),
        )
        .await;
    let token_id = token.body["id"].as_str().unwrap();
    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    let audit = app.get("/api/v1/audit-events?per_page=50", &admin).await;
    let events = audit.body["items"].as_array().unwrap();
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} in {}", audit.text))
            .clone()
    };
    let organization = find("organization.updated");
    assert_eq!(organization["before"]["contacts"], json!([]));
    assert_eq!(organization["after"]["contacts"][0]["name"], "信州 太郎");
    assert_eq!(find("user.invited")["after"]["email"], user.email);
    assert_eq!(find("user.activated")["actor_user_id"], user.id);
    let created = find("api_token.created");
    assert_eq!(created["actor_user_id"], user.id);
    assert!(
        !created
            .to_string()
            .contains(token.body["token"].as_str().unwrap()),
        "the secret is never logged"
    );
    assert_eq!(find("api_token.revoked")["entity_id"], token_id);
    assert!(
        events
            .iter()
            .all(|e| e["request_id"].as_str().is_some_and(|r| !r.is_empty()))
    );
}

#[actix_web::test]
async fn a_procurement_with_two_open_rounds_is_listed_once_with_both() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let quiet = published_procurement(&app, &admin, json!({})).await;
    let first = round(&app, &admin, &id, Duration::seconds(0), Duration::days(14)).await;
    let second = round(&app, &admin, &id, Duration::seconds(0), Duration::days(7)).await;
    let first_id = first["id"].as_str().unwrap();

    let listed = app.get("/api/v1/procurements", &nagano.token).await;
    let items = listed.body["items"].as_array().unwrap();
    let entry = |pid: &str| {
        items
            .iter()
            .filter(|p| p["id"] == pid)
            .cloned()
            .collect::<Vec<_>>()
    };
    let with_rounds = entry(&id);
    assert_eq!(with_rounds.len(), 1, "{}", listed.text);
    let mut open: Vec<&str> = with_rounds[0]["open_rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    open.sort_unstable();
    let mut expected = vec![first_id, second["id"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(open, expected);
    assert_eq!(with_rounds[0]["awaiting_my_response"], true);
    assert_eq!(entry(&quiet).len(), 1);
    assert_eq!(entry(&quiet)[0]["open_rounds"], json!([]));

    // Answering one of the two still leaves the other awaiting an answer.
    let answered = put(
        &app,
        &nagano.token,
        first_id,
        "202011",
        json!({"status": "declined"}),
    )
    .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.text);
    let awaiting = app
        .get(
            "/api/v1/procurements?awaiting_my_response=true",
            &nagano.token,
        )
        .await;
    assert_eq!(awaiting.body["total"], 1, "{}", awaiting.text);
    assert_eq!(awaiting.body["items"][0]["id"], id.as_str());
    let without = app
        .get("/api/v1/procurements?open_round=false", &nagano.token)
        .await;
    assert_eq!(without.body["total"], 1, "{}", without.text);
    assert_eq!(without.body["items"][0]["id"], quiet.as_str());
}

/// A body is named by its id or its 団体コード; a name that does not fit says which part is wrong:
/// an unknown round, an unknown body, a code with a wrong check digit. Nothing is written.
#[actix_web::test]
async fn an_answer_names_its_body_by_id_or_code_and_a_wrong_name_says_which() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let round = round(&app, &admin, &id, Duration::seconds(0), Duration::days(7)).await;
    let round = round["id"].as_str().unwrap();
    let body = json!({"status": "joined", "reason": "電話で回答を受けた"});
    for (round, org, status, code) in [
        (
            "no-such-round",
            "202011",
            StatusCode::NOT_FOUND,
            "round_not_found",
        ),
        (
            round,
            "999997",
            StatusCode::NOT_FOUND,
            "organization_not_found",
        ),
        (
            round,
            "no-such-body",
            StatusCode::NOT_FOUND,
            "organization_not_found",
        ),
        (
            round,
            "202012",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ] {
        let refused = put(&app, &admin, round, org, body.clone()).await;
        assert_eq!(refused.status, status, "{org}: {}", refused.text);
        assert_eq!(refused.problem_code(), code, "{org}");
    }
    let listed = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.text);

    let nagano = app.get("/api/v1/organizations/202011", &admin).await;
    let nagano_id = nagano.body["id"].as_str().unwrap();
    let by_id = put(&app, &admin, round, nagano_id, body.clone()).await;
    assert_eq!(by_id.status, StatusCode::CREATED, "{}", by_id.text);
    let by_code = put(&app, &admin, round, "202011", body).await;
    assert_eq!(by_code.status, StatusCode::OK, "{}", by_code.text);
    assert_eq!(by_code.body["version"], 2, "{}", by_code.text);
    assert_eq!(by_code.body["organization_id"], nagano_id);
}
