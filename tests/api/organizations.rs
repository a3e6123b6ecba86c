//! The council's member bodies: listing, filtering, lookup by id or code, and updates.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};

/// Percent-encodes a query value (kanji, `%`, `_` …) byte by byte.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Response {
    let response = app
        .get(&format!("/api/v1/organizations?{query}"), token)
        .await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{query}: {}",
        response.text
    );
    response
}

fn items(response: &Response) -> &Vec<Value> {
    response.body["items"].as_array().expect("a list of items")
}

fn names(response: &Response) -> Vec<&str> {
    items(response)
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect()
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    names.into_iter().collect()
}

/// The `field`s of a validation problem's `errors`.
#[track_caller]
fn invalid_fields(response: &Response) -> Vec<(String, String)> {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text
    );
    assert_eq!(response.problem_code(), "validation_failed");
    response.body["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn field(name: &str, code: &str) -> (String, String) {
    (name.to_owned(), code.to_owned())
}

async fn detail(app: &TestApp, token: &str, key: &str) -> Response {
    let response = app
        .get(&format!("/api/v1/organizations/{key}"), token)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{key}: {}", response.text);
    response
}

fn history(detail: &Response) -> Vec<(i64, &str)> {
    detail.body["population_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["value"].as_i64().unwrap(),
                f["base_date"].as_str().unwrap(),
            )
        })
        .collect()
}

const NAGANO_WIDE_AREA_UNION: [&str; 9] = [
    "長野市",
    "須坂市",
    "千曲市",
    "坂城町",
    "小布施町",
    "高山村",
    "信濃町",
    "小川村",
    "飯綱町",
];

// --- listing -------------------------------------------------------------------------------------

#[actix_web::test]
async fn pages_of_ten_cover_all_89_bodies_exactly_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let first = list(&app, &token, "per_page=10").await;
    assert_eq!(first.body["total"], 89);
    assert_eq!(first.body["page"], 1);
    assert_eq!(first.body["per_page"], 10);
    assert_eq!(items(&first).len(), 10);
    // Bodies with a code come first, in code order: the prefecture leads.
    assert_eq!(items(&first)[0]["lg_code"], "200000");

    let mut seen = BTreeSet::new();
    for page in 1..=9 {
        let response = list(&app, &token, &format!("per_page=10&page={page}")).await;
        assert_eq!(response.body["total"], 89);
        let expected = if page == 9 { 9 } else { 10 };
        assert_eq!(items(&response).len(), expected, "page {page}");
        for item in items(&response) {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_owned()),
                "{} on two pages",
                item["name"]
            );
        }
    }
    assert_eq!(seen.len(), 89);

    let beyond = list(&app, &token, "per_page=10&page=10").await;
    assert_eq!(beyond.body["total"], 89);
    assert!(items(&beyond).is_empty());
}

#[actix_web::test]
async fn out_of_range_paging_is_rejected_naming_the_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for (query, name) in [
        ("per_page=0", "per_page"),
        ("per_page=201", "per_page"),
        ("page=0", "page"),
        ("page=-1", "page"),
    ] {
        let response = app
            .get(&format!("/api/v1/organizations?{query}"), &token)
            .await;
        assert_eq!(
            invalid_fields(&response),
            [field(name, "out_of_range")],
            "{query}"
        );
    }
    // Both bad at once: both are listed.
    let both = app
        .get("/api/v1/organizations?page=0&per_page=0", &token)
        .await;
    assert_eq!(
        invalid_fields(&both),
        [
            field("page", "out_of_range"),
            field("per_page", "out_of_range")
        ]
    );
    // The limits themselves are fine.
    assert_eq!(items(&list(&app, &token, "per_page=200").await).len(), 89);
    assert_eq!(items(&list(&app, &token, "per_page=1").await).len(), 1);
}

