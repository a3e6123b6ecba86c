use actix_web::{HttpResponse, delete, web};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::{IntoParams, ToSchema};

use super::{ParticipationView, view};
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::domain::text::Lines;
use crate::domain::text::optional_text;
use crate::error::check;
use crate::error::{ApiError, Problem};
use crate::routes::MAX_REASON;
use crate::routes::extract::QueryString;
use crate::service::participations::{
    AnswerDetails, ParticipationChange, answer, authorize, require_reason,
};
use crate::state::AppState;

#[derive(Debug, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WithdrawParams {
    /// Required when an administrator withdraws for another body.
    pub reason: Option<String>,
}

/// Withdraw a body's answer while the round is open. The answer stays in the history as withdrawn.
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), ("org" = String, Path, description = "Organization id or code"), WithdrawParams),
    responses(
        (status = 200, body = ParticipationView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Round not open, or a mandatory procurement", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/rounds/{id}/participations/{org}")]
pub async fn withdraw_participation(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    path: web::Path<(RoundId, String)>,
    params: QueryString<WithdrawParams>,
) -> Result<HttpResponse, ApiError> {
    let (round_id, organization) = path.into_inner();
    let now = state.now();
    let actor = identity.actor(&request_id);
    let participation = state
        .transaction(move |conn| {
            let context = authorize(conn, &identity, &round_id, &organization, now)?;
            let mut errors = Vec::new();
            let reason = optional_text(
                params.parse()?.reason.as_deref(),
                "reason",
                MAX_REASON,
                Lines::Many,
                &mut errors,
            );
            check(errors)?;
            require_reason(&identity, &context, reason.as_deref())?;
            let (row, _) = answer(
                conn,
                &actor,
                &context,
                ParticipationChange::Withdraw,
                AnswerDetails {
                    reason,
                    ..AnswerDetails::default()
                },
                now,
            )?;
            view(row, context.organization.name.clone(), &identity)
        })
        .await?;
    Ok(HttpResponse::Ok().json(participation))
}
