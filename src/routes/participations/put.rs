use actix_web::{HttpRequest, HttpResponse, put, web};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use super::{ParticipationView, location, view};
use crate::auth::identity::Caller;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::IdempotencyKey;
use crate::routes::extract::JsonBody;
use crate::service::participations::{AnswerInput, answer, authorize_caller, require_reason};
use crate::state::AppState;

/// The status an answer gives the body in the round (withdrawing is `DELETE`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerStatus {
    Joined,
    Declined,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "status": "joined",
    "selected_options": ["lgwan"],
    "declared_quantity": 25,
    "contact": {"name": "信州 太郎", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"},
    "note": "4月から利用予定"
}))]
pub struct ParticipationInput {
    pub status: AnswerStatus,
    /// Option codes the procurement offers, each once; ignored when declining.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub selected_options: Vec<String>,
    /// Licences, hours, …: required to join when the cost model shares cost by usage.
    pub declared_quantity: Option<i64>,
    pub contact: Option<ContactInput>,
    pub note: Option<String>,
    /// Required when an administrator answers for another body.
    pub reason: Option<String>,
}

/// Join or decline a round for a body, or change the answer, while the round is open.
///
/// Coordinators answer for their own body; administrators for any, with a `reason`. Answers the
/// round no longer takes are 409 and nothing is written; bodies the procurement does not admit get
/// 403 with the reason. In a mandatory procurement bodies are enrolled when the round opens and
/// can only choose options.
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Round id"),
        ("org" = String, Path, description = "Organization id or 全国地方公共団体コード"),
        IdempotencyKey,
    ),
    request_body = ParticipationInput,
    responses(
        (status = 200, description = "Answer changed", body = ParticipationView),
        (status = 201, description = "First answer", body = ParticipationView, headers(("Location" = String, description = "The answer"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Round not open, or declining a mandatory procurement", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/rounds/{id}/participations/{org}")]
pub async fn put_participation(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(RoundId, String)>,
    body: JsonBody<ParticipationInput>,
) -> Result<HttpResponse, ApiError> {
    let (round_id, organization) = path.into_inner();
    let now = state.now();
    state
        .write(&req, move |conn| {
            // Who may answer is settled before what the answer says; an API token is looked up
            // in the same statement as the round, the body and its answer.
            let (identity, context) =
                authorize_caller(conn, caller, &round_id, &organization, now)?;
            let actor = identity.actor(&request_id);
            let (change, details) = AnswerInput::from(body.parse()?)
                .checked()
                .map_err(ApiError::validation)?;
            require_reason(&identity, &context, details.reason.as_deref())?;
            let (row, created) = answer(conn, &actor, &context, change, details, now)?;
            let participation = view(row, context.organization.name.clone(), &identity)?;
            if created {
                let location = location(&participation.round_id, &participation.organization_id);
                Reply::created(&location, &participation)
            } else {
                Reply::ok(&participation)
            }
        })
        .await
}

impl From<ParticipationInput> for AnswerInput {
    fn from(input: ParticipationInput) -> Self {
        let contact = input.contact.unwrap_or_default();
        Self {
            join: matches!(input.status, AnswerStatus::Joined),
            selected_options: input.selected_options,
            declared_quantity: input.declared_quantity,
            contact_name: contact.name,
            contact_email: contact.email,
            contact_phone: contact.phone,
            note: input.note,
            reason: input.reason,
        }
    }
}
