use actix_web::{HttpResponse, post, web};
use tracing_actix_web::RequestId;

use super::{ProcurementInput, ProcurementView, record, view};
use crate::auth::Identity;
use chrono::NaiveDateTime;

use crate::db::DbConnection;
use crate::db::audit::Actor;
use crate::db::procurements::{self, ProcurementRow};
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::routes::extract::JsonBody;
use crate::service::procurements::Procurement;
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
            let row = create(conn, input, &actor, now)?;
            view(conn, &Procurement::decode(row)?)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag::header(procurement.version))
        .json(procurement))
}

/// Saves a new draft, recorded as created by `actor`.
pub fn create(
    conn: &mut DbConnection,
    input: ProcurementInput,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<ProcurementRow, ApiError> {
    let mut row = input.apply(conn, None, now)?;
    row.created_by = actor.user_id.clone();
    procurements::insert(conn, &row)?;
    record(conn, actor, "created", None, &row, None, now)?;
    Ok(row)
}
