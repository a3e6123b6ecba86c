//! The calendar feed: a secret iCalendar address for each user, with the opening and the deadline
//! of every round that concerns the user's body. Calendar clients subscribe to an address and
//! cannot send a bearer token, so the address is the credential: random, shown once, stored as a
//! digest, replaced or revoked at will.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{Duration, NaiveDateTime};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus, Property};
use serde_json::json;

use crate::auth::secret::{self, CALENDAR_TOKEN_PREFIX};
use crate::db::audit::{self, Actor};
use crate::db::calendar_feeds::{self, CalendarFeedRow};
use crate::db::rounds::{self, RoundRow};
use crate::db::{DbConnection, new_id, organizations, procurements};
use crate::domain::audit::{Action, EntityType};
use crate::domain::id::{ProcurementId, RoundId, UserId};
use crate::domain::notification::japanese_datetime;
use crate::domain::round::RoundState;
use crate::domain::user::Role;
use crate::error::ApiError;
use crate::service::procurements::{Procurement, shown_to};

/// A feed just made: the secret is in no other place, and is shown once.
pub struct NewFeed {
    pub row: CalendarFeedRow,
    pub secret: String,
}

/// Gives the user a new secret address; the one it had, if any, stops working.
pub fn rotate(
    conn: &mut DbConnection,
    user_id: &UserId,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<NewFeed, ApiError> {
    calendar_feeds::lock(conn, user_id)?;
    let replaced = revoke_active(conn, user_id, actor, now)?;
    let secret = secret::generate(CALENDAR_TOKEN_PREFIX);
    let row = CalendarFeedRow {
        id: new_id(),
        user_id: user_id.clone(),
        token_hash: secret.digest,
        created_at: now,
        revoked_at: None,
    };
    calendar_feeds::insert(conn, &row)?;
    let created = json!({"id": row.id, "user_id": row.user_id, "replaces": replaced});
    audit::record_simple(
        conn,
        actor,
        (EntityType::CalendarFeed, &row.id),
        Action::Created,
        None,
        Some(created),
        now,
    )?;
    Ok(NewFeed {
        row,
        secret: secret.plain,
    })
}

/// Revokes the user's feed, if it has one.
pub fn revoke(
    conn: &mut DbConnection,
    user_id: &UserId,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    calendar_feeds::lock(conn, user_id)?;
    revoke_active(conn, user_id, actor, now)?;
    Ok(())
}

/// Revokes and audits the user's active feed; returns its id, or `None` when it had none.
fn revoke_active(
    conn: &mut DbConnection,
    user_id: &UserId,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Option<String>, ApiError> {
    let Some(feed) = calendar_feeds::find_active(conn, user_id)? else {
        return Ok(None);
    };
    if calendar_feeds::revoke(conn, &feed.id, now)? == 0 {
        return Ok(None);
    }
    let revoked = json!({"id": feed.id, "user_id": feed.user_id});
    audit::record_simple(
        conn,
        actor,
        (EntityType::CalendarFeed, &feed.id),
        Action::Revoked,
        None,
        Some(revoked),
        now,
    )?;
    Ok(Some(feed.id))
}

/// What a feed shows: the rounds that concern its owner's body.
pub struct Feed {
    /// The owner's body, which names the calendar.
    pub organization_name: String,
    /// By opening time.
    pub rounds: Vec<FeedRound>,
}

/// One round, as the feed shows it.
pub struct FeedRound {
    pub round: RoundRow,
    pub procurement_title: String,
    /// 第N回: its place among its procurement's rounds, by creation, so that it never changes.
    pub number: usize,
    /// Grows whenever the round or its procurement changes (both versions only grow), so that a
    /// calendar replaces the events it holds: a later deadline moves the closing event.
    pub sequence: i64,
    /// When the round or its procurement last changed.
    pub last_modified: NaiveDateTime,
}

/// The feed whose address holds `secret`; `None` when no feed has it, or it was revoked.
///
/// Its owner's rounds are those of the procurements the owner sees (`shown_to`): every round for
/// administrators; for everyone else those of published (and later) procurements their body is
/// eligible for. Each is read afresh, so a change of role, body or eligibility shows at once.
pub fn feed(conn: &mut DbConnection, secret: &str) -> Result<Option<Feed>, ApiError> {
    let Some((_, owner)) = calendar_feeds::find_active_by_digest(conn, &secret::digest(secret))?
    else {
        return Ok(None);
    };
    let own = organizations::find(conn, &owner.organization_id)?
        .context("the calendar feed owner's organization is missing")?;
    let admin = owner.role == Role::Admin;
    let mut shown = BTreeMap::new();
    for row in procurements::list(
        conn,
        procurements::Filter {
            drafts: admin,
            ..procurements::Filter::everything()
        },
    )? {
        let procurement = Procurement::decode(row)?;
        if shown_to(&procurement, &own, admin) {
            shown.insert(procurement.id().clone(), procurement);
        }
    }
    let ids: Vec<ProcurementId> = shown.keys().cloned().collect();
    let mut entries = Vec::new();
    let mut previous: Option<ProcurementId> = None;
    let mut number = 0;
    for round in rounds::for_procurements(conn, &ids)? {
        number = if previous.as_ref() == Some(&round.procurement_id) {
            number + 1
        } else {
            1
        };
        previous = Some(round.procurement_id.clone());
        let procurement = shown
            .get(&round.procurement_id)
            .context("a round of a procurement that was not asked for")?;
        entries.push(FeedRound {
            procurement_title: procurement.row.title.clone(),
            number,
            sequence: round.version + procurement.row.version,
            last_modified: round.updated_at.max(procurement.row.updated_at),
            round,
        });
    }
    entries.sort_by(|a, b| (a.round.opens_at, &a.round.id).cmp(&(b.round.opens_at, &b.round.id)));
    Ok(Some(Feed {
        organization_name: own.name,
        rounds: entries,
    }))
}

/// Where the feed's times are shown: TZID of every time, and the calendar's own time zone.
const TIME_ZONE: &str = "Asia/Tokyo";
/// Japan Standard Time, all year: Japan has had no daylight saving time since 1951.
const JST_HOURS: i64 = 9;
/// The definition that `TZID=Asia/Tokyo` refers to, which RFC 5545 asks for and Outlook needs.
/// The icalendar crate writes no time zone definitions (and gives every component it writes a
/// DTSTAMP and a UID, which a VTIMEZONE may not have), so this one is added to its output as text.
const VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\n\
DTSTART:19700101T000000\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nTZNAME:JST\r\n\
END:STANDARD\r\nEND:VTIMEZONE\r\n";
/// How often calendar clients should fetch the feed again.
const REFRESH_MINUTES: i64 = 60;

/// The two moments of a round that the feed shows, each an event of its own.
#[derive(Clone, Copy)]
enum Moment {
    Opens,
    Closes,
}

impl Moment {
    fn uid(self, round: &RoundId) -> String {
        let which = match self {
            Self::Opens => "opens",
            Self::Closes => "closes",
        };
        // Made of the round's id alone, never of the address the service is reached at, so that
        // an event keeps its UID whatever changes and a calendar replaces it rather than adding one.
        format!("round-{round}-{which}@kyodo")
    }

    fn label(self) -> &'static str {
        match self {
            Self::Opens => "受付開始",
            Self::Closes => "締切",
        }
    }
}

/// The feed as an iCalendar document (RFC 5545): for each round an event at its opening and one
/// at its deadline, in Asia/Tokyo, each linking to `round_url` of the round.
pub fn ics(feed: &Feed, round_url: impl Fn(&RoundId) -> String) -> Result<String, ApiError> {
    let name = format!("共同調達（{}）", feed.organization_name);
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//kyodo//共同調達 募集回//JA"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .name(&name)
        .description(&format!(
            "{}に関係する共同調達の募集回の受付開始と締切",
            feed.organization_name
        ))
        .timezone(TIME_ZONE)
        .ttl(&Duration::minutes(REFRESH_MINUTES));
    for entry in &feed.rounds {
        let url = round_url(&entry.round.id);
        for (moment, at) in [
            (Moment::Opens, entry.round.opens_at),
            (Moment::Closes, entry.round.closes_at),
        ] {
            calendar.push(event(entry, moment, at, &url));
        }
    }
    let text = calendar.to_string();
    // Before the first event, or before the end when there is none.
    let at = match text.find("\r\nBEGIN:") {
        Some(position) => position + 2,
        None => text
            .rfind("END:VCALENDAR")
            .context("an iCalendar document without its end")?,
    };
    let mut document = String::with_capacity(text.len() + VTIMEZONE.len());
    document.push_str(&text[..at]);
    document.push_str(VTIMEZONE);
    document.push_str(&text[at..]);
    Ok(document)
}

fn event(entry: &FeedRound, moment: Moment, at: NaiveDateTime, url: &str) -> Event {
    let round = &entry.round;
    let cancelled = round.state == RoundState::Cancelled;
    let what = format!(
        "{} 第{}回 {}",
        entry.procurement_title,
        entry.number,
        round.kind.label_ja(round.fiscal_year)
    );
    let summary = format!(
        "{}【{}】{what}",
        if cancelled { "【中止】" } else { "" },
        moment.label()
    );
    let mut description = format!(
        "{what}\n受付期間: {} 〜 {}",
        japanese_datetime(round.opens_at),
        japanese_datetime(round.closes_at)
    );
    if cancelled {
        description.push_str("\nこの募集回は中止されました。");
        if let Some(reason) = &round.cancel_reason {
            description.push_str(&format!("理由: {reason}"));
        }
    }
    let modified = entry.last_modified.and_utc();
    Event::with_uid(&moment.uid(&round.id))
        .summary(&summary)
        .description(&description)
        .starts(CalendarDateTime::WithTimezone {
            date_time: tokyo(at),
            tzid: TIME_ZONE.to_owned(),
        })
        .url(url)
        .sequence(u32::try_from(entry.sequence).unwrap_or(u32::MAX))
        .status(if cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        })
        // A moment to know of, not a meeting: it leaves the time free.
        .add_property("TRANSP", "TRANSPARENT")
        // Set from the data rather than the clock, so that a feed that did not change is the
        // same document on every fetch.
        .timestamp(modified)
        .last_modified(modified)
        .done()
}

