use actix_web::{HttpResponse, get, web};

use super::{ProcurementView, view};
use crate::auth::Identity;
use crate::domain::id::ProcurementId;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::service::procurements;
use crate::state::AppState;

/// One procurement. Drafts, and procurements the caller's body is not eligible for, are 404 to
/// anyone but administrators.
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ProcurementView, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/procurements/{id}")]
pub async fn get_procurement(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<ProcurementId>,
) -> Result<HttpResponse, ApiError> {
    let procurement = state
        .db(move |conn| {
            let procurement = procurements::visible(conn, &identity, &id)?;
            view(conn, &procurement)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}
