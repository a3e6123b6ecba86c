//! The allocation of one pool and year: exact fractions over one common denominator, truncated
//! to whole yen, the leftover yen given by the pool's remainder rule.
//!
//! For the members i = 1..n of a pool, with R yen to allocate and weights w (basis points), a
//! body's exact share is
//!
//! ```text
//! x_i = R · (w_e/10⁴ · 1/n + w_p/10⁴ · pw_i/ΣPW + w_u/10⁴ · q_i/ΣQ) = N_i / D
//! D   = 10⁴ · n · ΣPW · ΣQ
//! N_i = R · (w_e · ΣPW · ΣQ  +  w_p · n · ΣQ · pw_i  +  w_u · n · ΣPW · q_i)
//! ```
//!
//! where a component whose weight is 0 leaves its denominator (n, ΣPW or ΣQ) out, as 1. The
//! bounds in the parent module (`MAX_AMOUNT`, `MAX_POPULATION`, `MAX_QUANTITY`,
//! `MAX_PARTICIPANTS`) keep D below 2^165 and N_i ≤ R · D below 2^215: 256 bits hold them all.
//! The parts (均等割, 人口割, 利用割), each truncated on its own, fit in 128 bits.
//!
//! Σ N_i = R · D, so the truncated shares fall short of R by L = Σ (N_i mod D) / D yen,
//! 0 ≤ L < n.

use std::cmp::Ordering;

use ruint::aliases::U256;

use super::fixed_point::{degressive_weight, exponent_micro};
use super::{
    Allocation, AllocationError, Input, MAX_AMOUNT, MAX_PARTICIPANTS, MAX_POPULATION, MAX_QUANTITY,
    Participant, PoolAllocation, PoolYearTotal, Share, takes_part,
};
use crate::domain::procurement::{
    BASIS_POINTS, PopulationBand, PopulationTransform, RemainderRule,
};

const BP: u128 = BASIS_POINTS as u128;

/// A member of the pool being allocated; one per body, reused from pool to pool.
struct Member {
    /// Index into `Input::participants`.
    index: usize,
    population_weight: u64,
    quantity: u64,
    /// ⌊N_i / D⌋
    whole: u64,
    /// N_i mod D: the fractional part, over D.
    fraction: U256,
    /// Yen from the remainder rule.
    leftover: i64,
}

pub(super) fn allocate(input: &Input<'_>) -> Result<Allocation, AllocationError> {
    let participants = input.participants;
    // Members are taken in id order: the result does not depend on the order of the input.
    let mut order: Vec<usize> = (0..participants.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        participants[a]
            .organization_id
            .cmp(&participants[b].organization_id)
    });
    let mut members = Vec::with_capacity(participants.len());
    let mut ranking = Vec::new();
    let pools = input
        .totals
        .iter()
        .map(|total| allocate_pool(input, &order, total, &mut members, &mut ranking))
        .collect::<Result<_, _>>()?;
    Ok(Allocation { pools })
}

/// The population transform as applied.
enum Transform<'a> {
    Linear,
    Tiered(&'a [PopulationBand]),
    /// The exponent in millionths.
    Degressive(u32),
}

impl<'a> Transform<'a> {
    fn of(transform: &'a PopulationTransform) -> Result<Self, String> {
        Ok(match transform {
            PopulationTransform::Linear => Self::Linear,
            PopulationTransform::Tiered { bands } => Self::Tiered(bands),
            PopulationTransform::Degressive { exponent } => {
                Self::Degressive(exponent_micro(*exponent).ok_or_else(|| {
                    format!("the degressive exponent {exponent} is not in (0, 1]")
                })?)
            }
        })
    }

    /// The weight of a population in 0..=MAX_POPULATION; `None` when no band holds it.
    fn weight(&self, population: i64) -> Option<u64> {
        match self {
            Self::Linear => u64::try_from(population).ok(),
            Self::Tiered(bands) => bands
                .iter()
                .find(|band| band.from <= population && band.to.is_none_or(|to| population <= to))
                .map(|band| u64::from(band.points)),
            Self::Degressive(k) => Some(degressive_weight(u32::try_from(population).ok()?, *k)),
        }
    }

    fn exponent_micro(&self) -> Option<u32> {
        match self {
            Self::Degressive(k) => Some(*k),
            _ => None,
        }
    }
}

