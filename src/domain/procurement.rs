//! A joint procurement's rules: who may take part, what it offers, and how its cost is shared.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::field_error::FieldError;
use crate::domain::fiscal_year;
use crate::domain::limits::{
    MAX_DESCRIPTION, MAX_DOCUMENTS, MAX_KINDS, MAX_LISTED_ORGANIZATIONS, MAX_NAME, MAX_OPTIONS,
    MAX_STEPS, MAX_SUMMARY, MAX_TITLE, check_count,
};
use crate::domain::organization::OrganizationKind;
use crate::domain::text::{Lines, optional_text, required_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Category {
    Administration,
    Residents,
    Infrastructure,
    Disaster,
    Education,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ProcurementStatus {
    Draft,
    Published,
    Contracted,
    Closed,
    Cancelled,
}

/// Who may take part. An explicit include admits a body whatever its kind or population; an
/// explicit exclude keeps it out whatever else holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Eligibility {
    /// Allowed kinds; empty means every kind.
    pub kinds: Vec<OrganizationKind>,
    pub population_min: Option<i64>,
    pub population_max: Option<i64>,
    /// Organization ids admitted regardless of the rules above.
    pub include: Vec<String>,
    /// Organization ids kept out.
    pub exclude: Vec<String>,
}

/// What eligibility needs to know about a body.
pub struct Candidate<'a> {
    pub id: &'a str,
    pub kind: OrganizationKind,
    pub population: Option<i64>,
}