/// The wall-clock time in Tokyo of a UTC time. (iCalendar has whole seconds: a fraction is
/// dropped, which shows a deadline no later than it is.)
fn tokyo(utc: NaiveDateTime) -> NaiveDateTime {
    utc + Duration::hours(JST_HOURS)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    fn round(state: RoundState) -> RoundRow {
        RoundRow {
            id: RoundId::from("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".to_owned()),
            procurement_id: ProcurementId::from("p".to_owned()),
            kind: crate::domain::round::RoundKind::Commitment,
            fiscal_year: None,
            opens_at: utc(2026, 12, 1, 0, 0),
            closes_at: utc(2026, 12, 15, 8, 0),
            population_base_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            reminder_days: "[7,1]".to_owned(),
            state,
            cancel_reason: Some("予算措置の遅れ".to_owned()),
            version: 3,
            created_at: utc(2026, 11, 1, 0, 0),
            updated_at: utc(2026, 11, 2, 0, 0),
        }
    }

    fn feed(state: RoundState) -> Feed {
        Feed {
            organization_name: "長野市".to_owned(),
            rounds: vec![FeedRound {
                round: round(state),
                procurement_title: "AIチャットボット, 共同利用".to_owned(),
                number: 2,
                sequence: 5,
                last_modified: utc(2026, 11, 2, 0, 0),
            }],
        }
    }

    fn render(feed: &Feed) -> String {
        ics(feed, |id| {
            format!("https://kyodo.example/api/v1/rounds/{id}")
        })
        .unwrap()
    }

    #[test]
    fn each_round_opens_and_closes_in_tokyo_time_with_stable_uids() {
        let text = render(&feed(RoundState::Open));
        let unfolded = text.replace("\r\n ", "");
        for line in [
            "BEGIN:VTIMEZONE",
            "TZID:Asia/Tokyo",
            "UID:round-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-opens@kyodo",
            "UID:round-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-closes@kyodo",
            "DTSTART;TZID=Asia/Tokyo:20261201T090000",
            "DTSTART;TZID=Asia/Tokyo:20261215T170000",
            "SUMMARY:【締切】AIチャットボット\\, 共同利用 第2回 本申込",
            "SEQUENCE:5",
            "STATUS:CONFIRMED",
            "DTSTAMP:20261102T000000Z",
        ] {
            assert!(unfolded.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("DTEND"), "a moment has no end: {text}");
        // The time zone is defined before the events that use it, inside the calendar.
        let timezone = text.find("BEGIN:VTIMEZONE").unwrap();
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(timezone < text.find("BEGIN:VEVENT").unwrap());
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert_eq!(text, render(&feed(RoundState::Open)), "the same every time");
    }

    #[test]
    fn a_cancelled_round_cancels_its_events() {
        let text = render(&feed(RoundState::Cancelled)).replace("\r\n ", "");
        assert_eq!(text.matches("STATUS:CANCELLED").count(), 2, "{text}");
        assert!(text.contains("SUMMARY:【中止】【受付開始】"), "{text}");
        assert!(text.contains("予算措置の遅れ"), "{text}");
    }

    #[test]
    fn an_empty_feed_still_defines_its_time_zone() {
        let text = render(&Feed {
            organization_name: "長野市".to_owned(),
            rounds: Vec::new(),
        });
        assert!(
            text.contains("END:VTIMEZONE\r\nEND:VCALENDAR\r\n"),
            "{text}"
        );
    }
}
