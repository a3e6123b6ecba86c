//! Cost shares through the API: estimates (and their live stream), finalization, corrections,
//! the CSV and OCDS exports, and who sees what.

use actix_web::http::{Method, StatusCode};
use chrono::Duration;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, eventually, spawn_app, spawn_app_with};
use crate::lifecycle::{at, published_procurement, round};

pub const NAGANO: &str = "202011"; // 長野市, population 372,760 on 2020-01-01
pub const MATSUMOTO: &str = "202029"; // 松本市
pub const KAWAKAMI: &str = "203041"; // 川上村, 3,963

pub async fn put(app: &TestApp, token: &str, round: &str, org: &str, body: Value) -> Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/rounds/{round}/participations/{org}"),
        Some(token),
        Some(body),
    )
    .await
}

/// A published procurement (the lifecycle tests' chatbot: base pool ¥10,000,000 up to 10 bodies,
/// ¥14,000,000 above, 均等割 10% / 人口割 90%; options lgwan ¥1,200,000 and voice ¥600,000,
/// equal shares; fiscal years 2027–2029) and an open round of it.
pub async fn open_round(app: &TestApp, admin: &str) -> (String, String) {
    let procurement = published_procurement(app, admin, json!({})).await;
    let round = round(
        app,
        admin,
        &procurement,
        -Duration::hours(1),
        Duration::days(10),
    )
    .await;
    (procurement, round["id"].as_str().unwrap().to_owned())
}

fn amount(estimate: &Value, scenario: &str) -> i64 {
    estimate[scenario]["amount"].as_i64().unwrap()
}

