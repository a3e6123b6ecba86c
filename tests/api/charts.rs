//! The data of the round dashboard's charts, read back from what the API recorded.

use actix_web::http::Method;
use chrono::Duration;
use serde_json::json;

use crate::allocations::{
    KAWAKAMI, MATSUMOTO, NAGANO, closed_round_with_three_bodies, open_round, put, totals,
};
use crate::helpers::spawn_app;
use kyodo::domain::id::RoundId;
use kyodo::service::charts::{AnswerPoint, answer_timeline, shares_of};

#[actix_web::test]
async fn the_timeline_counts_each_body_by_its_current_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let nagano = app.user("coordinator", NAGANO).await;
    let matsumoto = app.user("coordinator", MATSUMOTO).await;
    let kawakami = app.user("coordinator", KAWAKAMI).await;
    let start = app.clock_now();
    let day = |n: i64| start + Duration::days(n);
    let steps = [
        (&nagano, NAGANO, Some("joined")),
        (&matsumoto, MATSUMOTO, Some("declined")),
        // A change of mind moves Nagano from one count to the other.
        (&nagano, NAGANO, Some("declined")),
        // Withdrawn counts as neither.
        (&matsumoto, MATSUMOTO, None),
        (&kawakami, KAWAKAMI, Some("joined")),
    ];
    for (user, org, status) in steps {
        app.clock.advance(Duration::days(1));
        let answered = match status {
            Some(status) => put(&app, &user.token, &round, org, json!({"status": status})).await,
            None => {
                app.request(
                    Method::DELETE,
                    &format!("/api/v1/rounds/{round}/participations/{org}"),
                    Some(&user.token),
                    None,
                )
                .await
            }
        };
        assert!(answered.status.is_success(), "{}", answered.text);
    }
    // A change of details only moves no count.
    app.clock.advance(Duration::days(1));
    let detail = json!({"status": "joined", "note": "予算確保済み"});
    let updated = put(&app, &kawakami.token, &round, KAWAKAMI, detail).await;
    assert!(updated.status.is_success(), "{}", updated.text);

    let mut conn = app.pool().get().unwrap();
    let row = kyodo::db::rounds::find(&mut conn, &RoundId::from(round.clone()))
        .unwrap()
        .unwrap();
    let now = day(7);
    let timeline = answer_timeline(&mut conn, &row, 88, now).unwrap();
    assert_eq!(timeline.opens_at, row.opens_at);
    assert_eq!(timeline.closes_at, row.closes_at);
    assert_eq!((timeline.now, timeline.eligible), (now, 88));
    let point = |n, joined, declined| AnswerPoint {
        at: day(n),
        joined,
        declined,
    };
    assert_eq!(
        timeline.points,
        [
            point(1, 1, 0),
            point(2, 1, 1),
            point(3, 0, 2),
            point(4, 0, 1),
            point(5, 1, 1),
        ]
    );
    let svg = kyodo::web::charts::answers_over_time(&timeline);
    assert!(
        svg.contains("参加 1団体、不参加 1団体、未回答 86団体"),
        "{svg}"
    );
}

#[actix_web::test]
async fn the_shares_are_summed_over_pools_and_years_with_the_population_used() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = closed_round_with_three_bodies(&app, &admin).await;
    let finalized = app
        .post(
            &format!("/api/v1/rounds/{round}/finalize"),
            Some(&admin),
            totals(9_000_000, 1_100_000),
        )
        .await;
    assert_eq!(finalized.status, 201, "{}", finalized.text);

    let mut conn = app.pool().get().unwrap();
    let row = kyodo::db::rounds::find(&mut conn, &RoundId::from(round.clone()))
        .unwrap()
        .unwrap();
    let dots = shares_of(&mut conn, &row, None).unwrap();
    let mut seen: Vec<(&str, Option<i64>)> = dots
        .iter()
        .map(|d| (d.name.as_str(), d.population))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("川上村", Some(3_963)),
            ("松本市", Some(238_737)),
            ("長野市", Some(375_884)),
        ]
    );
    assert_eq!(
        dots.iter().map(|d| d.share_yen).sum::<i64>(),
        finalized.body["total"].as_i64().unwrap()
    );
    let share = |name: &str| dots.iter().find(|d| d.name == name).unwrap().share_yen;
    assert!(share("長野市") > share("松本市") && share("松本市") > share("川上村"));
    // The document as the API serves it has the same shares.
    let mut from_api = 0;
    for pool in finalized.body["pools"].as_array().unwrap() {
        for line in pool["shares"].as_array().unwrap() {
            if line["organization_id"] == finalized.body["participants"][0]["organization_id"] {
                from_api += line["amount"].as_i64().unwrap();
            }
        }
    }
    let first = finalized.body["participants"][0]["name"].as_str().unwrap();
    assert_eq!(share(first), from_api);
}
