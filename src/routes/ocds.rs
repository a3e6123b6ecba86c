//! Open data: finalized allocations as Open Contracting Data Standard release packages.

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Identity;
use crate::db::allocations;
use crate::domain::id::ProcurementId;
use crate::error::{ApiError, Problem};
use crate::routes::API_V1;
use crate::routes::extract::QueryString;
use crate::service::allocations::AllocationDocument;
use crate::service::exports::{OcdsSource, ocds_package};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OcdsParams {
    /// Procurement id.
    #[param(value_type = String)]
    pub procurement: ProcurementId,
}

/// A procurement's finalized allocations as an OCDS 1.1 release package: one release per
/// finalized version, the lead body as `buyer`, every participant in `parties`, each share in
/// `planning.budget.budgetBreakdown` (Budget Breakdown extension) with its `sourceParty`, in JPY.
/// Open data: served without signing in unless the service runs with `PUBLIC_OCDS=false`. A
/// procurement without a finalized allocation is 404.
#[utoipa::path(
    tag = "allocations",
    security((), ("bearer" = [])),
    params(OcdsParams),
    responses(
        (status = 200, description = "OCDS release package", content_type = "application/json", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Only with `PUBLIC_OCDS=false`", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ocds/releases")]
pub async fn ocds_releases(
    state: web::Data<AppState>,
    query: QueryString<OcdsParams>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.exports.public_ocds {
        Identity::extract(&request).await?;
    }
    let procurement_id = query.parse()?.procurement;
    let id = procurement_id.clone();
    let documents = state
        .db(move |conn| {
            allocations::for_procurement(conn, &id)?
                .iter()
                .map(AllocationDocument::decode)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    if documents.is_empty() {
        return Err(ApiError::not_found(
            "no_finalized_allocation",
            format!("Procurement {procurement_id:?} has no finalized allocation to publish."),
        ));
    }
    let base = state.exports.base_url(&request);
    let uri = format!("{base}{API_V1}/ocds/releases?procurement={procurement_id}");
    let publisher = documents
        .last()
        .map_or(String::new(), |d| d.lead_organization.name.clone());
    let package = ocds_package(
        &documents,
        &publisher,
        &OcdsSource {
            uri: &uri,
            ocid_prefix: &state.exports.ocid_prefix,
        },
    );
    Ok(HttpResponse::Ok().json(package))
}
