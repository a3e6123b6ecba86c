use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::lifecycle::published_procurement;

#[actix_web::test]
async fn answers_reach_every_eligible_body_without_naming_the_asker() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let asker = app.user("coordinator", "202011").await;
    let other = app.user("coordinator", "202029").await;
    let id = published_procurement(&app, &admin, json!({})).await;
    let path = format!("/api/v1/procurements/{id}/questions");

    let asked = app
        .post(
            &path,
            Some(&asker.token),
            json!({"question": "  LGWANから利用できますか。 "}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    assert_eq!(asked.body["question"], "LGWANから利用できますか。");
    assert_eq!(asked.body["asked_by_organization"], asker.organization_id);
    let question = asked.body["id"].as_str().unwrap().to_owned();

    assert_eq!(
        app.get(&path, &other.token).await.body,
        json!([]),
        "unanswered questions stay with the asker"
    );
    assert_eq!(
        app.get(&path, &asker.token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let answered = app
        .post(
            &format!("/api/v1/questions/{question}/answer"),
            Some(&admin),
            json!({"answer": "利用できます。"}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    let seen_by_other = app.get(&path, &other.token).await;
    assert_eq!(seen_by_other.body[0]["answer"], "利用できます。");
    assert!(seen_by_other.body[0]["asked_by_organization"].is_null());
    assert_eq!(
        app.get(&path, &admin).await.body[0]["asked_by_organization"],
        asker.organization_id
    );

    let blank = app
        .post(&path, Some(&asker.token), json!({"question": "   "}))
        .await;
    assert_eq!(blank.problem_code(), "validation_failed");
    let unknown = app
        .post(
            "/api/v1/questions/nope/answer",
            Some(&admin),
            json!({"answer": "x"}),
        )
        .await;
    assert_eq!(unknown.problem_code(), "question_not_found");
}
