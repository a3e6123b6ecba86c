use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{ProcurementView, view};
use crate::auth::Identity;
use crate::domain::id::ProcurementId;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::extract::JsonBody;
use crate::routes::{IdempotencyKey, MAX_REASON, etag};
use crate::service::procurements::{self, visible};
use crate::service::single_text;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "仕様の見直しのため"}))]
pub struct CancelRequest {
    /// Why; shown to every participant.
    pub reason: String,
}

/// Cancel a draft or published procurement, and with it every round not yet finalized.
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(("id" = String, Path), IdempotencyKey),
    request_body = CancelRequest,
    responses(
        (status = 200, body = ProcurementView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements/{id}/cancel")]
pub async fn cancel_procurement(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    body: JsonBody<CancelRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let reason = single_text(&body.parse()?.reason, "reason", MAX_REASON)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let current = visible(conn, &identity, &id)?;
            let cancelled = procurements::cancel(conn, &current, &reason, &actor, now)?;
            let procurement = view(conn, &cancelled)?;
            Ok(Reply::ok(&procurement)?.header(etag::header(procurement.version)))
        })
        .await
}
