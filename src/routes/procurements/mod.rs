pub mod cancel;
pub mod create;
pub mod get;
pub mod list;
pub mod publish;
pub mod update;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::db::organizations;
use crate::db::procurements::ProcurementRow;
use crate::db::{DbConnection, new_id};
use crate::domain::fiscal_year;
use crate::domain::limits::{MAX_DOCUMENTS, MAX_OPTIONS, check_count};
use crate::domain::organization::OrganizationKind;
use crate::domain::procurement::{
    Category, CostModel, Document, Eligibility, ProcurementOption, ProcurementStatus, is_valid_code,
};
use crate::domain::text::Lines;
use crate::error::{ApiError, FieldError};
use crate::routes::organizations::{OrganizationLink, resolve};
use crate::routes::{check, optional_text, required_text};
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
    pub id: String,
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

pub fn view(
    conn: &mut DbConnection,
    procurement: &Procurement,
) -> Result<ProcurementView, ApiError> {
    let lead = organizations::find(conn, &procurement.row.lead_organization_id)?
        .ok_or_else(ApiError::internal)?;
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
        category: p.category,
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
        status: p.status,
        cancel_reason: row.cancel_reason.clone(),
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        published_at: row.published_at.map(|t| t.and_utc()),
    }
}

/// A procurement as written by an administrator, whole (create) or merged from a patch (update).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "AI音声文字起こしツール",
    "summary": "会議録作成を支援する音声文字起こしサービスの共同利用",
    "category": "administration",
    "lead_organization": "200000",
    "mandatory": false,
    "small_body_friendly": true,
    "eligibility": {"kinds": ["city", "town", "village", "wide_area_union"]},
    "options": [{"code": "lgwan", "name": "LGWAN接続"}],
    "documents": [{"title": "仕様書", "url": "https://www.pref.nagano.lg.jp/dx/spec.pdf"}],
    "cost_model": {"pools": [
        {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10000000}, {"up_to": 30, "amount": 14000000}, {"up_to": null, "amount": 20000000}]},
         "weights": {"equal": 1000, "population": 9000}},
        {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "weights": {"equal": 10000}}
    ]},
    "contract_start_fiscal_year": 2027,
    "contract_end_fiscal_year": 2029
}))]
pub struct ProcurementInput {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    pub category: Category,
    /// The signing body (id or code): 長野県 or 長野県市町村自治振興組合.
    pub lead_organization: String,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub small_body_friendly: bool,
    #[serde(default)]
    pub eligibility: Eligibility,
    #[serde(default)]
    pub options: Vec<ProcurementOption>,
    #[serde(default)]
    pub documents: Vec<Document>,
    pub cost_model: CostModel,
    pub contract_start_fiscal_year: i32,
    pub contract_end_fiscal_year: i32,
}

impl ProcurementInput {
    pub fn from_procurement(p: &Procurement) -> Self {
        Self {
            title: p.row.title.clone(),
            summary: p.row.summary.clone(),
            category: p.category,
            lead_organization: p.row.lead_organization_id.clone(),
            mandatory: p.row.mandatory,
            small_body_friendly: p.row.small_body_friendly,
            eligibility: p.eligibility.clone(),
            options: p.options.clone(),
            documents: p.documents.clone(),
            cost_model: p.cost_model.clone(),
            contract_start_fiscal_year: p.row.contract_start_fy,
            contract_end_fiscal_year: p.row.contract_end_fy,
        }
    }

