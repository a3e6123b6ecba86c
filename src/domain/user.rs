use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Council secretariat: acts for every organization.
    Admin,
    /// Acts for its own organization.
    Coordinator,
    /// Reads its own organization.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Coordinator => "coordinator",
            Self::Viewer => "viewer",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "coordinator" => Ok(Self::Coordinator),
            "viewer" => Ok(Self::Viewer),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// GET and HEAD only.
    ReadOnly,
    ReadWrite,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read_only",
            Self::ReadWrite => "read_write",
        }
    }
}

impl FromStr for TokenScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read_only" => Ok(Self::ReadOnly),
            "read_write" => Ok(Self::ReadWrite),
            other => Err(format!("unknown token scope {other:?}")),
        }
    }
}

/// Whom an invitation is for, as the inviting user writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "dx@city.nagano.lg.jp", "display_name": "信州 太郎", "role": "coordinator", "organization": "202011"}))]
#[schema(as = CreateUserRequest)]
pub struct Invitation {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Organization id or 全国地方公共団体コード; defaults to the caller's organization.
    pub organization: Option<String>,
}
