//! What the audit log and the change feed call things: every name a client can meet there is
//! listed in the API document.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app_with};
use crate::lifecycle::{procurement_body, published_procurement, round};

#[track_caller]
fn succeeded(response: Response) -> Value {
    assert!(
        response.status.is_success(),
        "{} {}",
        response.status,
        response.text
    );
    response.body
}

/// The values the document lists for `property` of the schema `schema`.
fn listed(document: &Value, schema: &str, property: &str) -> BTreeSet<String> {
    document["components"]["schemas"][schema]["properties"][property]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema}.{property} lists no values"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn every_audit_action(app: &TestApp, admin: &str) -> Vec<String> {
    let mut actions = Vec::new();
    for page in 1.. {
        let events = succeeded(
            app.get(
                &format!("/api/v1/audit-events?per_page=200&page={page}"),
                admin,
            )
            .await,
        );
        let items = events["items"].as_array().unwrap();
        actions.extend(
            items
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned()),
        );
        if items.len() < 200 {
            return actions;
        }
    }
    unreachable!()
}

#[actix_web::test]
async fn every_action_in_the_audit_log_and_the_feed_is_listed_in_the_document() {
    let (_sink, smtp) = crate::smtp::SmtpSink::start_anywhere();
    let app = spawn_app_with(|config| {
        config.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}").into());
        // A webhook whose receiver is down is disabled at its first failure.
        config.webhook_allow_private = true;
        config.webhook_disable_after_hours = 0;
    })
    .await;
    let admin = app.admin_token().await;
    // A webhook registered, its secret rotated, disabled when its receiver is down, deleted.
    let closed = crate::smtp::unused_port();
    let webhook = succeeded(
        app.post(
            "/api/v1/webhooks",
            Some(&admin),
            json!({"url": format!("http://127.0.0.1:{closed}/hook"), "events": ["*"]}),
        )
        .await,
    );
    let webhook = format!("/api/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    succeeded(
        app.post(&format!("{webhook}/rotate-secret"), Some(&admin), json!({}))
            .await,
    );
    // A message the SMTP server refuses for good, retried; an address that stops its reminders.
    succeeded(
        app.post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "reject.audit@example.lg.jp", "display_name": "拒否 太郎", "role": "viewer", "organization": "202011"}),
        )
        .await,
    );
    assert_eq!(app.deliver().await.failed, 1);
    let failed = &app.outbox("invitation", "reject.audit@example.lg.jp")[0];
    succeeded(
        app.post(
            &format!("/api/v1/notifications/{}/retry", failed.id),
            Some(&admin),
            json!({}),
        )
        .await,
    );
    let unsubscribe = app.state.unsubscribe.token("reminded@example.lg.jp");
    succeeded(
        app.post(
            &format!("/api/v1/unsubscribe/{unsubscribe}"),
            None,
            json!({}),
        )
        .await,
    );
    let nagano = app.user("coordinator", "202011").await;
    let matsumoto = app.user("coordinator", "202029").await;
    // An address with an account in another body: answered as if invited, and never invited.
    succeeded(
        app.post(
            "/api/v1/users",
            Some(&nagano.token),
            json!({"email": matsumoto.email, "display_name": "松本 一郎", "role": "viewer"}),
        )
        .await,
    );
    let token = succeeded(
        app.post(
            "/api/v1/tokens",
            Some(&nagano.token),
            json!({"name": "sync", "scope": "read_only"}),
        )
        .await,
    );
    let token_path = format!("/api/v1/tokens/{}", token["id"].as_str().unwrap());
    let revoked = app
        .request(Method::DELETE, &token_path, Some(&nagano.token), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    succeeded(
        app.post("/api/v1/me/calendar", Some(&nagano.token), json!({}))
            .await,
    );
    let revoked = app
        .request(
            Method::DELETE,
            "/api/v1/me/calendar",
            Some(&nagano.token),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    succeeded(
        app.patch(
            "/api/v1/organizations/202011",
            &admin,
            json!({"contacts": []}),
        )
        .await,
    );

    let created = succeeded(
        app.post(
            "/api/v1/procurements",
            Some(&admin),
            procurement_body(json!({})),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap();
    let procurement = format!("/api/v1/procurements/{id}");
    succeeded(
        app.patch(&procurement, &admin, json!({"summary": "改訂"}))
            .await,
    );
    succeeded(
        app.post(&format!("{procurement}/publish"), Some(&admin), json!({}))
            .await,
    );
    let opened = round(&app, &admin, id, Duration::seconds(0), Duration::days(3)).await;
    let round_path = format!("/api/v1/rounds/{}", opened["id"].as_str().unwrap());
    succeeded(
        app.patch(&round_path, &admin, json!({"reminder_days": [3]}))
            .await,
    );
    succeeded(
        app.post(&format!("{round_path}/reminders"), Some(&admin), json!({}))
            .await,
    );
    let later = (app.clock_now() + Duration::days(5)).and_utc().to_rfc3339();
    succeeded(
        app.patch(&round_path, &admin, json!({"closes_at": later}))
            .await,
    );

    let answer = format!("{round_path}/participations/202011");
    for status in ["joined", "declined"] {
        let body = json!({"status": status});
        succeeded(
            app.request(Method::PUT, &answer, Some(&nagano.token), Some(body))
                .await,
        );
    }
    succeeded(
        app.request(Method::DELETE, &answer, Some(&nagano.token), None)
            .await,
    );
    let question = succeeded(
        app.post(
            &format!("{procurement}/questions"),
            Some(&nagano.token),
            json!({"question": "LGWANから利用できますか。"}),
        )
        .await,
    );
    succeeded(
        app.post(
            &format!(
                "/api/v1/questions/{}/answer",
                question["id"].as_str().unwrap()
            ),
            Some(&admin),
            json!({"answer": "利用できます。"}),
        )
        .await,
    );

    succeeded(
        app.post(&format!("{round_path}/close"), Some(&admin), json!({}))
            .await,
    );
    succeeded(
        app.post(
            &format!("{round_path}/reopen"),
            Some(&admin),
            json!({"closes_at": later}),
        )
        .await,
    );
    let reason = json!({"reason": "仕様の見直しのため"});
    succeeded(
        app.post(
            &format!("{round_path}/cancel"),
            Some(&admin),
            reason.clone(),
        )
        .await,
    );
    succeeded(
        app.post(&format!("{procurement}/cancel"), Some(&admin), reason)
            .await,
    );
    // A round finalized and its allocation corrected: the procurement is contracted.
    let contracted =
        published_procurement(&app, &admin, json!({"contract_end_fiscal_year": 2027})).await;
    let finalized = round(
        &app,
        &admin,
        &contracted,
        Duration::seconds(0),
        Duration::days(3),
    )
    .await;
    let finalized = format!("/api/v1/rounds/{}", finalized["id"].as_str().unwrap());
    succeeded(
        app.request(
            Method::PUT,
            &format!("{finalized}/participations/202011"),
            Some(&nagano.token),
            Some(json!({"status": "joined"})),
        )
        .await,
    );
    succeeded(
        app.post(&format!("{finalized}/close"), Some(&admin), json!({}))
            .await,
    );
    let totals = json!([{"pool": "base", "fiscal_year": 2027, "amount": 9_000_000}]);
    succeeded(
        app.post(
            &format!("{finalized}/finalize"),
            Some(&admin),
            json!({"totals": totals}),
        )
        .await,
    );
    succeeded(
        app.post(
            &format!("{finalized}/allocations"),
            Some(&admin),
            json!({"totals": totals, "reason": "契約変更"}),
        )
        .await,
    );

    let mandatory = published_procurement(&app, &admin, json!({"mandatory": true})).await;
    round(
        &app,
        &admin,
        &mandatory,
        Duration::seconds(0),
        Duration::days(3),
    )
    .await;

    app.deliver().await;
    let disabled = app.get(&webhook, &admin).await;
    assert!(
        disabled.body["disabled_at"].is_string(),
        "{}",
        disabled.text
    );
    let deleted = app
        .request(Method::DELETE, &webhook, Some(&admin), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);

    let audited = every_audit_action(&app, &admin).await;
    let in_feed = audited
        .iter()
        .filter(|a| {
            [
                "procurement.",
                "round.",
                "participation.",
                "question.",
                "allocation.",
            ]
            .iter()
            .any(|entity| a.starts_with(entity))
        })
        .count();
    let mut cursor = String::from("0-0");
    let fed = app.follow_feed(&admin, &mut cursor, in_feed).await;
    assert_eq!(
        fed.len(),
        in_feed,
        "every change to a procurement, round, answer or question is in the feed"
    );
    let audited: BTreeSet<String> = audited.into_iter().collect();
    let fed: BTreeSet<String> = fed
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();

    let document = serde_json::to_value(kyodo::openapi::document()).unwrap();
    let audit_actions = listed(&document, "AuditEvent", "action");
    let feed_actions = listed(&document, "FeedEntry", "action");
    assert_eq!(
        audited.difference(&audit_actions).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    assert_eq!(
        fed.difference(&feed_actions).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    // And the document lists nothing the service does not say.
    assert_eq!(
        audit_actions.difference(&audited).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    assert_eq!(
        feed_actions.difference(&fed).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
}
