//! Messages the service sends: what causes them, how their delivery stands, when a failed attempt
//! is tried again, and how dates read in them.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a message is about: the template it is rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Event {
    /// A new account's one-time link.
    Invitation,
    /// A round opened: to every eligible body.
    RoundOpened,
    /// A round closes soon: to eligible bodies that have not answered.
    Reminder,
    /// An open round's deadline moved later.
    DeadlineExtended,
    /// A round was cancelled.
    RoundCancelled,
    /// A round closed: to the secretariat, with counts.
    RoundClosed,
    /// A round's cost shares were finalized or corrected: to each participant, its own.
    AllocationFinalized,
    /// The secretariat answered a body's question.
    QuestionAnswered,
    /// A webhook endpoint failed for too long and was disabled: to whoever registered it.
    WebhookDisabled,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a recipient may opt out of it. Invitations and final shares always come.
    pub fn may_opt_out(self) -> bool {
        self == Self::Reminder
    }
}

/// How a message is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

/// Where a message's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// A dispatcher holds it and is delivering it.
    Sending,
    Sent,
    /// Every attempt failed, or the receiver refused it for good: an administrator may retry.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// When to try again after a failed attempt: exponential back-off, doubling from `first` up to
/// `longest`, for at most `attempts` attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub longest: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    /// 30 s, 1 min, 2 min, … up to an hour between attempts; ten attempts span about five hours.
    fn default() -> Self {
        Self {
            first: Duration::seconds(30),
            longest: Duration::hours(1),
            attempts: 10,
        }
    }
}

impl Backoff {
    /// The wait after the `attempts`-th failed attempt, or `None` when it was the last allowed.
    pub fn after(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self
            .first
            .checked_mul(1 << doublings)
            .unwrap_or(self.longest);
        Some(wait.min(self.longest))
    }
}

/// Japan Standard Time: no daylight saving, so a fixed offset is exact.
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

/// The UTC time of a wall-clock time in Japan (as a browser's date and time fields give one).
pub fn from_jst(local: NaiveDateTime) -> NaiveDateTime {
    local - chrono::Duration::seconds(i64::from(jst().local_minus_utc()))
}

const WEEKDAYS: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

/// A UTC time as Japanese messages write it: `2026年12月1日(火) 17:00 JST`.
pub fn japanese_datetime(utc: NaiveDateTime) -> String {
    let local: DateTime<FixedOffset> = utc.and_utc().with_timezone(&jst());
    format!(
        "{}年{}月{}日({}) {} JST",
        local.year(),
        local.month(),
        local.day(),
        WEEKDAYS[local.weekday().num_days_from_monday() as usize],
        local.format("%H:%M")
    )
}

/// Yen as Japanese documents write it: `¥1,234,567`.
pub fn yen(amount: i64) -> String {
    let grouped = thousands(amount.unsigned_abs());
    if amount < 0 {
        format!("-¥{grouped}")
    } else {
        format!("¥{grouped}")
    }
}

/// A count grouped by thousands: `375,884`.
pub fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_in_japan_time_with_the_weekday() {
        let utc = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(8, 0, 0))
            .expect("a valid time");
        assert_eq!(japanese_datetime(utc), "2026年12月1日(火) 17:00 JST");
        // 23:30 UTC is the next morning in Japan.
        let late = chrono::NaiveDate::from_ymd_opt(2026, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 30, 0))
            .expect("a valid time");
        assert_eq!(japanese_datetime(late), "2027年1月1日(金) 08:30 JST");
    }

    #[test]
    fn yen_is_grouped_by_thousands() {
        assert_eq!(yen(0), "¥0");
        assert_eq!(yen(999), "¥999");
        assert_eq!(yen(1_000), "¥1,000");
        assert_eq!(yen(426_551), "¥426,551");
        assert_eq!(yen(12_345_678), "¥12,345,678");
        assert_eq!(yen(-1_000), "-¥1,000");
    }

    #[test]
    fn back_off_doubles_up_to_the_longest_wait_then_gives_up() {
        let policy = Backoff::default();
        let waits: Vec<_> = (1..=10)
            .map(|n| policy.after(n).map(|d| d.num_seconds()))
            .collect();
        assert_eq!(
            waits,
            [
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(960),
                Some(1920),
                Some(3600),
                Some(3600),
                None
            ]
        );
        let one = Backoff {
            attempts: 1,
            ..policy
        };
        assert_eq!(one.after(1), None);
    }
}