#[actix_web::test]
async fn a_small_village_watches_its_share_fall_as_others_join() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let village = app.user("coordinator", KAWAKAMI).await;
    let path = format!("/api/v1/rounds/{round}/estimate");

    let alone = app.get(&path, &village.token).await;
    assert_eq!(alone.status, 200, "{}", alone.text);
    assert_eq!(alone.body["organization_id"], village.organization_id);
    assert_eq!(alone.body["status"], Value::Null);
    assert_eq!(alone.body["binding"], false);
    let now = &alone.body["if_joined_now"];
    assert_eq!(now["participants"], 1);
    // Alone it would carry the whole base pool, every year of the term.
    assert_eq!(now["per_year"]["2027"], 10_000_000, "{}", alone.text);
    assert_eq!(amount(&alone.body, "if_joined_now"), 30_000_000);
    let everyone = &alone.body["if_all_join"];
    // Every eligible body, but the association, which has no population to weigh.
    assert_eq!(everyone["participants"], 88, "{}", alone.text);
    assert_eq!(everyone["left_out"], json!(["長野県市町村自治振興組合"]));
    assert!(amount(&alone.body, "if_all_join") < 30_000_000 / 10);

    let city = app.user("coordinator", NAGANO).await;
    let joined = put(
        &app,
        &city.token,
        &round,
        NAGANO,
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let with_city = app.get(&path, &village.token).await;
    assert_eq!(with_city.body["if_joined_now"]["participants"], 2);
    let share = amount(&with_city.body, "if_joined_now");
    assert!(share < 30_000_000 / 10, "{share}");

    // The village joins with an option: it now pays that pool too, and only it.
    let joined = put(
        &app,
        &village.token,
        &round,
        KAWAKAMI,
        json!({"status": "joined", "selected_options": ["lgwan"]}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let mine = app.get(&path, &village.token).await;
    assert_eq!(mine.body["status"], "joined");
    let pools = mine.body["if_joined_now"]["pools"].as_array().unwrap();
    let lgwan: Vec<&Value> = pools.iter().filter(|p| p["pool"] == "lgwan").collect();
    assert_eq!(lgwan.len(), 3, "one per fiscal year: {}", mine.text);
    assert_eq!(lgwan[0]["share"]["amount"], 1_200_000);
    assert_eq!(lgwan[0]["name"], "LGWAN接続");
    assert_eq!(
        amount(&mine.body, "if_joined_now"),
        share + 3 * 1_200_000,
        "{}",
        mine.text
    );

    // The city's coordinator sees its own estimate, not the village's.
    let other = app
        .get(&format!("{path}?org={KAWAKAMI}"), &city.token)
        .await;
    assert_eq!(other.status, 403, "{}", other.text);
    assert_eq!(other.problem_code(), "not_your_organization");
    // An administrator may ask for any body.
    let asked = app.get(&format!("{path}?org={KAWAKAMI}"), &admin).await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    assert_eq!(asked.body, mine.body);
}

/// Reads server-sent events from `response` until `count` events have arrived.
async fn events<S>(
    response: &mut awc::ClientResponse<S>,
    count: usize,
    seen: &mut String,
) -> Vec<Value>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    loop {
        let events: Vec<Value> = seen
            .split("\n\n")
            .filter_map(|block| {
                let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
                block
                    .lines()
                    .any(|l| l == "event: estimate")
                    .then(|| serde_json::from_str(data).unwrap())
            })
            .collect();
        if events.len() >= count {
            return events;
        }
        let chunk =
            actix_web::rt::time::timeout(std::time::Duration::from_secs(10), response.next())
                .await
                .expect("an event within 10 s")
                .expect("the stream goes on")
                .expect("a readable chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[actix_web::test]
async fn the_live_estimate_pushes_a_new_share_when_another_body_joins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let village = app.user("coordinator", KAWAKAMI).await;
    let city = app.user("coordinator", NAGANO).await;

    let mut stream = app
        .client
        .get(app.url(&format!("/api/v1/rounds/{round}/estimate/stream")))
        .bearer_auth(&village.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut seen = String::new();
    let first = events(&mut stream, 1, &mut seen).await;
    assert_eq!(amount(&first[0], "if_joined_now"), 30_000_000);

    let joined = put(
        &app,
        &city.token,
        &round,
        NAGANO,
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let both = events(&mut stream, 2, &mut seen).await;
    assert_eq!(both[1]["if_joined_now"]["participants"], 2);
    assert!(amount(&both[1], "if_joined_now") < 30_000_000 / 10);

    // Another instance on the same database: its commit reaches this stream too.
    let other = app.another_instance().await;
    let matsumoto = app.user("coordinator", MATSUMOTO).await;
    let joined = put(
        &other,
        &matsumoto.token,
        &round,
        MATSUMOTO,
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let three = events(&mut stream, 3, &mut seen).await;
    assert_eq!(three[2]["if_joined_now"]["participants"], 3);

    // Who may not see the estimate gets a plain error, not a stream.
    let refused = app
        .get(
            &format!("/api/v1/rounds/{round}/estimate/stream?org={KAWAKAMI}"),
            &city.token,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.problem_code(), "not_your_organization");
}

/// A round that three bodies joined (two with the lgwan option, one with contacts and a note),
/// closed; returns the round id.
pub async fn closed_round_with_three_bodies(app: &TestApp, admin: &str) -> (String, String) {
    let (procurement, round) = open_round(app, admin).await;
    for (org, body) in [
        (
            NAGANO,
            json!({"status": "joined", "selected_options": ["lgwan"], "reason": "代理登録", "contact": {"name": "秘密 太郎", "email": "secret.contact@example.lg.jp", "phone": "026-000-0000"}, "note": "内部メモ：予算未確定"}),
        ),
        (
            MATSUMOTO,
            json!({"status": "joined", "selected_options": ["lgwan"], "reason": "代理登録"}),
        ),
        (KAWAKAMI, json!({"status": "joined", "reason": "代理登録"})),
    ] {
        let joined = put(app, admin, &round, org, body).await;
        assert_eq!(joined.status, 201, "{}", joined.text);
    }
    let closed = app
        .post(
            &format!("/api/v1/rounds/{round}/close"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    (procurement, round)
}

pub fn totals(base: i64, lgwan: i64) -> Value {
    let mut totals = Vec::new();
    for year in 2027..=2029 {
        totals.push(json!({"pool": "base", "fiscal_year": year, "amount": base}));
        totals.push(json!({"pool": "lgwan", "fiscal_year": year, "amount": lgwan}));
    }
    json!({"totals": totals})
}

#[actix_web::test]
async fn finalizing_stores_every_input_and_share_and_contracts_the_procurement() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (procurement, round) = closed_round_with_three_bodies(&app, &admin).await;
    let finalize = format!("/api/v1/rounds/{round}/finalize");

    // Totals that do not fit: nothing is written, the round stays closed.
    for (body, code) in [
        (
            json!({"totals": [{"pool": "base", "fiscal_year": 2027, "amount": 9_000_000}]}),
            "missing_total",
        ),
        (
            json!({"totals": [{"pool": "nothing", "fiscal_year": 2027, "amount": 1}]}),
            "unknown_pool",
        ),
        (
            json!({"totals": [{"pool": "voice", "fiscal_year": 2027, "amount": 600_000}]}),
            "no_participants",
        ),
        (
            json!({"totals": [{"pool": "base", "fiscal_year": 2031, "amount": 1}]}),
            "out_of_term",
        ),
    ] {
        let refused = app.post(&finalize, Some(&admin), body).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        let codes: Vec<&str> = refused.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["code"].as_str())
            .collect();
        assert!(codes.contains(&code), "{code} not in {}", refused.text);
    }
    let still = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    assert_eq!(still.body["state"], "closed");
    let none = app
        .get(&format!("/api/v1/rounds/{round}/allocation"), &admin)
        .await;
    assert_eq!(none.status, 404, "{}", none.text);
    assert_eq!(none.problem_code(), "allocation_not_found");

    let done = app
        .post(&finalize, Some(&admin), totals(9_000_000, 1_100_000))
        .await;
    assert_eq!(done.status, 201, "{}", done.text);
    assert_eq!(
        done.headers.get("location").unwrap(),
        &format!("/api/v1/rounds/{round}/allocation?version=1")
    );
    let document = &done.body;
    assert_eq!(document["version"], 1);
    assert_eq!(document["total"], 3 * (9_000_000 + 1_100_000));
    assert_eq!(document["participants"].as_array().unwrap().len(), 3);
    assert_eq!(document["population_base_date"], "2020-01-01");
    for pool in document["pools"].as_array().unwrap() {
        let sum: i64 = pool["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["amount"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, pool["total"].as_i64().unwrap(), "{pool}");
    }
    let village = document["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lg_code"] == KAWAKAMI)
        .unwrap();
    assert_eq!(village["population"], 3963);
    assert_eq!(village["population_base_date"], "2020-01-01");
    assert_eq!(village["options"], json!([]));

    let round_now = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    assert_eq!(round_now.body["state"], "finalized");
    let procurement_now = app
        .get(&format!("/api/v1/procurements/{procurement}"), &admin)
        .await;
    assert_eq!(procurement_now.body["status"], "contracted");

    // Audited, and in the feed.
    let audit = app
        .get("/api/v1/audit-events?action=allocation.finalized", &admin)
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.text
    );
    // On PostgreSQL a change shows once every older transaction in the cluster has ended.
    let in_feed = eventually(|| async {
        let feed = app.get("/api/v1/changes?limit=1000", &admin).await;
        feed.text.contains("\"entity_type\":\"allocation\"")
    })
    .await;
    assert!(in_feed, "the finalization is not in the change feed");

    // Finalizing twice is a conflict, and writes nothing.
    let again = app.post(&finalize, Some(&admin), totals(1, 1)).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.problem_code(), "invalid_round_transition");

    // A correction is a new version with a reason; the first stays as it was.
    let corrections = format!("/api/v1/rounds/{round}/allocations");
    let no_reason = app
        .post(&corrections, Some(&admin), totals(8_800_000, 1_100_000))
        .await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.text);
    let mut body = totals(8_800_000, 1_100_000);
    body["reason"] = json!("契約額の変更（変更契約 第1号）");
    let corrected = app.post(&corrections, Some(&admin), body).await;
    assert_eq!(corrected.status, 201, "{}", corrected.text);
    assert_eq!(corrected.body["version"], 2);
    assert_eq!(corrected.body["total"], 3 * (8_800_000 + 1_100_000));
    let versions = app.get(&corrections, &admin).await;
    let listed: Vec<(i64, Value)> = versions
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["reason"].clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (1, Value::Null),
            (2, json!("契約額の変更（変更契約 第1号）"))
        ]
    );
    let first = app
        .get(
            &format!("/api/v1/rounds/{round}/allocation?version=1"),
            &admin,
        )
        .await;
    assert_eq!(&first.body, document);
    let latest = app
        .get(&format!("/api/v1/rounds/{round}/allocation"), &admin)
        .await;
    assert_eq!(latest.body["version"], 2);

    // A participant sees the whole table, never another body's contacts or notes.
    let village_user = app.user("viewer", KAWAKAMI).await;
    for path in [
        format!("/api/v1/rounds/{round}/allocation"),
        format!("/api/v1/rounds/{round}/allocation?format=csv"),
        format!("/api/v1/rounds/{round}/allocations"),
        format!("/api/v1/ocds/releases?procurement={procurement}"),
    ] {
        let seen = app.get(&path, &village_user.token).await;
        assert_eq!(seen.status, 200, "{path}: {}", seen.text);
        for secret in ["secret.contact", "秘密", "内部メモ", "026-000-0000"] {
            assert!(!seen.text.contains(secret), "{path} shows {secret}");
        }
    }

    // The database itself refuses to change a stored version.
    use diesel::RunQueryDsl as _;
    let tampered = diesel::sql_query("UPDATE allocations SET total = 0")
        .execute(&mut *app.pool().get().unwrap());
    assert!(tampered.is_err(), "an allocation was edited in place");
}

#[actix_web::test]
async fn a_finalization_that_fails_midway_leaves_nothing_behind() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (procurement, round) = closed_round_with_three_bodies(&app, &admin).await;
    // The round moves to finalized before the allocation is stored: a store that fails must take
    // the round's and the procurement's change with it.
    app.break_table("allocations");
    let failed = app
        .post(
            &format!("/api/v1/rounds/{round}/finalize"),
            Some(&admin),
            totals(9_000_000, 1_100_000),
        )
        .await;
    assert_eq!(failed.status, 500, "{}", failed.text);
    let round_now = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    assert_eq!(round_now.body["state"], "closed");
    let procurement_now = app
        .get(&format!("/api/v1/procurements/{procurement}"), &admin)
        .await;
    assert_eq!(procurement_now.body["status"], "published");
    let audit = app
        .get("/api/v1/audit-events?action=round.finalized", &admin)
        .await;
    assert_eq!(audit.body["items"], json!([]), "{}", audit.text);
}

