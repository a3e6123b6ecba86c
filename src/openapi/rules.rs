//! The rules the service checks of single values, stated in the API document from the constants
//! the checks use, so that the document and the service cannot drift apart: lengths and the
//! characters text may hold, ranges of numbers, sizes of lists. (Rules between fields, such as a
//! round closing after it opens, and rules about stored data, such as an organization existing,
//! are beyond JSON Schema; the document's 422 describes them.)

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::{OpenApi, RefOr};

use crate::domain::allocation::{MAX_AMOUNT, MAX_QUANTITY};
use crate::domain::contact::MAX_PHONE;
use crate::domain::fiscal_year;
use crate::domain::limits::*;
use crate::domain::round::{MAX_REMINDER_DAYS, MAX_REMINDERS};
use crate::domain::text::{Lines, pattern};
use crate::service::participations::MAX_NOTE;
use crate::service::questions::MAX_TEXT;
use crate::service::tokens::MAX_LIFETIME_DAYS;

/// What the service checks of one value.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Text of 1 to `max` characters (as sent), not blank, without control characters.
    Text(Lines, usize),
    /// Text that may be left out or blank; else as `Text`.
    OptionalText(Lines, usize),
    /// A whole number in `min..=max`.
    Range(i64, i64),
    /// A list of at most `max` items.
    Items(usize),
    /// A list of at most `max` distinct items.
    DistinctItems(usize),
    /// A string matching an anchored regular expression.
    Pattern(&'static str),
}

