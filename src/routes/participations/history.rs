use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::db::participations;
use crate::domain::id::{RoundId, UserId};
use crate::domain::participation::ParticipationStatus;
use crate::error::{ApiError, Problem};
use crate::service::organizations::resolve;
use crate::service::rounds::visible_round;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipationVersion {
    pub version: i64,
    #[schema(value_type = String)]
    pub status: ParticipationStatus,
    pub selected_options: Vec<String>,
    pub declared_quantity: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub note: Option<String>,
    /// Why an administrator made this change for the body, or why the service enrolled it.
    pub reason: Option<String>,
    /// The user who made the change; null when the service enrolled the body.
    #[schema(value_type = Option<String>)]
    pub changed_by: Option<UserId>,
    pub changed_at: DateTime<Utc>,
}

/// Every version of a body's answer, oldest first (the body itself and administrators).
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), ("org" = String, Path, description = "Organization id or code")),
    responses(
        (status = 200, body = Vec<ParticipationVersion>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/participations/{org}/history")]
pub async fn participation_history(
    state: web::Data<AppState>,
    identity: Identity,
    path: web::Path<(RoundId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (round_id, organization) = path.into_inner();
    let versions = state
        .db(move |conn| {
            let (round, _) = visible_round(conn, &identity, &round_id)?;
            let organization = resolve(conn, &organization)?;
            if !identity.may_read_private(&organization.id) {
                return Err(ApiError::forbidden(
                    "not_your_organization",
                    "Only the body itself and administrators see its history.",
                ));
            }
            let Some(participation) = participations::find(conn, &round.id, &organization.id)?
            else {
                return Ok(Vec::new());
            };
            participations::history(conn, &participation.id)?
                .into_iter()
                .map(|h| {
                    Ok(ParticipationVersion {
                        version: h.version,
                        status: h.status,
                        selected_options: serde_json::from_str(&h.selected_options)
                            .map_err(anyhow::Error::from)?,
                        declared_quantity: h.declared_quantity,
                        contact_name: h.contact_name,
                        contact_email: h.contact_email,
                        contact_phone: h.contact_phone,
                        note: h.note,
                        reason: h.reason,
                        changed_by: h.changed_by,
                        changed_at: h.changed_at.and_utc(),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(versions))
}
