use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum OrganizationKind {
    Prefecture,
    City,
    Town,
    Village,
    WideAreaUnion,
    Association,
}

impl OrganizationKind {
    /// The council's secretariat bodies, whose users may be administrators.
    pub fn runs_the_council(self) -> bool {
        matches!(self, Self::Prefecture | Self::Association)
    }
}

/// A population figure as an administrator records it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationInput {
    #[schema(example = 372000)]
    pub value: i64,
    pub base_date: NaiveDate,
    #[schema(example = "住民基本台帳 2026-01-01")]
    pub source: Option<String>,
}
