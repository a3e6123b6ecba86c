//! The calendar feed: a secret iCalendar address per user, read as a calendar client reads it.

use std::collections::BTreeMap;

use actix_web::http::{Method, StatusCode};
use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Timelike, Utc};
use icalendar::{
    Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event, EventStatus,
};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, collect, spawn_app, spawn_app_with};
use crate::lifecycle::{published_procurement, round};

const MY_CALENDAR: &str = "/api/v1/me/calendar";

/// Makes (or replaces) the feed of the user with `token`; returns its address.
async fn subscribe(app: &TestApp, token: &str) -> String {
    let created = app.post(MY_CALENDAR, Some(token), json!({})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        created.headers.get("location").unwrap(),
        "/api/v1/me/calendar"
    );
    created.body["url"].as_str().unwrap().to_owned()
}

/// Fetches an address as a calendar client does: no bearer token.
async fn fetch(app: &TestApp, url: &str) -> Response {
    collect(app.client.get(url).send().await.expect("the feed answers")).await
}

/// Fetches the feed and reads it with a calendar library.
async fn read(app: &TestApp, url: &str) -> (String, Calendar) {
    let response = fetch(app, url).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.content_type(), "text/calendar; charset=utf-8");
    let calendar: Calendar = response.text.parse().expect("the feed is iCalendar");
    (response.text, calendar)
}

/// The feed's events by UID.
fn events(calendar: &Calendar) -> BTreeMap<String, Event> {
    calendar
        .components
        .iter()
        .filter_map(CalendarComponent::as_event)
        .map(|e| (e.get_uid().unwrap().to_owned(), e.clone()))
        .collect()
}

fn opening(round: &str) -> String {
    format!("round-{round}-opens@kyodo")
}

fn closing(round: &str) -> String {
    format!("round-{round}-closes@kyodo")
}

/// A round's time (RFC 3339, from the API) on the wall clocks of Tokyo, to the second as
/// iCalendar has it.
fn in_tokyo(round: &Value, field: &str) -> NaiveDateTime {
    let jst = FixedOffset::east_opt(9 * 3600).unwrap();
    DateTime::parse_from_rfc3339(round[field].as_str().unwrap())
        .unwrap()
        .with_timezone(&jst)
        .naive_local()
        .with_nanosecond(0)
        .unwrap()
}

#[track_caller]
fn starts_in_tokyo(event: &Event) -> NaiveDateTime {
    match event.get_start() {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => {
            assert_eq!(tzid, "Asia/Tokyo");
            date_time
        }
        other => panic!("DTSTART is not a time in Asia/Tokyo: {other:?}"),
    }
}

#[track_caller]
fn assert_not_found(response: &Response) {
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.text);
    assert_eq!(response.problem_code(), "calendar_feed_not_found");
}

