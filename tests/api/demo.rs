use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn the_demonstration_shows_each_stage_of_the_lifecycle_and_loads_once() {
    let app = spawn_app().await;
    let now = {
        use kyodo::clock::Clock;
        app.clock.now()
    };
    let pool = app.pool();
    let created = kyodo::db::transaction(&mut pool.get().unwrap(), |conn| {
        kyodo::demo::load(conn, now)
    })
    .unwrap();
    assert_eq!(created, 7);
    let again = kyodo::db::transaction(&mut pool.get().unwrap(), |conn| {
        kyodo::demo::load(conn, now)
    })
    .unwrap();
    assert_eq!(again, 0, "loading twice changes nothing");

    let admin = app.admin_token().await;
    let list = app.get("/api/v1/procurements", &admin).await;
    assert_eq!(list.body["total"], 7);
    let mut rounds: BTreeMap<String, Value> = BTreeMap::new();
    for item in list.body["items"].as_array().unwrap() {
        let title = item["title"].as_str().unwrap().to_owned();
        let found = app
            .get(
                &format!(
                    "/api/v1/procurements/{}/rounds",
                    item["id"].as_str().unwrap()
                ),
                &admin,
            )
            .await;
        rounds.insert(title, found.body[0].clone());
    }
    let stage = |title: &str| {
        (
            rounds[title]["kind"].as_str().unwrap().to_owned(),
            rounds[title]["state"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        stage("AI音声文字起こしツール"),
        ("interest_survey".into(), "open".into())
    );
    assert_eq!(
        stage("AIチャットボット"),
        ("commitment".into(), "open".into())
    );
    assert_eq!(
        stage("住家被害認定調査システム"),
        ("interest_survey".into(), "scheduled".into())
    );
    assert_eq!(
        stage("電子入札システム"),
        ("commitment".into(), "finalized".into())
    );
    assert_eq!(rounds["電子入札システム"]["counts"]["joined"], 31);
    // Finalized at the model's prices: 31 bodies × ¥500,000 a year, 2026–2030, each paying the
    // ¥10,000 fee and an equal share of the rest.
    let bidding = rounds["電子入札システム"]["id"].as_str().unwrap();
    let allocation = app
        .get(&format!("/api/v1/rounds/{bidding}/allocation"), &admin)
        .await;
    assert_eq!(allocation.status, 200, "{}", allocation.text);
    assert_eq!(allocation.body["total"], 5 * 31 * 500_000);
    assert_eq!(allocation.body["pools"].as_array().unwrap().len(), 5);
    assert_eq!(allocation.body["pools"][0]["shares"][0]["amount"], 500_000);
    let csv = app
        .get(
            &format!("/api/v1/rounds/{bidding}/allocation?format=csv"),
            &admin,
        )
        .await;
    assert_eq!(csv.status, 200);
    let procurement = rounds["電子入札システム"]["procurement_id"]
        .as_str()
        .unwrap();
    let ocds = app
        .request(
            actix_web::http::Method::GET,
            &format!("/api/v1/ocds/releases?procurement={procurement}"),
            None,
            None,
        )
        .await;
    assert_eq!(ocds.status, 200, "{}", ocds.text);
    assert_eq!(rounds["電子契約サービス"]["counts"]["joined"], 22);
    assert_eq!(
        rounds["内部事務系システム"]["counts"]["joined"], 77,
        "mandatory: every municipality enrolled"
    );
    let chatbot = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "AIチャットボット")
        .unwrap();
    assert_eq!(chatbot["options"].as_array().unwrap().len(), 2);
}