#[actix_web::test]
async fn kind_filter_counts_every_kind_of_body() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for (kind, count) in [
        ("city", 19),
        ("town", 23),
        ("village", 35),
        ("wide_area_union", 10),
        ("prefecture", 1),
        ("association", 1),
    ] {
        let response = list(&app, &token, &format!("kind={kind}&per_page=200")).await;
        assert_eq!(response.body["total"], count, "{kind}");
        assert_eq!(items(&response).len(), count, "{kind}");
        assert!(
            items(&response).iter().all(|o| o["kind"] == kind),
            "{kind}: {}",
            response.text
        );
    }
}

#[actix_web::test]
async fn union_filter_by_exact_name_lists_its_nine_members() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = list(
        &app,
        &token,
        &format!("union={}&per_page=200", encode("長野広域連合")),
    )
    .await;
    assert_eq!(response.body["total"], 9);
    assert_eq!(sorted(names(&response)), sorted(NAGANO_WIDE_AREA_UNION));
    assert!(names(&response).contains(&"坂城町"));
}

#[actix_web::test]
async fn union_filter_by_id_gives_the_same_members_as_by_name() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let unions = list(&app, &token, "kind=wide_area_union").await;
    let ueda = items(&unions)
        .iter()
        .find(|u| u["name"] == "上田地域広域連合")
        .expect("上田地域広域連合 is listed");

    let by_id = list(
        &app,
        &token,
        &format!("union={}", ueda["id"].as_str().unwrap()),
    )
    .await;
    let by_name = list(
        &app,
        &token,
        &format!("union={}", encode("上田地域広域連合")),
    )
    .await;
    assert_eq!(by_id.body["total"], 5);
    assert_eq!(
        sorted(names(&by_id)),
        sorted(["上田市", "東御市", "青木村", "長和町", "坂城町"])
    );
    assert_eq!(names(&by_id), names(&by_name));
}

#[actix_web::test]
async fn union_filter_combines_with_kind() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = list(
        &app,
        &token,
        &format!("union={}&kind=city", encode("長野広域連合")),
    )
    .await;
    assert_eq!(
        sorted(names(&response)),
        sorted(["長野市", "須坂市", "千曲市"])
    );
    assert_eq!(response.body["total"], 3);
}

#[actix_web::test]
async fn an_unknown_union_or_a_body_that_is_not_a_union_is_not_found() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // A partial name is not the exact name; a municipality is not a union.
    for union in [
        "存在しない広域連合",
        "長野広域",
        "長野市",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let response = app
            .get(
                &format!("/api/v1/organizations?union={}", encode(union)),
                &token,
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{union}");
        assert_eq!(response.problem_code(), "union_not_found", "{union}");
    }
}

#[actix_web::test]
async fn name_filter_matches_part_of_the_kanji_name() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = list(&app, &token, &format!("name={}", encode("伊那"))).await;
    assert_eq!(
        sorted(names(&response)),
        sorted(["伊那市", "上伊那広域連合"])
    );
    assert_eq!(response.body["total"], 2);
}

#[actix_web::test]
async fn name_filter_matches_romaji_in_any_case() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for query in ["SAKAKI", "sakaki", "SaKaKi-MACHI"] {
        let response = list(&app, &token, &format!("name={query}")).await;
        assert_eq!(names(&response), ["坂城町"], "{query}");
    }
}

#[actix_web::test]
async fn wildcards_in_the_name_filter_are_taken_literally() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for name in ["%", "_", "長野%", "%市", "長_市", "\\"] {
        let response = list(&app, &token, &format!("name={}", encode(name))).await;
        assert_eq!(response.body["total"], 0, "{name:?}: {}", response.text);
        assert!(items(&response).is_empty(), "{name:?}");
    }
}

#[actix_web::test]
async fn listing_requires_credentials() {
    let app = spawn_app().await;
    for path in ["/api/v1/organizations", "/api/v1/organizations/202011"] {
        let response = app.request(Method::GET, path, None, None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.problem_code(), "missing_credentials", "{path}");
    }
}