impl Eligibility {
    /// `Ok` when `candidate` may take part, else the reason in words.
    pub fn check(&self, candidate: &Candidate<'_>) -> Result<(), String> {
        if self.exclude.iter().any(|id| id == candidate.id) {
            return Err("the procurement explicitly excludes this organization".into());
        }
        if self.include.iter().any(|id| id == candidate.id) {
            return Ok(());
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&candidate.kind) {
            let allowed: Vec<&str> = self.kinds.iter().map(|&k| k.into()).collect();
            return Err(format!(
                "the procurement is open to {} only, not to a {}",
                allowed.join(", "),
                candidate.kind
            ));
        }
        if self.population_min.is_some() || self.population_max.is_some() {
            let Some(population) = candidate.population else {
                return Err("the procurement has a population range and this organization has no population".into());
            };
            if self.population_min.is_some_and(|min| population < min) {
                return Err(format!(
                    "the procurement needs a population of at least {}",
                    self.population_min.unwrap_or_default()
                ));
            }
            if self.population_max.is_some_and(|max| population > max) {
                return Err(format!(
                    "the procurement needs a population of at most {}",
                    self.population_max.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        check_count(self.kinds.len(), MAX_KINDS, "eligibility.kinds", errors);
        for (list, field) in [
            (&self.include, "eligibility.include"),
            (&self.exclude, "eligibility.exclude"),
        ] {
            check_count(list.len(), MAX_LISTED_ORGANIZATIONS, field, errors);
        }
        if let (Some(min), Some(max)) = (self.population_min, self.population_max)
            && min > max
        {
            errors.push(FieldError::new(
                "eligibility.population_max",
                "out_of_range",
                "population_max is below population_min",
            ));
        }
        if self.population_min.is_some_and(|m| m < 0) {
            errors.push(FieldError::new(
                "eligibility.population_min",
                "out_of_range",
                "population_min cannot be negative",
            ));
        }
        if let Some(id) = self.include.iter().find(|id| self.exclude.contains(id)) {
            errors.push(FieldError::new(
                "eligibility.exclude",
                "contradiction",
                format!("{id} is both included and excluded"),
            ));
        }
    }
}

/// An add-on service with its own cost pool, paid only by the bodies that choose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcurementOption {
    /// Lower-case letters, digits, `-` and `_`; names the option's cost pool.
    #[schema(example = "lgwan")]
    pub code: String,
    #[schema(example = "LGWAN接続オプション")]
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[schema(example = "仕様書")]
    pub title: String,
    #[schema(example = "https://www.pref.nagano.lg.jp/dx/kyodo/spec.pdf")]
    pub url: String,
}

/// How the cost of a procurement is shared: the base pool, plus one pool per option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    pub pools: Vec<CostPool>,
}

pub const BASE_POOL: &str = "base";
pub const BASIS_POINTS: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostPool {
    /// `base`, or the code of the option this pool pays for.
    pub code: String,
    pub total: PoolTotal,
    /// Yen each participant pays first (e.g. a membership fee); the rest is allocated.
    #[serde(default)]
    pub fixed_fee: i64,
    pub weights: Weights,
    #[serde(default)]
    pub population_transform: PopulationTransform,
    #[serde(default)]
    pub rounding: RemainderRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PoolTotal {
    /// A contracted amount in yen.
    Fixed { amount: i64 },
    /// The total depends on the number of participants n: the first step with n ≤ up_to applies;
    /// the last step has no `up_to`.
    Schedule { steps: Vec<PriceStep> },
    /// Each participant adds `unit_price`, which falls with n, by the same steps.
    PerParticipant { steps: Vec<PriceStep> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceStep {
    /// Largest number of participants this step covers; null on the last step.
    pub up_to: Option<u32>,
    /// Yen: the total (schedule) or the unit price (per participant).
    pub amount: i64,
}

/// Shares of the allocated amount in basis points; they sum to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// 均等割
    #[serde(default)]
    pub equal: u32,
    /// 人口割
    #[serde(default)]
    pub population: u32,
    /// 利用割: by declared quantity.
    #[serde(default)]
    pub usage: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PopulationTransform {
    #[default]
    Linear,
    /// Bands of population, each worth some points; bands are ordered and do not overlap.
    Tiered { bands: Vec<PopulationBand> },
    /// population^exponent with 0 < exponent ≤ 1 (e.g. 0.585: twice the size pays 1.5×).
    Degressive { exponent: f64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationBand {
    /// Smallest population in the band.
    pub from: i64,
    /// Largest population in the band; null for the last band.
    pub to: Option<i64>,
    pub points: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemainderRule {
    /// One yen each to the largest fractional parts.
    #[default]
    LargestRemainder,
    /// All leftover yen to the lead organization.
    LeadOrg,
}

/// A procurement as written by an administrator, whole (create) or merged from a patch (update).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "AI音声文字起こしツール",
    "summary": "会議録作成を支援する音声文字起こしサービスの共同利用",
    "category": "administration",
    "lead_organization": "200000",
    "mandatory": false,
    "small_body_friendly": true,
    "eligibility": {"kinds": ["city", "town", "village", "wide_area_union"]},
    "options": [{"code": "lgwan", "name": "LGWAN接続"}],
    "documents": [{"title": "仕様書", "url": "https://www.pref.nagano.lg.jp/dx/spec.pdf"}],
    "cost_model": {"pools": [
        {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10000000}, {"up_to": 30, "amount": 14000000}, {"up_to": null, "amount": 20000000}]},
         "weights": {"equal": 1000, "population": 9000}},
        {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "weights": {"equal": 10000}}
    ]},
    "contract_start_fiscal_year": 2027,
    "contract_end_fiscal_year": 2029
}))]
pub struct ProcurementInput {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    pub category: Category,
    /// The signing body (id or code): 長野県 or 長野県市町村自治振興組合.
    pub lead_organization: String,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub small_body_friendly: bool,
    #[serde(default)]
    pub eligibility: Eligibility,
    #[serde(default)]
    pub options: Vec<ProcurementOption>,
    #[serde(default)]
    pub documents: Vec<Document>,
    pub cost_model: CostModel,
    pub contract_start_fiscal_year: i32,
    pub contract_end_fiscal_year: i32,
}

/// Fields to change; the others keep their values. The result is checked as a whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"summary": "仕様書を更新しました", "small_body_friendly": true}))]
pub struct ProcurementPatch {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub category: Option<Category>,
    pub lead_organization: Option<String>,
    pub mandatory: Option<bool>,
    pub small_body_friendly: Option<bool>,
    pub eligibility: Option<Eligibility>,
    pub options: Option<Vec<ProcurementOption>>,
    pub documents: Option<Vec<Document>>,
    pub cost_model: Option<CostModel>,
    pub contract_start_fiscal_year: Option<i32>,
    pub contract_end_fiscal_year: Option<i32>,
}

impl ProcurementPatch {
    /// A patch that replaces every field with `input`'s (a whole form sent again).
    pub fn whole(input: ProcurementInput) -> Self {
        Self {
            title: Some(input.title),
            summary: Some(input.summary),
            category: Some(input.category),
            lead_organization: Some(input.lead_organization),
            mandatory: Some(input.mandatory),
            small_body_friendly: Some(input.small_body_friendly),
            eligibility: Some(input.eligibility),
            options: Some(input.options),
            documents: Some(input.documents),
            cost_model: Some(input.cost_model),
            contract_start_fiscal_year: Some(input.contract_start_fiscal_year),
            contract_end_fiscal_year: Some(input.contract_end_fiscal_year),
        }
    }

