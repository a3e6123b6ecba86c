//! How many items each list in a request may hold: room for all 89 council bodies and for any real
//! cost model, but no way for one request to make the service store and serve megabytes.

use crate::domain::field_error::FieldError;

/// Options of a procurement, and options a body selects.
pub const MAX_OPTIONS: usize = 20;
pub const MAX_DOCUMENTS: usize = 50;
/// Bodies named in an eligibility list.
pub const MAX_LISTED_ORGANIZATIONS: usize = 200;
/// Organization kinds in an eligibility rule (there are six).
pub const MAX_KINDS: usize = 6;
/// Steps of a price schedule, bands of a tiered population transform.
pub const MAX_STEPS: usize = 50;
pub const MAX_CONTACTS: usize = 20;
/// Longest reason an administrator may give for an action.
pub const MAX_REASON: usize = 1000;

/// A `too_many` error on `field` when `count` exceeds `max`.
pub fn check_count(count: usize, max: usize, field: &str, errors: &mut Vec<FieldError>) {
    if count > max {
        errors.push(FieldError::new(
            field,
            "too_many",
            format!("{field} has at most {max} items"),
        ));
    }
}

/// Bodies in an administrator's what-if estimate: every municipality of Japan.
pub const MAX_ESTIMATED_BODIES: usize = 2_000;
/// Contracted totals in a finalization: a pool per option and the base, for each year of a term.
pub const MAX_TOTALS: usize = (MAX_OPTIONS + 1) * 20;

/// Characters of a name: a person's, a token's, an option's, a department's.
pub const MAX_NAME: usize = 100;
/// Characters of a title: a procurement's, a document's, a population figure's source.
pub const MAX_TITLE: usize = 200;
/// Characters of a procurement's summary.
pub const MAX_SUMMARY: usize = 4000;
/// Characters of an option's description.
pub const MAX_DESCRIPTION: usize = 1000;
/// Characters of an e-mail address (RFC 5321's path limit less its brackets).
pub const MAX_EMAIL: usize = 254;
/// Largest population figure an administrator may record.
pub const MAX_POPULATION_FIGURE: i64 = 100_000_000;
