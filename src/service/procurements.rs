use crate::auth::Identity;
use crate::db::DbConnection;
use crate::db::organizations::{self, Member};
use crate::db::procurements::{self, ProcurementRow};
use crate::domain::organization::OrganizationKind;
use crate::domain::procurement::{
    Candidate, Category, CostModel, Document, Eligibility, ProcurementOption, ProcurementStatus,
};
use crate::error::ApiError;

/// A procurement with its JSON columns decoded.
#[derive(Debug, Clone)]
pub struct Procurement {
    pub row: ProcurementRow,
    pub category: Category,
    pub status: ProcurementStatus,
    pub eligibility: Eligibility,
    pub options: Vec<ProcurementOption>,
    pub documents: Vec<Document>,
    pub cost_model: CostModel,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    anyhow::anyhow!("stored {what} does not decode: {e}").into()
}

impl Procurement {
    pub fn decode(row: ProcurementRow) -> Result<Self, ApiError> {
        Ok(Self {
            category: row.category.parse().map_err(|e| corrupt("category", e))?,
            status: row.status.parse().map_err(|e| corrupt("status", e))?,
            eligibility: serde_json::from_str(&row.eligibility)
                .map_err(|e| corrupt("eligibility", e))?,
            options: serde_json::from_str(&row.options).map_err(|e| corrupt("options", e))?,
            documents: serde_json::from_str(&row.documents).map_err(|e| corrupt("documents", e))?,
            cost_model: serde_json::from_str(&row.cost_model)
                .map_err(|e| corrupt("cost model", e))?,
            row,
        })
    }

    pub fn id(&self) -> &str {
        &self.row.id
    }

    /// Whether `organization` may take part; `Err` says why not.
    pub fn admits(&self, organization: &impl organizations::Candidate) -> Result<(), String> {
        let kind: OrganizationKind = organization.kind().parse().map_err(|e| format!("{e}"))?;
        self.eligibility.check(&Candidate {
            id: organization.id(),
            kind,
            population: organization.population(),
        })
    }

    /// Whether a body joining with these options shares a cost by usage, and so must declare a
    /// quantity: the base pool or a chosen option's pool has a usage weight.
    pub fn needs_quantity(&self, selected_options: &[String]) -> bool {
        self.cost_model
            .pools
            .iter()
            .filter(|p| {
                p.code == crate::domain::procurement::BASE_POOL
                    || selected_options.contains(&p.code)
            })
            .any(|p| p.weights.usage > 0)
    }
}

/// Loads a procurement the caller may see: administrators see every one; other users see
/// published (and later) procurements their body is eligible for. Anything else is "not found".
pub fn visible(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
) -> Result<Procurement, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "procurement_not_found",
            format!("No procurement has the id {id:?}."),
        )
    };
    let procurement = Procurement::decode(procurements::find(conn, id)?.ok_or_else(not_found)?)?;
    if identity.is_admin() {
        return Ok(procurement);
    }
    let own =
        organizations::find(conn, &identity.organization_id)?.ok_or_else(ApiError::internal)?;
    if procurement.status == ProcurementStatus::Draft || procurement.admits(&own).is_err() {
        return Err(not_found());
    }
    Ok(procurement)
}

/// Every council member the procurement admits.
pub fn eligible_bodies(
    conn: &mut DbConnection,
    procurement: &Procurement,
) -> Result<Vec<Member>, ApiError> {
    Ok(organizations::members(conn)?
        .into_iter()
        .filter(|o| procurement.admits(o).is_ok())
        .collect())
}