    /// Checks every rule and writes the result over `row` (a new draft when `row` is None).
    pub fn apply(
        mut self,
        conn: &mut DbConnection,
        row: Option<ProcurementRow>,
        now: chrono::NaiveDateTime,
    ) -> Result<ProcurementRow, ApiError> {
        let mut errors = Vec::new();
        self.title = required_text(&self.title, "title", 200, &mut errors);
        self.summary = optional_text(
            Some(&self.summary),
            "summary",
            4000,
            Lines::Many,
            &mut errors,
        )
        .unwrap_or_default();
        check_count(self.options.len(), MAX_OPTIONS, "options", &mut errors);
        check_count(
            self.documents.len(),
            MAX_DOCUMENTS,
            "documents",
            &mut errors,
        );
        let lead = match resolve(conn, &self.lead_organization) {
            Ok(lead) => {
                let kind: OrganizationKind =
                    lead.kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                if !kind.runs_the_council() {
                    errors.push(FieldError::new("lead_organization", "not_a_lead", format!("{} cannot sign for the council: the lead is 長野県 or 長野県市町村自治振興組合", lead.name)));
                }
                Some(lead.id)
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "lead_organization",
                    "unknown_organization",
                    format!("no organization {:?}", self.lead_organization),
                ));
                None
            }
        };
        for (list, field) in [
            (&mut self.eligibility.include, "eligibility.include"),
            (&mut self.eligibility.exclude, "eligibility.exclude"),
        ] {
            for (i, key) in list.iter_mut().enumerate() {
                match resolve(conn, key) {
                    Ok(org) => *key = org.id,
                    Err(_) => errors.push(FieldError::new(
                        format!("{field}[{i}]"),
                        "unknown_organization",
                        format!("no organization {key:?}"),
                    )),
                }
            }
        }
        self.eligibility.validate(&mut errors);
        let mut codes = std::collections::BTreeSet::new();
        for (i, option) in self.options.iter().enumerate() {
            if !is_valid_code(&option.code) || option.code == crate::domain::procurement::BASE_POOL
            {
                errors.push(FieldError::new(
                    format!("options[{i}].code"),
                    "invalid_format",
                    "a code has 1 to 32 of a-z, 0-9, - and _, and is not \"base\"",
                ));
            }
            if !codes.insert(option.code.as_str()) {
                errors.push(FieldError::new(
                    format!("options[{i}].code"),
                    "duplicate",
                    format!("two options have the code {:?}", option.code),
                ));
            }
        }
        for (i, option) in self.options.iter_mut().enumerate() {
            option.name = required_text(
                &option.name,
                &format!("options[{i}].name"),
                100,
                &mut errors,
            );
            option.description = optional_text(
                option.description.as_deref(),
                &format!("options[{i}].description"),
                1000,
                Lines::Many,
                &mut errors,
            );
        }
        for (i, document) in self.documents.iter_mut().enumerate() {
            document.title = required_text(
                &document.title,
                &format!("documents[{i}].title"),
                200,
                &mut errors,
            );
            let url = document.url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.contains(char::is_whitespace)
                || url.len() > 2000
            {
                errors.push(FieldError::new(
                    format!("documents[{i}].url"),
                    "invalid_format",
                    "a document's url is an http(s) address",
                ));
            }
        }
        self.cost_model.validate(&self.options, &mut errors);
        let (start, end) = (
            self.contract_start_fiscal_year,
            self.contract_end_fiscal_year,
        );
        if !fiscal_year::is_valid(start) {
            errors.push(FieldError::new(
                "contract_start_fiscal_year",
                "out_of_range",
                format!(
                    "a fiscal year between {} and {}",
                    fiscal_year::FIRST,
                    fiscal_year::LAST
                ),
            ));
        }
        if !fiscal_year::is_valid(end) || end < start {
            errors.push(FieldError::new(
                "contract_end_fiscal_year",
                "out_of_range",
                "the contract ends in or after its first fiscal year",
            ));
        }
        check(errors)?;
        let mut row = row.unwrap_or_else(|| ProcurementRow {
            id: new_id(),
            title: String::new(),
            summary: String::new(),
            category: String::new(),
            lead_organization_id: String::new(),
            mandatory: false,
            small_body_friendly: false,
            eligibility: String::new(),
            options: String::new(),
            documents: String::new(),
            cost_model: String::new(),
            contract_start_fy: 0,
            contract_end_fy: 0,
            status: ProcurementStatus::Draft.as_str().to_owned(),
            cancel_reason: None,
            version: 0,
            created_by: None,
            created_at: now,
            updated_at: now,
            published_at: None,
        });
        row.title = self.title;
        row.summary = self.summary;
        row.category = self.category.as_str().to_owned();
        row.lead_organization_id = lead.ok_or_else(ApiError::internal)?;
        row.mandatory = self.mandatory;
        row.small_body_friendly = self.small_body_friendly;
        row.eligibility = to_json(&self.eligibility)?;
        row.options = to_json(&self.options)?;
        row.documents = to_json(&self.documents)?;
        row.cost_model = to_json(&self.cost_model)?;
        row.contract_start_fy = start;
        row.contract_end_fy = end;
        row.version += 1;
        row.updated_at = now;
        Ok(row)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| anyhow::Error::from(e).into())
}

/// The procurement as the audit log records it.
pub fn snapshot(row: &ProcurementRow) -> serde_json::Value {
    json!({
        "id": row.id, "title": row.title, "status": row.status, "category": row.category,
        "mandatory": row.mandatory, "small_body_friendly": row.small_body_friendly,
        "eligibility": serde_json::from_str::<serde_json::Value>(&row.eligibility).unwrap_or_default(),
        "options": serde_json::from_str::<serde_json::Value>(&row.options).unwrap_or_default(),
        "cost_model": serde_json::from_str::<serde_json::Value>(&row.cost_model).unwrap_or_default(),
        "contract_start_fy": row.contract_start_fy, "contract_end_fy": row.contract_end_fy,
        "version": row.version,
    })
}

/// Records a procurement change in the audit log and the feed (drafts: administrators only).
pub fn record(
    conn: &mut DbConnection,
    actor: &crate::db::audit::Actor,
    action: &str,
    before: Option<&ProcurementRow>,
    after: &ProcurementRow,
    reason: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    use crate::db::audit::{self, Audience, Change, Event};
    let snapshot_after = snapshot(after);
    audit::record(
        conn,
        actor,
        Event {
            action: &format!("procurement.{action}"),
            entity_type: "procurement",
            entity_id: &after.id,
            before: before.map(snapshot),
            after: Some(snapshot_after.clone()),
            reason,
        },
        now,
    )?;
    let audience = if after.status == ProcurementStatus::Draft.as_str() {
        Audience::Admins
    } else {
        Audience::Council
    };
    audit::publish_change(
        conn,
        Change {
            entity_type: "procurement",
            entity_id: &after.id,
            action,
            procurement_id: Some(&after.id),
            audience,
            payload: snapshot_after,
        },
        now,
    )?;
    Ok(())
}
