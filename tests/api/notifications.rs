//! E-mail through the outbox: written with the change, delivered by the dispatcher to a real SMTP
//! server over TCP (or as .eml files), retried, failed and retried again, reminders once each.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::RunQueryDsl;
use mail_parser::MimeHeaders;
use serde_json::json;

use crate::allocations::{
    KAWAKAMI, MATSUMOTO, NAGANO, closed_round_with_three_bodies, open_round, put, totals,
};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::smtp::{SmtpSink, unused_port};

async fn app_with_smtp(port: u16) -> TestApp {
    spawn_app_with(|config| {
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        config.smtp_timeout_seconds = 5;
    })
    .await
}

async fn invite(app: &TestApp, admin: &str, email: &str, organization: &str) {
    let invited = app
        .post(
            "/api/v1/users",
            Some(admin),
            json!({"email": email, "display_name": "信州 花子", "role": "coordinator", "organization": organization}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    assert!(invited.body.get("invitation_token").is_none());
}

fn states(app: &TestApp) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in app.all_messages() {
        *counts.entry(row.state).or_default() += 1;
    }
    counts
}

#[actix_web::test]
async fn an_invitation_in_japanese_reaches_a_real_smtp_server_intact_and_its_link_works() {
    let (sink, port) = SmtpSink::start_anywhere();
    let app = app_with_smtp(port).await;
    let admin = app.admin_token().await;
    invite(&app, &admin, "hanako.shinshu@example.lg.jp", KAWAKAMI).await;

    let report = app.deliver().await;
    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert_eq!(
        mail.subject(),
        Some("【共同調達】川上村のアカウントへの招待")
    );
    assert_eq!(
        mail.to()
            .and_then(|to| to.first())
            .and_then(|a| a.address()),
        Some("hanako.shinshu@example.lg.jp")
    );
    let from = mail.from().and_then(|f| f.first()).expect("a sender");
    assert_eq!(from.name(), Some("共同調達 事務局"));
    let text = mail.body_text(0).expect("a plain-text part");
    assert!(text.contains("信州 花子 様"), "{text}");
    assert!(text.contains("川上村のアカウント（団体担当者）"), "{text}");
    let html = mail.body_html(0).expect("an HTML part");
    assert!(html.contains("<p>信州 花子 様</p>"), "{html}");
    // The subject was MIME-encoded on the wire, and decodes back to the same Japanese.
    let raw = String::from_utf8_lossy(&sink.received()[0]).into_owned();
    assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
    assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");

    // The link in the mail sets the password: the token travelled by e-mail only.
    let path = text
        .split_whitespace()
        .find_map(|word| word.split_once("/invitations/").map(|(_, rest)| rest))
        .expect("the invitation link");
    let accepted = app
        .post(
            &format!("/api/v1/invitations/{path}/accept"),
            None,
            json!({"password": "a long passphrase for the village"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    // Delivered once: another pass sends nothing.
    assert_eq!(app.deliver().await.claimed, 0);
    assert_eq!(sink.received().len(), 1);
}

#[actix_web::test]
async fn while_the_smtp_server_is_down_messages_wait_and_then_each_goes_once() {
    let port = unused_port();
    let app = app_with_smtp(port).await;
    let admin = app.admin_token().await;
    for n in 0..3 {
        invite(&app, &admin, &format!("user{n}@example.lg.jp"), NAGANO).await;
    }
    let report = app.deliver().await;
    assert_eq!((report.sent, report.retried), (0, 3), "{report:?}");
    assert_eq!(states(&app), BTreeMap::from([("pending".to_owned(), 3)]));
    let row = &app.outbox("invitation", "user0@example.lg.jp")[0];
    assert_eq!(row.attempts, 1);
    assert!(row.last_error.is_some());
    // Not due yet: the back-off holds them for 30 seconds.
    assert_eq!(app.deliver().await.claimed, 0);

    // Still down at the second attempt; then the server comes up.
    app.clock.advance(Duration::seconds(31));
    assert_eq!(app.deliver().await.retried, 3);
    let sink = SmtpSink::start(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    app.clock.advance(Duration::seconds(61));
    let report = app.deliver().await;
    assert_eq!((report.sent, report.retried), (3, 0), "{report:?}");
    assert_eq!(states(&app), BTreeMap::from([("sent".to_owned(), 3)]));
    app.clock.advance(Duration::hours(2));
    assert_eq!(app.deliver().await.claimed, 0);
    let recipients: Vec<String> = sink
        .messages()
        .iter()
        .filter_map(|m| m.to()?.first()?.address().map(str::to_owned))
        .collect();
    assert_eq!(
        recipients.iter().collect::<BTreeSet<_>>().len(),
        3,
        "{recipients:?}"
    );
    assert_eq!(recipients.len(), 3, "a message went twice: {recipients:?}");
}

#[actix_web::test]
async fn a_permanent_refusal_fails_at_once_and_an_administrator_retries_it() {
    let (sink, port) = SmtpSink::start_anywhere();
    let app = app_with_smtp(port).await;
    let admin = app.admin_token().await;
    invite(&app, &admin, "reject.me@example.lg.jp", MATSUMOTO).await;
    let report = app.deliver().await;
    assert_eq!((report.sent, report.failed), (0, 1), "{report:?}");

    let failed = app.get("/api/v1/notifications?state=failed", &admin).await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.text);
    assert_eq!(failed.body["total"], 1, "{}", failed.text);
    let item = &failed.body["items"][0];
    assert_eq!(item["event"], "invitation");
    assert_eq!(item["recipient"], "reject.me@example.lg.jp");
    assert_eq!(item["attempts"], 1);
    assert!(
        item["last_error"].as_str().unwrap().contains("550"),
        "{item}"
    );
    // What the message says is not shown: an invitation carries its one-time link.
    assert!(!failed.text.contains("kyi_"), "{}", failed.text);
    let id = item["id"].as_str().unwrap();

    // Only administrators see or retry the outbox.
    let coordinator = app.user("coordinator", MATSUMOTO).await;
    for response in [
        app.get("/api/v1/notifications", &coordinator.token).await,
        app.post(
            &format!("/api/v1/notifications/{id}/retry"),
            Some(&coordinator.token),
            json!({}),
        )
        .await,
    ] {
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{}", response.text);
    }

    let retried = app
        .post(
            &format!("/api/v1/notifications/{id}/retry"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.body["state"], "pending");
    assert_eq!(retried.body["attempts"], 0);
    // Refused again: the server still says 550.
    assert_eq!(app.deliver().await.failed, 1);
    let again = app
        .post(
            &format!("/api/v1/notifications/{id}/retry"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let audit = app
        .get("/api/v1/audit-events?action=notification.retried", &admin)
        .await;
    assert_eq!(audit.body["total"], 2, "{}", audit.text);

    // A message that has not failed is not retried; an unknown one is 404.
    let coordinator_invite = app.outbox("invitation", &coordinator.email);
    app.deliver().await;
    let sent = &coordinator_invite[0].id;
    let not_failed = app
        .post(
            &format!("/api/v1/notifications/{sent}/retry"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(
        not_failed.status,
        StatusCode::CONFLICT,
        "{}",
        not_failed.text
    );
    assert_eq!(not_failed.problem_code(), "notification_not_failed");
    let unknown = app
        .post(
            "/api/v1/notifications/nothing/retry",
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert!(!sink.received().is_empty());
}

#[actix_web::test]
async fn without_an_smtp_server_each_message_is_an_eml_file_a_person_can_open() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    invite(&app, &admin, "eml.reader@example.lg.jp", KAWAKAMI).await;
    assert_eq!(app.deliver().await.sent, 1);
    let files: Vec<_> = std::fs::read_dir(app.data_dir.join("outbox"))
        .expect("the outbox folder")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).unwrap();
    let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        mail.subject(),
        Some("【共同調達】川上村のアカウントへの招待")
    );
    assert!(mail.body_text(0).unwrap().contains("/invitations/kyi_"));
}

/// Makes the procurement's move to `contracted`, the last write of a finalization, fail: what was
/// written before it, e-mail included, must go with it.
fn refuse_contracts(app: &TestApp) {
    let sql = if app.database_url.starts_with("postgres") {
        "CREATE FUNCTION refuse_contracts() RETURNS trigger AS $$ BEGIN \
         IF NEW.action = 'contracted' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
         RETURN NEW; END; $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse_contracts BEFORE INSERT ON changes \
         FOR EACH ROW EXECUTE FUNCTION refuse_contracts();"
    } else {
        "CREATE TRIGGER refuse_contracts BEFORE INSERT ON changes WHEN NEW.action = 'contracted' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
    };
    diesel::connection::SimpleConnection::batch_execute(&mut *app.pool().get().unwrap(), sql)
        .expect("installing the trigger");
}

#[actix_web::test]
async fn a_change_that_rolls_back_sends_nothing_and_one_that_commits_sends_its_shares() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = closed_round_with_three_bodies(&app, &admin).await;
    let before = app.all_messages().len();
    refuse_contracts(&app);
    let failed = app
        .post(
            &format!("/api/v1/rounds/{round}/finalize"),
            Some(&admin),
            totals(9_000_000, 1_100_000),
        )
        .await;
    assert_eq!(failed.status, 500, "{}", failed.text);
    assert_eq!(
        app.all_messages().len(),
        before,
        "a rolled-back change wrote e-mail"
    );

    diesel::sql_query(
        "DROP TRIGGER refuse_contracts".to_owned()
            + if app.database_url.starts_with("postgres") {
                " ON changes"
            } else {
                ""
            },
    )
    .execute(&mut *app.pool().get().unwrap())
    .unwrap();
    let done = app
        .post(
            &format!("/api/v1/rounds/{round}/finalize"),
            Some(&admin),
            totals(9_000_000, 1_100_000),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);
    // 長野市 gave a contact with its answer: the contact gets 長野市's shares and the CSV.
    let shares = app.outbox("allocation_finalized", "secret.contact@example.lg.jp");
    assert_eq!(shares.len(), 1);
    assert_eq!(app.deliver().await.failed, 0);
    let files: Vec<_> = std::fs::read_dir(app.data_dir.join("outbox"))
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    let parser = mail_parser::MessageParser::default();
    let mail = files
        .iter()
        .map(|raw| parser.parse(raw).unwrap())
        .find(|m| {
            m.to().and_then(|t| t.first()).and_then(|a| a.address())
                == Some("secret.contact@example.lg.jp")
                && m.subject().is_some_and(|s| s.contains("負担金"))
        })
        .expect("the shares' e-mail");
    let text = mail.body_text(0).unwrap();
    assert!(text.contains("長野市 ご担当者様"), "{text}");
    assert!(text.contains("2027年度 基本: ¥"), "{text}");
    assert!(text.contains("合計: ¥"), "{text}");
    let attachment = mail.attachment(0).expect("the CSV");
    assert!(
        attachment
            .attachment_name()
            .is_some_and(|n| n.ends_with("-v1.csv")),
        "{:?}",
        attachment.attachment_name()
    );
    let csv = String::from_utf8(attachment.contents().to_vec()).unwrap();
    assert!(
        csv.starts_with('\u{feff}'),
        "the CSV keeps its BOM for Excel"
    );
    assert!(csv.contains("長野市") && csv.contains("川上村"), "{csv}");
}

#[actix_web::test]
async fn reminders_go_once_per_body_and_offset_to_bodies_that_have_not_answered() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    // The round closes in ten days; reminders 7 days and 1 day before.
    let nagano = app.user("coordinator", NAGANO).await;
    let kawakami = app.user("coordinator", KAWAKAMI).await;
    let matsumoto = app.user("coordinator", MATSUMOTO).await;
    let reminders = |app: &TestApp| -> BTreeMap<String, Vec<i64>> {
        let mut found: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for row in app
            .all_messages()
            .into_iter()
            .filter(|r| r.event == "reminder")
        {
            let context: serde_json::Value = serde_json::from_str(&row.context).unwrap();
            found
                .entry(row.recipient)
                .or_default()
                .push(context["days_before"].as_i64().unwrap());
        }
        found
    };
    app.tick().await;
    assert!(reminders(&app).is_empty());

    // 長野市 answers; 川上村 opts out of reminders through the link in one.
    let joined = put(
        &app,
        &nagano.token,
        &round,
        NAGANO,
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    app.clock.advance(Duration::days(3) + Duration::minutes(1));
    app.tick().await;
    // Two instances ticking at once send each reminder once.
    let other = app.another_instance().await;
    other.tick().await;
    app.tick().await;
    let after_first = reminders(&app);
    assert_eq!(after_first.get(&kawakami.email), Some(&vec![7]));
    assert_eq!(after_first.get(&matsumoto.email), Some(&vec![7]));
    assert_eq!(
        after_first.get(&nagano.email),
        None,
        "a body that answered was reminded"
    );

    let link = {
        let row = &app.outbox("reminder", &kawakami.email)[0];
        let rendered = kyodo::notify::email::Templates::load()
            .unwrap()
            .render(row, &mail_settings(&app))
            .unwrap();
        rendered.unsubscribe_url.expect("an unsubscribe link")
    };
    let path = link
        .split_once("/api/v1/")
        .map(|(_, p)| format!("/api/v1/{p}"))
        .unwrap();
    let page = app
        .request(actix_web::http::Method::GET, &path, None, None)
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("<form method=\"post\">"),
        "{}",
        page.text
    );
    let stopped = app
        .request(actix_web::http::Method::POST, &path, None, None)
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    let forged = app
        .request(
            actix_web::http::Method::POST,
            &format!("{}x", &path[..path.len() - 1]),
            None,
            None,
        )
        .await;
    assert_eq!(forged.status, 404, "{}", forged.text);

    // Down across the 1-day mark (and past it): one reminder when the service comes back.
    app.clock.advance(Duration::days(6) + Duration::hours(2));
    app.tick().await;
    app.tick().await;
    let after_second = reminders(&app);
    assert_eq!(after_second.get(&matsumoto.email), Some(&vec![7, 1]));
    assert_eq!(
        after_second.get(&kawakami.email),
        Some(&vec![7]),
        "opted out"
    );
    assert_eq!(after_second.get(&nagano.email), None);

    // After the deadline, and for a cancelled round, nothing more.
    app.clock.advance(Duration::days(1));
    app.tick().await;
    assert_eq!(reminders(&app), after_second);
}

#[actix_web::test]
async fn a_cancelled_round_sends_no_reminders_but_tells_every_eligible_body() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let matsumoto = app.user("coordinator", MATSUMOTO).await;
    let cancelled = app
        .post(
            &format!("/api/v1/rounds/{round}/cancel"),
            Some(&admin),
            json!({"reason": "予算措置の遅れのため"}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(app.outbox("round_cancelled", &matsumoto.email).len(), 1);
    app.clock.advance(Duration::days(9) + Duration::hours(1));
    app.tick().await;
    assert!(app.outbox("reminder", &matsumoto.email).is_empty());
}

#[actix_web::test]
async fn two_dispatchers_on_one_database_send_each_message_once() {
    let (sink, port) = SmtpSink::start_anywhere();
    let app = app_with_smtp(port).await;
    let other = app
        .another_instance_with(|config| {
            config.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        })
        .await;
    let admin = app.admin_token().await;
    for n in 0..60 {
        invite(&app, &admin, &format!("many{n}@example.lg.jp"), NAGANO).await;
    }
    let (a, b) = futures_util::join!(app.deliver(), other.deliver());
    assert_eq!(a.sent + b.sent, 60, "{a:?} {b:?}");
    assert_eq!(states(&app), BTreeMap::from([("sent".to_owned(), 60)]));
    let ids: Vec<String> = sink
        .messages()
        .iter()
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 60, "a message went twice");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 60);
}

fn mail_settings(app: &TestApp) -> kyodo::notify::email::MailSettings {
    kyodo::notify::email::MailSettings {
        from: "共同調達 事務局 <no-reply@localhost>".parse().unwrap(),
        base_url: app.url(""),
        unsubscribe: app.state.unsubscribe.clone(),
    }
}
