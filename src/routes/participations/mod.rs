pub mod export;
pub mod history;
pub mod import;
pub mod list;
pub mod non_respondents;
pub mod put;
pub mod withdraw;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::db::participations::ParticipationRow;
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::participation::ParticipationStatus;
use crate::error::ApiError;
use crate::routes::API_V1;

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipationContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipationView {
    pub id: String,
    #[schema(value_type = String)]
    pub round_id: RoundId,
    #[schema(value_type = String)]
    pub organization_id: OrganizationId,
    pub organization_name: String,
    /// `joined`, `declined` or `withdrawn`.
    #[schema(value_type = String, example = "joined")]
    pub status: ParticipationStatus,
    pub selected_options: Vec<String>,
    pub declared_quantity: Option<i64>,
    /// Only for the body itself and administrators.
    pub contact: Option<ParticipationContact>,
    /// Only for the body itself and administrators.
    pub note: Option<String>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// Where a body's answer to a round is found.
pub fn location(round_id: &str, organization_id: &str) -> String {
    format!("{API_V1}/rounds/{round_id}/participations/{organization_id}")
}

pub fn view(
    row: ParticipationRow,
    organization_name: String,
    identity: &Identity,
) -> Result<ParticipationView, ApiError> {
    let private = identity.may_read_private(&row.organization_id);
    Ok(ParticipationView {
        selected_options: serde_json::from_str(&row.selected_options)
            .map_err(anyhow::Error::from)?,
        contact: private.then_some(ParticipationContact {
            name: row.contact_name,
            email: row.contact_email,
            phone: row.contact_phone,
        }),
        note: if private { row.note } else { None },
        id: row.id,
        round_id: row.round_id,
        organization_id: row.organization_id,
        organization_name,
        status: row.status,
        declared_quantity: row.declared_quantity,
        version: row.version,
        updated_at: row.updated_at.and_utc(),
    })
}
