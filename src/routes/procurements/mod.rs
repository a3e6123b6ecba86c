pub mod cancel;
pub mod create;
pub mod get;
pub mod list;
pub mod publish;
pub mod update;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::db::organizations;
use crate::domain::id::ProcurementId;
use crate::domain::procurement::{
    Category, CostModel, Document, Eligibility, ProcurementOption, ProcurementStatus,
};
use crate::error::ApiError;
use crate::routes::API_V1;
use crate::routes::organizations::OrganizationLink;
use crate::service::procurements::Procurement;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractTerm {
    /// First fiscal year (年度, April–March) of the contract.
    #[schema(example = 2027)]
    pub start_fiscal_year: i32,
    #[schema(example = 2031)]
    pub end_fiscal_year: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcurementView {
    #[schema(value_type = String)]
    pub id: ProcurementId,
    #[schema(example = "AI音声文字起こしツール")]
    pub title: String,
    pub summary: String,
    pub category: Category,
    /// The body that signs the contract.
    pub lead_organization: OrganizationLink,
    /// ○: every eligible body takes part; it can choose options but not decline.
    pub mandatory: bool,
    /// ★: suited to small bodies.
    pub small_body_friendly: bool,
    pub eligibility: Eligibility,
    pub options: Vec<ProcurementOption>,
    pub documents: Vec<Document>,
    pub cost_model: CostModel,
    pub contract_term: ContractTerm,
    pub status: ProcurementStatus,
    pub cancel_reason: Option<String>,
    /// Also sent as the `ETag` header; send it back in `If-Match` when changing the procurement.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// Where a procurement is found.
pub fn location(id: &str) -> String {
    format!("{API_V1}/procurements/{id}")
}

pub fn view(
    conn: &mut DbConnection,
    procurement: &Procurement,
) -> Result<ProcurementView, ApiError> {
    let lead = organizations::find(conn, &procurement.row.lead_organization_id)?
        .context("the procurement's lead organization is missing")?;
    Ok(view_with_lead(
        procurement,
        OrganizationLink {
            id: lead.id,
            name: lead.name,
        },
    ))
}

pub fn view_with_lead(p: &Procurement, lead_organization: OrganizationLink) -> ProcurementView {
    let row = &p.row;
    ProcurementView {
        id: row.id.clone(),
        title: row.title.clone(),
        summary: row.summary.clone(),
        category: row.category,
        lead_organization,
        mandatory: row.mandatory,
        small_body_friendly: row.small_body_friendly,
        eligibility: p.eligibility.clone(),
        options: p.options.clone(),
        documents: p.documents.clone(),
        cost_model: p.cost_model.clone(),
        contract_term: ContractTerm {
            start_fiscal_year: row.contract_start_fy,
            end_fiscal_year: row.contract_end_fy,
        },
        status: row.status,
        cancel_reason: row.cancel_reason.clone(),
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        published_at: row.published_at.map(|t| t.and_utc()),
    }
}