    /// `input` with the fields this patch names replaced.
    pub fn apply_to(self, input: &mut ProcurementInput) {
        macro_rules! merge {
            ($($field:ident),+) => { $(if let Some(value) = self.$field { input.$field = value; })+ };
        }
        merge!(
            title,
            summary,
            category,
            lead_organization,
            mandatory,
            small_body_friendly,
            eligibility,
            options,
            documents,
            cost_model,
            contract_start_fiscal_year,
            contract_end_fiscal_year
        );
    }
}

impl ProcurementInput {
    /// Every rule that needs nothing but the input itself, each failure named by its JSON path;
    /// text is cleaned in place. (Whether the organizations it names exist is for the caller.)
    pub fn validate(&mut self, errors: &mut Vec<FieldError>) {
        self.title = required_text(&self.title, "title", MAX_TITLE, errors);
        self.summary = optional_text(
            Some(&self.summary),
            "summary",
            MAX_SUMMARY,
            Lines::Many,
            errors,
        )
        .unwrap_or_default();
        check_count(self.options.len(), MAX_OPTIONS, "options", errors);
        check_count(self.documents.len(), MAX_DOCUMENTS, "documents", errors);
        self.eligibility.validate(errors);
        let mut codes = BTreeSet::new();
        for (i, option) in self.options.iter().enumerate() {
            if !is_valid_code(&option.code) || option.code == BASE_POOL {
                errors.push(FieldError::new(
                    format!("options[{i}].code"),
                    "invalid_format",
                    "a code has 1 to 32 of a-z, 0-9, - and _, and is not \"base\"",
                ));
            }
            if !codes.insert(option.code.clone()) {
                errors.push(FieldError::new(
                    format!("options[{i}].code"),
                    "duplicate",
                    format!("two options have the code {:?}", option.code),
                ));
            }
        }
        for (i, option) in self.options.iter_mut().enumerate() {
            option.name = required_text(
                &option.name,
                &format!("options[{i}].name"),
                MAX_NAME,
                errors,
            );
            option.description = optional_text(
                option.description.as_deref(),
                &format!("options[{i}].description"),
                MAX_DESCRIPTION,
                Lines::Many,
                errors,
            );
        }
        for (i, document) in self.documents.iter_mut().enumerate() {
            document.title = required_text(
                &document.title,
                &format!("documents[{i}].title"),
                MAX_TITLE,
                errors,
            );
            let url = document.url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.contains(char::is_whitespace)
                || url.len() > 2000
            {
                errors.push(FieldError::new(
                    format!("documents[{i}].url"),
                    "invalid_format",
                    "a document's url is an http(s) address",
                ));
            }
        }
        self.cost_model.validate(&self.options, errors);
        let (start, end) = (
            self.contract_start_fiscal_year,
            self.contract_end_fiscal_year,
        );
        if !fiscal_year::is_valid(start) {
            errors.push(FieldError::new(
                "contract_start_fiscal_year",
                "out_of_range",
                format!(
                    "a fiscal year between {} and {}",
                    fiscal_year::FIRST,
                    fiscal_year::LAST
                ),
            ));
        }
        if !fiscal_year::is_valid(end) || end < start {
            errors.push(FieldError::new(
                "contract_end_fiscal_year",
                "out_of_range",
                "the contract ends in or after its first fiscal year",
            ));
        }
    }
}

/// `^[a-z0-9_-]{1,32}$`
pub fn is_valid_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl CostModel {
    /// Every rule a cost model must meet to be saved, each failure named by its JSON path.
    pub fn validate(&self, options: &[ProcurementOption], errors: &mut Vec<FieldError>) {
        check_count(
            self.pools.len(),
            MAX_OPTIONS + 1,
            "cost_model.pools",
            errors,
        );
        let codes: Vec<&str> = self.pools.iter().map(|p| p.code.as_str()).collect();
        if !codes.contains(&BASE_POOL) {
            errors.push(FieldError::new(
                "cost_model.pools",
                "missing_base_pool",
                "a cost model has a pool with code \"base\"",
            ));
        }
        let mut seen = BTreeSet::new();
        for code in &codes {
            if !seen.insert(*code) {
                errors.push(FieldError::new(
                    "cost_model.pools",
                    "duplicate_pool",
                    format!("two pools have the code {code:?}"),
                ));
            }
        }
        for option in options {
            if !codes.contains(&option.code.as_str()) {
                errors.push(FieldError::new(
                    "cost_model.pools",
                    "missing_option_pool",
                    format!("option {:?} has no cost pool", option.code),
                ));
            }
        }
        for (i, pool) in self.pools.iter().enumerate() {
            let at = |field: &str| format!("cost_model.pools[{i}].{field}");
            if pool.code != BASE_POOL && !options.iter().any(|o| o.code == pool.code) {
                errors.push(FieldError::new(
                    at("code"),
                    "unknown_option",
                    format!("{:?} is neither \"base\" nor an option's code", pool.code),
                ));
            }
            pool.total.validate(&at("total"), errors);
            if pool.fixed_fee < 0 {
                errors.push(FieldError::new(
                    at("fixed_fee"),
                    "out_of_range",
                    "fixed_fee cannot be negative",
                ));
            }
            let w = pool.weights;
            let sum = u64::from(w.equal) + u64::from(w.population) + u64::from(w.usage);
            if sum != u64::from(BASIS_POINTS) {
                errors.push(FieldError::new(
                    at("weights"),
                    "weights_sum",
                    format!(
                        "weights are basis points summing to {BASIS_POINTS}, these sum to {sum}"
                    ),
                ));
            }
            pool.population_transform
                .validate(&at("population_transform"), errors);
        }
    }
}

impl PoolTotal {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        match self {
            Self::Fixed { amount } if *amount < 0 => {
                errors.push(FieldError::new(
                    format!("{at}.amount"),
                    "out_of_range",
                    "amount cannot be negative",
                ));
            }
            Self::Fixed { .. } => {}
            Self::Schedule { steps } | Self::PerParticipant { steps } => {
                validate_steps(steps, &format!("{at}.steps"), errors)
            }
        }
    }
}

