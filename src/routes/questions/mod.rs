//! 質疑応答: coordinators ask about a procurement; administrators answer; answers are published to
//! every eligible body without saying which body asked.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::db::questions::QuestionRow;
use crate::domain::id::{OrganizationId, ProcurementId};
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::extract::JsonBody;
use crate::routes::{API_V1, IdempotencyKey};
use crate::service::procurements::visible;
use crate::service::questions;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionView {
    pub id: String,
    #[schema(value_type = String)]
    pub procurement_id: ProcurementId,
    pub question: String,
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub asked_at: DateTime<Utc>,
    /// The asking body: shown to that body and to administrators only.
    #[schema(value_type = Option<String>)]
    pub asked_by_organization: Option<OrganizationId>,
}

fn view(row: QuestionRow, identity: &Identity) -> QuestionView {
    let own = identity.may_read_private(&row.organization_id);
    QuestionView {
        asked_by_organization: own.then(|| row.organization_id.clone()),
        id: row.id,
        procurement_id: row.procurement_id,
        question: row.question,
        answer: row.answer,
        answered_at: row.answered_at.map(|t| t.and_utc()),
        asked_at: row.created_at.and_utc(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"question": "LGWAN環境からの利用は可能ですか。"}))]
pub struct AskRequest {
    pub question: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"answer": "LGWAN-ASPとして提供されるため利用可能です。"}))]
pub struct AnswerRequest {
    pub answer: String,
}

/// Questions on a procurement: answered ones for every eligible body; unanswered ones only for
/// the asking body and administrators.
#[utoipa::path(
    tag = "questions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Procurement id")),
    responses((status = 200, body = Vec<QuestionView>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/procurements/{id}/questions")]
pub async fn list_questions(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<ProcurementId>,
) -> Result<HttpResponse, ApiError> {
    let items = state
        .db(move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            Ok(questions::readable(conn, &identity, &procurement)?
                .into_iter()
                .map(|q| view(q, &identity))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

/// Ask a question about a published procurement (coordinators of an eligible body).
#[utoipa::path(
    tag = "questions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Procurement id"), IdempotencyKey),
    request_body = AskRequest,
    responses(
        (status = 201, body = QuestionView, headers(("Location" = String, description = "The question"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procurements/{id}/questions")]
pub async fn ask_question(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    body: JsonBody<AskRequest>,
) -> Result<HttpResponse, ApiError> {
    // Who may ask is settled before the body is read.
    questions::may_ask(&identity)?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            let text = body.parse()?.question;
            let row = questions::ask(conn, &identity, &procurement, &text, &actor, now)?;
            let question = view(row, &identity);
            Reply::created(&format!("{API_V1}/questions/{}", question.id), &question)
        })
        .await
}

/// Answer a question, or correct an answer (administrators). The answer goes to every eligible body.
#[utoipa::path(
    tag = "questions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Question id"), IdempotencyKey),
    request_body = AnswerRequest,
    responses(
        (status = 200, body = QuestionView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/questions/{id}/answer")]
pub async fn answer_question(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<String>,
    body: JsonBody<AnswerRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let answer = body.parse()?.answer;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let row = questions::answer(conn, &identity, &id, &answer, &actor, now)?;
            Reply::ok(&view(row, &identity))
        })
        .await
}
