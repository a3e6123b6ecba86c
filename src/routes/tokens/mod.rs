pub mod create;
pub mod list;
pub mod revoke;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::tokens::ApiTokenRow;
use crate::domain::user::TokenScope;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRow> for ApiTokenView {
    fn from(row: ApiTokenRow) -> Self {
        Self {
            scope: row.scope,
            id: row.id,
            name: row.name,
            created_at: row.created_at.and_utc(),
            expires_at: row.expires_at.and_utc(),
            revoked_at: row.revoked_at.map(|t| t.and_utc()),
        }
    }
}
