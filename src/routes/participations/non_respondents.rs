use std::collections::BTreeSet;

use actix_web::{HttpResponse, get, web};

use crate::auth::Identity;
use crate::db::participations;
use crate::domain::id::{OrganizationId, RoundId};
use crate::error::{ApiError, Problem};
use crate::routes::organizations::OrganizationSummary;
use crate::service::procurements::eligible_bodies;
use crate::service::rounds::visible_round;
use crate::state::AppState;

/// Eligible bodies that have not answered yet, in code order (administrators).
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id")),
    responses(
        (status = 200, body = Vec<OrganizationSummary>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/non-respondents")]
pub async fn non_respondents(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let bodies = state
        .db(move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            let answered: BTreeSet<OrganizationId> =
                participations::responded(conn, std::slice::from_ref(&round.id))?
                    .into_iter()
                    .map(|(_, org)| org)
                    .collect();
            Ok(eligible_bodies(conn, &procurement)?
                .iter()
                .filter(|o| !answered.contains(&o.id))
                .map(OrganizationSummary::from)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(bodies))
}
