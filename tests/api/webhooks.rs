//! Webhooks against a real local HTTP receiver: signed deliveries of what the body may see,
//! retries after 500s, endpoints disabled after failing too long, and no delivery to a private
//! address without `WEBHOOK_ALLOW_PRIVATE`.

use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use crate::allocations::{MATSUMOTO, NAGANO, open_round, put};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::receiver::Receiver;

async fn app_allowing_private(adjust: impl FnOnce(&mut kyodo::config::Config)) -> TestApp {
    spawn_app_with(|config| {
        config.webhook_allow_private = true;
        adjust(config);
    })
    .await
}

async fn register(app: &TestApp, token: &str, url: &str, events: Value) -> Value {
    let created = app
        .post(
            "/api/v1/webhooks",
            Some(token),
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(
        created.body["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    created.body
}

#[actix_web::test]
async fn a_body_receives_signed_deliveries_of_what_it_may_see_and_nothing_else() {
    let (receiver, base) = Receiver::start();
    let url = format!("{base}/hook");
    let app = app_allowing_private(|_| {}).await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", NAGANO).await;
    let endpoint = register(
        &app,
        &nagano.token,
        &url,
        json!(["round.opened", "participation.joined", "question.asked"]),
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap();

    let (procurement, round) = open_round(&app, &admin).await;
    let joined = put(
        &app,
        &nagano.token,
        &round,
        NAGANO,
        json!({"status": "joined", "contact": {"name": "長野 太郎", "email": "nagano.contact@example.lg.jp"}, "note": "長野市の内部メモ"}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let other = put(
        &app,
        &admin,
        &round,
        MATSUMOTO,
        json!({"status": "joined", "reason": "代理登録", "contact": {"name": "松本 花子", "email": "matsumoto.contact@example.lg.jp"}, "note": "松本市の内部メモ"}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.text);
    // 松本市's question is its own: 長野市's endpoint does not get it.
    let matsumoto = app.user("coordinator", MATSUMOTO).await;
    let asked = app
        .post(
            &format!("/api/v1/procurements/{procurement}/questions"),
            Some(&matsumoto.token),
            json!({"question": "松本市からの質問です。"}),
        )
        .await;
    assert_eq!(asked.status, 201, "{}", asked.text);

    let report = app.deliver().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let deliveries = receiver.deliveries();
    let mut types: Vec<&str> = deliveries
        .iter()
        .map(|(_, body)| body["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "participation.joined",
            "participation.joined",
            "round.opened"
        ],
        "{deliveries:#?}"
    );
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    let mut ids = Vec::new();
    for (headers, _) in &deliveries {
        let received = receiver
            .raw()
            .into_iter()
            .find(|(h, _)| h.get("webhook-id") == headers.get("webhook-id"))
            .map(|(_, b)| b)
            .unwrap();
        verifier
            .verify(&received, headers)
            .unwrap_or_else(|e| panic!("the signature does not verify: {e}"));
        // A body signed with another secret does not verify.
        let forged = standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap()
            .verify(&received, headers);
        assert!(forged.is_err());
        ids.push(headers["webhook-id"].to_str().unwrap().to_owned());
        // Nothing private of any body travels: no contacts, no notes.
        let text = String::from_utf8_lossy(&received);
        for private in [
            "nagano.contact@example.lg.jp",
            "matsumoto.contact@example.lg.jp",
            "内部メモ",
            "松本市からの質問",
        ] {
            assert!(!text.contains(private), "{private} in {text}");
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each delivery has its own id");
    let first = &deliveries
        .iter()
        .find(|(_, body)| body["type"] == "round.opened")
        .unwrap()
        .1;
    assert_eq!(first["data"]["entity_type"], "round");
    assert_eq!(first["data"]["entity_id"], round.as_str());
    assert!(first["data"]["cursor"].as_str().unwrap().contains('-'));

    // Relayed once: nothing more on the next passes, with another instance relaying too.
    let second = app
        .another_instance_with(|c| c.webhook_allow_private = true)
        .await;
    assert_eq!(second.deliver().await.claimed, 0);
    assert_eq!(app.deliver().await.claimed, 0);
    assert_eq!(receiver.deliveries().len(), 3);

    // The delivery log, for the endpoint's body.
    let id = endpoint["id"].as_str().unwrap();
    let log = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &nagano.token)
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    assert_eq!(log.body["total"], 3, "{}", log.text);
    assert_eq!(log.body["items"][0]["state"], "sent");
    assert_eq!(log.body["items"][0]["channel"], "webhook");
}

#[actix_web::test]
async fn a_delivery_answered_with_500_is_retried_until_it_is_taken() {
    let (receiver, base) = Receiver::start();
    let url = format!("{base}/hook");
    receiver.failures.store(2, Ordering::SeqCst);
    let app = app_allowing_private(|_| {}).await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", NAGANO).await;
    let endpoint = register(&app, &nagano.token, &url, json!(["round.opened"])).await;
    open_round(&app, &admin).await;

    assert_eq!(app.deliver().await.retried, 1);
    app.clock.advance(Duration::seconds(31));
    assert_eq!(app.deliver().await.retried, 1);
    let failing = app
        .get(
            &format!("/api/v1/webhooks/{}", endpoint["id"].as_str().unwrap()),
            &nagano.token,
        )
        .await;
    assert!(
        failing.body["failing_since"].is_string(),
        "{}",
        failing.text
    );
    app.clock.advance(Duration::seconds(61));
    assert_eq!(app.deliver().await.sent, 1);

    let attempts = receiver.deliveries();
    assert_eq!(attempts.len(), 3);
    let ids: Vec<_> = attempts
        .iter()
        .map(|(h, _)| h["webhook-id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "a retry keeps its id");
    let taken = app
        .get(
            &format!("/api/v1/webhooks/{}", endpoint["id"].as_str().unwrap()),
            &nagano.token,
        )
        .await;
    assert!(taken.body["failing_since"].is_null(), "{}", taken.text);
    let log = app
        .get(
            &format!(
                "/api/v1/webhooks/{}/deliveries",
                endpoint["id"].as_str().unwrap()
            ),
            &nagano.token,
        )
        .await;
    assert_eq!(log.body["items"][0]["attempts"], 3, "{}", log.text);
}

#[actix_web::test]
async fn an_endpoint_that_keeps_failing_is_disabled_and_its_owner_e_mailed() {
    let (receiver, base) = Receiver::start();
    let url = format!("{base}/hook");
    receiver.failures.store(usize::MAX, Ordering::SeqCst);
    let app = app_allowing_private(|config| config.webhook_disable_after_hours = 1).await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", NAGANO).await;
    let endpoint = register(&app, &nagano.token, &url, json!(["*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    open_round(&app, &admin).await;
    app.deliver().await;
    app.clock.advance(Duration::minutes(61));
    app.deliver().await;
    let disabled = app
        .get(&format!("/api/v1/webhooks/{id}"), &nagano.token)
        .await;
    assert!(
        disabled.body["disabled_at"].is_string(),
        "{}",
        disabled.text
    );
    let mail = app.outbox("webhook_disabled", &nagano.email);
    assert_eq!(mail.len(), 1);
    // Nothing more goes to it.
    let before = receiver.deliveries().len();
    app.clock.advance(Duration::hours(2));
    app.deliver().await;
    assert_eq!(receiver.deliveries().len(), before);
}

#[actix_web::test]
async fn private_addresses_are_refused_without_the_setting() {
    let app = spawn_app().await;
    let nagano = app.user("coordinator", NAGANO).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://localhost/hook",
    ] {
        let refused = app
            .post(
                "/api/v1/webhooks",
                Some(&nagano.token),
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(refused.status, 422, "{url}: {}", refused.text);
        assert_eq!(
            refused.body["errors"][0]["code"], "url_not_allowed",
            "{url}"
        );
    }
    let unknown = app
        .post(
            "/api/v1/webhooks",
            Some(&nagano.token),
            json!({"url": "https://203.0.114.10/hook", "events": ["round.exploded"]}),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_event");

    // One registered while private targets were allowed is not delivered to once they are not.
    let (receiver, base) = Receiver::start();
    let url = format!("{base}/hook");
    let open = app
        .another_instance_with(|c| c.webhook_allow_private = true)
        .await;
    register(&open, &nagano.token, &url, json!(["*"])).await;
    let admin = app.admin_token().await;
    open_round(&app, &admin).await;
    let report = app.deliver().await;
    assert!(report.failed >= 1, "{report:?}");
    assert!(receiver.deliveries().is_empty());
    let failed = app
        .get("/api/v1/notifications?channel=webhook&state=failed", &admin)
        .await;
    // Refused before any connection: plain http to a private address.
    let error = failed.body["items"][0]["last_error"].as_str().unwrap();
    assert!(error.contains("over https"), "{}", failed.text);
}
