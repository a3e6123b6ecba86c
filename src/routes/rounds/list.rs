use actix_web::{HttpResponse, get, web};

use super::{RoundView, view};
use crate::auth::Identity;
use crate::db::rounds;
use crate::domain::id::ProcurementId;
use crate::error::{ApiError, Problem};
use crate::service::procurements::visible;
use crate::state::AppState;

/// A procurement's rounds, in opening order.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Procurement id")),
    responses(
        (status = 200, body = Vec<RoundView>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/procurements/{id}/rounds")]
pub async fn list_rounds(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<ProcurementId>,
) -> Result<HttpResponse, ApiError> {
    let views = state
        .db(move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            rounds::list_for_procurement(conn, procurement.id())?
                .iter()
                .map(|row| view(conn, row, &procurement))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}
