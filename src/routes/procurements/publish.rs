use actix_web::{HttpResponse, post, web};
use tracing_actix_web::RequestId;

use super::{ProcurementView, record, view};
use crate::auth::Identity;
use chrono::NaiveDateTime;

use crate::db::DbConnection;
use crate::db::audit::Actor;
use crate::db::procurements::{self, ProcurementRow};
use crate::domain::procurement::ProcurementStatus;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::service::procurements::{Procurement, visible};
use crate::state::AppState;

/// Publish a draft: every eligible body can then see it (administrators).
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ProcurementView, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements/{id}/publish")]
pub async fn publish_procurement(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    let procurement = state
        .transaction(move |conn| {
            let current = visible(conn, &identity, &id)?;
            let row = publish(conn, &current, &actor, now)?;
            view(conn, &Procurement::decode(row)?)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}

/// Publishes a draft, recorded as done by `actor`.
pub fn publish(
    conn: &mut DbConnection,
    current: &Procurement,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<ProcurementRow, ApiError> {
    if current.status != ProcurementStatus::Draft {
        return Err(ApiError::conflict(
            "procurement_not_draft",
            format!(
                "Only drafts are published; this one is {}.",
                current.status.as_str()
            ),
        ));
    }
    let mut row = current.row.clone();
    row.status = ProcurementStatus::Published.as_str().to_owned();
    row.published_at = Some(now);
    row.version += 1;
    row.updated_at = now;
    if !procurements::update(conn, &row, current.row.version)? {
        return Err(etag::stale("another request changed it at the same time"));
    }
    record(
        conn,
        actor,
        "published",
        Some(&current.row),
        &row,
        None,
        now,
    )?;
    Ok(row)
}
