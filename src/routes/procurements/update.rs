use actix_web::{HttpRequest, HttpResponse, patch, web};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{ProcurementInput, ProcurementView, record, view};
use crate::auth::Identity;
use crate::db::procurements;
use crate::domain::procurement::{
    Category, CostModel, Document, Eligibility, ProcurementOption, ProcurementStatus,
};
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
use crate::service::procurements::Procurement;
use crate::state::AppState;

/// Fields to change; the others keep their values. The result is checked as a whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"summary": "仕様書を更新しました", "small_body_friendly": true}))]
pub struct ProcurementPatch {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub category: Option<Category>,
    pub lead_organization: Option<String>,
    pub mandatory: Option<bool>,
    pub small_body_friendly: Option<bool>,
    pub eligibility: Option<Eligibility>,
    pub options: Option<Vec<ProcurementOption>>,
    pub documents: Option<Vec<Document>>,
    pub cost_model: Option<CostModel>,
    pub contract_start_fiscal_year: Option<i32>,
    pub contract_end_fiscal_year: Option<i32>,
}

/// Change a draft or published procurement (administrators). Send the `ETag` you read as
/// `If-Match`: if someone changed it since, the answer is 412 and nothing is written.
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = ProcurementPatch,
    responses(
        (status = 200, body = ProcurementView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled or closed procurements cannot change", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/procurements/{id}")]
pub async fn update_procurement(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
    body: JsonBody<ProcurementPatch>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let expected = etag::if_match(&req)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let patch = body.parse()?;
    let procurement = state
        .transaction(move |conn| {
            let current = crate::service::procurements::visible(conn, &identity, &id)?;
            etag::check(expected.as_deref(), current.row.version)?;
            if !matches!(current.status, ProcurementStatus::Draft | ProcurementStatus::Published) {
                return Err(ApiError::conflict("procurement_not_editable", format!("A {} procurement cannot be changed.", current.status.as_str())));
            }
            let mut input = ProcurementInput::from_procurement(&current);
            macro_rules! merge {
                ($($field:ident),+) => { $(if let Some(value) = patch.$field { input.$field = value; })+ };
            }
            merge!(title, summary, category, lead_organization, mandatory, small_body_friendly, eligibility, options, documents, cost_model, contract_start_fiscal_year, contract_end_fiscal_year);
            let before = current.row.clone();
            let row = input.apply(conn, Some(current.row), now)?;
            if !procurements::update(conn, &row, before.version)? {
                return Err(etag::stale("another request changed it at the same time"));
            }
            record(conn, &actor, "updated", Some(&before), &row, None, now)?;
            view(conn, &Procurement::decode(row)?)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}