#[actix_web::test]
async fn the_feed_parses_and_holds_each_rounds_opening_and_deadline_in_tokyo_time() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let procurement =
        published_procurement(&app, &admin, json!({"title": "AIチャットボット"})).await;
    let open = round(
        &app,
        &admin,
        &procurement,
        Duration::zero(),
        Duration::days(14),
    )
    .await;
    let later = round(
        &app,
        &admin,
        &procurement,
        Duration::days(30),
        Duration::days(14) + Duration::minutes(30),
    )
    .await;

    let url = subscribe(&app, &nagano.token).await;
    assert!(
        url.starts_with(&app.url("/api/v1/calendar/kydcal_")) && url.ends_with(".ics"),
        "{url}"
    );
    let response = fetch(&app, &url).await;
    assert_eq!(
        response.headers.get("cache-control").unwrap(),
        "no-store",
        "the feed is private"
    );
    let (text, calendar) = read(&app, &url).await;
    assert_eq!(calendar.get_name(), Some("共同調達（長野市）"));
    assert_eq!(calendar.get_timezone(), Some("Asia/Tokyo"));
    let time_zones: Vec<_> = calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Other(other) => Some(other),
            _ => None,
        })
        .collect();
    assert_eq!(time_zones.len(), 1, "{text}");
    assert_eq!(time_zones[0].component_kind(), "VTIMEZONE");
    assert_eq!(time_zones[0].property_value("TZID"), Some("Asia/Tokyo"));

    let events = events(&calendar);
    assert_eq!(events.len(), 4, "two events for each round: {text}");
    for (number, round) in [(1, &open), (2, &later)] {
        let id = round["id"].as_str().unwrap();
        let opens = &events[&opening(id)];
        let closes = &events[&closing(id)];
        assert_eq!(starts_in_tokyo(opens), in_tokyo(round, "opens_at"));
        assert_eq!(starts_in_tokyo(closes), in_tokyo(round, "closes_at"));
        assert_eq!(
            closes.get_summary(),
            Some(format!("【締切】AIチャットボット 第{number}回 本申込").as_str())
        );
        assert_eq!(
            opens.get_summary(),
            Some(format!("【受付開始】AIチャットボット 第{number}回 本申込").as_str())
        );
        for event in [opens, closes] {
            assert_eq!(event.get_end(), None, "a moment, not a span: {text}");
            assert_eq!(event.get_status(), Some(EventStatus::Confirmed));
            assert_eq!(
                event.get_url(),
                Some(app.url(&format!("/api/v1/rounds/{id}")).as_str())
            );
        }
    }

    // Fetched again, nothing changed: the same events, byte for byte.
    let (again, _) = read(&app, &url).await;
    assert_eq!(again, text);
}

#[actix_web::test]
async fn an_extended_deadline_moves_the_closing_event_under_the_same_uid() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("viewer", "202011").await;
    let procurement = published_procurement(&app, &admin, json!({})).await;
    let open = round(
        &app,
        &admin,
        &procurement,
        Duration::zero(),
        Duration::days(14),
    )
    .await;
    let id = open["id"].as_str().unwrap();
    let url = subscribe(&app, &nagano.token).await;
    let (_, before) = read(&app, &url).await;
    let before = events(&before);

    let extended = app
        .patch(
            &format!("/api/v1/rounds/{id}"),
            &admin,
            json!({"closes_at": (app.clock_now() + Duration::days(21)).and_utc().to_rfc3339()}),
        )
        .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.text);
    let (text, after) = read(&app, &url).await;
    let after = events(&after);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same UIDs: {text}"
    );
    let (was, is) = (&before[&closing(id)], &after[&closing(id)]);
    assert_eq!(starts_in_tokyo(is), in_tokyo(&extended.body, "closes_at"));
    assert_eq!(
        starts_in_tokyo(is) - starts_in_tokyo(was),
        Duration::days(7)
    );
    assert!(
        is.get_sequence().unwrap() > was.get_sequence().unwrap(),
        "{was:?} → {is:?}"
    );
    assert_eq!(
        starts_in_tokyo(&after[&opening(id)]),
        starts_in_tokyo(&before[&opening(id)])
    );

    let cancelled = app
        .post(
            &format!("/api/v1/rounds/{id}/cancel"),
            Some(&admin),
            json!({"reason": "仕様の見直しのため"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    let (text, calendar) = read(&app, &url).await;
    let cancelled = events(&calendar);
    for uid in [opening(id), closing(id)] {
        let event = &cancelled[&uid];
        assert_eq!(event.get_status(), Some(EventStatus::Cancelled), "{text}");
        assert!(event.get_sequence() > after[&uid].get_sequence());
        assert!(event.get_summary().unwrap().starts_with("【中止】"));
    }
}

#[actix_web::test]
async fn a_replaced_or_revoked_address_is_not_found() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let none = app.get(MY_CALENDAR, &nagano.token).await;
    assert_not_found(&none);

    let first = subscribe(&app, &nagano.token).await;
    read(&app, &first).await;
    let second = subscribe(&app, &nagano.token).await;
    assert_ne!(first, second);
    assert_not_found(&fetch(&app, &first).await);
    read(&app, &second).await;
    let current = app.get(MY_CALENDAR, &nagano.token).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text);
    assert!(current.body["created_at"].is_string());
    assert_eq!(current.body.get("url"), None, "the address is shown once");

    for _ in 0..2 {
        let revoked = app
            .request(Method::DELETE, MY_CALENDAR, Some(&nagano.token), None)
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    }
    assert_not_found(&fetch(&app, &second).await);
    assert_not_found(&app.get(MY_CALENDAR, &nagano.token).await);
    let (unknown, _) = second.rsplit_once('/').unwrap();
    assert_not_found(&fetch(&app, &format!("{unknown}/kydcal_nothing.ics")).await);

    // Audited, never with the secret.
    let audit = app
        .get("/api/v1/audit-events?entity_type=calendar_feed", &admin)
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "calendar_feed.created")
            .count(),
        2,
        "{}",
        audit.text
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "calendar_feed.revoked")
            .count(),
        2,
        "the first when replaced, the second when revoked: {}",
        audit.text
    );
    for secret in [&first, &second] {
        let secret = secret.rsplit('/').next().unwrap().trim_end_matches(".ics");
        assert!(!audit.text.contains(secret));
    }
}

