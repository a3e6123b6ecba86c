//! The data of the round dashboard's charts (`web::charts` draws them), one query per chart.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;

use crate::db::DbConnection;
use crate::db::participations;
use crate::db::rounds::RoundRow;
use crate::domain::participation::ParticipationStatus;
use crate::error::ApiError;
use crate::service::allocations::{self, AllocationDocument};

/// Cumulative counts of current answers right after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPoint {
    /// UTC.
    pub at: NaiveDateTime,
    pub joined: u32,
    pub declined: u32,
}

/// A round's answers over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// UTC, as are the other times.
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub now: NaiveDateTime,
    /// Bodies that may answer.
    pub eligible: u32,
    /// In time order, one per instant at which the counts changed.
    pub points: Vec<AnswerPoint>,
}

/// One body of a finalized allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareDot {
    pub name: String,
    /// The figure the allocation used; `None` when the body had none.
    pub population: Option<i64>,
    /// 負担額: every pool and fiscal year together, yen.
    pub share_yen: i64,
}

/// How many bodies had joined and declined after each change of the round's answers.
pub fn answer_timeline(
    conn: &mut DbConnection,
    round: &RoundRow,
    eligible: u32,
    now: NaiveDateTime,
) -> Result<Timeline, ApiError> {
    let changes = participations::status_history(conn, &round.id)?;
    Ok(Timeline {
        opens_at: round.opens_at,
        closes_at: round.closes_at,
        now,
        eligible,
        points: tally(&changes),
    })
}

/// Each body's current answer moves it between the counts; a withdrawn body counts as neither,
/// and a version that changes only details (contact, options) changes no count.
fn tally(changes: &[(String, ParticipationStatus, NaiveDateTime)]) -> Vec<AnswerPoint> {
    let mut current: HashMap<&str, ParticipationStatus> = HashMap::new();
    let (mut joined, mut declined) = (0u32, 0u32);
    let mut points: Vec<AnswerPoint> = Vec::new();
    for (participation, status, at) in changes {
        let before = current.insert(participation, *status);
        if before == Some(*status) {
            continue;
        }
        match before {
            Some(ParticipationStatus::Joined) => joined = joined.saturating_sub(1),
            Some(ParticipationStatus::Declined) => declined = declined.saturating_sub(1),
            Some(ParticipationStatus::Withdrawn) | None => {}
        }
        match status {
            ParticipationStatus::Joined => joined += 1,
            ParticipationStatus::Declined => declined += 1,
            ParticipationStatus::Withdrawn => {}
        }
        match points.last_mut() {
            Some(last) if last.at == *at => {
                last.joined = joined;
                last.declined = declined;
            }
            _ => points.push(AnswerPoint {
                at: *at,
                joined,
                declined,
            }),
        }
    }
    points
}

/// Each body's share of a version of the round's allocation (the newest without `version`).
pub fn shares_of(
    conn: &mut DbConnection,
    round: &RoundRow,
    version: Option<i32>,
) -> Result<Vec<ShareDot>, ApiError> {
    allocations::find(conn, round, version).map(|document| shares(&document))
}

/// Each body's share summed over the pools and years, with the population the allocation used,
/// in organization id order. The lead body has a line of its own when it takes no part but the
/// leftover yen go to it; it then has no population in the document.
pub fn shares(document: &AllocationDocument) -> Vec<ShareDot> {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for pool in &document.pools {
        for share in &pool.shares {
            *totals.entry(&share.organization_id).or_default() += share.amount;
        }
    }
    let bodies: HashMap<&str, _> = document
        .participants
        .iter()
        .map(|b| (b.participant.organization_id.as_str(), &b.participant))
        .collect();
    totals
        .into_iter()
        .map(|(id, share_yen)| {
            let body = bodies.get(id);
            let name = match body {
                Some(body) => body.name.clone(),
                None if document.lead_organization.organization_id == id => {
                    document.lead_organization.name.clone()
                }
                None => id.to_owned(),
            };
            ShareDot {
                name,
                population: body.and_then(|b| b.population),
                share_yen,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
            .and_then(|d| d.and_hms_opt(0, minute, 0))
            .expect("a valid time")
    }

    #[test]
    fn answers_move_bodies_between_the_counts() {
        use ParticipationStatus::*;
        let changes = [
            ("a", Joined, at(1)),
            ("b", Declined, at(2)),
            // A detail changes, the count does not.
            ("a", Joined, at(3)),
            ("a", Declined, at(4)),
            ("b", Withdrawn, at(5)),
            // Two at the same instant make one point.
            ("c", Joined, at(6)),
            ("d", Joined, at(6)),
        ]
        .map(|(id, status, at)| (id.to_owned(), status, at));
        let counts: Vec<_> = tally(&changes)
            .iter()
            .map(|p| (p.at, p.joined, p.declined))
            .collect();
        assert_eq!(
            counts,
            [
                (at(1), 1, 0),
                (at(2), 1, 1),
                (at(4), 0, 2),
                (at(5), 0, 1),
                (at(6), 2, 1),
            ]
        );
        assert!(tally(&[]).is_empty());
    }
}
