use actix_web::{HttpRequest, HttpResponse, post, web};
use tracing_actix_web::RequestId;

use super::{ProcurementView, view};
use crate::auth::Identity;
use crate::domain::id::ProcurementId;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::{IdempotencyKey, etag};
use crate::service::procurements::{self, visible};
use crate::state::AppState;

/// Publish a draft: every eligible body can then see it (administrators).
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(("id" = String, Path), IdempotencyKey),
    responses(
        (status = 200, body = ProcurementView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements/{id}/publish")]
pub async fn publish_procurement(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let current = visible(conn, &identity, &id)?;
            let published = procurements::publish(conn, &current, &actor, now)?;
            let procurement = view(conn, &published)?;
            Ok(Reply::ok(&procurement)?.header(etag::header(procurement.version)))
        })
        .await
}
