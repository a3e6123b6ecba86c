//! A procurement as the console's form writes it: one field per value, named by the JSON path the
//! API uses (`cost_model.pools[0].weights.equal`), so that every rule's error lands beside its
//! field. Lists that a person types (options, documents, price steps, population bands) are one
//! line each. Weights are percentages here; the model keeps basis points.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::domain::field_error::FieldError;
use crate::domain::organization::OrganizationKind;
use crate::domain::procurement::{
    BASIS_POINTS, Category, CostModel, CostPool, Document, Eligibility, PoolTotal, PopulationBand,
    PopulationTransform, PriceStep, ProcurementInput, ProcurementOption, RemainderRule, Weights,
};
use crate::domain::text::typed_integer;

/// Field name → value, as the form shows it.
pub type Fields = BTreeMap<String, String>;

/// Pools a new procurement's form offers.
const BLANK_POOLS: usize = 2;

fn pool(i: usize, field: &str) -> String {
    format!("cost_model.pools[{i}].{field}")
}

/// Basis points as a percentage, `1250` → `12.5`.
fn percent(basis_points: u32) -> String {
    let whole = basis_points / 100;
    match basis_points % 100 {
        0 => whole.to_string(),
        cents if cents % 10 == 0 => format!("{whole}.{}", cents / 10),
        cents => format!("{whole}.{cents:02}"),
    }
}

