//! The harness's own helpers, tried on small pages served in the test.

use futures_util::FutureExt;

use crate::browser::Browser;
use crate::fixtures::Pages;

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn a_page_with_every_field_labelled_is_accessible() {
    let pages = Pages::serve();
    let browser = Browser::desktop().await;
    browser.goto(&pages.url("/accessible")).await;
    browser.assert_accessible("the labelled form").await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn a_field_without_a_label_fails_the_accessibility_check_and_is_named() {
    let pages = Pages::serve();
    let browser = Browser::desktop().await;
    browser.goto(&pages.url("/unlabeled")).await;

    let outcome = std::panic::AssertUnwindSafe(browser.assert_accessible("the unlabelled form"))
        .catch_unwind()
        .await;

    let panic = outcome.expect_err("an unlabelled field is a violation");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("on the unlabelled form"), "{message}");
    assert!(message.contains("- label (critical)"), "{message}");
    assert!(
        message.contains("#name"),
        "the failing element's selector: {message}"
    );
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn fields_are_found_by_their_labels_and_buttons_by_their_text() {
    let pages = Pages::serve();
    let browser = Browser::desktop().await;
    browser.goto(&pages.url("/accessible")).await;

    browser.fill("担当者 氏名", "信州 太郎").await;
    browser.fill("団体", "小谷村").await;
    browser.click_button("申し込む").await;

    browser
        .wait_for_text("小谷村の信州 太郎さん、ようこそ。")
        .await;
    assert_eq!(
        browser.wait_for("h1").await.text().await.unwrap(),
        "受付しました"
    );
    browser.client().back().await.expect("going back");
    browser.click_link("取り消す").await;
    browser.wait_for_text("参加申込").await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn a_missing_label_is_reported_with_the_labels_the_page_has() {
    let pages = Pages::serve();
    let browser = Browser::desktop().await;
    browser.goto(&pages.url("/accessible")).await;

    let outcome = std::panic::AssertUnwindSafe(browser.fill("氏名", "信州 太郎"))
        .catch_unwind()
        .await;

    let panic = outcome.expect_err("a partial label matches nothing");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("found 0"), "{message}");
    assert!(message.contains("担当者 氏名"), "{message}");
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it"]
async fn cookie_attributes_are_read_as_the_browser_stored_them() {
    let pages = Pages::serve();
    let browser = Browser::desktop().await;
    browser.goto(&pages.url("/cookies")).await;

    let session = browser.cookie("session").await.expect("the session cookie");
    assert_eq!(session.value, "s3cr3t");
    assert!(session.http_only);
    assert!(!session.secure);
    assert_eq!(session.same_site.as_deref(), Some("Strict"));
    assert_eq!(session.path.as_deref(), Some("/"));
    let theme = browser.cookie("theme").await.expect("the theme cookie");
    assert!(!theme.http_only);
    assert_eq!(theme.same_site.as_deref(), Some("Lax"));
    assert!(browser.cookie("absent").await.is_none());
}