/// Where a rule applies: `Schema.property` (a component's property), `Schema.property[]` (each
/// item of a list property), or `METHOD /path?parameter` (a query parameter).
pub const RULES: &[(&str, Rule)] = &[
    // Text.
    ("CancelRequest.reason", Rule::Text(Lines::Many, MAX_REASON)),
    (
        "CancelRoundRequest.reason",
        Rule::Text(Lines::Many, MAX_REASON),
    ),
    (
        "FinalizeRequest.reason",
        Rule::Text(Lines::Many, MAX_REASON),
    ),
    ("AskRequest.question", Rule::Text(Lines::Many, MAX_TEXT)),
    ("AnswerRequest.answer", Rule::Text(Lines::Many, MAX_TEXT)),
    ("CreateTokenRequest.name", Rule::Text(Lines::One, MAX_NAME)),
    (
        "CreateUserRequest.display_name",
        Rule::Text(Lines::One, MAX_NAME),
    ),
    ("ProcurementInput.title", Rule::Text(Lines::One, MAX_TITLE)),
    (
        "ProcurementInput.summary",
        Rule::OptionalText(Lines::Many, MAX_SUMMARY),
    ),
    ("ProcurementPatch.title", Rule::Text(Lines::One, MAX_TITLE)),
    (
        "ProcurementPatch.summary",
        Rule::OptionalText(Lines::Many, MAX_SUMMARY),
    ),
    ("ProcurementOption.name", Rule::Text(Lines::One, MAX_NAME)),
    (
        "ProcurementOption.description",
        Rule::OptionalText(Lines::Many, MAX_DESCRIPTION),
    ),
    ("Document.title", Rule::Text(Lines::One, MAX_TITLE)),
    ("Contact.name", Rule::Text(Lines::One, MAX_NAME)),
    (
        "Contact.department",
        Rule::OptionalText(Lines::One, MAX_NAME),
    ),
    ("Contact.phone", Rule::OptionalText(Lines::One, MAX_PHONE)),
    ("Contact.email", Rule::OptionalText(Lines::One, MAX_EMAIL)),
    (
        "ContactInput.email",
        Rule::OptionalText(Lines::One, MAX_EMAIL),
    ),
    (
        "ContactInput.name",
        Rule::OptionalText(Lines::One, MAX_NAME),
    ),
    (
        "ContactInput.phone",
        Rule::OptionalText(Lines::One, MAX_PHONE),
    ),
    (
        "PopulationInput.source",
        Rule::OptionalText(Lines::One, MAX_TITLE),
    ),
    (
        "ParticipationInput.note",
        Rule::OptionalText(Lines::Many, MAX_NOTE),
    ),
    (
        "ParticipationInput.reason",
        Rule::OptionalText(Lines::Many, MAX_REASON),
    ),
    (
        "GET /api/v1/organizations?name",
        Rule::OptionalText(Lines::One, MAX_NAME),
    ),
    (
        "DELETE /api/v1/rounds/{id}/participations/{org}?reason",
        Rule::OptionalText(Lines::Many, MAX_REASON),
    ),
    (
        "POST /api/v1/rounds/{id}/participations:import?reason",
        Rule::Text(Lines::Many, MAX_REASON),
    ),
    // Numbers.
    (
        "PopulationInput.value",
        Rule::Range(0, MAX_POPULATION_FIGURE),
    ),
    (
        "ProcurementInput.contract_start_fiscal_year",
        Rule::Range(FY_FIRST, FY_LAST),
    ),
    (
        "ProcurementInput.contract_end_fiscal_year",
        Rule::Range(FY_FIRST, FY_LAST),
    ),
    (
        "ProcurementPatch.contract_start_fiscal_year",
        Rule::Range(FY_FIRST, FY_LAST),
    ),
    (
        "ProcurementPatch.contract_end_fiscal_year",
        Rule::Range(FY_FIRST, FY_LAST),
    ),
    ("RoundInput.fiscal_year", Rule::Range(FY_FIRST, FY_LAST)),
    ("PoolYearTotal.fiscal_year", Rule::Range(FY_FIRST, FY_LAST)),
    ("PoolYearTotal.amount", Rule::Range(0, MAX_AMOUNT)),
    ("CostPool.fixed_fee", Rule::Range(0, MAX_AMOUNT)),
    ("PriceStep.amount", Rule::Range(0, MAX_AMOUNT)),
    (
        "ParticipationInput.declared_quantity",
        Rule::Range(0, MAX_QUANTITY),
    ),
    ("WhatIfBody.quantity", Rule::Range(0, MAX_QUANTITY)),
    (
        "CreateTokenRequest.expires_in_days",
        Rule::Range(1, MAX_LIFETIME_DAYS),
    ),
    ("Eligibility.population_min", Rule::Range(0, i64::MAX)),
    (
        "RoundInput.reminder_days[]",
        Rule::Range(1, MAX_REMINDER_DAYS as i64),
    ),
    (
        "RoundPatch.reminder_days[]",
        Rule::Range(1, MAX_REMINDER_DAYS as i64),
    ),
    (
        "GET /api/v1/changes?limit",
        Rule::Range(1, crate::routes::changes::MAX_LIMIT),
    ),
    // Lists.
    (
        "RoundInput.reminder_days",
        Rule::DistinctItems(MAX_REMINDERS),
    ),
    (
        "RoundPatch.reminder_days",
        Rule::DistinctItems(MAX_REMINDERS),
    ),
    ("ProcurementInput.options", Rule::Items(MAX_OPTIONS)),
    ("ProcurementPatch.options", Rule::Items(MAX_OPTIONS)),
    ("ProcurementInput.documents", Rule::Items(MAX_DOCUMENTS)),
    ("ProcurementPatch.documents", Rule::Items(MAX_DOCUMENTS)),
    ("Eligibility.kinds", Rule::Items(MAX_KINDS)),
    ("Eligibility.include", Rule::Items(MAX_LISTED_ORGANIZATIONS)),
    ("Eligibility.exclude", Rule::Items(MAX_LISTED_ORGANIZATIONS)),
    (
        "UpdateOrganizationRequest.contacts",
        Rule::Items(MAX_CONTACTS),
    ),
    ("FinalizeRequest.totals", Rule::Items(MAX_TOTALS)),
    (
        "WhatIfRequest.participants",
        Rule::Items(MAX_ESTIMATED_BODIES),
    ),
    ("WhatIfBody.options", Rule::Items(MAX_OPTIONS)),
    (
        "ParticipationInput.selected_options",
        Rule::Items(MAX_OPTIONS),
    ),
    (
        "RemindRequest.organizations",
        Rule::Items(MAX_LISTED_ORGANIZATIONS),
    ),
    // Formats.
    ("ProcurementOption.code", Rule::Pattern(CODE)),
    ("CostPool.code", Rule::Pattern(CODE)),
    (
        "GET /api/v1/changes?since",
        Rule::Pattern(crate::routes::changes::CURSOR),
    ),
];

