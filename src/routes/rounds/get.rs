use actix_web::{HttpResponse, get, web};

use super::{RoundView, view};
use crate::auth::Identity;

use crate::db::DbConnection;
use crate::db::rounds::{self, RoundRow};
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::service::participations::round_not_found;
use crate::service::procurements::{Procurement, visible};
use crate::state::AppState;

/// A round the caller may see, with its procurement; 404 otherwise.
pub fn visible_round(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
) -> Result<(RoundRow, Procurement), ApiError> {
    let round = rounds::find(conn, id)?.ok_or_else(|| round_not_found(id))?;
    let procurement =
        visible(conn, identity, &round.procurement_id).map_err(|_| round_not_found(id))?;
    Ok((round, procurement))
}

/// One round with its response counts.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = RoundView, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}")]
pub async fn get_round(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let round = state
        .db(move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            view(conn, &round, &procurement)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag::header(round.version))
        .json(round))
}
