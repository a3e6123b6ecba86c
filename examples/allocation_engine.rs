//! The allocation engine alone: 1,741 bodies (every municipality of Japan) × 5 pools, one fiscal
//! year, as `bench/allocation.py` reports it. Prints the median, p99 and worst of many runs.
//!
//! The pools cover every path: a volume schedule with 均等割 10% / 人口割 90% (linear), a fixed total
//! with a ¥10,000 fee and degressive population (k = 0.585), a tiered table, usage by quantity
//! (these three are options every body chose), and an option that half of the bodies chose, its
//! leftover yen to the lead body.

use std::time::{Duration, Instant};

use kyodo::domain::allocation::{Input, Participant, PoolYearTotal, allocate};
use kyodo::domain::procurement::CostModel;

fn main() {
    let bodies: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1741);
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let model: CostModel = serde_json::from_value(serde_json::json!({"pools": [
        {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 100, "amount": 300_000_000}, {"up_to": null, "amount": 900_000_000}]},
         "weights": {"equal": 1000, "population": 9000}},
        {"code": "harp", "total": {"kind": "fixed", "amount": 250_000_000}, "fixed_fee": 10_000,
         "weights": {"equal": 2000, "population": 8000}, "population_transform": {"kind": "degressive", "exponent": 0.585}},
        {"code": "tiers", "total": {"kind": "fixed", "amount": 120_000_000},
         "weights": {"equal": 600, "population": 9400}, "population_transform": {"kind": "tiered", "bands": [
            {"from": 0, "to": 4999, "points": 1}, {"from": 5000, "to": 29999, "points": 2},
            {"from": 30000, "to": 99999, "points": 3}, {"from": 100000, "to": null, "points": 5}]}},
        {"code": "usage", "total": {"kind": "fixed", "amount": 80_000_000}, "weights": {"equal": 2000, "usage": 8000}},
        {"code": "option", "total": {"kind": "per_participant", "steps": [{"up_to": 500, "amount": 90_000}, {"up_to": null, "amount": 70_000}]},
         "weights": {"equal": 5000, "population": 5000}, "rounding": "lead_org"}
    ]}))
    .expect("the benchmark's cost model");
    // Populations spread like Japan's: many small towns, a few large cities.
    let participants: Vec<Participant> = (0..bodies)
        .map(|i| {
            let population = 800 + (i as i64 * 7919 % 1741).pow(2) / 2;
            Participant {
                organization_id: format!("org-{i:05}"),
                lg_code: Some(format!("{:06}", 10_000 + i)),
                name: format!("団体{i:05}"),
                population: Some(population),
                quantity: Some(10 + (i as i64 * 31) % 500),
                options: ["harp", "tiers", "usage"]
                    .into_iter()
                    .chain((i % 2 == 0).then_some("option"))
                    .map(str::to_owned)
                    .collect(),
            }
        })
        .collect();
    let totals: Vec<PoolYearTotal> = ["base", "harp", "tiers", "usage", "option"]
        .iter()
        .map(|pool| PoolYearTotal {
            pool: (*pool).to_owned(),
            fiscal_year: 2027,
            amount: match *pool {
                "base" => 900_000_000,
                "option" => 70_000 * bodies.div_ceil(2) as i64,
                "harp" => 250_000_000,
                "tiers" => 120_000_000,
                _ => 80_000_000,
            },
        })
        .collect();
    let input = Input {
        model: &model,
        lead_organization_id: "org-00000",
        participants: &participants,
        totals: &totals,
    };
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let allocation = allocate(&input).expect("the benchmark's allocation");
        times.push(started.elapsed());
        std::hint::black_box(allocation);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "engine: {bodies} bodies x 5 pools, {runs} runs: median {:.2} ms, p99 {:.2} ms, worst {:.2} ms",
        ms(times[runs / 2]),
        ms(times[runs * 99 / 100]),
        ms(times[runs - 1])
    );
}