const FY_FIRST: i64 = fiscal_year::FIRST as i64;
const FY_LAST: i64 = fiscal_year::LAST as i64;
/// `crate::domain::procurement::is_valid_code`.
const CODE: &str = "^[a-z0-9_-]{1,32}$";

/// Writes every rule of `RULES` into `document`; a rule whose place is missing is a bug the
/// tests catch (`unplaced` lists them).
pub fn apply(document: &mut OpenApi) -> Vec<&'static str> {
    let mut unplaced = Vec::new();
    for &(place, rule) in RULES {
        let placed = schema_at(document, place).is_some_and(|schema| state(schema, rule));
        if !placed {
            unplaced.push(place);
        }
    }
    limit_query_values(document);
    unplaced
}

/// Every query parameter's value is refused beyond `MAX_QUERY_VALUE` characters, whatever the
/// parameter (`routes::extract::QueryString`): stated on each text parameter without a tighter
/// rule of its own, and without a list of values.
fn limit_query_values(document: &mut OpenApi) {
    use utoipa::openapi::schema::{SchemaType, Type};
    for (_, operation) in super::operations_mut(document) {
        for parameter in operation.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if parameter.parameter_in != ParameterIn::Query {
                continue;
            }
            if let Some(RefOr::T(Schema::Object(text))) = &mut parameter.schema {
                let is_text = match &text.schema_type {
                    SchemaType::Type(Type::String) => true,
                    SchemaType::Array(types) => types.contains(&Type::String),
                    _ => false,
                };
                if is_text && text.enum_values.is_none() && text.max_length.is_none() {
                    text.max_length = Some(crate::routes::MAX_QUERY_VALUE);
                }
                // Nor does any value hold a character no text may (`text::clean`).
                if is_text && text.enum_values.is_none() && text.pattern.is_none() {
                    text.pattern = Some(crate::domain::text::characters_pattern(Lines::Many));
                }
            }
        }
    }
}

fn schema_at<'a>(document: &'a mut OpenApi, place: &str) -> Option<&'a mut Schema> {
    if let Some((operation, parameter)) = place.split_once('?') {
        let (method, path) = operation.split_once(' ')?;
        let item = document.paths.paths.get_mut(path)?;
        let operation = super::operation_mut(item, method)?;
        return operation
            .parameters
            .iter_mut()
            .flatten()
            .find_map(|p| match p {
                RefOr::T(p) if p.parameter_in == ParameterIn::Query && p.name == parameter => {
                    match &mut p.schema {
                        Some(RefOr::T(schema)) => Some(schema),
                        _ => None,
                    }
                }
                _ => None,
            });
    }
    let (name, property) = place.split_once('.')?;
    let (property, each) = match property.strip_suffix("[]") {
        Some(property) => (property, true),
        None => (property, false),
    };
    let components = document.components.as_mut()?;
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) else {
        return None;
    };
    let RefOr::T(schema) = object.properties.get_mut(property)? else {
        return None;
    };
    if !each {
        return Some(schema);
    }
    match schema {
        Schema::Array(array) => match &mut array.items {
            ArrayItems::RefOrSchema(items) => match items.as_mut() {
                RefOr::T(schema) => Some(schema),
                RefOr::Ref(_) => None,
            },
            ArrayItems::False => None,
        },
        _ => None,
    }
}