// --- lookup --------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_city_is_found_by_its_code_and_by_its_id() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let by_code = detail(&app, &token, "202011").await;
    let body = &by_code.body;
    assert_eq!(body["name"], "長野市");
    assert_eq!(body["romaji"], "Nagano-shi");
    assert_eq!(body["kind"], "city");
    assert_eq!(body["lg_code"], "202011");
    assert_eq!(
        body["population"],
        json!({"value": 375884, "base_date": "2020-01-01"})
    );
    let unions: Vec<&str> = body["unions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(unions, ["長野広域連合"]);
    assert_eq!(body["members"], json!([]));
    assert_eq!(history(&by_code), [(375884, "2020-01-01")]);

    let id = body["id"].as_str().unwrap();
    let by_id = detail(&app, &token, id).await;
    assert_eq!(by_id.body, by_code.body);
}

#[actix_web::test]
async fn a_union_lists_its_members_in_code_order() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let city = detail(&app, &token, "202011").await;
    let union_id = city.body["unions"][0]["id"].as_str().unwrap();
    let union = detail(&app, &token, union_id).await;
    assert_eq!(union.body["name"], "長野広域連合");
    assert_eq!(union.body["kind"], "wide_area_union");
    assert_eq!(union.body["lg_code"], Value::Null);
    assert_eq!(union.body["unions"], json!([]));
    let members: Vec<&str> = union.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(members, NAGANO_WIDE_AREA_UNION);
    assert_eq!(union.body["members"][0]["id"], city.body["id"]);
}

#[actix_web::test]
async fn sakaki_belongs_to_two_unions() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let sakaki = detail(&app, &token, "205214").await;
    assert_eq!(sakaki.body["name"], "坂城町");
    let unions: Vec<&str> = sakaki.body["unions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(sorted(unions), sorted(["長野広域連合", "上田地域広域連合"]));
}

#[actix_web::test]
async fn a_code_with_a_wrong_check_digit_is_invalid() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app.get("/api/v1/organizations/202012", &token).await;
    assert_eq!(
        invalid_fields(&response),
        [field("lg_code", "invalid_lg_code")]
    );
}

#[actix_web::test]
async fn a_valid_code_or_id_outside_the_council_is_not_found() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // 131016 is 千代田区 (Tokyo): a well-formed code, but not a member.
    for key in ["131016", "00000000-0000-0000-0000-000000000000", "nagano"] {
        let response = app
            .get(&format!("/api/v1/organizations/{key}"), &token)
            .await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{key}: {}",
            response.text
        );
        assert_eq!(response.problem_code(), "organization_not_found", "{key}");
    }
}

// --- population figures -------------------------------------------------------------------------

#[actix_web::test]
async fn a_figure_with_a_later_base_date_becomes_current() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch("/api/v1/organizations/202011", &token, json!({"population": {"value": 372000, "base_date": "2024-01-01", "source": "住民基本台帳"}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.body["population"],
        json!({"value": 372000, "base_date": "2024-01-01"})
    );
    assert_eq!(
        history(&response),
        [(372000, "2024-01-01"), (375884, "2020-01-01")]
    );
    assert_eq!(
        response.body["population_history"][0]["source"],
        "住民基本台帳"
    );

    // It is stored: a later read and the list agree.
    let again = detail(&app, &token, "202011").await;
    assert_eq!(
        again.body["population"],
        json!({"value": 372000, "base_date": "2024-01-01"})
    );
    assert_eq!(
        history(&again),
        [(372000, "2024-01-01"), (375884, "2020-01-01")]
    );
    let listed = list(&app, &token, &format!("name={}", encode("長野市"))).await;
    assert_eq!(listed.body["items"][0]["population"]["value"], 372000);
}

#[actix_web::test]
async fn a_figure_with_an_earlier_base_date_is_history_only() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"population": {"value": 386000, "base_date": "2015-10-01"}}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.body["population"],
        json!({"value": 375884, "base_date": "2020-01-01"})
    );
    assert_eq!(
        history(&response),
        [(375884, "2020-01-01"), (386000, "2015-10-01")]
    );

    let again = detail(&app, &token, "202011").await;
    assert_eq!(
        again.body["population"],
        json!({"value": 375884, "base_date": "2020-01-01"})
    );
    assert_eq!(history(&again).len(), 2);
}

