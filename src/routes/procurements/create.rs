use actix_web::{HttpRequest, HttpResponse, post, web};
use tracing_actix_web::RequestId;

use super::{ProcurementView, location, view};
use crate::auth::Identity;
use crate::domain::procurement::ProcurementInput;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::extract::JsonBody;
use crate::routes::{IdempotencyKey, etag};
use crate::service::procurements;
use crate::state::AppState;

/// Create a procurement as a draft (administrators). Drafts are visible to administrators only.
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = ProcurementInput,
    responses(
        (status = 201, body = ProcurementView, headers(("ETag" = String), ("Location" = String, description = "The new procurement"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, e.g. weights not summing to 10,000", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements")]
pub async fn create_procurement(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    body: JsonBody<ProcurementInput>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let input = body.parse()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let created = procurements::create(conn, input, &actor, now)?;
            let procurement = view(conn, &created)?;
            Ok(Reply::created(&location(&procurement.id), &procurement)?
                .header(etag::header(procurement.version)))
        })
        .await
}
