use actix_web::{HttpResponse, get, web};

use super::{RoundView, view};
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::routes::etag;
use crate::service::rounds::visible_round;
use crate::state::AppState;

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
    id: web::Path<RoundId>,
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
