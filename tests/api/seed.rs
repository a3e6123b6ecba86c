//! The council as seeded, seen through the API, and seeding again changing nothing.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use kyodo::db::seed::{SeedReport, seed_council};
use kyodo::domain::lg_code::LgCode;

use crate::helpers::{TestApp, spawn_app};

/// Every body, in one page.
async fn all_bodies(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get("/api/v1/organizations?per_page=200", token).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.body["total"], 89);
    let items = response.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 89);
    items
}

fn is_municipality(body: &Value) -> bool {
    ["city", "town", "village"].contains(&body["kind"].as_str().unwrap())
}

fn reseed(app: &TestApp) -> SeedReport {
    let pool = app.pool();
    kyodo::db::transaction(&mut pool.get().unwrap(), seed_council).expect("seeding again succeeds")
}

#[actix_web::test]
async fn the_council_has_89_bodies_of_six_kinds() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let bodies = all_bodies(&app, &token).await;
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for body in &bodies {
        *per_kind.entry(body["kind"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(
        per_kind,
        BTreeMap::from([
            ("association", 1),
            ("city", 19),
            ("prefecture", 1),
            ("town", 23),
            ("village", 35),
            ("wide_area_union", 10)
        ])
    );
    // Names are unique.
    let mut names: Vec<&str> = bodies.iter().map(|b| b["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 89);
}

#[actix_web::test]
async fn every_municipality_and_the_prefecture_have_a_valid_nagano_code() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut codes = Vec::new();
    for body in all_bodies(&app, &token).await {
        let code = body["lg_code"].as_str();
        match body["kind"].as_str().unwrap() {
            "city" | "town" | "village" | "prefecture" => {
                let code = code.unwrap_or_else(|| panic!("{} has no code", body["name"]));
                assert!(LgCode::parse(code).is_ok(), "{}: {code}", body["name"]);
                // 20 is Nagano's prefecture number.
                assert!(code.starts_with("20"), "{}: {code}", body["name"]);
                codes.push(code.to_owned());
            }
            _ => assert_eq!(body["lg_code"], Value::Null, "{}", body["name"]),
        }
    }
    assert_eq!(codes.len(), 78);
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 78, "codes are unique");
}

#[actix_web::test]
async fn a_unions_population_is_the_sum_of_its_members() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let bodies = all_bodies(&app, &token).await;
    let by_id: BTreeMap<&str, &Value> = bodies
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), b))
        .collect();

    let unions: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["kind"] == "wide_area_union")
        .collect();
    assert_eq!(unions.len(), 10);
    for union in unions {
        let members = union["members"].as_array().unwrap();
        assert!(!members.is_empty(), "{}", union["name"]);
        let mut sum = 0;
        for member in members {
            let member = by_id[member["id"].as_str().unwrap()];
            assert!(
                is_municipality(member),
                "{} lists {}",
                union["name"],
                member["name"]
            );
            // Membership is recorded both ways.
            assert!(
                member["unions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|u| u["id"] == union["id"]),
                "{}",
                member["name"]
            );
            sum += member["population"]["value"].as_i64().unwrap();
        }
        assert_eq!(
            union["population"]["value"].as_i64(),
            Some(sum),
            "{}",
            union["name"]
        );
        assert_eq!(
            union["population"]["base_date"], "2020-01-01",
            "{}",
            union["name"]
        );
    }
}

#[actix_web::test]
async fn every_municipality_belongs_to_a_union_and_the_prefecture_is_their_sum() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let bodies = all_bodies(&app, &token).await;
    let municipalities: Vec<&Value> = bodies.iter().filter(|b| is_municipality(b)).collect();
    assert_eq!(municipalities.len(), 77);
    for municipality in &municipalities {
        let unions = municipality["unions"].as_array().unwrap().len();
        let expected = if municipality["name"] == "坂城町" {
            2
        } else {
            1
        };
        assert_eq!(unions, expected, "{}", municipality["name"]);
        assert_eq!(
            municipality["members"],
            json!([]),
            "{}",
            municipality["name"]
        );
    }
    let total: i64 = municipalities
        .iter()
        .map(|m| m["population"]["value"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2_087_307);
    let prefecture = bodies.iter().find(|b| b["kind"] == "prefecture").unwrap();
    assert_eq!(prefecture["name"], "長野県");
    assert_eq!(
        prefecture["population"],
        json!({"value": total, "base_date": "2020-01-01"})
    );
}

#[actix_web::test]
async fn the_association_has_neither_code_nor_population() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .get("/api/v1/organizations?kind=association", &token)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let association = &response.body["items"][0];
    assert_eq!(association["name"], "長野県市町村自治振興組合");
    assert_eq!(association["lg_code"], Value::Null);
    assert_eq!(association["population"], Value::Null);
    assert_eq!(association["unions"], json!([]));
    assert_eq!(association["members"], json!([]));

    let detail = app
        .get(
            &format!(
                "/api/v1/organizations/{}",
                association["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    assert_eq!(detail.body["population_history"], json!([]));
}

#[actix_web::test]
async fn seeding_again_changes_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let before = all_bodies(&app, &token).await;

    assert_eq!(reseed(&app), SeedReport::default());
    assert_eq!(reseed(&app), SeedReport::default());

    let after = all_bodies(&app, &token).await;
    assert_eq!(after, before);
}

#[actix_web::test]
async fn a_newer_figure_and_contacts_survive_seeding_again() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let update = json!({
        "population": {"value": 372000, "base_date": "2024-01-01", "source": "住民基本台帳"},
        "contacts": [{"name": "信州 太郎", "department": null, "email": "dx@city.nagano.lg.jp", "phone": null}],
    });
    let response = app
        .patch("/api/v1/organizations/202011", &token, update.clone())
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);

    assert_eq!(reseed(&app), SeedReport::default());

    let detail = app.get("/api/v1/organizations/202011", &token).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    assert_eq!(
        detail.body["population"],
        json!({"value": 372000, "base_date": "2024-01-01"})
    );
    let history: Vec<(i64, &str)> = detail.body["population_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["value"].as_i64().unwrap(),
                f["base_date"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(history, [(372000, "2024-01-01"), (375884, "2020-01-01")]);
    assert_eq!(detail.body["contacts"], update["contacts"]);
    assert_eq!(all_bodies(&app, &token).await.len(), 89);
}
