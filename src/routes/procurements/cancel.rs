use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{ProcurementView, record, view};
use crate::auth::Identity;
use crate::db::{procurements, rounds};
use crate::domain::procurement::ProcurementStatus;
use crate::domain::round::RoundAction;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
use crate::service::procurements::{Procurement, visible};
use crate::service::rounds::{Details, transition};
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
    params(("id" = String, Path)),
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
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
    body: JsonBody<CancelRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let reason =
        crate::routes::single_text(&body.parse()?.reason, "reason", crate::routes::MAX_REASON)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let procurement = state
        .transaction(move |conn| {
            let current = visible(conn, &identity, &id)?;
            if !matches!(
                current.status,
                ProcurementStatus::Draft | ProcurementStatus::Published
            ) {
                return Err(ApiError::conflict(
                    "procurement_not_cancellable",
                    format!(
                        "A {} procurement cannot be cancelled.",
                        current.status.as_str()
                    ),
                ));
            }
            for round in rounds::list_for_procurement(conn, current.id())? {
                if matches!(round.state.as_str(), "scheduled" | "open" | "closed") {
                    transition(
                        conn,
                        &round,
                        RoundAction::Cancel,
                        Details {
                            reason: Some(&reason),
                            ..Details::default()
                        },
                        &actor,
                        now,
                    )?
                    .ok_or_else(|| etag::stale("a round changed at the same time"))?;
                }
            }
            let mut row = current.row.clone();
            row.status = ProcurementStatus::Cancelled.as_str().to_owned();
            row.cancel_reason = Some(reason.clone());
            row.version += 1;
            row.updated_at = now;
            if !procurements::update(conn, &row, current.row.version)? {
                return Err(etag::stale("another request changed it at the same time"));
            }
            record(
                conn,
                &actor,
                "cancelled",
                Some(&current.row),
                &row,
                Some(&reason),
                now,
            )?;
            view(conn, &Procurement::decode(row)?)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}