#[actix_web::test]
async fn a_body_sees_only_the_rounds_it_may_take_part_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = app.user("coordinator", "202011").await; // 長野市
    let village = app.user("viewer", "203041").await; // 川上村
    let for_all = published_procurement(&app, &admin, json!({})).await;
    let for_villages =
        published_procurement(&app, &admin, json!({"eligibility": {"kinds": ["village"]}})).await;
    let everyone = round(&app, &admin, &for_all, Duration::zero(), Duration::days(7)).await;
    let villages = round(
        &app,
        &admin,
        &for_villages,
        Duration::zero(),
        Duration::days(7),
    )
    .await;
    let (everyone, villages) = (
        everyone["id"].as_str().unwrap(),
        villages["id"].as_str().unwrap(),
    );

    let shows = |calendar: &Calendar, round: &str| events(calendar).contains_key(&closing(round));
    let (_, of_city) = read(&app, &subscribe(&app, &city.token).await).await;
    assert!(shows(&of_city, everyone));
    assert!(!shows(&of_city, villages), "長野市 may not take part");
    let (_, of_village) = read(&app, &subscribe(&app, &village.token).await).await;
    assert!(shows(&of_village, everyone));
    assert!(shows(&of_village, villages));
    let (_, of_admin) = read(&app, &subscribe(&app, &admin).await).await;
    assert!(shows(&of_admin, everyone));
    assert!(shows(&of_admin, villages), "administrators see every round");
}

#[actix_web::test]
async fn the_address_and_links_use_the_public_base_url() {
    let app = spawn_app_with(|config| {
        config.public_base_url = Some("https://kyodo.example.lg.jp".parse().unwrap());
    })
    .await;
    let admin = app.admin_token().await;
    let procurement = published_procurement(&app, &admin, json!({})).await;
    let open = round(
        &app,
        &admin,
        &procurement,
        Duration::zero(),
        Duration::days(7),
    )
    .await;
    let id = open["id"].as_str().unwrap();
    let url = subscribe(&app, &admin).await;
    let secret = url
        .strip_prefix("https://kyodo.example.lg.jp/api/v1/calendar/")
        .unwrap_or_else(|| panic!("{url}"));
    let (text, calendar) = read(&app, &app.url(&format!("/api/v1/calendar/{secret}"))).await;
    assert_eq!(
        events(&calendar)[&closing(id)].get_url(),
        Some(format!("https://kyodo.example.lg.jp/api/v1/rounds/{id}").as_str()),
        "{text}"
    );
    let stamp: DateTime<Utc> = events(&calendar)[&closing(id)].get_timestamp().unwrap();
    assert!(stamp <= Utc::now());
}