#[actix_web::test]
async fn a_second_figure_for_the_same_base_date_is_a_conflict() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"population": {"value": 1, "base_date": "2020-01-01"}}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(response.problem_code(), "population_figure_exists");

    let after = detail(&app, &token, "202011").await;
    assert_eq!(
        after.body["population"],
        json!({"value": 375884, "base_date": "2020-01-01"})
    );
    assert_eq!(history(&after), [(375884, "2020-01-01")]);
}

#[actix_web::test]
async fn a_conflicting_figure_leaves_the_contacts_unchanged_too() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"population": {"value": 1, "base_date": "2020-01-01"}, "contacts": [{"name": "信州 太郎"}]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
    assert_eq!(
        detail(&app, &token, "202011").await.body["contacts"],
        json!([])
    );
}

#[actix_web::test]
async fn a_base_date_in_the_future_is_rejected() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let future = (Utc::now().date_naive() + Duration::days(2)).to_string();
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"population": {"value": 370000, "base_date": future}}),
        )
        .await;
    assert_eq!(
        invalid_fields(&response),
        [field("population.base_date", "in_future")]
    );
    assert_eq!(history(&detail(&app, &token, "202011").await).len(), 1);
}

#[actix_web::test]
async fn a_negative_population_is_rejected() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"population": {"value": -1, "base_date": "2024-01-01"}}),
        )
        .await;
    assert_eq!(
        invalid_fields(&response),
        [field("population.value", "out_of_range")]
    );
}

#[actix_web::test]
async fn an_empty_update_is_rejected() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch("/api/v1/organizations/202011", &token, json!({}))
        .await;
    assert_eq!(invalid_fields(&response), [field("", "empty_update")]);
}

#[actix_web::test]
async fn updating_an_unknown_body_is_not_found() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/131016",
            &token,
            json!({"contacts": []}),
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.problem_code(), "organization_not_found");
}

// --- contacts -----------------------------------------------------------------------------------

#[actix_web::test]
async fn contacts_are_replaced_as_a_whole() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let first = json!([
        {"name": " 信州 太郎 ", "department": "企画課DX推進係", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"},
        {"name": "信州 花子", "department": "  ", "email": null, "phone": null},
    ]);
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"contacts": first}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    // Stored trimmed, with blank fields as null.
    assert_eq!(
        response.body["contacts"],
        json!([
            {"name": "信州 太郎", "department": "企画課DX推進係", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"},
            {"name": "信州 花子", "department": null, "email": null, "phone": null},
        ])
    );
    // The population is untouched by a contacts-only update.
    assert_eq!(history(&response).len(), 1);

    let second = json!([{"name": "善光寺 一郎", "email": "ichiro@city.nagano.lg.jp"}]);
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"contacts": second}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let expected = json!([{"name": "善光寺 一郎", "department": null, "email": "ichiro@city.nagano.lg.jp", "phone": null}]);
    assert_eq!(response.body["contacts"], expected);
    assert_eq!(
        detail(&app, &token, "202011").await.body["contacts"],
        expected
    );

    let cleared = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"contacts": []}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(
        detail(&app, &token, "202011").await.body["contacts"],
        json!([])
    );
}