#[actix_web::test]
async fn the_csv_opens_in_excel_as_it_is() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = closed_round_with_three_bodies(&app, &admin).await;
    let done = app
        .post(
            &format!("/api/v1/rounds/{round}/finalize"),
            Some(&admin),
            totals(9_000_000, 1_100_000),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);

    let by_query = app
        .get(
            &format!("/api/v1/rounds/{round}/allocation?format=csv"),
            &admin,
        )
        .await;
    let mut by_accept = app
        .client
        .get(app.url(&format!("/api/v1/rounds/{round}/allocation")))
        .bearer_auth(&admin)
        .insert_header(("accept", "text/csv"))
        .send()
        .await
        .unwrap();
    let accepted = by_accept.body().await.unwrap();
    assert_eq!(by_query.text.as_bytes(), &accepted[..]);
    assert_eq!(by_query.content_type(), "text/csv; charset=utf-8");
    assert!(
        by_query
            .headers
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=")
    );

    let text = &by_query.text;
    assert!(text.starts_with('\u{feff}'), "no byte order mark");
    assert!(text.ends_with("\r\n"));
    assert!(!text.replace("\r\n", "").contains('\n'), "a bare LF");
    let lines: Vec<&str> = text
        .trim_start_matches('\u{feff}')
        .split_terminator("\r\n")
        .collect();
    assert_eq!(
        lines[0],
        "団体コード,団体名,人口,人口基準日,年度,費用区分,均等割,人口割,利用割,固定額,端数調整,負担額"
    );
    // Three bodies × 3 years in the base pool, two × 3 in lgwan, and the totals row.
    assert_eq!(lines.len(), 1 + 9 + 6 + 1, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("203041,川上村,3963,2020-01-01,2027,基本,")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains(",2028,LGWAN接続,")),
        "{text}"
    );
    let last: Vec<&str> = lines.last().unwrap().split(',').collect();
    assert_eq!(last[1], "合計");
    assert_eq!(last[11], (3 * (9_000_000 + 1_100_000)).to_string());
    // Each row's parts add up to its amount.
    for line in &lines[1..] {
        let cells: Vec<i64> = line
            .split(',')
            .skip(6)
            .map(|c| c.parse().unwrap())
            .collect();
        assert_eq!(cells[..5].iter().sum::<i64>(), cells[5], "{line}");
    }
}

