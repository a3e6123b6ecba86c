//! A participation round's life: scheduled → open → closed → finalized, or cancelled before that.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::audit::Action;
use crate::domain::field_error::FieldError;
use crate::domain::fiscal_year;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum RoundKind {
    /// 意向調査: non-binding, produces estimates.
    InterestSurvey,
    /// 本申込: binding, produces the final allocation.
    Commitment,
    /// A commitment repeated for a new fiscal year.
    Renewal,
}

impl RoundKind {
    /// The round as Japanese messages name it: 意向調査, 本申込, 2027年度の更新申込.
    pub fn label_ja(self, fiscal_year: Option<i32>) -> String {
        match (self, fiscal_year) {
            (Self::InterestSurvey, _) => "意向調査".to_owned(),
            (Self::Commitment, _) => "本申込".to_owned(),
            (Self::Renewal, Some(year)) => format!("{year}年度の更新申込"),
            (Self::Renewal, None) => "更新申込".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum RoundState {
    Scheduled,
    Open,
    Closed,
    Finalized,
    Cancelled,
}

/// What an administrator or the scheduler does to a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundAction {
    Open,
    Close,
    Reopen,
    Cancel,
    Finalize,
    ExtendDeadline,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {state} round cannot be {}", .action.replace('_', " "))]
pub struct InvalidTransition {
    pub state: &'static str,
    /// As the audit log and the feed name it.
    pub action: &'static str,
}

impl RoundAction {
    /// The action once done, as the audit log and the feed name it.
    pub fn done(self) -> Action {
        match self {
            Self::Open => Action::Opened,
            Self::Close => Action::Closed,
            Self::Reopen => Action::Reopened,
            Self::Cancel => Action::Cancelled,
            Self::Finalize => Action::Finalized,
            Self::ExtendDeadline => Action::DeadlineExtended,
        }
    }
}

impl RoundState {
    /// The state after `action`, or why the action is not allowed now.
    pub fn after(
        self,
        action: RoundAction,
        kind: RoundKind,
    ) -> Result<RoundState, InvalidTransition> {
        use RoundAction as A;
        use RoundState as S;
        let next = match (self, action) {
            (S::Scheduled, A::Open) => Some(S::Open),
            (S::Open, A::Close) => Some(S::Closed),
            (S::Closed, A::Reopen) => Some(S::Open),
            (S::Scheduled | S::Open | S::Closed, A::Cancel) => Some(S::Cancelled),
            (S::Scheduled | S::Open, A::ExtendDeadline) => Some(self),
            // Interest surveys produce estimates only; nothing is finalized.
            (S::Closed, A::Finalize) if kind != RoundKind::InterestSurvey => Some(S::Finalized),
            _ => None,
        };
        next.ok_or(InvalidTransition {
            state: self.into(),
            action: action.done().as_str(),
        })
    }
}

/// Whether a round takes responses at `now`: open, and strictly before its deadline.
pub fn accepts_responses(state: RoundState, closes_at: NaiveDateTime, now: NaiveDateTime) -> bool {
    state == RoundState::Open && now < closes_at
}

pub const DEFAULT_REMINDER_DAYS: [u32; 2] = [7, 1];

/// Most reminders a round sends.
pub const MAX_REMINDERS: usize = 5;
/// Most days before the deadline a reminder may go out.
pub const MAX_REMINDER_DAYS: u32 = 60;

/// Reminder offsets: 1 to 60 days, at most 5, distinct; returned largest first.
pub fn reminder_days(days: Vec<u32>, errors: &mut Vec<FieldError>) -> Vec<u32> {
    let distinct: BTreeSet<u32> = days.iter().copied().collect();
    if days.len() > MAX_REMINDERS
        || distinct.len() != days.len()
        || days.iter().any(|d| !(1..=MAX_REMINDER_DAYS).contains(d))
    {
        errors.push(FieldError::new(
            "reminder_days",
            "out_of_range",
            "up to 5 distinct offsets of 1 to 60 days",
        ));
    }
    distinct.into_iter().rev().collect()
}

/// A round's times and settings, checked.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub kind: RoundKind,
    pub fiscal_year: Option<i32>,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub population_base_date: NaiveDate,
    pub reminder_days: Vec<u32>,
}

impl Schedule {
    /// Checks every field at once: closing after opening, a fiscal year for a renewal (and a
    /// plausible one for any round), the reminder offsets.
    pub fn parse(
        kind: RoundKind,
        fiscal_year: Option<i32>,
        opens_at: NaiveDateTime,
        closes_at: NaiveDateTime,
        population_base_date: NaiveDate,
        reminder_days: Option<Vec<u32>>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if closes_at <= opens_at {
            errors.push(FieldError::new(
                "closes_at",
                "out_of_range",
                "a round closes after it opens",
            ));
        }
        match (kind, fiscal_year) {
            (RoundKind::Renewal, None) => errors.push(FieldError::new(
                "fiscal_year",
                "required",
                "a renewal round names the fiscal year it renews",
            )),
            (_, Some(year)) if !fiscal_year::is_valid(year) => errors.push(FieldError::new(
                "fiscal_year",
                "out_of_range",
                "not a plausible fiscal year",
            )),
            _ => {}
        }
        let reminder_days = self::reminder_days(
            reminder_days.unwrap_or(DEFAULT_REMINDER_DAYS.to_vec()),
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            kind,
            fiscal_year,
            opens_at,
            closes_at,
            population_base_date,
            reminder_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoundAction as A;
    use RoundState as S;

    #[test]
    fn the_lifecycle_runs_forward_and_reopens_only_before_finalization() {
        let k = RoundKind::Commitment;
        assert_eq!(S::Scheduled.after(A::Open, k), Ok(S::Open));
        assert_eq!(S::Open.after(A::Close, k), Ok(S::Closed));
        assert_eq!(S::Closed.after(A::Reopen, k), Ok(S::Open));
        assert_eq!(S::Closed.after(A::Finalize, k), Ok(S::Finalized));
        assert!(S::Finalized.after(A::Reopen, k).is_err());
        assert!(S::Finalized.after(A::Cancel, k).is_err());
        assert!(S::Cancelled.after(A::Open, k).is_err());
        assert!(S::Open.after(A::Finalize, k).is_err());
        assert!(S::Closed.after(A::ExtendDeadline, k).is_err());
    }

    #[test]
    fn interest_surveys_are_never_finalized() {
        let error = S::Closed
            .after(A::Finalize, RoundKind::InterestSurvey)
            .unwrap_err();
        assert_eq!(error.to_string(), "a closed round cannot be finalized");
    }

    #[test]
    fn a_refusal_names_the_action_as_the_feed_does() {
        let error = S::Closed
            .after(A::ExtendDeadline, RoundKind::Commitment)
            .unwrap_err();
        assert_eq!(error.action, "deadline_extended");
        assert_eq!(
            error.to_string(),
            "a closed round cannot be deadline extended"
        );
    }

    #[test]
    fn the_deadline_second_itself_is_closed() {
        let closes = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        let second = chrono::Duration::seconds(1);
        assert!(accepts_responses(S::Open, closes, closes - second));
        assert!(!accepts_responses(S::Open, closes, closes));
        assert!(!accepts_responses(S::Open, closes, closes + second));
        assert!(!accepts_responses(S::Closed, closes, closes - second));
    }
}
