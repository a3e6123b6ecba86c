use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
#[derive(diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
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
