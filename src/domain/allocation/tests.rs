//! The engine's tests: golden cases worked out by hand (the arithmetic is in the comments), then
//! properties over random inputs.
//!
//! Populations of real bodies are those of /work/shared/data/nagano-municipalities.csv
//! (2020-01-01). A body's organization id here is its lg_code, so shares come in lg_code order.

use proptest::prelude::*;

use super::fixed_point::{EXPONENT_SCALE, WEIGHT_SCALE_BITS, degressive_weight, exponent_micro};
use super::*;
use crate::domain::procurement::{BASE_POOL, CostPool, PopulationBand, PopulationTransform};

// ------------------------------------------------------------------------------------------------
// Helpers

fn nagano(lg_code: &str, name: &str, population: i64) -> Participant {
    Participant {
        organization_id: lg_code.into(),
        lg_code: Some(lg_code.into()),
        name: name.into(),
        population: Some(population),
        quantity: None,
        options: Vec::new(),
    }
}

fn nagano_city() -> Participant {
    nagano("202011", "長野市", 375_884)
}
fn saku() -> Participant {
    nagano("202177", "佐久市", 98_921)
}
fn kawakami() -> Participant {
    nagano("203041", "川上村", 3_963)
}
fn minamiaiki() -> Participant {
    nagano("203068", "南相木村", 984)
}
fn minamiminowa() -> Participant {
    nagano("203858", "南箕輪村", 15_647)
}
fn matsukawa() -> Participant {
    nagano("204021", "松川町", 13_157)
}
fn achi() -> Participant {
    nagano("204072", "阿智村", 6_359)
}
fn obuse() -> Participant {
    nagano("205419", "小布施町", 11_030)
}

/// 長野県: the usual lead body; it takes part in none of the pools below.
const PREFECTURE: &str = "200000";

fn weights(equal: u32, population: u32, usage: u32) -> Weights {
    Weights {
        equal,
        population,
        usage,
    }
}

fn fixed(amount: i64) -> PoolTotal {
    PoolTotal::Fixed { amount }
}

fn pool(code: &str, total: PoolTotal, weights: Weights) -> CostPool {
    CostPool {
        code: code.into(),
        total,
        fixed_fee: 0,
        weights,
        population_transform: PopulationTransform::Linear,
        rounding: RemainderRule::LargestRemainder,
    }
}

fn run(
    pools: Vec<CostPool>,
    participants: &[Participant],
    totals: &[(&str, i64)],
) -> Result<Allocation, AllocationError> {
    run_led(pools, PREFECTURE, participants, totals)
}

fn run_led(
    pools: Vec<CostPool>,
    lead: &str,
    participants: &[Participant],
    totals: &[(&str, i64)],
) -> Result<Allocation, AllocationError> {
    let model = CostModel { pools };
    let totals: Vec<PoolYearTotal> = totals
        .iter()
        .map(|&(pool, amount)| PoolYearTotal {
            pool: pool.into(),
            fiscal_year: 2027,
            amount,
        })
        .collect();
    allocate(&Input {
        model: &model,
        lead_organization_id: lead,
        participants,
        totals: &totals,
    })
}

/// The one pool of a single-pool allocation.
fn only(pools: Vec<CostPool>, participants: &[Participant], total: i64) -> PoolAllocation {
    let code = pools[0].code.clone();
    let mut allocation = run(pools, participants, &[(&code, total)]).unwrap();
    assert_eq!(allocation.pools.len(), 1);
    allocation.pools.remove(0)
}

/// (organization id, amount) of every share.
fn amounts(pool: &PoolAllocation) -> Vec<(&str, i64)> {
    pool.shares
        .iter()
        .map(|s| (s.organization_id.as_str(), s.amount))
        .collect()
}