#[actix_web::test]
async fn contacts_are_visible_only_to_admins_and_the_bodys_own_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let contacts = json!([{"name": "信州 太郎", "department": "企画課", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"}]);
    let updated = app
        .patch(
            "/api/v1/organizations/202011",
            &admin,
            json!({"contacts": contacts}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);

    let own_coordinator = app.user("coordinator", "202011").await;
    let own_viewer = app.user("viewer", "202011").await;
    let other_coordinator = app.user("coordinator", "202029").await;
    let other_viewer = app.user("viewer", "202029").await;

    let nagano_list = format!("name={}", encode("長野市"));
    for (who, token, visible) in [
        ("admin", admin.as_str(), true),
        ("own coordinator", own_coordinator.token.as_str(), true),
        ("own viewer", own_viewer.token.as_str(), true),
        ("other coordinator", other_coordinator.token.as_str(), false),
        ("other viewer", other_viewer.token.as_str(), false),
    ] {
        let expected = if visible {
            contacts.clone()
        } else {
            Value::Null
        };
        let one = detail(&app, token, "202011").await;
        assert_eq!(one.body["contacts"], expected, "{who}, detail");
        let listed = list(&app, token, &nagano_list).await;
        assert_eq!(names(&listed), ["長野市"]);
        assert_eq!(listed.body["items"][0]["contacts"], expected, "{who}, list");
        // Public data is visible to everyone.
        assert_eq!(one.body["population"]["value"], 375884, "{who}");
    }

    // A body's own users see their own (empty) contacts but not another body's.
    let matsumoto = detail(&app, &other_viewer.token, "202029").await;
    assert_eq!(matsumoto.body["contacts"], json!([]));
    let page = list(&app, &other_viewer.token, "per_page=200").await;
    for item in items(&page) {
        let expected = if item["lg_code"] == "202029" {
            json!([])
        } else {
            Value::Null
        };
        assert_eq!(item["contacts"], expected, "{}", item["name"]);
    }
}

#[actix_web::test]
async fn a_contact_with_an_invalid_email_is_rejected_naming_its_index() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"contacts": [{"name": "信州 太郎", "email": "not-an-address"}]}),
        )
        .await;
    assert_eq!(
        invalid_fields(&response),
        [field("contacts[0].email", "invalid_format")]
    );

    let second = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"contacts": [{"name": "信州 太郎", "email": "dx@city.nagano.lg.jp"}, {"name": " ", "phone": "call me"}]}),
        )
        .await;
    assert_eq!(
        invalid_fields(&second),
        [
            field("contacts[1].name", "invalid_length"),
            field("contacts[1].phone", "invalid_format")
        ]
    );
    assert_eq!(
        detail(&app, &token, "202011").await.body["contacts"],
        json!([])
    );
}

#[actix_web::test]
async fn an_update_with_one_invalid_part_changes_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({
                "population": {"value": 372000, "base_date": "2024-01-01"},
                "contacts": [{"name": "信州 太郎", "email": "not-an-address"}],
            }),
        )
        .await;
    assert_eq!(
        invalid_fields(&response),
        [field("contacts[0].email", "invalid_format")]
    );

    let after = detail(&app, &token, "202011").await;
    assert_eq!(
        after.body["population"],
        json!({"value": 375884, "base_date": "2020-01-01"})
    );
    assert_eq!(history(&after), [(375884, "2020-01-01")]);
    assert_eq!(after.body["contacts"], json!([]));
    // The same figure is still free to record.
    let retry = app
        .patch(
            "/api/v1/organizations/202011",
            &token,
            json!({"population": {"value": 372000, "base_date": "2024-01-01"}}),
        )
        .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
}

// --- authorization ------------------------------------------------------------------------------

#[actix_web::test]
async fn only_administrators_may_update_a_body() {
    let app = spawn_app().await;
    let users = [
        ("own coordinator", app.user("coordinator", "202011").await),
        ("own viewer", app.user("viewer", "202011").await),
        ("other coordinator", app.user("coordinator", "202029").await),
        ("other viewer", app.user("viewer", "202029").await),
    ];
    let body = json!({"population": {"value": 372000, "base_date": "2024-01-01"}, "contacts": [{"name": "信州 太郎"}]});
    for (who, user) in &users {
        let response = app
            .patch("/api/v1/organizations/202011", &user.token, body.clone())
            .await;
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{who}: {}",
            response.text
        );
        assert_eq!(response.problem_code(), "admin_only", "{who}");
    }
    let admin = app.admin_token().await;
    let after = detail(&app, &admin, "202011").await;
    assert_eq!(history(&after).len(), 1);
    assert_eq!(after.body["contacts"], json!([]));

    let anonymous = app
        .request(
            Method::PATCH,
            "/api/v1/organizations/202011",
            None,
            Some(body),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.problem_code(), "missing_credentials");
}
