use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    Prefecture,
    City,
    Town,
    Village,
    WideAreaUnion,
    Association,
}

impl OrganizationKind {
    pub const ALL: [Self; 6] = [
        Self::Prefecture,
        Self::City,
        Self::Town,
        Self::Village,
        Self::WideAreaUnion,
        Self::Association,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prefecture => "prefecture",
            Self::City => "city",
            Self::Town => "town",
            Self::Village => "village",
            Self::WideAreaUnion => "wide_area_union",
            Self::Association => "association",
        }
    }

    /// The council's secretariat bodies, whose users may be administrators.
    pub fn runs_the_council(self) -> bool {
        matches!(self, Self::Prefecture | Self::Association)
    }
}

impl fmt::Display for OrganizationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown organization kind {0:?}")]
pub struct UnknownKind(String);

impl FromStr for OrganizationKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}
