//! The 負担金 engine: who pays what of each cost pool, to the yen.
//!
//! Pure: no HTTP, no SQL, no clock. The same inputs always give the same output on every
//! platform: money is integer yen, weights are integers (the degressive transform is computed in
//! fixed point once, before allocating), and every share is an exact fraction until it is
//! truncated to whole yen.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::procurement::{CostModel, PoolTotal, PriceStep, RemainderRule, Weights};

mod engine;
pub mod fixed_point;
#[cfg(test)]
mod tests;

/// The largest total, and the largest fixed fee, the engine takes: ¥10^15 (千兆円), far above any
/// real contract and small enough that every exact fraction fits 256 bits.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// The largest population the engine takes.
pub const MAX_POPULATION: i64 = 1_000_000_000;
/// The largest declared quantity the engine takes.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000_000;
/// The most participants one pool may have.
pub const MAX_PARTICIPANTS: usize = 100_000;

/// A body taking part, as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    pub organization_id: String,
    /// 全国地方公共団体コード; null for bodies that have none. Breaks ties after population.
    pub lg_code: Option<String>,
    /// Breaks ties last.
    pub name: String,
    /// On the round's population base date; null when the body has no figure.
    pub population: Option<i64>,
    /// Declared quantity for usage weights; null counts as 0.
    pub quantity: Option<i64>,
    /// Option codes the body chose: it pays into those options' pools.
    pub options: Vec<String>,
}

/// What one pool costs in one fiscal year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolYearTotal {
    pub pool: String,
    pub fiscal_year: i32,
    /// Yen.
    pub amount: i64,
}

/// Everything the engine reads.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub model: &'a CostModel,
    /// The signing body: receives the leftover yen under `lead_org`.
    pub lead_organization_id: &'a str,
    pub participants: &'a [Participant],
    /// One total per (pool, fiscal year) to allocate.
    pub totals: &'a [PoolYearTotal],
}

/// The result: one entry per (pool, fiscal year), in the order of `Input::totals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    pub pools: Vec<PoolAllocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolAllocation {
    pub pool: String,
    pub fiscal_year: i32,
    /// T, yen.
    pub total: i64,
    /// F, yen per participant of this pool.
    pub fixed_fee: i64,
    /// R = T − n·F, yen allocated by weight.
    pub allocated: i64,
    pub weights: Weights,
    pub rule: RemainderRule,
    /// The degressive exponent in millionths, when the pool uses one (as applied).
    pub exponent_micro: Option<u32>,
    /// Yen handed out by the remainder rule after truncation.
    pub remainder: i64,
    /// One per body paying into this pool (plus the lead body under `lead_org` if it takes no
    /// part but receives the leftover; no such line when nothing is left over), ordered by
    /// organization id.
    pub shares: Vec<Share>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Share {
    pub organization_id: String,
    /// The integer weight the population part used: the population (linear), the band's points
    /// (tiered), or population^k in fixed point (degressive, scaled by 2^20 and truncated);
    /// 0 when the pool does not weigh population.
    pub population_weight: i64,
    /// 固定額
    pub fixed: i64,
    /// 均等割, truncated.
    pub equal: i64,
    /// 人口割, truncated.
    pub population: i64,
    /// 利用割, truncated.
    pub usage: i64,
    /// 端数調整: amount − (fixed + equal + population + usage). The parts are truncated one by
    /// one while the share is truncated as a whole, so this holds that carry plus the yen the
    /// remainder rule gave this body.
    pub rounding: i64,
    /// Of `rounding`, the yen the remainder rule gave.
    pub remainder: i64,
    /// 負担額: what the body pays into this pool this year.
    pub amount: i64,
}

