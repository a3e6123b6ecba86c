use actix_web::{HttpResponse, post, web};
use tracing_actix_web::RequestId;

use super::{ProcurementView, view};
use crate::auth::Identity;
use crate::domain::procurement::ProcurementInput;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
use crate::service::procurements;
use crate::state::AppState;

/// Create a procurement as a draft (administrators). Drafts are visible to administrators only.
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key and body return the stored response")),
    request_body = ProcurementInput,
    responses(
        (status = 201, body = ProcurementView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, e.g. weights not summing to 10,000", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements")]
pub async fn create_procurement(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    body: JsonBody<ProcurementInput>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let input = body.parse()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let procurement = state
        .transaction(move |conn| {
            let created = procurements::create(conn, input, &actor, now)?;
            view(conn, &created)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}
