//! The web console in Chromium: a municipality answers a round and watches its estimate, the
//! secretariat writes a procurement, runs its round to a finalized allocation and downloads the
//! CSV; forms without their CSRF token are refused; the main pages pass axe-core and are saved as
//! screenshots.

use chrono::Duration;
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, USER_PASSWORD, spawn_app};

const NAGANO: &str = "202011";
const KAWAKAMI: &str = "203041";

async fn sign_in(browser: &Browser, app: &TestApp, email: &str, password: &str) {
    browser.open(app, "/login").await;
    browser.fill("メールアドレス", email).await;
    browser.fill("パスワード", password).await;
    browser.click_button("サインイン").await;
    browser.wait_for("main h1").await;
}

/// A published procurement with a base pool shared by population and an `lgwan` option, and a
/// round of it open for a week; returns the round's id.
async fn open_round(app: &TestApp, admin: &str) -> String {
    let created = app
        .post(
            "/api/v1/procurements",
            Some(admin),
            json!({
                "title": "AI議事録作成支援",
                "summary": "会議録作成を支援する音声文字起こしの共同利用",
                "category": "administration",
                "lead_organization": "200000",
                "options": [{"code": "lgwan", "name": "LGWAN接続"}],
                "cost_model": {"pools": [
                    {"code": "base", "total": {"kind": "fixed", "amount": 10000000}, "weights": {"equal": 1000, "population": 9000}},
                    {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "weights": {"equal": 10000}}
                ]},
                "contract_start_fiscal_year": 2027,
                "contract_end_fiscal_year": 2027
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let published = app
        .post(
            &format!("/api/v1/procurements/{id}/publish"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.text);
    let now = app.clock_now();
    let at = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339();
    let round = app
        .post(
            &format!("/api/v1/procurements/{id}/rounds"),
            Some(admin),
            json!({"kind": "commitment", "opens_at": at(now - Duration::hours(1)), "closes_at": at(now + Duration::days(7)), "population_base_date": "2020-01-01"}),
        )
        .await;
    assert_eq!(round.status, 201, "{}", round.text);
    round.body["id"].as_str().unwrap().to_owned()
}

/// The estimate the page shows, read in one step: htmx may swap the fragment at any moment, so
/// an element found first could be gone when its attribute is read.
async fn estimate(browser: &Browser) -> i64 {
    for _ in 0..200 {
        let amount = script(
            browser,
            "const e = document.querySelector('#estimate [data-amount]'); return e ? e.dataset.amount : null;",
            vec![],
        )
        .await;
        if let Some(amount) = amount.as_str().and_then(|a| a.parse().ok()) {
            return amount;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page shows no estimate");
}

/// Waits until the estimate on the page differs from `before`, and returns it.
async fn estimate_changes_from(browser: &Browser, before: i64) -> i64 {
    for _ in 0..200 {
        let now = estimate(browser).await;
        if now != before {
            return now;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the estimate stayed at {before}");
}

async fn script(browser: &Browser, code: &str, args: Vec<Value>) -> Value {
    browser
        .client()
        .execute(code, args)
        .await
        .unwrap_or_else(|e| panic!("running {code:?}: {e}"))
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn a_coordinator_answers_and_watches_the_estimate_fall_as_another_body_joins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let round = open_round(&app, &admin).await;
    let village = app.user("coordinator", KAWAKAMI).await;
    let browser = Browser::phone().await;

    browser.open(&app, "/login").await;
    browser.assert_accessible("the sign-in page").await;
    browser.screenshot("console-login-phone").await;
    sign_in(&browser, &app, &village.email, USER_PASSWORD).await;
    browser.wait_for_text("受付中の募集").await;
    browser.wait_for_text("未回答").await;
    browser.assert_accessible("the home page").await;
    browser.screenshot("console-home-phone").await;

    browser.click_link("AI議事録作成支援").await;
    browser.wait_for_text("川上村の回答").await;
    let alone = estimate(&browser).await;
    // Ticking an option prices it at once, before anything is sent.
    browser
        .client()
        .find(Locator::Css("input[name=options][value=lgwan]"))
        .await
        .expect("the lgwan option")
        .click()
        .await
        .expect("ticking lgwan");
    let with_lgwan = estimate_changes_from(&browser, alone).await;
    assert!(with_lgwan > alone, "{with_lgwan} > {alone}");
    browser.fill("担当者名", "川上 花子").await;
    browser
        .fill("担当者メール", "dx@vill.kawakami.example.jp")
        .await;
    browser.click_button("回答を送信").await;
    browser.wait_for_text("現在の回答: 参加").await;
    browser.assert_accessible("the round page").await;
    browser.screenshot("console-round-phone").await;

    // 長野市 joins through the API; the open page's estimate falls by itself.
    let before = estimate(&browser).await;
    let joined = app
        .request(
            actix_web::http::Method::PUT,
            &format!("/api/v1/rounds/{round}/participations/{NAGANO}"),
            Some(&admin),
            Some(json!({"status": "joined", "selected_options": ["lgwan"], "reason": "代理登録"})),
        )
        .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let shared = estimate_changes_from(&browser, before).await;
    assert!(shared < before, "{shared} < {before}");

    // Another body's business stays out of reach: the secretariat's pages, and drafts.
    browser.open(&app, "/admin/outbox").await;
    browser.wait_for_text("この操作の権限がありません").await;
    let draft = app
        .post(
            "/api/v1/procurements",
            Some(&admin),
            json!({"title": "非公開の下書き", "category": "other", "lead_organization": "200000",
                   "cost_model": {"pools": [{"code": "base", "total": {"kind": "fixed", "amount": 1000}, "weights": {"equal": 10000}}]},
                   "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2027}),
        )
        .await;
    let draft = draft.body["id"].as_str().unwrap().to_owned();
    browser.open(&app, &format!("/procurements/{draft}")).await;
    browser.wait_for_text("ページが見つかりません").await;
    assert!(!browser.text().await.contains("非公開の下書き"));
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn the_secretariat_writes_a_procurement_runs_its_round_and_downloads_the_csv() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let browser = Browser::desktop().await;
    sign_in(&browser, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.click_link("共同調達を作成").await;
    browser.wait_for_text("費用の按分").await;
    browser.fill("件名", "電子申請システム").await;
    browser.fill("概要", "オンライン申請の共同利用").await;
    browser.fill("契約開始年度", "2027").await;
    browser.fill("契約終了年度", "2027").await;
    // The first pool: a fixed total, 10 % equal and 80 % population: not the whole.
    let pool = |field: &str| format!("[name='cost_model.pools[0].{field}']");
    for (field, value) in [
        ("total.amount", "9000000"),
        ("weights.equal", "10"),
        ("weights.population", "80"),
    ] {
        let input = browser.wait_for(&pool(field)).await;
        input.clear().await.expect("clearing");
        input.send_keys(value).await.expect("typing");
    }
    browser.click_button("下書きとして保存").await;
    browser.wait_for_text("入力内容に誤りがあります").await;
    let beside = browser
        .wait_for("[id='cost_model.pools[0].weights-error']")
        .await
        .text()
        .await
        .expect("the error's text");
    assert!(!beside.is_empty());
    browser
        .assert_accessible("the procurement form with errors")
        .await;
    browser.screenshot("console-procurement-form-errors").await;
    let population = browser.wait_for(&pool("weights.population")).await;
    population.clear().await.expect("clearing");
    population.send_keys("90").await.expect("typing");
    browser.click_button("下書きとして保存").await;
    browser.wait_for_text("公開する").await;
    browser.click_button("公開する").await;
    browser.wait_for_text("募集を作成").await;

    // A round open since an hour ago, for a week (the browser's date fields are set directly).
    let jst = app.clock_now() + Duration::hours(9);
    let local = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    script(
        &browser,
        "document.getElementById('round-opens').value = arguments[0]; document.getElementById('round-closes').value = arguments[1];",
        vec![json!(local(jst - Duration::hours(1))), json!(local(jst + Duration::days(7)))],
    )
    .await;
    browser.click_button("募集を作成").await;
    browser.wait_for_text("受付を締め切る").await;
    let round = browser
        .client()
        .current_url()
        .await
        .expect("the round's address")
        .path()
        .trim_start_matches("/rounds/")
        .to_owned();
    for org in [NAGANO, KAWAKAMI] {
        let joined = app
            .request(
                actix_web::http::Method::PUT,
                &format!("/api/v1/rounds/{round}/participations/{org}"),
                Some(&admin),
                Some(json!({"status": "joined", "reason": "調査票による代理登録"})),
            )
            .await;
        assert_eq!(joined.status, 201, "{}", joined.text);
    }
    browser.open(&app, &format!("/rounds/{round}")).await;
    browser.wait_for_text("広域連合別").await;
    browser.assert_accessible("the round dashboard").await;
    browser.screenshot("console-dashboard").await;
    browser.click_button("受付を締め切る").await;
    browser.wait_for_text("負担額を確定").await;
    browser.click_button("負担額を確定").await;
    browser.wait_for_text("確定した負担額（第1版）").await;
    browser.assert_accessible("the finalized round").await;
    browser.screenshot("console-allocation").await;

    // The CSV, fetched as the link downloads it: with the browser's session.
    let csv = script(
        &browser,
        "const link = document.querySelector('a[download]'); return fetch(link.href).then(r => r.text());",
        vec![],
    )
    .await;
    let csv = csv.as_str().expect("the CSV's text");
    assert!(csv.contains("長野市") && csv.contains("川上村"), "{csv}");
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let round = open_round(&app, &admin).await;
    let browser = Browser::desktop().await;
    sign_in(&browser, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.open(&app, &format!("/rounds/{round}")).await;
    browser.wait_for_text("受付を締め切る").await;
    // As a page on another site would post it: the same form, without the token.
    script(
        &browser,
        "document.querySelectorAll('input[name=_csrf]').forEach(i => i.remove());",
        vec![],
    )
    .await;
    browser.click_button("受付を締め切る").await;
    browser.wait_for_text("csrf_failed").await;
    let still = app.get(&format!("/api/v1/rounds/{round}"), &admin).await;
    assert_eq!(still.body["state"], "open");
    // The session cookie itself is out of scripts' reach and not sent cross-site.
    let session = browser
        .cookie("kyodo_session")
        .await
        .expect("a session cookie");
    assert!(session.http_only);
    assert_eq!(session.same_site.as_deref(), Some("Lax"));
}