/// Why an allocation is impossible; each names the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("pool {pool:?} has no participants")]
    NoParticipants { pool: String },
    #[error(
        "pool {pool:?} ({fiscal_year}): {participants} fixed fees of ¥{fixed_fee} come to more than the total ¥{total}"
    )]
    FixedFeesExceedTotal {
        pool: String,
        fiscal_year: i32,
        participants: usize,
        fixed_fee: i64,
        total: i64,
    },
    #[error("pool {pool:?} weighs population, but its participants' total population is zero")]
    ZeroTotalPopulation { pool: String },
    #[error("pool {pool:?} weighs population, but {organization_id} has no population figure")]
    MissingPopulation {
        pool: String,
        organization_id: String,
    },
    #[error("pool {pool:?} weighs usage, but no participant declared a quantity")]
    NoQuantities { pool: String },
    #[error("pool {pool:?} is not in the cost model")]
    UnknownPool { pool: String },
    #[error("pool {pool:?} ({fiscal_year}): a total cannot be negative")]
    NegativeTotal { pool: String, fiscal_year: i32 },
    #[error("pool {pool:?}: {detail}")]
    OutOfRange { pool: String, detail: String },
}

impl AllocationError {
    /// The pool the error is about.
    pub fn pool(&self) -> &str {
        match self {
            Self::NoParticipants { pool }
            | Self::FixedFeesExceedTotal { pool, .. }
            | Self::ZeroTotalPopulation { pool }
            | Self::MissingPopulation { pool, .. }
            | Self::NoQuantities { pool }
            | Self::UnknownPool { pool }
            | Self::NegativeTotal { pool, .. }
            | Self::OutOfRange { pool, .. } => pool,
        }
    }

    /// Whether the error lies in the participants' figures (population, declared quantities)
    /// rather than in the totals being shared.
    pub fn in_participants(&self) -> bool {
        matches!(
            self,
            Self::ZeroTotalPopulation { .. }
                | Self::MissingPopulation { .. }
                | Self::NoQuantities { .. }
        )
    }
}

/// Allocates every (pool, fiscal year) of `input.totals` among the participants of that pool:
/// every participant for `base`, those who chose the option for an option's pool.
///
/// The participants may come in any order: the result is the same. A call sorts the
/// participants' ids once, then each pool costs linear work (one 256-bit division per member,
/// plus about 0.1 µs per member for a degressive weight) and, under `largest_remainder`, one
/// selection of the members who get a leftover yen. 1,741 bodies in each of five pools take
/// about 1.5 ms in a release build (`tests::timing_1741_bodies_and_5_pools`, ignored by default).
pub fn allocate(input: &Input<'_>) -> Result<Allocation, AllocationError> {
    engine::allocate(input)
}

/// The total the model gives a pool when `n` bodies take part in it: the fixed amount, the
/// schedule's step for n, or n × the unit price of the step for n.
pub fn model_total(pool: &str, total: &PoolTotal, n: usize) -> Result<i64, AllocationError> {
    let out_of_range = |detail: String| AllocationError::OutOfRange {
        pool: pool.to_owned(),
        detail,
    };
    let step = |steps: &[PriceStep]| {
        steps
            .iter()
            .find(|step| step.up_to.is_none_or(|up_to| n <= up_to as usize))
            .map(|step| step.amount)
            .ok_or_else(|| out_of_range(format!("no price step covers {n} participants")))
    };
    match total {
        PoolTotal::Fixed { amount } => Ok(*amount),
        PoolTotal::Schedule { steps } => step(steps),
        PoolTotal::PerParticipant { steps } => {
            let unit = step(steps)?;
            i64::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(unit))
                .ok_or_else(|| {
                    out_of_range(format!(
                        "{n} participants at ¥{unit} each overflow a yen amount"
                    ))
                })
        }
    }
}

/// The participants of `pool` (every participant for `base`, else those who chose it).
pub fn pool_members<'p>(
    pool: &str,
    participants: &'p [Participant],
) -> impl Iterator<Item = &'p Participant> {
    participants.iter().filter(move |p| takes_part(pool, p))
}

/// Whether `participant` pays into the option pool `pool` (everyone pays into `base`).
fn takes_part(pool: &str, participant: &Participant) -> bool {
    pool == crate::domain::procurement::BASE_POOL || participant.options.iter().any(|o| o == pool)
}
