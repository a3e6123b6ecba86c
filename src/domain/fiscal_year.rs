//! 年度: the Japanese fiscal year, April 1 to March 31, named by the calendar year it starts in.

pub const FIRST: i32 = 2000;
pub const LAST: i32 = 2100;

/// A year a contract term or renewal may plausibly name.
pub fn is_valid(year: i32) -> bool {
    (FIRST..=LAST).contains(&year)
}
