pub mod accept;
pub mod create;
pub mod list;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users::UserRow;
use crate::domain::id::{OrganizationId, UserId};
use crate::domain::user::Role;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String)]
    pub id: UserId,
    #[schema(value_type = String)]
    pub organization_id: OrganizationId,
    #[schema(example = "dx@city.nagano.lg.jp")]
    pub email: String,
    #[schema(example = "信州 太郎")]
    pub display_name: String,
    pub role: Role,
    /// False until the invitation has been accepted and a password set.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            role: row.role,
            active: row.password_hash.is_some(),
            id: row.id,
            organization_id: row.organization_id,
            email: row.email,
            display_name: row.display_name,
            created_at: row.created_at.and_utc(),
        }
    }
}