/// Writes `rule` into `schema`; false when the schema is of another kind than the rule.
fn state(schema: &mut Schema, rule: Rule) -> bool {
    match (schema, rule) {
        (Schema::Object(text), Rule::Text(lines, max)) => {
            text.min_length = Some(1);
            text.max_length = Some(max);
            text.pattern = Some(pattern(lines, true));
            true
        }
        (Schema::Object(text), Rule::OptionalText(lines, max)) => {
            text.max_length = Some(max);
            text.pattern = Some(pattern(lines, false));
            true
        }
        (Schema::Object(number), Rule::Range(min, max)) => {
            number.minimum = Some(number_of(min));
            number.maximum = Some(number_of(max));
            true
        }
        (Schema::Object(text), Rule::Pattern(pattern)) => {
            text.pattern = Some(pattern.to_owned());
            true
        }
        (Schema::Array(list), Rule::Items(max)) => {
            list.max_items = Some(max);
            true
        }
        (Schema::Array(list), Rule::DistinctItems(max)) => {
            list.max_items = Some(max);
            list.unique_items = true;
            true
        }
        _ => false,
    }
}

fn number_of(value: i64) -> utoipa::Number {
    utoipa::Number::Int(isize::try_from(value).unwrap_or(isize::MAX))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::domain::text::{
        characters_pattern, optional_text, refused_characters, required_prose, required_text,
    };

    const MAX: usize = 5;

    /// Whether the service takes `value` for a field with `rule`.
    fn service_takes(rule: Rule, value: &str) -> bool {
        let mut errors = Vec::new();
        match rule {
            Rule::Text(Lines::One, max) => drop(required_text(value, "f", max, &mut errors)),
            Rule::Text(Lines::Many, max) => drop(required_prose(value, "f", max, &mut errors)),
            Rule::OptionalText(lines, max) => {
                drop(optional_text(Some(value), "f", max, lines, &mut errors))
            }
            _ => unreachable!("text rules only"),
        }
        errors.is_empty()
    }

    /// Whether a JSON Schema validator takes `value` for the schema `rule` writes.
    fn document_takes(rule: Rule, value: &str) -> bool {
        let mut schema = Schema::Object(utoipa::openapi::schema::Object::with_type(
            utoipa::openapi::schema::Type::String,
        ));
        assert!(state(&mut schema, rule));
        let schema = serde_json::to_value(&schema).expect("a schema serializes");
        jsonschema::is_valid(&schema, &json!(value))
    }

    fn text() -> impl Strategy<Value = String> {
        let characters = prop::sample::select(vec![
            'a', '長', 'ｶ', '😀', ' ', '\u{3000}', '\u{a0}', '\u{2028}', '\t', '\n', '\r', '\0',
            '\u{85}', '\u{7f}', '\u{202e}', '\u{200f}', '\u{feff}', '\u{304b}', '\u{3099}',
        ]);
        prop::collection::vec(characters, 0..=MAX + 2).prop_map(|c| c.into_iter().collect())
    }

    proptest! {
        #[test]
        fn the_document_takes_exactly_the_text_the_service_takes(value in text()) {
            for rule in [
                Rule::Text(Lines::One, MAX),
                Rule::Text(Lines::Many, MAX),
                Rule::OptionalText(Lines::One, MAX),
                Rule::OptionalText(Lines::Many, MAX),
            ] {
                prop_assert_eq!(
                    document_takes(rule, &value),
                    service_takes(rule, &value),
                    "{:?} {:?}", rule, value
                );
            }
        }
    }

    proptest! {
        /// The pattern every query value gets (`limit_query_values`) against the edge's check.
        #[test]
        fn the_query_pattern_takes_exactly_the_values_the_edge_takes(value in text()) {
            for lines in [Lines::One, Lines::Many] {
                let schema = json!({"type": "string", "pattern": characters_pattern(lines)});
                prop_assert_eq!(
                    jsonschema::is_valid(&schema, &json!(value)),
                    refused_characters(&value, lines).is_none(),
                    "{:?} {:?}", lines, value
                );
            }
        }
    }

    #[test]
    fn every_rule_and_link_finds_its_place_in_the_document() {
        let mut document = crate::openapi::document();
        assert_eq!(apply(&mut document), Vec::<&str>::new());
        assert_eq!(
            crate::openapi::links::apply(&mut document),
            Vec::<&str>::new()
        );
    }
}
