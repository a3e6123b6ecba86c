use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Council secretariat: acts for every organization.
    Admin,
    /// Acts for its own organization.
    Coordinator,
    /// Reads its own organization.
    Viewer,
}

impl Role {
    /// The role as Japanese messages name it.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Admin => "事務局管理者",
            Self::Coordinator => "団体担当者",
            Self::Viewer => "閲覧者",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum TokenScope {
    /// GET and HEAD only.
    ReadOnly,
    ReadWrite,
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
