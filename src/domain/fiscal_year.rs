//! 年度: the Japanese fiscal year, April 1 to March 31, named by the calendar year it starts in.

use chrono::{Datelike, NaiveDate};

pub const FIRST: i32 = 2000;
pub const LAST: i32 = 2100;

pub fn is_valid(year: i32) -> bool {
    (FIRST..=LAST).contains(&year)
}

pub fn containing(date: NaiveDate) -> i32 {
    if date.month() >= 4 {
        date.year()
    } else {
        date.year() - 1
    }
}

pub fn starts_on(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 4, 1)
}

pub fn ends_on(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year + 1, 3, 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn april_starts_the_year_and_march_ends_it() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(containing(d(2026, 4, 1)), 2026);
        assert_eq!(containing(d(2027, 3, 31)), 2026);
        assert_eq!(containing(d(2026, 3, 31)), 2025);
        assert_eq!(starts_on(2026), Some(d(2026, 4, 1)));
        assert_eq!(ends_on(2026), Some(d(2027, 3, 31)));
    }
}