/// (organization id, [fixed, equal, population, usage, rounding, remainder, amount]).
fn parts(pool: &PoolAllocation) -> Vec<(&str, [i64; 7])> {
    pool.shares
        .iter()
        .map(|s| {
            (
                s.organization_id.as_str(),
                [
                    s.fixed,
                    s.equal,
                    s.population,
                    s.usage,
                    s.rounding,
                    s.remainder,
                    s.amount,
                ],
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Golden cases

#[test]
fn equal_10_population_90_over_three_nagano_bodies() {
    // T = ¥1,000,000, no fixed fee, so R = 1,000,000; 均等割 10%, 人口割 90%, linear.
    //
    // 均等割: 1,000,000 × 10% = 100,000, / 3 = 33,333.33… each → part 33,333.
    // 人口割: 900,000 by population; ΣP = 3,963 + 15,647 + 13,157 = 32,767.
    //   川上村   900,000 × 3,963 / 32,767 = 3,566,700,000 / 32,767
    //            32,767 × 108,850 = 3,566,687,950, remainder 12,050  → 108,850.3677
    //   南箕輪村 900,000 × 15,647 / 32,767 = 14,082,300,000 / 32,767
    //            32,767 × 429,770 = 14,082,273,590, remainder 26,410 → 429,770.8060
    //   松川町   900,000 × 13,157 / 32,767 = 11,841,300,000 / 32,767
    //            32,767 × 361,378 = 11,841,272,926, remainder 27,074 → 361,378.8263
    // Whole shares, over the common denominator 3 × 32,767 = 98,301:
    //   川上村   (100,000 × 32,767 + 2,700,000 × 3,963) / 98,301 = 13,976,800,000 / 98,301
    //            = 142,183 remainder 68,917 (.7011)
    //   南箕輪村 45,523,600,000 / 98,301 = 463,104 remainder 13,696 (.1393)
    //   松川町   38,800,600,000 / 98,301 = 394,712 remainder 15,688 (.1596)
    // Truncated: 142,183 + 463,104 + 394,712 = 999,999 → 1 yen left, to the largest fraction:
    // 川上村 (.7011).
    // rounding = amount − (equal + population):
    //   川上村   142,184 − (33,333 + 108,850) = 1 (the remainder yen)
    //   南箕輪村 463,104 − (33,333 + 429,770) = 1 (.3333 + .8060 carried)
    //   松川町   394,712 − (33,333 + 361,378) = 1 (.3333 + .8263 carried)
    let bodies = [kawakami(), minamiminowa(), matsukawa()];
    let result = only(
        vec![pool(BASE_POOL, fixed(1_000_000), weights(1_000, 9_000, 0))],
        &bodies,
        1_000_000,
    );
    assert_eq!(
        parts(&result),
        vec![
            ("203041", [0, 33_333, 108_850, 0, 1, 1, 142_184]),
            ("203858", [0, 33_333, 429_770, 0, 1, 0, 463_104]),
            ("204021", [0, 33_333, 361_378, 0, 1, 0, 394_712]),
        ]
    );
    assert_eq!(
        (result.total, result.allocated, result.remainder),
        (1_000_000, 1_000_000, 1)
    );
    assert_eq!(result.rule, RemainderRule::LargestRemainder);
    assert_eq!(result.exponent_micro, None);
    let weights_used: Vec<i64> = result.shares.iter().map(|s| s.population_weight).collect();
    assert_eq!(weights_used, vec![3_963, 15_647, 13_157]);
}

#[test]
fn equal_20_population_80() {
    // T = R = ¥2,000,000; 阿智村 6,359, 小布施町 11,030, 松川町 13,157; ΣP = 30,546.
    // 均等割: 2,000,000 × 20% = 400,000, / 3 = 133,333.33… → 133,333.
    // 人口割: 1,600,000 × P / 30,546 (= 800,000 × P / 15,273):
    //   阿智村   5,087,200,000 / 15,273: 15,273 × 333,084 = 5,087,191,932, r 8,068   → .5283
    //   小布施町 8,824,000,000 / 15,273: 15,273 × 577,751 = 8,823,991,023, r 8,977   → .5878
    //   松川町  10,525,600,000 / 15,273: 15,273 × 689,163 = 10,525,586,499, r 13,501 → .8840
    // Whole shares, 133,333.3333 + the 人口割, over the common denominator 3 × 15,273 (whose
    // numerators here all divide by 3, leaving 15,273):
    //   阿智村   7,123,600,000 / 15,273 = 466,417 r 13,159  (.8616)
    //   小布施町 10,860,400,000 / 15,273 = 711,084 r 14,068 (.9211)
    //   松川町   12,562,000,000 / 15,273 = 822,497 r 3,319  (.2173)
    // Truncated: 466,417 + 711,084 + 822,497 = 1,999,998 → 2 yen left: 小布施町 (.9211) and
    // 阿智村 (.8616). 松川町 carries .3333 + .8840 into its rounding.
    let bodies = [achi(), obuse(), matsukawa()];
    let result = only(
        vec![pool(BASE_POOL, fixed(2_000_000), weights(2_000, 8_000, 0))],
        &bodies,
        2_000_000,
    );
    assert_eq!(
        parts(&result),
        vec![
            ("204021", [0, 133_333, 689_163, 0, 1, 0, 822_497]),
            ("204072", [0, 133_333, 333_084, 0, 1, 1, 466_418]),
            ("205419", [0, 133_333, 577_751, 0, 1, 1, 711_085]),
        ]
    );
    assert_eq!(result.remainder, 2);
}

#[test]
fn equal_6_population_94() {
    // T = R = ¥3,000,000; 川上村 3,963, 阿智村 6,359, 小布施町 11,030; ΣP = 21,352.
    // 均等割: 3,000,000 × 6% = 180,000, / 3 = 60,000 exactly.
    // 人口割: 2,820,000 × P / 21,352 = 352,500 × P / 2,669 (both divided by 8):
    //   川上村   352,500 × 3,963 / 2,669 = 1,396,957,500 / 2,669 = 523,401 r 231   (.0865)
    //   阿智村   352,500 × 6,359 / 2,669 = 2,241,547,500 / 2,669 = 839,845 r 1,195 (.4477)
    //   小布施町 352,500 × 11,030 / 2,669 = 3,888,075,000 / 2,669 = 1,456,753 r 1,243 (.4657)
    //   (check: 2,669 × 523,401 = 1,396,957,269; 2,669 × 839,845 = 2,241,546,305;
    //    2,669 × 1,456,753 = 3,888,073,757)
    // The 均等割 is whole, so the shares' fractions are the 人口割's: truncated
    // 583,401 + 899,845 + 1,516,753 = 2,999,999 → 1 yen to 小布施町 (.4657 > .4477 > .0865).
    let bodies = [kawakami(), achi(), obuse()];
    let result = only(
        vec![pool(BASE_POOL, fixed(3_000_000), weights(600, 9_400, 0))],
        &bodies,
        3_000_000,
    );
    assert_eq!(
        parts(&result),
        vec![
            ("203041", [0, 60_000, 523_401, 0, 0, 0, 583_401]),
            ("204072", [0, 60_000, 839_845, 0, 0, 0, 899_845]),
            ("205419", [0, 60_000, 1_456_753, 0, 1, 1, 1_516_754]),
        ]
    );
}

#[test]
fn harp_style_fixed_fee_and_degressive_population() {
    // HARP-style: each body pays a ¥10,000 membership fee first; the rest goes by population^k
    // with k = 0.585 (twice the population pays 1.5×: 2^0.585 = 1.49994).
    // T = ¥1,030,000, n = 3 → R = 1,030,000 − 3 × 10,000 = 1,000,000; weights 0 / 100% / 0.
    //
    // Weights, population^0.585 × 2^20 (= 1,048,576), truncated:
    //   長野市   375,884: log2 = 18.519928, × 0.585 = 10.834158, 2^that = 1,825.603654
    //            × 2^20 = 1,914,284,176.87 → 1,914,284,176
    //   川上村     3,963: log2 = 11.952377, × 0.585 = 6.992141, 2^that = 127.304596
    //            × 2^20 = 133,488,543.84 → 133,488,543
    //   南相木村     984: log2 = 9.942515, × 0.585 = 5.816371, 2^that = 56.351066
    //            × 2^20 = 59,088,374.91 → 59,088,374
    // (the test checks each is within one unit, hence within 1e-6 relative, of f64 powf).
    // ΣPW = 1,914,284,176 + 133,488,543 + 59,088,374 = 2,106,861,093.
    // Shares of R = 1,000,000 × PW / ΣPW:
    //   長野市   1,914,284,176,000,000 / 2,106,861,093 = 908,595 r 721,205,665   (.3423)
    //   川上村     133,488,543,000,000 / 2,106,861,093 =  63,358 r 2,037,869,706 (.9673)
    //   南相木村    59,088,374,000,000 / 2,106,861,093 =  28,045 r 1,454,646,815 (.6904)
    // Truncated: 908,595 + 63,358 + 28,045 = 999,998 → 2 yen: 川上村 (.9673), 南相木村 (.6904).
    // Amounts: 10,000 + 908,595 = 918,595; 10,000 + 63,358 + 1 = 73,359;
    // 10,000 + 28,045 + 1 = 38,046. Σ = 1,030,000. 長野市 has 95× 川上村's population and pays
    // 12.5× as much.
    let expected_weights = [1_914_284_176_i64, 133_488_543, 59_088_374];
    let bodies = [nagano_city(), kawakami(), minamiaiki()];
    for (body, &expected) in bodies.iter().zip(&expected_weights) {
        let population = body.population.unwrap();
        let exact = (population as f64).powf(0.585) * f64::from(1u32 << WEIGHT_SCALE_BITS);
        assert!(
            (expected as f64 - exact).abs() < 1.0 && (expected as f64 - exact).abs() / exact < 1e-6
        );
        assert_eq!(
            degressive_weight(population as u32, 585_000) as i64,
            expected
        );
    }
    let mut harp = pool(BASE_POOL, fixed(1_030_000), weights(0, 10_000, 0));
    harp.fixed_fee = 10_000;
    harp.population_transform = PopulationTransform::Degressive { exponent: 0.585 };
    let result = only(vec![harp], &bodies, 1_030_000);
    assert_eq!(
        parts(&result),
        vec![
            ("202011", [10_000, 0, 908_595, 0, 0, 0, 918_595]),
            ("203041", [10_000, 0, 63_358, 0, 1, 1, 73_359]),
            ("203068", [10_000, 0, 28_045, 0, 1, 1, 38_046]),
        ]
    );
    let used: Vec<i64> = result.shares.iter().map(|s| s.population_weight).collect();
    assert_eq!(used, expected_weights);
    assert_eq!(result.exponent_micro, Some(585_000));
    assert_eq!((result.fixed_fee, result.allocated), (10_000, 1_000_000));
}

fn three_tiers() -> PopulationTransform {
    let band = |from, to, points| PopulationBand { from, to, points };
    PopulationTransform::Tiered {
        bands: vec![
            band(0, Some(4_999), 1),
            band(5_000, Some(29_999), 2),
            band(30_000, None, 3),
        ],
    }
}

#[test]
fn tiered_points_with_a_tie_broken_by_population() {
    // Bands: < 5,000 → 1 point; 5,000–29,999 → 2; ≥ 30,000 → 3.
    // 川上村 3,963 → 1, 阿智村 6,359 → 2, 小布施町 11,030 → 2, 佐久市 98,921 → 3; Σ = 8.
    // T = R = ¥1,000,002; 均等割 20%, 人口割 80%.
    // 均等割: 1,000,002 × 20% = 200,000.4, / 4 = 50,000.1 each → 50,000.
    // 人口割: 1,000,002 × 80% = 800,001.6, / 8 points = 100,000.2 a point:
    //   川上村 100,000.2 → 100,000; 阿智村, 小布施町 200,000.4 → 200,000; 佐久市 300,000.6 → 300,000.
    // Whole shares: 川上村 150,000.3; 阿智村 250,000.5; 小布施町 250,000.5; 佐久市 350,000.7.
    // Truncated: 150,000 + 250,000 + 250,000 + 350,000 = 1,000,000 → 2 yen left:
    // 佐久市 (.7), then a tie at .5 between 阿智村 and 小布施町: the larger population,
    // 小布施町 (11,030 > 6,359), gets it.
    let mut tiered = pool(BASE_POOL, fixed(1_000_002), weights(2_000, 8_000, 0));
    tiered.population_transform = three_tiers();
    let bodies = [achi(), kawakami(), saku(), obuse()];
    let result = only(vec![tiered], &bodies, 1_000_002);
    assert_eq!(
        parts(&result),
        vec![
            ("202177", [0, 50_000, 300_000, 0, 1, 1, 350_001]),
            ("203041", [0, 50_000, 100_000, 0, 0, 0, 150_000]),
            ("204072", [0, 50_000, 200_000, 0, 0, 0, 250_000]),
            ("205419", [0, 50_000, 200_000, 0, 1, 1, 250_001]),
        ]
    );
    let points: Vec<i64> = result.shares.iter().map(|s| s.population_weight).collect();
    assert_eq!(points, vec![3, 1, 2, 2]);
}

#[test]
fn usage_weights_by_declared_quantity() {
    // T = R = ¥1,000,000; 均等割 20%, 利用割 80%; quantities 30, 50 and none (counts as 0).
    // Populations are not weighed, but they still break ties.
    // 均等割: 200,000 / 3 = 66,666.67 → 66,666. 利用割: 800,000 × q / 80 = 10,000 × q:
    //   川上村 300,000; 阿智村 500,000; 小布施町 0.
    // Whole shares: 366,666.67; 566,666.67; 66,666.67 → truncated Σ = 999,998 → 2 yen left,
    // three equal fractions (.67): the two larger populations, 小布施町 (11,030) and
    // 阿智村 (6,359), get them.
    let mut bodies = [kawakami(), achi(), obuse()];
    bodies[0].quantity = Some(30);
    bodies[1].quantity = Some(50);
    let result = only(
        vec![pool(BASE_POOL, fixed(1_000_000), weights(2_000, 0, 8_000))],
        &bodies,
        1_000_000,
    );
    assert_eq!(
        parts(&result),
        vec![
            ("203041", [0, 66_666, 0, 300_000, 0, 0, 366_666]),
            ("204072", [0, 66_666, 0, 500_000, 1, 1, 566_667]),
            ("205419", [0, 66_666, 0, 0, 1, 1, 66_667]),
        ]
    );
    // The population part has weight 0, so no population is needed.
    for body in &mut bodies {
        body.population = None;
    }
    let result = only(
        vec![pool(BASE_POOL, fixed(1_000_000), weights(2_000, 0, 8_000))],
        &bodies,
        1_000_000,
    );
    // Without populations the tie goes by lg_code: 203041 and 204072.
    assert_eq!(
        amounts(&result),
        vec![("203041", 366_667), ("204072", 566_667), ("205419", 66_666)]
    );
}

#[test]
fn an_option_pool_is_shared_by_the_bodies_that_chose_it() {
    // Five bodies; 阿智村 and 小布施町 chose the LGWAN option.
    // base: T = R = ¥5,000,000, 10/90 linear, everyone. ΣP = 3,963 + 15,647 + 13,157 + 6,359 +
    // 11,030 = 50,156. 均等割 500,000 / 5 = 100,000 each; 人口割 4,500,000 × P / 50,156
    // (= 1,125,000 × P / 12,539):
    //   川上村   4,458,375,000 / 12,539 = 355,560 r 8,160   (.6508)
    //   南箕輪村 17,602,875,000 / 12,539 = 1,403,849 r 12,389 (.9880)
    //   松川町   14,801,625,000 / 12,539 = 1,180,447 r 67     (.0053)
    //   阿智村    7,153,875,000 / 12,539 = 570,529 r 11,869   (.9466)
    //   小布施町 12,408,750,000 / 12,539 = 989,612 r 5,132    (.4093)
    // Truncated Σ = 455,560 + 1,503,849 + 1,280,447 + 670,529 + 1,089,612 = 4,999,997 → 3 yen:
    // 南箕輪村 (.9880), 阿智村 (.9466), 川上村 (.6508).
    // lgwan: T = ¥1,200,001, 均等割 100%, 2 bodies: 600,000.5 each → 1 yen left, a tie broken by
    // the larger population: 小布施町.
    let mut bodies = vec![kawakami(), minamiminowa(), matsukawa(), achi(), obuse()];
    bodies[3].options = vec!["lgwan".into()];
    bodies[4].options = vec!["lgwan".into(), "other".into()];
    let allocation = run(
        vec![
            pool(BASE_POOL, fixed(5_000_000), weights(1_000, 9_000, 0)),
            pool("lgwan", fixed(1_200_001), weights(10_000, 0, 0)),
        ],
        &bodies,
        &[(BASE_POOL, 5_000_000), ("lgwan", 1_200_001)],
    )
    .unwrap();
    assert_eq!(
        amounts(&allocation.pools[0]),
        vec![
            ("203041", 455_561),
            ("203858", 1_503_850),
            ("204021", 1_280_447),
            ("204072", 670_530),
            ("205419", 1_089_612),
        ]
    );
    assert_eq!(allocation.pools[1].pool, "lgwan");
    assert_eq!(
        parts(&allocation.pools[1]),
        vec![
            ("204072", [0, 600_000, 0, 0, 0, 0, 600_000]),
            ("205419", [0, 600_000, 0, 0, 1, 1, 600_001]),
        ]
    );
    // pool_members agrees.
    let members: Vec<&str> = pool_members("lgwan", &bodies)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(members, vec!["阿智村", "小布施町"]);
    assert_eq!(pool_members(BASE_POOL, &bodies).count(), 5);
}

#[test]
fn a_volume_schedule_crossing_a_step_lowers_an_existing_share() {
    // Schedule: n ≤ 3 → ¥3,000,000; n ≤ 10 → ¥3,600,000; more → ¥5,000,000. 10/90 linear.
    // Before: 川上村, 南箕輪村, 松川町 (n = 3 → T = 3,000,000). 均等割 300,000 / 3 = 100,000;
    //   人口割 2,700,000 × P / 32,767; 川上村 10,700,100,000 / 32,767 = 326,551 r 3,383 (.1032);
    //   南箕輪村 1,289,312 r 13,696 (.4180); 松川町 1,084,136 r 15,688 (.4788).
    //   Truncated Σ = 426,551 + 1,389,312 + 1,184,136 = 2,999,999 → 1 yen to 松川町.
    //   川上村 pays 426,551.
    // After 阿智村 joins (n = 4 → the second step, T = 3,600,000): 均等割 360,000 / 4 = 90,000;
    //   人口割 3,240,000 × P / 39,126 (= 540,000 × P / 6,521):
    //   川上村 2,140,020,000 / 6,521 = 328,173 r 3,867 (.5930); 南箕輪村 1,295,718 r 2,922
    //   (.4481); 松川町 1,089,523 r 517 (.0793); 阿智村 526,584 r 5,736 (.8796).
    //   Truncated Σ = 418,173 + 1,385,718 + 1,179,523 + 616,584 = 3,599,998 → 2 yen:
    //   阿智村 (.8796), 川上村 (.5930). 川上村 pays 418,174: 8,377 yen less than before.
    let schedule = PoolTotal::Schedule {
        steps: vec![
            PriceStep {
                up_to: Some(3),
                amount: 3_000_000,
            },
            PriceStep {
                up_to: Some(10),
                amount: 3_600_000,
            },
            PriceStep {
                up_to: None,
                amount: 5_000_000,
            },
        ],
    };
    let mut bodies = vec![kawakami(), minamiminowa(), matsukawa()];
    let base = pool(BASE_POOL, schedule.clone(), weights(1_000, 9_000, 0));
    let t = model_total(BASE_POOL, &schedule, bodies.len()).unwrap();
    assert_eq!(t, 3_000_000);
    let before = only(vec![base.clone()], &bodies, t);
    assert_eq!(
        amounts(&before),
        vec![
            ("203041", 426_551),
            ("203858", 1_389_312),
            ("204021", 1_184_137)
        ]
    );
    bodies.push(achi());
    let t = model_total(BASE_POOL, &schedule, bodies.len()).unwrap();
    assert_eq!(t, 3_600_000);
    let after = only(vec![base], &bodies, t);
    assert_eq!(
        amounts(&after),
        vec![
            ("203041", 418_174),
            ("203858", 1_385_718),
            ("204021", 1_179_523),
            ("204072", 616_585),
        ]
    );
}

#[test]
fn lead_org_takes_every_leftover_yen() {
    // The 10/90 case above (1 yen left, which largest_remainder gives 川上村), now under
    // lead_org with 南箕輪村 as the lead body: 南箕輪村 gets it.
    let bodies = [kawakami(), minamiminowa(), matsukawa()];
    let mut base = pool(BASE_POOL, fixed(1_000_000), weights(1_000, 9_000, 0));
    base.rounding = RemainderRule::LeadOrg;
    let result = run_led(vec![base], "203858", &bodies, &[(BASE_POOL, 1_000_000)])
        .unwrap()
        .pools
        .remove(0);
    assert_eq!(
        parts(&result),
        vec![
            ("203041", [0, 33_333, 108_850, 0, 0, 0, 142_183]),
            ("203858", [0, 33_333, 429_770, 0, 2, 1, 463_105]),
            ("204021", [0, 33_333, 361_378, 0, 1, 0, 394_712]),
        ]
    );
    assert_eq!(result.rule, RemainderRule::LeadOrg);
}

#[test]
fn lead_org_outside_the_pool_gets_a_line_of_its_own() {
    // lgwan: T = ¥1,200,001 between 阿智村 and 小布施町 → 600,000 each and 1 yen left, which goes
    // to the prefecture (lead, not a participant) on a line of its own, first by id.
    let mut bodies = vec![achi(), obuse()];
    for body in &mut bodies {
        body.options = vec!["lgwan".into()];
    }
    let mut lgwan = pool("lgwan", fixed(1_200_001), weights(10_000, 0, 0));
    lgwan.rounding = RemainderRule::LeadOrg;
    let result = only(vec![lgwan.clone()], &bodies, 1_200_001);
    assert_eq!(
        parts(&result),
        vec![
            (PREFECTURE, [0, 0, 0, 0, 1, 1, 1]),
            ("204072", [0, 600_000, 0, 0, 0, 0, 600_000]),
            ("205419", [0, 600_000, 0, 0, 0, 0, 600_000]),
        ]
    );
    assert_eq!(result.shares[0].population_weight, 0);
    assert_eq!(
        result.shares.iter().map(|s| s.amount).sum::<i64>(),
        1_200_001
    );
    // Nothing left over: no line for the lead body.
    let result = only(vec![lgwan], &bodies, 1_200_000);
    assert_eq!(
        amounts(&result),
        vec![("204072", 600_000), ("205419", 600_000)]
    );
}

#[test]
fn ties_go_to_the_larger_population_then_lg_code_then_name_then_id() {
    // Four bodies with equal inputs share ¥10: 2.5 each → 2 yen left for two of them.
    let body = |id: &str, lg_code: Option<&str>, name: &str, population| Participant {
        organization_id: id.into(),
        lg_code: lg_code.map(Into::into),
        name: name.into(),
        population: Some(population),
        quantity: None,
        options: Vec::new(),
    };
    let equal = || vec![pool(BASE_POOL, fixed(10), weights(10_000, 0, 0))];
    let winners = |bodies: &[Participant]| -> Vec<String> {
        let result = only(equal(), bodies, 10);
        result
            .shares
            .iter()
            .filter(|s| s.amount == 3)
            .map(|s| s.organization_id.clone())
            .collect()
    };
    // Population first (larger wins).
    let bodies = [
        body("a", Some("200001"), "あ", 10),
        body("b", Some("200002"), "い", 30),
        body("c", None, "う", 20),
        body("d", Some("200004"), "え", 5),
    ];
    assert_eq!(winners(&bodies), vec!["b", "c"]);
    // Then lg_code ascending, bodies without one last.
    let bodies = [
        body("a", None, "あ", 10),
        body("b", Some("200002"), "い", 10),
        body("c", Some("200001"), "う", 10),
        body("d", None, "え", 10),
    ];
    assert_eq!(winners(&bodies), vec!["b", "c"]);
    // Then name.
    let bodies = [
        body("a", None, "う", 10),
        body("b", None, "あ", 10),
        body("c", None, "え", 10),
        body("d", None, "い", 10),
    ];
    assert_eq!(winners(&bodies), vec!["b", "d"]);
    // Then organization id.
    let bodies = [
        body("d", None, "あ", 10),
        body("b", None, "あ", 10),
        body("c", None, "あ", 10),
        body("a", None, "あ", 10),
    ];
    assert_eq!(winners(&bodies), vec!["a", "b"]);
}

#[test]
fn model_totals_by_fixed_amount_schedule_and_unit_price() {
    let steps = vec![
        PriceStep {
            up_to: Some(10),
            amount: 10_000_000,
        },
        PriceStep {
            up_to: Some(30),
            amount: 14_000_000,
        },
        PriceStep {
            up_to: None,
            amount: 20_000_000,
        },
    ];
    let schedule = PoolTotal::Schedule {
        steps: steps.clone(),
    };
    assert_eq!(model_total(BASE_POOL, &fixed(1_234), 77), Ok(1_234));
    assert_eq!(model_total(BASE_POOL, &schedule, 1), Ok(10_000_000));
    assert_eq!(model_total(BASE_POOL, &schedule, 10), Ok(10_000_000));
    assert_eq!(model_total(BASE_POOL, &schedule, 11), Ok(14_000_000));
    assert_eq!(model_total(BASE_POOL, &schedule, 30), Ok(14_000_000));
    assert_eq!(model_total(BASE_POOL, &schedule, 31), Ok(20_000_000));
    // Per participant: the unit price falls with n, so 10 × 100,000 = 1,000,000 but
    // 11 × 80,000 = 880,000, and 31 × 50,000 = 1,550,000.
    let unit = PoolTotal::PerParticipant {
        steps: vec![
            PriceStep {
                up_to: Some(10),
                amount: 100_000,
            },
            PriceStep {
                up_to: Some(30),
                amount: 80_000,
            },
            PriceStep {
                up_to: None,
                amount: 50_000,
            },
        ],
    };
    assert_eq!(model_total(BASE_POOL, &unit, 10), Ok(1_000_000));
    assert_eq!(model_total(BASE_POOL, &unit, 11), Ok(880_000));
    assert_eq!(model_total(BASE_POOL, &unit, 31), Ok(1_550_000));
    // Overflow and a schedule without a last step are errors, not panics.
    let huge = PoolTotal::PerParticipant {
        steps: vec![PriceStep {
            up_to: None,
            amount: i64::MAX / 2,
        }],
    };
    assert!(matches!(
        model_total("opt", &huge, 3),
        Err(AllocationError::OutOfRange { pool, .. }) if pool == "opt"
    ));
    let bounded = PoolTotal::Schedule {
        steps: steps[..2].to_vec(),
    };
    assert!(matches!(
        model_total(BASE_POOL, &bounded, 31),
        Err(AllocationError::OutOfRange { .. })
    ));
}

// ------------------------------------------------------------------------------------------------
// Errors

fn error(pools: Vec<CostPool>, participants: &[Participant], totals: &[(&str, i64)]) -> String {
    let err = run(pools, participants, totals).unwrap_err();
    format!("{err:?}")
}

#[test]
fn each_error_names_its_pool() {
    let bodies = vec![kawakami(), achi(), obuse()];
    let base = || pool(BASE_POOL, fixed(1_000_000), weights(1_000, 9_000, 0));

    let err = run(vec![base()], &bodies, &[("lgwan", 1)]).unwrap_err();
    assert_eq!(
        err,
        AllocationError::UnknownPool {
            pool: "lgwan".into()
        }
    );
    assert_eq!(err.pool(), "lgwan");

    assert_eq!(
        run(vec![base()], &bodies, &[(BASE_POOL, -1)]).unwrap_err(),
        AllocationError::NegativeTotal {
            pool: BASE_POOL.into(),
            fiscal_year: 2027
        }
    );

    // Nobody chose the option.
    assert_eq!(
        run(
            vec![base(), pool("lgwan", fixed(5), weights(10_000, 0, 0))],
            &bodies,
            &[(BASE_POOL, 1_000_000), ("lgwan", 5)]
        )
        .unwrap_err(),
        AllocationError::NoParticipants {
            pool: "lgwan".into()
        }
    );

    // 3 × ¥10,000 = ¥30,000 > ¥29,999; ¥30,000 itself is fine (R = 0, everyone pays the fee).
    let mut fee = base();
    fee.fixed_fee = 10_000;
    assert_eq!(
        run(vec![fee.clone()], &bodies, &[(BASE_POOL, 29_999)]).unwrap_err(),
        AllocationError::FixedFeesExceedTotal {
            pool: BASE_POOL.into(),
            fiscal_year: 2027,
            participants: 3,
            fixed_fee: 10_000,
            total: 29_999,
        }
    );
    let zero = run(vec![fee], &bodies, &[(BASE_POOL, 30_000)]).unwrap();
    assert!(zero.pools[0].shares.iter().all(|s| s.amount == 10_000));

    let mut missing = bodies.clone();
    missing[1].population = None;
    assert_eq!(
        run(vec![base()], &missing, &[(BASE_POOL, 1_000_000)]).unwrap_err(),
        AllocationError::MissingPopulation {
            pool: BASE_POOL.into(),
            organization_id: "204072".into()
        }
    );
    // Weight 0 on population: the missing figure does not matter.
    let equal_only = pool(BASE_POOL, fixed(999), weights(10_000, 0, 0));
    assert_eq!(
        amounts(&only(vec![equal_only], &missing, 999)),
        vec![("203041", 333), ("204072", 333), ("205419", 333)]
    );

    let mut nobody = bodies.clone();
    for body in &mut nobody {
        body.population = Some(0);
    }
    assert_eq!(
        run(vec![base()], &nobody, &[(BASE_POOL, 1_000_000)]).unwrap_err(),
        AllocationError::ZeroTotalPopulation {
            pool: BASE_POOL.into()
        }
    );
    // A degressive transform maps population 0 to weight 0 as well.
    let mut degressive = base();
    degressive.population_transform = PopulationTransform::Degressive { exponent: 0.5 };
    assert_eq!(
        run(vec![degressive], &nobody, &[(BASE_POOL, 1_000_000)]).unwrap_err(),
        AllocationError::ZeroTotalPopulation {
            pool: BASE_POOL.into()
        }
    );

    let usage = pool(BASE_POOL, fixed(100), weights(5_000, 0, 5_000));
    let mut zeros = bodies.clone();
    zeros[0].quantity = Some(0);
    assert_eq!(
        run(vec![usage], &zeros, &[(BASE_POOL, 100)]).unwrap_err(),
        AllocationError::NoQuantities {
            pool: BASE_POOL.into()
        }
    );
}

#[test]
fn absurd_inputs_are_out_of_range_not_overflow() {
    let bodies = vec![kawakami(), achi(), obuse()];
    let base = || pool(BASE_POOL, fixed(1), weights(1_000, 8_000, 1_000));
    let out_of_range = |pools: Vec<CostPool>, bodies: &[Participant], total: i64| {
        let message = error(pools, bodies, &[(BASE_POOL, total)]);
        assert!(message.starts_with("OutOfRange"), "{message}");
        assert!(message.contains("pool: \"base\""), "{message}");
        message
    };
    let mut with_quantities = bodies.clone();
    with_quantities[0].quantity = Some(1);

    // The largest total works, one yen more does not.
    let top = only(vec![base()], &with_quantities, MAX_AMOUNT);
    assert_eq!(top.shares.iter().map(|s| s.amount).sum::<i64>(), MAX_AMOUNT);
    out_of_range(vec![base()], &with_quantities, MAX_AMOUNT + 1);
    out_of_range(vec![base()], &with_quantities, i64::MAX);

    let mut big = with_quantities.clone();
    big[1].quantity = Some(MAX_QUANTITY + 1);
    assert!(out_of_range(vec![base()], &big, 10).contains("quantity"));
    big[1].quantity = Some(-1);
    out_of_range(vec![base()], &big, 10);
    // The largest quantities and populations work together with the largest total.
    let mut largest = with_quantities.clone();
    for body in &mut largest {
        body.quantity = Some(MAX_QUANTITY);
        body.population = Some(MAX_POPULATION);
    }
    let mut degressive = base();
    degressive.population_transform = PopulationTransform::Degressive {
        exponent: 0.999_999,
    };
    let result = only(vec![degressive], &largest, MAX_AMOUNT);
    assert_eq!(
        result.shares.iter().map(|s| s.amount).sum::<i64>(),
        MAX_AMOUNT
    );

    let mut big = with_quantities.clone();
    big[2].population = Some(MAX_POPULATION + 1);
    assert!(out_of_range(vec![base()], &big, 10).contains("population"));
    big[2].population = Some(-5);
    out_of_range(vec![base()], &big, 10);

    let mut fee = base();
    fee.fixed_fee = -1;
    out_of_range(vec![fee], &with_quantities, 10);

    let mut unbalanced = base();
    unbalanced.weights = weights(1_000, 9_000, 1);
    assert!(out_of_range(vec![unbalanced], &with_quantities, 10).contains("10001"));

    for exponent in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let mut bad = base();
        bad.population_transform = PopulationTransform::Degressive { exponent };
        out_of_range(vec![bad], &with_quantities, 10);
    }

    // A population that no band holds (a table that does not start at 0).
    let mut gap = base();
    gap.population_transform = PopulationTransform::Tiered {
        bands: vec![PopulationBand {
            from: 5_000,
            to: None,
            points: 1,
        }],
    };
    assert!(out_of_range(vec![gap], &with_quantities, 10).contains("band"));

    let mut twice = with_quantities.clone();
    twice.push(achi());
    assert!(out_of_range(vec![base()], &twice, 10).contains("twice"));
}

#[test]
fn pools_are_allocated_in_the_order_of_the_totals() {
    let mut bodies = vec![kawakami(), achi()];
    bodies[1].options = vec!["lgwan".into()];
    let allocation = run(
        vec![
            pool(BASE_POOL, fixed(0), weights(10_000, 0, 0)),
            pool("lgwan", fixed(0), weights(10_000, 0, 0)),
        ],
        &bodies,
        &[("lgwan", 7), (BASE_POOL, 10), (BASE_POOL, 11)],
    )
    .unwrap();
    let summary: Vec<(&str, i64, usize)> = allocation
        .pools
        .iter()
        .map(|p| (p.pool.as_str(), p.total, p.shares.len()))
        .collect();
    assert_eq!(
        summary,
        vec![("lgwan", 7, 1), (BASE_POOL, 10, 2), (BASE_POOL, 11, 2)]
    );
    assert_eq!(
        run(vec![], &bodies, &[]).unwrap(),
        Allocation { pools: vec![] }
    );
}

// ------------------------------------------------------------------------------------------------
// The degressive transform

#[test]
fn exponents_are_applied_in_millionths() {
    assert_eq!(exponent_micro(0.585), Some(585_000));
    assert_eq!(exponent_micro(1.0), Some(EXPONENT_SCALE));
    assert_eq!(exponent_micro(0.123_456_7), Some(123_457));
    assert_eq!(exponent_micro(1e-9), Some(0));
    assert_eq!(exponent_micro(0.0), None);
    assert_eq!(exponent_micro(1.000_001), None);
    assert_eq!(exponent_micro(f64::NAN), None);
}

#[test]
fn degressive_weights_at_their_edges() {
    let one = 1u64 << WEIGHT_SCALE_BITS;
    for k in [0, 1, 585_000, 999_999, EXPONENT_SCALE] {
        assert_eq!(degressive_weight(0, k), 0);
        assert_eq!(degressive_weight(1, k), one);
    }
    // k = 1 is exact; k = 1/2 of a perfect square is (just under) its root; k = 0 is 1.
    assert_eq!(degressive_weight(375_884, EXPONENT_SCALE), 375_884 << 20);
    assert!((one * 1_000 - degressive_weight(1_000_000, 500_000)) <= 1);
    assert_eq!(degressive_weight(4_000_000, 0), one);
    // The largest population the engine takes: (10^9)^0.999999 = 999,979,276.95,
    // × 2^20 = 1,048,554,270,305,957.
    let top = degressive_weight(MAX_POPULATION as u32, 999_999);
    assert!(top.abs_diff(1_048_554_270_305_957) < 2_000, "{top}");
}

#[test]
fn degressive_weights_never_fall_across_a_sweep() {
    // Every population up to 70,000 and around every power of two below 2^30, for exponents
    // that are small, typical, and just under 1.
    for k in [1, 123_457, 500_000, 585_000, 999_999] {
        let check = |from: u32, to: u32| {
            let mut previous = degressive_weight(from, k);
            for p in from + 1..=to {
                let w = degressive_weight(p, k);
                assert!(w >= previous, "w({p}) = {w} < w({}) = {previous}", p - 1);
                previous = w;
            }
        };
        check(0, 70_000);
        for e in 17..30 {
            check((1 << e) - 200, (1 << e) + 200);
        }
    }
}

#[test]
fn powers_of_two_never_fall_where_a_carry_crosses_the_tables() {
    // 2^f is a product of six table entries, one per byte of f. Going from f − 1 to f where f
    // ends in a 1 followed by zeros swaps many truncated factors for one: the truncation errors
    // (tens of units of 2^-62) must stay below the exact step (at least ln 2 · 2^14 units).
    use super::fixed_point::exp2_fraction;
    let mut draw = Draw(48);
    assert_eq!(exp2_fraction(0), 1 << 62);
    assert!(exp2_fraction((1 << 48) - 1) < 1 << 63);
    for bit in 0..48 {
        for _ in 0..2_000 {
            let high = draw.next() & !((2u64 << bit) - 1) & ((1 << 48) - 1);
            let f = high | (1 << bit);
            let (below, at) = (exp2_fraction(f - 1), exp2_fraction(f));
            assert!(below < at, "2^({f} − 1) = {below} ≥ 2^{f} = {at}");
            assert!(at - below > 11_000, "a step of {} at {f}", at - below);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Properties

/// SplitMix64: a small, fixed generator for bodies drawn from a seed.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// How big the bodies and their figures may get.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    max_population: u64,
    max_quantity: u64,
}

const REAL: Sizes = Sizes {
    max_population: 4_000_000,
    max_quantity: 1_000_000_000_000,
};

fn draw_body(draw: &mut Draw, id: String, sizes: Sizes) -> Participant {
    let population = match draw.below(5) {
        // A few recurring figures, so that ties happen.
        0 => [1_000, 5_000, 20_000][draw.below(3) as usize].min(sizes.max_population),
        1 => 1 + draw.below(5_000.min(sizes.max_population)),
        2 => 1 + draw.below(100_000.min(sizes.max_population)),
        _ => 1 + draw.below(sizes.max_population),
    };
    let quantity = match draw.below(5) {
        0 => None,
        1 => Some(0),
        2 => Some(draw.below(1_000.min(sizes.max_quantity) + 1)),
        _ => Some(draw.below(sizes.max_quantity + 1)),
    };
    let lg_code = (draw.below(8) != 0).then(|| format!("{:06}", draw.below(1_000_000)));
    Participant {
        organization_id: id,
        lg_code,
        name: format!("body {}", draw.below(40)),
        population: Some(population as i64),
        quantity: quantity.map(|q| q as i64),
        options: Vec::new(),
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    bodies: Vec<Participant>,
    pool: CostPool,
    total: i64,
    lead: String,
    /// Seed for anything a property draws later (new bodies, shuffles).
    seed: u64,
}

impl Scenario {
    fn allocate(&self) -> Result<PoolAllocation, AllocationError> {
        self.allocate_with(&self.bodies, self.total)
    }

    fn allocate_with(
        &self,
        bodies: &[Participant],
        total: i64,
    ) -> Result<PoolAllocation, AllocationError> {
        run_led(
            vec![self.pool.clone()],
            &self.lead,
            bodies,
            &[(BASE_POOL, total)],
        )
        .map(|mut a| a.pools.remove(0))
    }

    fn fee(&self) -> i64 {
        self.pool.fixed_fee
    }
}

fn body_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 1..=12usize,
        3 => 13..=200usize,
        1 => 201..=2_000usize,
    ]
}

fn weights_strategy() -> impl Strategy<Value = Weights> {
    prop_oneof![
        6 => (0..=10_000u32, 0..=10_000u32).prop_map(|(a, b)| {
            let (low, high) = (a.min(b), a.max(b));
            weights(low, high - low, 10_000 - high)
        }),
        1 => Just(weights(1_000, 9_000, 0)),
        1 => Just(weights(2_000, 8_000, 0)),
        1 => Just(weights(600, 9_400, 0)),
        1 => Just(weights(10_000, 0, 0)),
        1 => Just(weights(0, 10_000, 0)),
        1 => Just(weights(0, 0, 10_000)),
    ]
}

/// Bands from 0 with points that grow with the population (as real tables do).
fn tiers() -> impl Strategy<Value = PopulationTransform> {
    (
        proptest::collection::btree_set(1..=2_000_000i64, 0..6),
        proptest::collection::vec(0..=3u32, 6),
        1..=3u32,
    )
        .prop_map(|(cuts, steps, first)| {
            let mut bands = Vec::new();
            let mut from = 0;
            let mut points = first;
            for (cut, step) in cuts.into_iter().zip(steps) {
                bands.push(PopulationBand {
                    from,
                    to: Some(cut - 1),
                    points,
                });
                from = cut;
                points += step;
            }
            bands.push(PopulationBand {
                from,
                to: None,
                points,
            });
            PopulationTransform::Tiered { bands }
        })
}

fn transform_strategy() -> impl Strategy<Value = PopulationTransform> {
    prop_oneof![
        2 => Just(PopulationTransform::Linear),
        1 => Just(PopulationTransform::Degressive { exponent: 0.585 }),
        1 => (1..=1_000_000u32)
            .prop_map(|k| PopulationTransform::Degressive { exponent: f64::from(k) / 1e6 }),
        2 => tiers(),
    ]
}

fn rule_strategy() -> impl Strategy<Value = RemainderRule> {
    prop_oneof![
        Just(RemainderRule::LargestRemainder),
        Just(RemainderRule::LeadOrg)
    ]
}

fn scenario_with(
    counts: impl Strategy<Value = usize>,
    sizes: Sizes,
    rules: impl Strategy<Value = RemainderRule>,
    weights: impl Strategy<Value = Weights>,
) -> impl Strategy<Value = Scenario> {
    (
        counts,
        any::<u64>(),
        weights,
        transform_strategy(),
        rules,
        prop_oneof![Just(0i64), 1..=20_000i64],
        prop_oneof![0..=1_000i64, 0..=10_000_000_000i64],
        0..3u8,
    )
        .prop_map(
            move |(n, seed, weights, transform, rule, fee, rest, lead)| {
                let mut draw = Draw(seed);
                let mut bodies: Vec<Participant> = (0..n)
                    .map(|i| draw_body(&mut draw, format!("org-{i:04}"), sizes))
                    .collect();
                if weights.usage > 0 && bodies.iter().all(|b| b.quantity.unwrap_or(0) == 0) {
                    bodies[0].quantity = Some(1);
                }
                let lead = match lead {
                    0 => "lead-outside".to_owned(),
                    _ => bodies[draw.below(n as u64) as usize]
                        .organization_id
                        .clone(),
                };
                draw.shuffle(&mut bodies);
                let pool = CostPool {
                    code: BASE_POOL.into(),
                    total: fixed(0),
                    fixed_fee: fee,
                    weights,
                    population_transform: transform,
                    rounding: rule,
                };
                Scenario {
                    total: n as i64 * fee + rest,
                    bodies,
                    pool,
                    lead,
                    seed: draw.next(),
                }
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    scenario_with(body_count(), REAL, rule_strategy(), weights_strategy())
}

/// Every invariant of one pool's result.
fn check_pool(s: &Scenario, result: &PoolAllocation) -> Result<(), TestCaseError> {
    let n = s.bodies.len();
    let fee = s.fee();
    prop_assert_eq!(result.total, s.total);
    prop_assert_eq!(result.allocated, s.total - n as i64 * fee);
    prop_assert_eq!(result.shares.iter().map(|x| x.amount).sum::<i64>(), s.total);
    prop_assert!(result.remainder >= 0 && (result.remainder as usize) < n);
    prop_assert_eq!(
        result.shares.iter().map(|x| x.remainder).sum::<i64>(),
        result.remainder
    );
    prop_assert!(
        result
            .shares
            .windows(2)
            .all(|w| w[0].organization_id < w[1].organization_id)
    );
    let extra = usize::from(
        s.pool.rounding == RemainderRule::LeadOrg
            && result.remainder > 0
            && !s.bodies.iter().any(|b| b.organization_id == s.lead),
    );
    prop_assert_eq!(result.shares.len(), n + extra);
    for share in &result.shares {
        prop_assert!(share.amount >= 0);
        prop_assert!(share.equal >= 0 && share.population >= 0 && share.usage >= 0);
        prop_assert_eq!(
            share.amount,
            share.fixed + share.equal + share.population + share.usage + share.rounding
        );
        // The parts truncated one by one lose less than 3 yen against the whole.
        prop_assert!((0..=2).contains(&(share.rounding - share.remainder)));
        if s.pool.rounding == RemainderRule::LargestRemainder {
            prop_assert!(share.remainder == 0 || share.remainder == 1);
        } else {
            prop_assert!(share.remainder == 0 || share.organization_id == s.lead);
        }
    }
    Ok(())
}

fn amount_of(result: &PoolAllocation, id: &str) -> i64 {
    result
        .shares
        .iter()
        .find(|s| s.organization_id == id)
        .map_or(0, |s| s.amount)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn shares_sum_exactly_to_the_total_and_none_is_negative(s in scenario()) {
        let result = s.allocate().unwrap();
        check_pool(&s, &result)?;
    }

    #[test]
    fn degressive_weights_are_monotone_and_match_powf(
        a in 0..=MAX_POPULATION as u32,
        b in 0..=MAX_POPULATION as u32,
        small in 0..=100_000u32,
        k in 0..=EXPONENT_SCALE,
    ) {
        for (p, q) in [(a.min(b), a.max(b)), (small, small + 1), (a, a.saturating_add(1))] {
            prop_assert!(degressive_weight(p, k) <= degressive_weight(q, k));
        }
        for p in [a, b, small] {
            let w = degressive_weight(p, k) as f64;
            let exact = if p == 0 {
                0.0
            } else {
                f64::from(p).powf(f64::from(k) / 1e6) * f64::from(1u32 << WEIGHT_SCALE_BITS)
            };
            // Truncated: at most one unit below, never above (up to f64's own error).
            prop_assert!(w <= exact * (1.0 + 1e-12), "{p}^{k}: {w} > {exact}");
            prop_assert!(w >= exact * (1.0 - 1e-12) - 1.0, "{p}^{k}: {w} < {exact}");
            if p > 0 {
                prop_assert!((w - exact).abs() / exact < 1e-6);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_same_inputs_in_any_order_give_the_same_output(s in scenario()) {
        let first = s.allocate().unwrap();
        prop_assert_eq!(&first, &s.allocate().unwrap());
        let mut shuffled = s.bodies.clone();
        Draw(s.seed).shuffle(&mut shuffled);
        prop_assert_eq!(&first, &s.allocate_with(&shuffled, s.total).unwrap());
    }

    #[test]
    fn identical_bodies_differ_by_at_most_one_yen(s in scenario(), copies in 1..4usize) {
        let mut s = s;
        let mut draw = Draw(s.seed);
        let model = s.bodies[draw.below(s.bodies.len() as u64) as usize].clone();
        let mut twins = vec![model.organization_id.clone()];
        for i in 0..copies {
            let mut twin = model.clone();
            twin.organization_id = format!("twin-{i}");
            twin.name = format!("twin {i}");
            twins.push(twin.organization_id.clone());
            s.bodies.push(twin);
        }
        s.total += copies as i64 * s.fee();
        let result = s.allocate().unwrap();
        check_pool(&s, &result)?;
        // Under lead_org the lead body alone gets the leftover: compare the others.
        let paid: Vec<i64> = twins
            .iter()
            .filter(|id| s.pool.rounding == RemainderRule::LargestRemainder || **id != s.lead)
            .map(|id| amount_of(&result, id))
            .collect();
        let (low, high) = (paid.iter().min(), paid.iter().max());
        if let (Some(low), Some(high)) = (low, high) {
            prop_assert!(high - low <= 1, "twins paid {paid:?}");
        }
    }

    #[test]
    fn a_larger_population_never_pays_less(
        s in scenario_with(
            body_count(),
            REAL,
            Just(RemainderRule::LargestRemainder),
            weights_strategy().prop_filter("population weighs", |w| w.population > 0),
        ),
        quantity in 1..1_000_000i64,
    ) {
        // All else equal: every body declares the same quantity.
        let mut s = s;
        for body in &mut s.bodies {
            body.quantity = Some(quantity);
        }
        let result = s.allocate().unwrap();
        let mut by_population: Vec<(i64, i64)> = s
            .bodies
            .iter()
            .map(|b| (b.population.unwrap(), amount_of(&result, &b.organization_id)))
            .collect();
        by_population.sort_unstable();
        for pair in by_population.windows(2) {
            prop_assert!(
                pair[0].1 <= pair[1].1,
                "population {} pays {} but {} pays {}",
                pair[0].0, pair[0].1, pair[1].0, pair[1].1
            );
        }
    }

    #[test]
    fn joining_raises_no_share_by_more_than_a_yen(
        s in scenario(),
        falls in prop_oneof![Just(0i64), 0..=1_000_000i64],
    ) {
        let before = s.allocate().unwrap();
        let mut bodies = s.bodies.clone();
        let mut draw = Draw(s.seed);
        let id = format!("new-{}", draw.below(10_000));
        let newcomer = draw_body(&mut draw, id, REAL);
        bodies.insert(draw.below(bodies.len() as u64 + 1) as usize, newcomer);
        // T stays or falls, as far as the fixed fees allow.
        let floor = bodies.len() as i64 * s.fee();
        let total = (s.total - falls).max(floor);
        let after = s.allocate_with(&bodies, total).unwrap();
        for body in &s.bodies {
            let id = &body.organization_id;
            if s.pool.rounding == RemainderRule::LeadOrg && *id == s.lead {
                continue;
            }
            let (was, is) = (amount_of(&before, id), amount_of(&after, id));
            prop_assert!(is <= was + 1, "{id} paid {was}, then {is}");
        }
    }

    #[test]
    fn exact_fractions_agree_with_a_rational_reference(
        s in scenario_with(
            1..=8usize,
            Sizes { max_population: 20_000, max_quantity: 1_000 },
            rule_strategy(),
            weights_strategy(),
        ),
    ) {
        let mut s = s;
        // Keep R ≤ 10^6 so that the reference fits 128 bits.
        s.total = s.bodies.len() as i64 * s.fee() + (s.total - s.bodies.len() as i64 * s.fee()) % 1_000_001;
        let result = s.allocate().unwrap();
        let expected = reference(&s);
        let got: Vec<(String, i64)> = result
            .shares
            .iter()
            .map(|x| (x.organization_id.clone(), x.amount))
            .collect();
        prop_assert_eq!(got, expected);
    }
}

/// An independent allocation for small inputs: each share as a fraction over the least common
/// multiple of the three denominators (not their product, as in the engine), in u128.
fn reference(s: &Scenario) -> Vec<(String, i64)> {
    fn gcd(a: u128, b: u128) -> u128 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let lcm = |a: u128, b: u128| a / gcd(a, b) * b;
    let w = s.pool.weights;
    let n = s.bodies.len() as u128;
    let fee = s.fee();
    let r = (s.total - n as i64 * fee) as u128;
    let pw: Vec<u128> = s
        .bodies
        .iter()
        .map(|b| {
            let p = b.population.unwrap();
            let p = u32::try_from(p).unwrap();
            match &s.pool.population_transform {
                PopulationTransform::Linear => u128::from(p),
                PopulationTransform::Degressive { exponent } => {
                    u128::from(degressive_weight(p, exponent_micro(*exponent).unwrap()))
                }
                PopulationTransform::Tiered { bands } => bands
                    .iter()
                    .find(|band| {
                        band.from <= i64::from(p) && band.to.is_none_or(|to| i64::from(p) <= to)
                    })
                    .map(|band| u128::from(band.points))
                    .unwrap(),
            }
        })
        .collect();
    let q: Vec<u128> = s
        .bodies
        .iter()
        .map(|b| b.quantity.unwrap_or(0) as u128)
        .collect();
    let (sum_pw, sum_q) = (pw.iter().sum::<u128>(), q.iter().sum::<u128>());
    let mut den = 10_000 * n;
    if w.population > 0 {
        den = lcm(den, 10_000 * sum_pw);
    }
    if w.usage > 0 {
        den = lcm(den, 10_000 * sum_q);
    }
    let mut rows: Vec<(usize, u128, u128)> = (0..s.bodies.len())
        .map(|i| {
            let mut x = r * u128::from(w.equal) * (den / (10_000 * n));
            if w.population > 0 {
                x += r * u128::from(w.population) * (pw[i] * (den / (10_000 * sum_pw)));
            }
            if w.usage > 0 {
                x += r * u128::from(w.usage) * (q[i] * (den / (10_000 * sum_q)));
            }
            (i, x / den, x % den)
        })
        .collect();
    let leftover = r - rows.iter().map(|row| row.1).sum::<u128>();
    let mut amounts: Vec<(String, i64)> = s
        .bodies
        .iter()
        .zip(&rows)
        .map(|(b, row)| (b.organization_id.clone(), fee + row.1 as i64))
        .collect();
    match s.pool.rounding {
        RemainderRule::LargestRemainder => {
            rows.sort_by(|a, b| {
                let (pa, pb) = (&s.bodies[a.0], &s.bodies[b.0]);
                b.2.cmp(&a.2)
                    .then(pb.population.cmp(&pa.population))
                    .then(pa.lg_code.is_none().cmp(&pb.lg_code.is_none()))
                    .then(pa.lg_code.cmp(&pb.lg_code))
                    .then(pa.name.cmp(&pb.name))
                    .then(pa.organization_id.cmp(&pb.organization_id))
            });
            for row in &rows[..leftover as usize] {
                amounts[row.0].1 += 1;
            }
        }
        RemainderRule::LeadOrg => match amounts.iter_mut().find(|(id, _)| *id == s.lead) {
            Some(lead) => lead.1 += leftover as i64,
            None if leftover > 0 => amounts.push((s.lead.clone(), leftover as i64)),
            None => {}
        },
    }
    amounts.sort();
    amounts
}

/// 1,741 bodies (Japan's municipalities) × 5 pools, timed in whatever profile runs it:
/// `cargo test --release --lib domain::allocation::tests::timing -- --ignored --nocapture`.
/// Once with each body in about half of the option pools, once with every body in every pool.
#[test]
#[ignore = "a timing, not a test: run it in a release build"]
fn timing_1741_bodies_and_5_pools() {
    let options = ["lgwan", "backup", "support", "training"];
    let mut pools = vec![pool(BASE_POOL, fixed(0), weights(1_000, 9_000, 0))];
    let mut degressive = pool("lgwan", fixed(0), weights(1_000, 9_000, 0));
    degressive.population_transform = PopulationTransform::Degressive { exponent: 0.585 };
    degressive.fixed_fee = 10_000;
    pools.push(degressive);
    let mut tiered = pool("backup", fixed(0), weights(2_000, 8_000, 0));
    tiered.population_transform = three_tiers();
    pools.push(tiered);
    pools.push(pool("support", fixed(0), weights(600, 4_400, 5_000)));
    let mut lead = pool("training", fixed(0), weights(10_000, 0, 0));
    lead.rounding = RemainderRule::LeadOrg;
    pools.push(lead);
    let model = CostModel { pools };
    let totals: Vec<PoolYearTotal> = [BASE_POOL, "lgwan", "backup", "support", "training"]
        .iter()
        .map(|pool| PoolYearTotal {
            pool: (*pool).into(),
            fiscal_year: 2027,
            amount: 987_654_321_987,
        })
        .collect();
    for everyone in [false, true] {
        let mut draw = Draw(1_741);
        let bodies: Vec<Participant> = (0..1_741)
            .map(|i| {
                let mut body = draw_body(&mut draw, format!("{:06}", 10_000 + i * 7), REAL);
                body.options = options
                    .iter()
                    .filter(|_| everyone || draw.below(2) == 0)
                    .map(|o| (*o).to_owned())
                    .collect();
                body
            })
            .collect();
        let input = Input {
            model: &model,
            lead_organization_id: PREFECTURE,
            participants: &bodies,
            totals: &totals,
        };
        let runs = 200;
        let started = std::time::Instant::now();
        for _ in 0..runs {
            std::hint::black_box(allocate(std::hint::black_box(&input)).unwrap());
        }
        let each = started.elapsed() / runs;
        let shares: usize = allocate(&input)
            .unwrap()
            .pools
            .iter()
            .map(|p| p.shares.len())
            .sum();
        println!("1,741 bodies, 5 pools, {shares} shares: {each:?} an allocation");
    }
    let mut draw = Draw(7);
    let populations: Vec<u32> = (0..1_741).map(|_| 1 + draw.below(400_000) as u32).collect();
    let started = std::time::Instant::now();
    for _ in 0..200 {
        for &p in &populations {
            std::hint::black_box(degressive_weight(std::hint::black_box(p), 585_000));
        }
    }
    println!(
        "a degressive weight: {:?}",
        started.elapsed() / (200 * populations.len() as u32)
    );
}