/// The form of `input`, with one blank pool to add.
pub fn fields_of(input: &ProcurementInput) -> (Fields, usize) {
    let mut f = Fields::new();
    let mut put = |k: String, v: String| {
        f.insert(k, v);
    };
    put("title".into(), input.title.clone());
    put("summary".into(), input.summary.clone());
    put("category".into(), input.category.to_string());
    put("lead_organization".into(), input.lead_organization.clone());
    if input.mandatory {
        put("mandatory".into(), "on".into());
    }
    if input.small_body_friendly {
        put("small_body_friendly".into(), "on".into());
    }
    put(
        "contract_start_fiscal_year".into(),
        input.contract_start_fiscal_year.to_string(),
    );
    put(
        "contract_end_fiscal_year".into(),
        input.contract_end_fiscal_year.to_string(),
    );
    let e = &input.eligibility;
    for kind in &e.kinds {
        put(format!("eligibility.kinds.{kind}"), "on".into());
    }
    if let Some(min) = e.population_min {
        put("eligibility.population_min".into(), min.to_string());
    }
    if let Some(max) = e.population_max {
        put("eligibility.population_max".into(), max.to_string());
    }
    put("eligibility.include".into(), e.include.join(" "));
    put("eligibility.exclude".into(), e.exclude.join(" "));
    put(
        "options".into(),
        input
            .options
            .iter()
            .map(|o| match &o.description {
                Some(d) => format!("{} | {} | {d}", o.code, o.name),
                None => format!("{} | {}", o.code, o.name),
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    put(
        "documents".into(),
        input
            .documents
            .iter()
            .map(|d| format!("{} | {}", d.title, d.url))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let steps = |steps: &[PriceStep]| {
        steps
            .iter()
            .map(|s| match s.up_to {
                Some(n) => format!("{n}: {}", s.amount),
                None => format!("*: {}", s.amount),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (i, p) in input.cost_model.pools.iter().enumerate() {
        put(pool(i, "code"), p.code.clone());
        match &p.total {
            PoolTotal::Fixed { amount } => {
                put(pool(i, "total.kind"), "fixed".into());
                put(pool(i, "total.amount"), amount.to_string());
            }
            PoolTotal::Schedule { steps: s } => {
                put(pool(i, "total.kind"), "schedule".into());
                put(pool(i, "total.steps"), steps(s));
            }
            PoolTotal::PerParticipant { steps: s } => {
                put(pool(i, "total.kind"), "per_participant".into());
                put(pool(i, "total.steps"), steps(s));
            }
        }
        put(pool(i, "fixed_fee"), p.fixed_fee.to_string());
        put(pool(i, "weights.equal"), percent(p.weights.equal));
        put(pool(i, "weights.population"), percent(p.weights.population));
        put(pool(i, "weights.usage"), percent(p.weights.usage));
        match &p.population_transform {
            PopulationTransform::Linear => {
                put(pool(i, "population_transform.kind"), "linear".into())
            }
            PopulationTransform::Degressive { exponent } => {
                put(pool(i, "population_transform.kind"), "degressive".into());
                put(
                    pool(i, "population_transform.exponent"),
                    exponent.to_string(),
                );
            }
            PopulationTransform::Tiered { bands } => {
                put(pool(i, "population_transform.kind"), "tiered".into());
                put(
                    pool(i, "population_transform.bands"),
                    bands
                        .iter()
                        .map(|b| match b.to {
                            Some(to) => format!("{}-{to}: {}", b.from, b.points),
                            None => format!("{}-: {}", b.from, b.points),
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
            }
        }
        put(
            pool(i, "rounding"),
            match p.rounding {
                RemainderRule::LargestRemainder => "largest_remainder",
                RemainderRule::LeadOrg => "lead_org",
            }
            .into(),
        );
    }
    let pools = input.cost_model.pools.len() + 1;
    (f, pools)
}

/// An empty form: the prefecture leads, every body may join, a base pool shared equally.
pub fn blank(lead: &str, fiscal_year: i32) -> (Fields, usize) {
    let mut f = Fields::new();
    f.insert("lead_organization".into(), lead.to_owned());
    f.insert("category".into(), Category::Administration.to_string());
    f.insert("contract_start_fiscal_year".into(), fiscal_year.to_string());
    f.insert("contract_end_fiscal_year".into(), fiscal_year.to_string());
    f.insert(pool(0, "code"), "base".into());
    f.insert(pool(0, "total.kind"), "fixed".into());
    f.insert(pool(0, "weights.equal"), "100".into());
    (f, BLANK_POOLS)
}

/// Reads the posted form; every value that does not parse is an error on its field, and the
/// rules of the model are judged afterwards, by the same code as the API's.
pub fn input_from(
    posted: &[(String, String)],
) -> Result<(ProcurementInput, Fields), Vec<FieldError>> {
    let mut fields = Fields::new();
    let mut kinds = Vec::new();
    for (name, value) in posted {
        if let Some(kind) = name.strip_prefix("eligibility.kinds.") {
            kinds.push(kind.to_owned());
        }
        fields.insert(name.clone(), value.clone());
    }
    let mut errors = Vec::new();
    let text = |name: &str| {
        fields
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let number = |name: &str, errors: &mut Vec<FieldError>| -> Option<i64> {
        let value = text(name);
        if value.is_empty() {
            return None;
        }
        typed_integer(&value).or_else(|| {
            errors.push(FieldError::new(name, "invalid_format", "a whole number"));
            None
        })
    };
    let category = Category::from_str(&text("category")).unwrap_or_else(|_| {
        errors.push(FieldError::new(
            "category",
            "invalid_value",
            "choose a category",
        ));
        Category::Other
    });
    let year = |name: &str, errors: &mut Vec<FieldError>| -> i32 {
        let value = text(name);
        value.parse().unwrap_or_else(|_| {
            errors.push(FieldError::new(
                name,
                "invalid_format",
                "a fiscal year such as 2027",
            ));
            0
        })
    };
    let contract_start_fiscal_year = year("contract_start_fiscal_year", &mut errors);
    let contract_end_fiscal_year = year("contract_end_fiscal_year", &mut errors);
    let mut eligibility = Eligibility {
        kinds: Vec::new(),
        population_min: number("eligibility.population_min", &mut errors),
        population_max: number("eligibility.population_max", &mut errors),
        include: text("eligibility.include")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        exclude: text("eligibility.exclude")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    for kind in kinds {
        match OrganizationKind::from_str(&kind) {
            Ok(kind) => eligibility.kinds.push(kind),
            Err(_) => errors.push(FieldError::new(
                "eligibility.kinds",
                "invalid_value",
                "an organization kind",
            )),
        }
    }
    let options = text("options")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, '|').map(|p| p.trim().to_owned());
            ProcurementOption {
                code: parts.next().unwrap_or_default(),
                name: parts.next().unwrap_or_default(),
                description: parts.next().filter(|d| !d.is_empty()),
            }
        })
        .collect();
    let documents = text("documents")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (title, url) = line.rsplit_once('|').unwrap_or(("", line));
            Document {
                title: title.trim().to_owned(),
                url: url.trim().to_owned(),
            }
        })
        .collect();
    let mut pools = Vec::new();
    for i in 0.. {
        if !fields.contains_key(&pool(i, "code")) {
            break;
        }
        let code = text(&pool(i, "code"));
        if code.is_empty() {
            continue;
        }
        let steps = |errors: &mut Vec<FieldError>| -> Vec<PriceStep> {
            let name = pool(i, "total.steps");
            let source = text(&name);
            let lines: Vec<&str> = source.lines().filter(|l| !l.trim().is_empty()).collect();
            let steps: Vec<PriceStep> = lines
                .iter()
                .filter_map(|line| {
                    let (up_to, amount) = line.split_once(':')?;
                    let amount = typed_integer(amount)?;
                    let up_to = match up_to.trim() {
                        "*" | "" => None,
                        n => Some(n.parse().ok()?),
                    };
                    Some(PriceStep { up_to, amount })
                })
                .collect();
            if steps.len() != lines.len() {
                errors.push(FieldError::new(
                    name,
                    "invalid_format",
                    "one step per line: `up to how many bodies: yen`, the last `*: yen`",
                ));
            }
            steps
        };
        let total = match text(&pool(i, "total.kind")).as_str() {
            "schedule" => PoolTotal::Schedule {
                steps: steps(&mut errors),
            },
            "per_participant" => PoolTotal::PerParticipant {
                steps: steps(&mut errors),
            },
            _ => PoolTotal::Fixed {
                amount: number(&pool(i, "total.amount"), &mut errors).unwrap_or_else(|| {
                    errors.push(FieldError::new(
                        pool(i, "total.amount"),
                        "required",
                        "the pool's total in yen",
                    ));
                    0
                }),
            },
        };
        let weight = |name: String, errors: &mut Vec<FieldError>| -> u32 {
            let value = text(&name);
            if value.is_empty() {
                return 0;
            }
            basis_points(&value).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    name,
                    "invalid_format",
                    "a percentage such as 10 or 12.5",
                ));
                0
            })
        };
        let weights = Weights {
            equal: weight(pool(i, "weights.equal"), &mut errors),
            population: weight(pool(i, "weights.population"), &mut errors),
            usage: weight(pool(i, "weights.usage"), &mut errors),
        };
        let population_transform = match text(&pool(i, "population_transform.kind")).as_str() {
            "degressive" => {
                let name = pool(i, "population_transform.exponent");
                PopulationTransform::Degressive {
                    exponent: text(&name).parse().unwrap_or_else(|_| {
                        errors.push(FieldError::new(
                            name,
                            "invalid_format",
                            "an exponent such as 0.585",
                        ));
                        1.0
                    }),
                }
            }
            "tiered" => {
                let name = pool(i, "population_transform.bands");
                let mut bands = Vec::new();
                for line in text(&name).lines().filter(|l| !l.trim().is_empty()) {
                    let band = line.split_once(':').and_then(|(range, points)| {
                        let (from, to) = range.split_once('-')?;
                        Some(PopulationBand {
                            from: typed_integer(from)?,
                            to: match to.trim() {
                                "" => None,
                                to => Some(typed_integer(to)?),
                            },
                            points: points.trim().parse().ok()?,
                        })
                    });
                    match band {
                        Some(band) => bands.push(band),
                        None => errors.push(FieldError::new(
                            &name,
                            "invalid_format",
                            format!("{line:?} is not `from-to: points`"),
                        )),
                    }
                }
                PopulationTransform::Tiered { bands }
            }
            _ => PopulationTransform::Linear,
        };
        pools.push(CostPool {
            code,
            total,
            fixed_fee: number(&pool(i, "fixed_fee"), &mut errors).unwrap_or(0),
            weights,
            population_transform,
            rounding: match text(&pool(i, "rounding")).as_str() {
                "lead_org" => RemainderRule::LeadOrg,
                _ => RemainderRule::LargestRemainder,
            },
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let input = ProcurementInput {
        title: text("title"),
        summary: text("summary"),
        category,
        lead_organization: text("lead_organization"),
        mandatory: fields.contains_key("mandatory"),
        small_body_friendly: fields.contains_key("small_body_friendly"),
        eligibility,
        options,
        documents,
        cost_model: CostModel { pools },
        contract_start_fiscal_year,
        contract_end_fiscal_year,
    };
    Ok((input, fields))
}

/// `12.5` (percent) → 1250 basis points; at most two decimals, at most 100 %.
fn basis_points(value: &str) -> Option<u32> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let fraction: u32 = format!("{fraction:0<2}").parse().ok()?;
    let points = whole.checked_mul(100)?.checked_add(fraction)?;
    (points <= BASIS_POINTS).then_some(points)
}

/// Field errors placed beside the field they name, or the nearest one the form has
/// (`cost_model.pools[0].total.steps[1].amount` → `cost_model.pools[0].total.steps`); the rest
/// under `form`.
pub fn place_errors(errors: &[FieldError], fields: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut placed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for error in errors {
        let home = fields
            .iter()
            .filter(|f| {
                error.field == **f
                    || error.field.starts_with(&format!("{f}."))
                    || error.field.starts_with(&format!("{f}["))
            })
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_else(|| "form".to_owned());
        let message = if home == "form" {
            format!("{}: {}", error.field, error.message)
        } else {
            error.message.clone()
        };
        placed.entry(home).or_default().push(message);
    }
    placed
}

/// Every field name the form has, for `place_errors`.
pub fn field_names(pools: usize) -> Vec<String> {
    let mut names: Vec<String> = [
        "title",
        "summary",
        "category",
        "lead_organization",
        "mandatory",
        "small_body_friendly",
        "contract_start_fiscal_year",
        "contract_end_fiscal_year",
        "eligibility",
        "eligibility.kinds",
        "eligibility.population_min",
        "eligibility.population_max",
        "eligibility.include",
        "eligibility.exclude",
        "options",
        "documents",
        "cost_model",
        "cost_model.pools",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for i in 0..pools {
        for field in [
            "",
            "code",
            "total",
            "total.kind",
            "total.amount",
            "total.steps",
            "fixed_fee",
            "weights",
            "weights.equal",
            "weights.population",
            "weights.usage",
            "population_transform",
            "population_transform.kind",
            "population_transform.exponent",
            "population_transform.bands",
            "rounding",
        ] {
            names.push(if field.is_empty() {
                format!("cost_model.pools[{i}]")
            } else {
                pool(i, field)
            });
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ProcurementInput {
        serde_json::from_value(serde_json::json!({
            "title": "AI音声文字起こしツール",
            "summary": "会議録作成を支援",
            "category": "administration",
            "lead_organization": "200000",
            "small_body_friendly": true,
            "eligibility": {"kinds": ["city", "village"], "population_max": 50000, "exclude": ["203041"]},
            "options": [{"code": "lgwan", "name": "LGWAN接続", "description": "閉域網から利用"}],
            "documents": [{"title": "仕様書", "url": "https://www.pref.nagano.lg.jp/dx/spec.pdf"}],
            "cost_model": {"pools": [
                {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10000000}, {"up_to": null, "amount": 14000000}]},
                 "weights": {"equal": 1250, "population": 8750}, "population_transform": {"kind": "degressive", "exponent": 0.585}},
                {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "fixed_fee": 1000, "weights": {"equal": 10000}, "rounding": "lead_org",
                 "population_transform": {"kind": "tiered", "bands": [{"from": 0, "to": 9999, "points": 1}, {"from": 10000, "to": null, "points": 3}]}}
            ]},
            "contract_start_fiscal_year": 2027,
            "contract_end_fiscal_year": 2029
        }))
        .unwrap()
    }

    #[test]
    fn a_procurement_survives_the_form() {
        let input = example();
        let (fields, pools) = fields_of(&input);
        assert_eq!(pools, 3);
        let posted: Vec<(String, String)> = fields.into_iter().collect();
        let (read, _) = input_from(&posted).unwrap();
        assert_eq!(
            serde_json::to_value(read.cost_model).unwrap(),
            serde_json::to_value(input.cost_model).unwrap()
        );
        assert_eq!(read.eligibility, input.eligibility);
        assert_eq!(read.options, input.options);
        assert_eq!(read.documents, input.documents);
        assert!(read.small_body_friendly && !read.mandatory);
    }

    #[test]
    fn what_does_not_parse_is_named_by_its_field() {
        let posted: Vec<(String, String)> = [
            ("category", "administration"),
            ("contract_start_fiscal_year", "2027"),
            ("contract_end_fiscal_year", "next year"),
            ("cost_model.pools[0].code", "base"),
            ("cost_model.pools[0].total.kind", "schedule"),
            ("cost_model.pools[0].total.steps", "10: 100\nmany: 200"),
            ("cost_model.pools[0].weights.equal", "33.333"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let errors = input_from(&posted).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            named,
            [
                "contract_end_fiscal_year",
                "cost_model.pools[0].total.steps",
                "cost_model.pools[0].weights.equal"
            ]
        );
    }

    #[test]
    fn percentages_are_basis_points() {
        assert_eq!(basis_points("12.5"), Some(1250));
        assert_eq!(basis_points("100"), Some(10_000));
        assert_eq!(basis_points("0.01"), Some(1));
        assert_eq!(basis_points("100.01"), None);
        assert_eq!(basis_points("1.234"), None);
        assert_eq!(percent(1250), "12.5");
        assert_eq!(percent(1), "0.01");
    }

    #[test]
    fn errors_land_beside_the_nearest_field() {
        let names = field_names(1);
        let placed = place_errors(
            &[
                FieldError::new(
                    "cost_model.pools[0].total.steps[1].amount",
                    "out_of_range",
                    "too much",
                ),
                FieldError::new("cost_model.pools[0].weights", "sum", "weights sum to 100%"),
                FieldError::new("somewhere", "x", "y"),
            ],
            &names,
        );
        assert_eq!(placed["cost_model.pools[0].total.steps"], ["too much"]);
        assert_eq!(
            placed["cost_model.pools[0].weights"],
            ["weights sum to 100%"]
        );
        assert_eq!(placed["form"], ["somewhere: y"]);
    }
}
