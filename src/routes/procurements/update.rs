use actix_web::{HttpRequest, HttpResponse, patch, web};
use tracing_actix_web::RequestId;

use super::{ProcurementView, view};
use crate::auth::Identity;
use crate::domain::id::ProcurementId;
use crate::domain::procurement::ProcurementPatch;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
use crate::service::procurements;
use crate::state::AppState;

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
    id: web::Path<ProcurementId>,
    body: JsonBody<ProcurementPatch>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let expected = etag::if_match(&req)?;
    let patch = body.parse()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let procurement = state
        .transaction(move |conn| {
            let updated = procurements::update(
                conn,
                &identity,
                &id,
                expected.as_deref(),
                patch,
                &actor,
                now,
            )?;
            view(conn, &updated)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}
