use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::domain::limits::{MAX_ESTIMATED_BODIES, check_count};
use crate::error::{ApiError, Problem, check};
use crate::routes::extract::{JsonBody, QueryString};
use crate::service::allocations::{self, Estimate, WhatIf, WhatIfBody, may_estimate_for};
use crate::service::organizations::resolve;
use crate::service::rounds::visible_round;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EstimateParams {
    /// The body (id or 団体コード); your own when left out. Administrators may name any body.
    pub org: Option<String>,
}

/// What a body would pay: if it joined now with its current choices (the base pool when it has
/// none), and if every eligible body without an answer joined too. Never binding.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), EstimateParams),
    responses(
        (status = 200, body = Estimate),
        (status = 403, description = "Another body's estimate", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`allocation_impossible`: the cost model cannot be applied to the bodies as they stand (e.g. a population weight and a joined body without a population figure)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`org` is a malformed 団体コード", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/estimate")]
pub async fn estimate(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
    query: QueryString<EstimateParams>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org = query.parse()?.org;
    let key = identity.view_key(request.uri());
    state
        .cached_json(key, move |conn| {
            compute(conn, &identity, &id, org.as_deref())
        })
        .await
}

/// The estimate `identity` asked for, once it may see it.
pub fn compute(
    conn: &mut crate::db::DbConnection,
    identity: &Identity,
    id: &RoundId,
    org: Option<&str>,
) -> Result<Estimate, ApiError> {
    let (round, procurement) = visible_round(conn, identity, id)?;
    let organization = match org {
        Some(key) => resolve(conn, key)?.id,
        None => identity.organization_id.clone(),
    };
    may_estimate_for(identity, &organization)?;
    allocations::estimate(conn, &round, &procurement, &organization, None)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"participants": [
    {"organization": "202011"}, {"organization": "203041", "options": ["lgwan"]}, {"organization": "204021"}
]}))]
pub struct WhatIfRequest {
    /// Exactly the bodies to price, each with its options and quantity.
    pub participants: Vec<WhatIfBody>,
}

/// Every share if exactly these bodies took part (administrators): a what-if, never stored.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id")),
    request_body = WhatIfRequest,
    responses(
        (status = 200, body = WhatIf),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No body or too many, a body unknown or named twice, an option not offered, a negative quantity, or the cost model impossible for the bodies named (`allocation_impossible` on the pool, e.g. a population weight and a body without a population figure)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rounds/{id}/estimate")]
pub async fn what_if(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
    body: JsonBody<WhatIfRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let request = body.parse()?;
    let mut errors = Vec::new();
    check_count(
        request.participants.len(),
        MAX_ESTIMATED_BODIES,
        "participants",
        &mut errors,
    );
    check(errors)?;
    let answer = state
        .db(move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            allocations::what_if(conn, &round, &procurement, request.participants)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
