//! A procurement: what it is, its documents, options and rounds, and its questions and answers.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;
use tracing_actix_web::RequestId;

use super::{render_page, see_other};
use crate::db::rounds;
use crate::domain::id::ProcurementId;
use crate::routes::procurements::view as procurement_view;
use crate::routes::rounds::view as round_view;
use crate::service::procurements::visible;
use crate::service::questions;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::form::CsrfForm;
use crate::web::session::Viewer;

#[get("/procurements/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<ProcurementId>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let context = state
        .db(move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            let rounds = rounds::list_for_procurement(conn, procurement.id())?
                .iter()
                .map(|row| round_view(conn, row, &procurement))
                .collect::<Result<Vec<_>, _>>()?;
            let questions: Vec<_> = questions::readable(conn, &identity, &procurement)?
                .into_iter()
                .map(|q| {
                    json!({
                        "id": q.id,
                        "question": q.question,
                        "answer": q.answer,
                        "asked_at": q.created_at.and_utc(),
                        "answered_at": q.answered_at.map(|t| t.and_utc()),
                    })
                })
                .collect();
            Ok(json!({
                "procurement": procurement_view(conn, &procurement)?,
                "rounds": rounds,
                "questions": questions,
            }))
        })
        .await?;
    render_page(&viewer, "procurement.j2", context)
}

#[derive(Deserialize)]
struct QuestionForm {
    question: String,
}

#[post("/procurements/{id}/questions")]
pub async fn ask(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    CsrfForm(form): CsrfForm<QuestionForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let location = format!("/procurements/{id}#questions");
    state
        .transaction(move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            questions::ask(conn, &identity, &procurement, &form.question, &actor, now)
        })
        .await?;
    Ok(see_other(&location))
}

#[derive(Deserialize)]
struct AnswerForm {
    answer: String,
}

#[post("/questions/{id}/answer")]
pub async fn answer(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<String>,
    CsrfForm(form): CsrfForm<AnswerForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let answered = state
        .transaction(move |conn| questions::answer(conn, &identity, &id, &form.answer, &actor, now))
        .await?;
    Ok(see_other(&format!(
        "/procurements/{}#questions",
        answered.procurement_id
    )))
}