fn validate_steps(steps: &[PriceStep], at: &str, errors: &mut Vec<FieldError>) {
    check_count(steps.len(), MAX_STEPS, at, errors);
    if steps.is_empty() {
        errors.push(FieldError::new(
            at,
            "empty",
            "a price schedule has at least one step",
        ));
        return;
    }
    let mut previous = 0;
    for (i, step) in steps.iter().enumerate() {
        let last = i == steps.len() - 1;
        if step.amount < 0 {
            errors.push(FieldError::new(
                format!("{at}[{i}].amount"),
                "out_of_range",
                "amount cannot be negative",
            ));
        }
        match step.up_to {
            None if !last => errors.push(FieldError::new(
                format!("{at}[{i}].up_to"),
                "unordered",
                "only the last step may omit up_to",
            )),
            Some(_) if last => errors.push(FieldError::new(
                format!("{at}[{i}].up_to"),
                "unbounded_last",
                "the last step covers every larger n: omit up_to",
            )),
            Some(n) if n <= previous => errors.push(FieldError::new(
                format!("{at}[{i}].up_to"),
                "unordered",
                "up_to increases from step to step",
            )),
            Some(n) => previous = n,
            None => {}
        }
    }
}

impl PopulationTransform {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        match self {
            Self::Linear => {}
            Self::Degressive { exponent } => {
                if !(exponent.is_finite() && *exponent > 0.0 && *exponent <= 1.0) {
                    errors.push(FieldError::new(
                        format!("{at}.exponent"),
                        "out_of_range",
                        "the exponent is in (0, 1]",
                    ));
                }
            }
            Self::Tiered { bands } => {
                check_count(bands.len(), MAX_STEPS, &format!("{at}.bands"), errors);
                if bands.is_empty() {
                    errors.push(FieldError::new(
                        format!("{at}.bands"),
                        "empty",
                        "tiers need at least one band",
                    ));
                }
                let mut next_from = 0;
                for (i, band) in bands.iter().enumerate() {
                    let field = format!("{at}.bands[{i}]");
                    if band.from != next_from {
                        errors.push(FieldError::new(
                            format!("{field}.from"),
                            "gap_or_overlap",
                            format!("bands are ordered without gaps or overlaps: this band should start at {next_from}"),
                        ));
                    }
                    match band.to {
                        Some(to) if to < band.from => {
                            errors.push(FieldError::new(
                                format!("{field}.to"),
                                "out_of_range",
                                "a band ends at or after it starts",
                            ));
                        }
                        Some(to) if i == bands.len() - 1 => {
                            errors.push(FieldError::new(format!("{field}.to"), "unbounded_last", format!("the last band covers every larger population: omit to (now {to})")));
                        }
                        Some(to) => next_from = to + 1,
                        None if i != bands.len() - 1 => {
                            errors.push(FieldError::new(
                                format!("{field}.to"),
                                "unordered",
                                "only the last band may omit to",
                            ));
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(value: serde_json::Value) -> CostModel {
        serde_json::from_value(value).unwrap()
    }

    fn codes(model: &CostModel, options: &[ProcurementOption]) -> Vec<(String, &'static str)> {
        let mut errors = Vec::new();
        model.validate(options, &mut errors);
        errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn a_typical_model_is_valid() {
        let m = model(json!({"pools": [{
            "code": "base",
            "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10000000}, {"up_to": 30, "amount": 14000000}, {"up_to": null, "amount": 20000000}]},
            "fixed_fee": 10000,
            "weights": {"equal": 1000, "population": 9000},
            "population_transform": {"kind": "tiered", "bands": [{"from": 0, "to": 4999, "points": 1}, {"from": 5000, "to": 29999, "points": 2}, {"from": 30000, "to": null, "points": 3}]}
        }]}));
        assert_eq!(codes(&m, &[]), vec![]);
    }

    #[test]
    fn every_broken_rule_is_named() {
        let m = model(json!({"pools": [{
            "code": "base",
            "total": {"kind": "schedule", "steps": [{"up_to": 30, "amount": 1}, {"up_to": 10, "amount": 2}, {"up_to": 50, "amount": 3}]},
            "fixed_fee": -1,
            "weights": {"equal": 2000, "population": 9000},
            "population_transform": {"kind": "tiered", "bands": [{"from": 0, "to": 4999, "points": 1}, {"from": 4000, "to": null, "points": 2}]}
        }, {
            "code": "nothing",
            "total": {"kind": "fixed", "amount": 5},
            "weights": {"equal": 10000},
            "population_transform": {"kind": "degressive", "exponent": 1.5}
        }]}));
        let found = codes(&m, &[]);
        for expected in [
            ("cost_model.pools[0].total.steps[1].up_to", "unordered"),
            ("cost_model.pools[0].total.steps[2].up_to", "unbounded_last"),
            ("cost_model.pools[0].fixed_fee", "out_of_range"),
            ("cost_model.pools[0].weights", "weights_sum"),
            (
                "cost_model.pools[0].population_transform.bands[1].from",
                "gap_or_overlap",
            ),
            ("cost_model.pools[1].code", "unknown_option"),
            (
                "cost_model.pools[1].population_transform.exponent",
                "out_of_range",
            ),
        ] {
            assert!(
                found.contains(&(expected.0.to_owned(), expected.1)),
                "{expected:?} not in {found:?}"
            );
        }
    }

    #[test]
    fn options_need_pools_and_the_base_pool_is_required() {
        let option = ProcurementOption {
            code: "lgwan".into(),
            name: "LGWAN".into(),
            description: None,
        };
        let m = model(
            json!({"pools": [{"code": "extra", "total": {"kind": "fixed", "amount": 1}, "weights": {"equal": 10000}}]}),
        );
        let found = codes(&m, &[option]);
        assert!(found.contains(&("cost_model.pools".into(), "missing_base_pool")));
        assert!(found.contains(&("cost_model.pools".into(), "missing_option_pool")));
    }

    #[test]
    fn eligibility_applies_exclude_then_include_then_rules() {
        let rules = Eligibility {
            kinds: vec![OrganizationKind::Town, OrganizationKind::Village],
            population_max: Some(30_000),
            include: vec!["big-city".into()],
            exclude: vec!["small-village".into()],
            ..Eligibility::default()
        };
        let body = |id, kind, population| Candidate {
            id,
            kind,
            population,
        };
        assert!(
            rules
                .check(&body("town", OrganizationKind::Town, Some(10_000)))
                .is_ok()
        );
        assert!(
            rules
                .check(&body("big-city", OrganizationKind::City, Some(300_000)))
                .is_ok()
        );
        assert!(
            rules
                .check(&body("small-village", OrganizationKind::Village, Some(900)))
                .unwrap_err()
                .contains("excludes")
        );
        assert!(
            rules
                .check(&body("city", OrganizationKind::City, Some(20_000)))
                .unwrap_err()
                .contains("town, village only")
        );
        assert!(
            rules
                .check(&body("big-town", OrganizationKind::Town, Some(40_000)))
                .unwrap_err()
                .contains("at most 30000")
        );
    }
}