/// The OCDS release schema with the Budget Breakdown extension merged in (RFC 7386), and the
/// package schema that refers to it.
fn ocds_validator() -> jsonschema::Validator {
    let read = |name: &str| -> Value {
        let path = format!("{}/tests/data/ocds/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut release = read("release-schema.json");
    json_patch::merge(
        &mut release,
        &read("budget-breakdown-extension-release-schema.json"),
    );
    let registry = jsonschema::Registry::new()
        .add(
            "https://standard.open-contracting.org/schema/1__1__5/release-schema.json",
            release,
        )
        .and_then(|builder| builder.prepare())
        .expect("the release schema registers");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .with_registry(&registry)
        .build(&read("release-package-schema.json"))
        .expect("the OCDS schemas compile")
}

#[actix_web::test]
async fn the_ocds_package_validates_and_is_open_data() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (procurement, round) = closed_round_with_three_bodies(&app, &admin).await;
    let path = format!("/api/v1/ocds/releases?procurement={procurement}");
    let before = app.request(Method::GET, &path, None, None).await;
    assert_eq!(before.status, 404, "{}", before.text);

    app.post(
        &format!("/api/v1/rounds/{round}/finalize"),
        Some(&admin),
        totals(9_000_000, 1_100_000),
    )
    .await;
    let mut body = totals(8_800_000, 1_100_000);
    body["reason"] = json!("変更契約");
    app.post(
        &format!("/api/v1/rounds/{round}/allocations"),
        Some(&admin),
        body,
    )
    .await;

    let package = app.request(Method::GET, &path, None, None).await;
    assert_eq!(package.status, StatusCode::OK, "{}", package.text);
    let validator = ocds_validator();
    let errors: Vec<String> = validator
        .iter_errors(&package.body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{}", package.text);

    let releases = package.body["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 2, "one release per version");
    let release = &releases[1];
    assert_eq!(release["buyer"]["name"], "長野県");
    assert!(
        package.body["extensions"][0]
            .as_str()
            .unwrap()
            .contains("ocds_budget_breakdown_extension")
    );
    let parties = release["parties"].as_array().unwrap();
    assert_eq!(parties.len(), 4, "the lead and three participants");
    let breakdown = release["planning"]["budget"]["budgetBreakdown"]
        .as_array()
        .unwrap();
    assert_eq!(breakdown.len(), 15);
    let sum: i64 = breakdown
        .iter()
        .map(|b| b["amount"]["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 3 * (8_800_000 + 1_100_000));
    assert!(breakdown.iter().all(|b| b["amount"]["currency"] == "JPY"));
    for b in breakdown {
        let source = b["sourceParty"]["id"].as_str().unwrap();
        assert!(parties.iter().any(|p| p["id"] == source), "{source}");
    }
    // A document that breaks the schema is caught: the check can fail.
    let mut broken = package.body.clone();
    broken["releases"][0]["planning"]["budget"]["budgetBreakdown"][0]["amount"]["amount"] =
        json!("a lot");
    assert!(!validator.is_valid(&broken));
}

#[actix_web::test]
async fn ocds_asks_for_a_login_when_it_is_not_public() {
    let app = spawn_app_with(|config| config.public_ocds = false).await;
    let response = app
        .request(
            Method::GET,
            "/api/v1/ocds/releases?procurement=x",
            None,
            None,
        )
        .await;
    assert_eq!(response.status, 401, "{}", response.text);
    let admin = app.admin_token().await;
    let response = app.get("/api/v1/ocds/releases?procurement=x", &admin).await;
    assert_eq!(response.status, 404, "{}", response.text);
    assert_eq!(response.problem_code(), "no_finalized_allocation");
}

#[actix_web::test]
async fn an_administrator_prices_any_list_of_bodies() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let path = format!("/api/v1/rounds/{round}/estimate");
    let priced = app
        .post(
            &path,
            Some(&admin),
            json!({"participants": [
                {"organization": NAGANO},
                {"organization": KAWAKAMI, "options": ["voice"]}
            ]}),
        )
        .await;
    assert_eq!(priced.status, 200, "{}", priced.text);
    assert_eq!(priced.body["binding"], false);
    let pools = priced.body["pools"].as_array().unwrap();
    // base and voice, three years each.
    assert_eq!(pools.len(), 6, "{}", priced.text);
    let voice = pools.iter().find(|p| p["pool"] == "voice").unwrap();
    assert_eq!(voice["shares"].as_array().unwrap().len(), 1);
    assert_eq!(voice["shares"][0]["amount"], 600_000);
    // Nothing was stored.
    let answers = app
        .get(&format!("/api/v1/rounds/{round}/participations"), &admin)
        .await;
    assert_eq!(answers.body["items"], json!([]));

    let refused = app
        .post(
            &path,
            Some(&admin),
            json!({"participants": [{"organization": "999999"}, {"organization": NAGANO, "options": ["nothing"]}]}),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
}

/// The request is sound and the stored figures cannot be priced (here a round whose population
/// base date precedes every figure, and a population weight): the estimate, its stream and
/// finalizing are 409 `allocation_impossible` and change nothing; a what-if naming the body is
/// 422 on the pool; a figure in force mends it.
#[actix_web::test]
async fn figures_that_do_not_fit_the_model_are_a_conflict_until_they_are_mended() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let procurement = published_procurement(&app, &admin, json!({})).await;
    let opens = app.clock_now() - Duration::hours(1);
    let round = app
        .ok(
            Method::POST,
            &format!("/api/v1/procurements/{procurement}/rounds"),
            &admin,
            Some(json!({"kind": "commitment", "opens_at": at(opens), "closes_at": at(opens + Duration::days(10)), "population_base_date": "2010-01-01"})),
        )
        .await;
    let round = round["id"].as_str().unwrap();
    let village = app.user("coordinator", KAWAKAMI).await;
    let estimate = format!("/api/v1/rounds/{round}/estimate");

    for path in [estimate.clone(), format!("{estimate}/stream")] {
        let refused = app.get(&path, &village.token).await;
        assert_eq!(refused.status, 409, "{path}: {}", refused.text);
        assert_eq!(refused.problem_code(), "allocation_impossible");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("no population figure"),
            "{}",
            refused.text
        );
    }
    let what_if = app
        .post(
            &estimate,
            Some(&admin),
            json!({"participants": [{"organization": KAWAKAMI}]}),
        )
        .await;
    assert_eq!(what_if.status, 422, "{}", what_if.text);
    assert_eq!(what_if.body["errors"][0]["field"], "pools.base");
    assert_eq!(what_if.body["errors"][0]["code"], "allocation_impossible");

    let joined = put(
        &app,
        &village.token,
        round,
        KAWAKAMI,
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    app.ok(
        Method::POST,
        &format!("/api/v1/rounds/{round}/close"),
        &admin,
        Some(json!({})),
    )
    .await;
    let finalize = format!("/api/v1/rounds/{round}/finalize");
    let base = |amount: i64| json!({"totals": (2027..=2029).map(|year| json!({"pool": "base", "fiscal_year": year, "amount": amount})).collect::<Vec<_>>()});
    let refused = app.post(&finalize, Some(&admin), base(9_000_000)).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.problem_code(), "allocation_impossible");
    let still = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    assert_eq!(still.body["state"], "closed");

    app.ok(
        Method::PATCH,
        &format!("/api/v1/organizations/{KAWAKAMI}"),
        &admin,
        Some(json!({"population": {"value": 4_500, "base_date": "2005-10-01"}})),
    )
    .await;
    let priced = app.get(&estimate, &village.token).await;
    assert_eq!(priced.status, 200, "{}", priced.text);
    let done = app.post(&finalize, Some(&admin), base(9_000_000)).await;
    assert_eq!(done.status, 201, "{}", done.text);
}
