use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ParticipationView, view};
use crate::auth::identity::Caller;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::routes::rounds::{ResponseCounts, counts};
use crate::service::rounds::visible_roll_as;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipationList {
    #[schema(value_type = String)]
    pub round_id: RoundId,
    pub counts: ResponseCounts,
    /// Every answer, in code order. Which bodies joined or declined is public within the council;
    /// contacts and notes only to the body itself and administrators.
    pub items: Vec<ParticipationView>,
}

/// The answers in a round.
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id")),
    responses(
        (status = 200, body = ParticipationList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/participations")]
pub async fn list_participations(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<RoundId>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state
        .cached_json_for(caller, request.uri(), move |conn, caller| {
            let (identity, round, procurement, roll) = visible_roll_as(conn, caller, &id)?;
            let counts = counts(&procurement, &roll);
            let items = roll
                .into_answers()
                .into_iter()
                .map(|(row, name)| view(row, name, &identity))
                .collect::<Result<Vec<_>, _>>()?;
            let list = ParticipationList {
                round_id: round.id,
                counts,
                items,
            };
            Ok((identity, list))
        })
        .await
}