fn allocate_pool(
    input: &Input<'_>,
    order: &[usize],
    total: &PoolYearTotal,
    members: &mut Vec<Member>,
    ranking: &mut Vec<usize>,
) -> Result<PoolAllocation, AllocationError> {
    let participants = input.participants;
    let code = total.pool.as_str();
    let named = || code.to_owned();
    let out_of_range = |detail: String| AllocationError::OutOfRange {
        pool: named(),
        detail,
    };

    let pool = input
        .model
        .pools
        .iter()
        .find(|pool| pool.code == code)
        .ok_or_else(|| AllocationError::UnknownPool { pool: named() })?;
    let t = total.amount;
    if t < 0 {
        return Err(AllocationError::NegativeTotal {
            pool: named(),
            fiscal_year: total.fiscal_year,
        });
    }
    if t > MAX_AMOUNT {
        return Err(out_of_range(format!(
            "the total ¥{t} is above ¥{MAX_AMOUNT}, the most the engine takes"
        )));
    }
    let fee = pool.fixed_fee;
    if !(0..=MAX_AMOUNT).contains(&fee) {
        return Err(out_of_range(format!(
            "the fixed fee ¥{fee} is not between ¥0 and ¥{MAX_AMOUNT}"
        )));
    }
    let w = pool.weights;
    let weight_sum = u64::from(w.equal) + u64::from(w.population) + u64::from(w.usage);
    if weight_sum != u64::from(BASIS_POINTS) {
        return Err(out_of_range(format!(
            "the weights sum to {weight_sum} basis points, not {BASIS_POINTS}"
        )));
    }
    let transform = Transform::of(&pool.population_transform).map_err(out_of_range)?;

    members.clear();
    members.extend(
        order
            .iter()
            .filter(|&&i| takes_part(code, &participants[i]))
            .map(|&index| Member {
                index,
                population_weight: 0,
                quantity: 0,
                whole: 0,
                fraction: U256::ZERO,
                leftover: 0,
            }),
    );
    let n = members.len();
    if n == 0 {
        return Err(AllocationError::NoParticipants { pool: named() });
    }
    if n > MAX_PARTICIPANTS {
        return Err(out_of_range(format!(
            "{n} participants are more than the {MAX_PARTICIPANTS} the engine takes"
        )));
    }
    let id = |m: &Member| participants[m.index].organization_id.as_str();
    if let Some(pair) = members.windows(2).find(|pair| id(&pair[0]) == id(&pair[1])) {
        return Err(out_of_range(format!(
            "organization {} takes part twice",
            id(&pair[0])
        )));
    }

    // n ≤ 10^5 and F ≤ 10^15: the product is below 2^67.
    let fees = n as i128 * i128::from(fee);
    if fees > i128::from(t) {
        return Err(AllocationError::FixedFeesExceedTotal {
            pool: named(),
            fiscal_year: total.fiscal_year,
            participants: n,
            fixed_fee: fee,
            total: t,
        });
    }
    // 0 ≤ R ≤ T ≤ 10^15.
    let r = t - fees as i64;

    let (by_population, by_usage) = (w.population > 0, w.usage > 0);
    let (mut sum_weights, mut sum_quantities) = (0u128, 0u128);
    for m in members.iter_mut() {
        let body = &participants[m.index];
        if by_population {
            let population = body
                .population
                .ok_or_else(|| AllocationError::MissingPopulation {
                    pool: named(),
                    organization_id: body.organization_id.clone(),
                })?;
            if !(0..=MAX_POPULATION).contains(&population) {
                return Err(out_of_range(format!(
                    "the population {population} of {} is not between 0 and {MAX_POPULATION}",
                    body.organization_id
                )));
            }
            m.population_weight = transform.weight(population).ok_or_else(|| {
                out_of_range(format!(
                    "the population {population} of {} falls in no band of the tiers",
                    body.organization_id
                ))
            })?;
            sum_weights += u128::from(m.population_weight);
        }
        if by_usage {
            let quantity = body.quantity.unwrap_or(0);
            if !(0..=MAX_QUANTITY).contains(&quantity) {
                return Err(out_of_range(format!(
                    "the quantity {quantity} of {} is not between 0 and {MAX_QUANTITY}",
                    body.organization_id
                )));
            }
            m.quantity = quantity as u64;
            sum_quantities += u128::from(m.quantity);
        }
    }
    if by_population && sum_weights == 0 {
        return Err(AllocationError::ZeroTotalPopulation { pool: named() });
    }
    if by_usage && sum_quantities == 0 {
        return Err(AllocationError::NoQuantities { pool: named() });
    }

    // The common denominator and the three numerator coefficients (see the module comment).
    let r_yen = r as u128;
    let den_equal = if w.equal > 0 { n as u128 } else { 1 };
    let den_population = if by_population { sum_weights } else { 1 };
    let den_usage = if by_usage { sum_quantities } else { 1 };
    let product = |factors: &[u128]| {
        factors
            .iter()
            .try_fold(U256::from(1u8), |acc, &f| acc.checked_mul(U256::from(f)))
            .ok_or_else(|| out_of_range("the exact fractions exceed 256 bits".into()))
    };
    let denominator = product(&[BP, den_equal, den_population, den_usage])?;
    let per_body = product(&[r_yen, w.equal.into(), den_population, den_usage])?;
    let per_weight = product(&[r_yen, w.population.into(), den_equal, den_usage])?;
    let per_quantity = product(&[r_yen, w.usage.into(), den_equal, den_population])?;
    // N_i ≤ R · D: checked once here, so the loop below cannot overflow.
    product(&[r_yen, BP, den_equal, den_population, den_usage])?;

    let mut truncated: u64 = 0;
    for m in members.iter_mut() {
        let numerator = per_body
            + per_weight * U256::from(m.population_weight)
            + per_quantity * U256::from(m.quantity);
        let (whole, fraction) = numerator.div_rem(denominator);
        m.whole = whole.to::<u64>();
        m.fraction = fraction;
        truncated += m.whole;
    }
    let leftover = r as u64 - truncated;
    debug_assert!(leftover < n as u64, "leftover {leftover} of {n} members");

    let mut lead_only = 0;
    if leftover > 0 {
        match pool.rounding {
            RemainderRule::LargestRemainder => {
                let k = leftover as usize;
                ranking.clear();
                ranking.extend(0..n);
                ranking.select_nth_unstable_by(k - 1, |&a, &b| {
                    rank(&members[a], &members[b], participants)
                });
                for &i in &ranking[..k] {
                    members[i].leftover = 1;
                }
            }
            RemainderRule::LeadOrg => {
                match members.binary_search_by(|m| id(m).cmp(input.lead_organization_id)) {
                    Ok(i) => members[i].leftover = leftover as i64,
                    Err(_) => lead_only = leftover as i64,
                }
            }
        }
    }

    // The parts, each truncated on its own: R·w/10⁴ · (1/n, pw_i/ΣPW, q_i/ΣQ).
    let part = |weight: u32, numerator: u64, denominator: u128| -> i64 {
        if weight == 0 {
            0
        } else {
            (r_yen * u128::from(weight) * u128::from(numerator) / (BP * denominator)) as i64
        }
    };
    let equal = part(w.equal, 1, n as u128);
    let mut shares = Vec::with_capacity(n + usize::from(lead_only > 0));
    for m in members.iter() {
        let population = part(w.population, m.population_weight, sum_weights);
        let usage = part(w.usage, m.quantity, sum_quantities);
        let amount = fee + m.whole as i64 + m.leftover;
        shares.push(Share {
            organization_id: participants[m.index].organization_id.clone(),
            population_weight: m.population_weight as i64,
            fixed: fee,
            equal,
            population,
            usage,
            rounding: amount - (fee + equal + population + usage),
            remainder: m.leftover,
            amount,
        });
    }
    if lead_only > 0 {
        // The lead body takes no part in this pool but receives its leftover yen.
        let lead = input.lead_organization_id;
        let at = shares.partition_point(|s| s.organization_id.as_str() < lead);
        shares.insert(
            at,
            Share {
                organization_id: lead.to_owned(),
                population_weight: 0,
                fixed: 0,
                equal: 0,
                population: 0,
                usage: 0,
                rounding: lead_only,
                remainder: lead_only,
                amount: lead_only,
            },
        );
    }

    Ok(PoolAllocation {
        pool: named(),
        fiscal_year: total.fiscal_year,
        total: t,
        fixed_fee: fee,
        allocated: r,
        weights: w,
        rule: pool.rounding,
        exponent_micro: transform.exponent_micro(),
        remainder: leftover as i64,
        shares,
    })
}

/// The order in which the largest-remainder rule hands out leftover yen: the largest fractional
/// part first; ties by larger population, then lg_code ascending (none last), then name, then
/// organization id.
fn rank(a: &Member, b: &Member, participants: &[Participant]) -> Ordering {
    let (pa, pb) = (&participants[a.index], &participants[b.index]);
    b.fraction
        .cmp(&a.fraction)
        .then_with(|| pb.population.cmp(&pa.population))
        .then_with(|| match (&pa.lg_code, &pb.lg_code) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| pa.name.cmp(&pb.name))
        .then_with(|| pa.organization_id.cmp(&pb.organization_id))
}
