//! 年度: the Japanese fiscal year, April 1 to March 31, named by the calendar year it starts in.

use crate::domain::notification::jst;

pub const FIRST: i32 = 2000;
pub const LAST: i32 = 2100;

/// The fiscal year (年度, April to March, Japan time) that `utc` falls in.
pub fn of(utc: chrono::NaiveDateTime) -> i32 {
    use chrono::Datelike;
    let japan = utc.and_utc().with_timezone(&jst());
    if japan.month() >= 4 {
        japan.year()
    } else {
        japan.year() - 1
    }
}

/// A year a contract term or renewal may plausibly name.
pub fn is_valid(year: i32) -> bool {
    (FIRST..=LAST).contains(&year)
}
