//! A procurement: what it is, its documents, options and rounds, and its questions and answers.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing_actix_web::RequestId;

use super::{render_page, see_other};
use crate::db::{DbConnection, organizations, rounds};
use crate::domain::field_error::FieldError;
use crate::domain::fiscal_year;
use crate::domain::id::ProcurementId;
use crate::domain::organization::OrganizationKind;
use crate::domain::procurement::{Category, ProcurementInput, ProcurementPatch};
use crate::domain::round::{RoundKind, Schedule};
use crate::error::{ApiError, check};
use crate::routes::procurements::view as procurement_view;
use crate::routes::rounds::view as round_view;
use crate::service::procurements::{self, input_of, visible};
use crate::service::questions;
use crate::service::version_tag;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::form::CsrfForm;
use crate::web::jst_input;
use crate::web::procurement_form::{
    Fields, blank, field_names, fields_of, input_from, place_errors,
};
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

/// The editor's page: the form's values, where each error goes, and who may lead.
async fn editor(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    mut fields: Fields,
    pools: usize,
    errors: &[FieldError],
    target: Value,
) -> Result<HttpResponse, PageError> {
    // Every field has a value, so that the template never meets an undefined one.
    let kinds: Vec<String> = <OrganizationKind as strum::VariantArray>::VARIANTS
        .iter()
        .map(ToString::to_string)
        .collect();
    for name in field_names(pools)
        .into_iter()
        .chain(kinds.iter().map(|k| format!("eligibility.kinds.{k}")))
    {
        fields.entry(name).or_default();
    }
    let leads = state
        .db(|conn| {
            Ok(organizations::members(conn)?
                .into_iter()
                .filter(|o| {
                    matches!(
                        o.kind,
                        OrganizationKind::Prefecture | OrganizationKind::Association
                    )
                })
                .map(|o| json!({"id": o.id, "name": o.name}))
                .collect::<Vec<_>>())
        })
        .await?;
    let placed = place_errors(errors, &field_names(pools));
    let mut response = render_page(
        viewer,
        "procurement_form.j2",
        json!({
            "values": fields,
            "pools": (0..pools).collect::<Vec<_>>(),
            "errors": placed,
            "leads": leads,
            "categories": <Category as strum::VariantArray>::VARIANTS.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "kinds": kinds,
            "target": target,
        }),
    )?;
    *response.status_mut() = status;
    Ok(response)
}

/// A 422's field errors, or the error itself when it is another kind.
fn validation_errors(error: ApiError) -> Result<Vec<FieldError>, PageError> {
    let problem = error.problem();
    if problem.status == 422 && !problem.errors.is_empty() {
        Ok(problem.errors)
    } else {
        Err(error.into())
    }
}

#[get("/procurements/new")]
pub async fn new_form(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    viewer.identity.require_admin()?;
    let year = fiscal_year::of(state.now()) + 1;
    let lead = viewer.identity.organization_id.to_string();
    let (fields, pools) = blank(&lead, year);
    editor(
        &state,
        &viewer,
        StatusCode::OK,
        fields,
        pools,
        &[],
        json!({"action": "/procurements"}),
    )
    .await
}

/// Reads the posted editor and saves it with `write` in one transaction; shows the form again,
/// with each error beside its field, when the form or a rule of the model refuses it.
async fn save<F>(
    state: &AppState,
    viewer: &Viewer,
    posted: Vec<(String, String)>,
    target: Value,
    write: F,
) -> Result<HttpResponse, PageError>
where
    F: FnOnce(
            &mut DbConnection,
            ProcurementInput,
            Option<String>,
        ) -> Result<procurements::Procurement, ApiError>
        + Send
        + 'static,
{
    let pools = pool_count(&posted);
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let (input, fields) = match input_from(&posted) {
        Ok(read) => read,
        Err(errors) => {
            let fields = posted.into_iter().collect();
            return editor(state, viewer, refused, fields, pools, &errors, target).await;
        }
    };
    let version = fields.get("version").cloned();
    match state
        .transaction(move |conn| write(conn, input, version))
        .await
    {
        Ok(saved) => Ok(see_other(&format!("/procurements/{}", saved.id()))),
        Err(error) => {
            let errors = validation_errors(error)?;
            editor(state, viewer, refused, fields, pools, &errors, target).await
        }
    }
}

#[post("/procurements")]
pub async fn create(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    CsrfForm(posted): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    viewer.identity.require_admin()?;
    let actor = viewer.identity.actor(&request_id);
    let now = state.now();
    let target = json!({"action": "/procurements"});
    save(&state, &viewer, posted, target, move |conn, input, _| {
        procurements::create(conn, input, &actor, now)
    })
    .await
}

/// How many pool rows the posted form had.
fn pool_count(posted: &[(String, String)]) -> usize {
    posted
        .iter()
        .filter(|(name, _)| name.starts_with("cost_model.pools[") && name.ends_with("].code"))
        .count()
        .max(1)
}

#[get("/procurements/{id}/edit")]
pub async fn edit_form(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<ProcurementId>,
) -> Result<HttpResponse, PageError> {
    viewer.identity.require_admin()?;
    let identity = viewer.identity.clone();
    let procurement = state.db(move |conn| visible(conn, &identity, &id)).await?;
    let (mut fields, pools) = fields_of(&input_of(&procurement));
    fields.insert("version".into(), version_tag(procurement.row.version));
    let target = json!({"action": format!("/procurements/{}/edit", procurement.id()), "title": procurement.row.title});
    editor(&state, &viewer, StatusCode::OK, fields, pools, &[], target).await
}

#[post("/procurements/{id}/edit")]
pub async fn update(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    CsrfForm(posted): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    identity.require_admin()?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let id = id.into_inner();
    let target = json!({"action": format!("/procurements/{id}/edit")});
    save(
        &state,
        &viewer,
        posted,
        target,
        move |conn, input, version| {
            let patch = ProcurementPatch::whole(input);
            procurements::update(conn, &identity, &id, version.as_deref(), patch, &actor, now)
        },
    )
    .await
}

#[post("/procurements/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    _: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    identity.require_admin()?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let location = format!("/procurements/{id}");
    state
        .transaction(move |conn| {
            let current = visible(conn, &identity, &id)?;
            procurements::publish(conn, &current, &actor, now)
        })
        .await?;
    Ok(see_other(&location))
}

#[derive(Deserialize)]
struct RoundForm {
    kind: RoundKind,
    fiscal_year: Option<String>,
    opens_at: String,
    closes_at: String,
    population_base_date: String,
}

/// A new round of the procurement; times are JST as the browser's date-time fields send them.
#[post("/procurements/{id}/rounds")]
pub async fn create_round(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<ProcurementId>,
    CsrfForm(form): CsrfForm<RoundForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    identity.require_admin()?;
    let mut errors = Vec::new();
    let opens_at = jst_field(&form.opens_at, "opens_at", &mut errors);
    let closes_at = jst_field(&form.closes_at, "closes_at", &mut errors);
    let base_date = form.population_base_date.parse::<NaiveDate>().map_err(|_| {
        errors.push(FieldError::new(
            "population_base_date",
            "invalid_format",
            "a date",
        ));
    });
    let fiscal_year = match form.fiscal_year.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(year) => year.parse().map_or_else(
            |_| {
                errors.push(FieldError::new(
                    "fiscal_year",
                    "invalid_format",
                    "a fiscal year such as 2027",
                ));
                None
            },
            Some,
        ),
    };
    check(errors)?;
    let (Some(opens_at), Some(closes_at), Ok(base_date)) = (opens_at, closes_at, base_date) else {
        return Err(
            ApiError::bad_request("invalid_form", "The round's dates could not be read.").into(),
        );
    };
    let schedule = Schedule::parse(form.kind, fiscal_year, opens_at, closes_at, base_date, None)
        .map_err(ApiError::validation)?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let round = state
        .transaction(move |conn| {
            let procurement = visible(conn, &identity, &id)?;
            crate::service::rounds::create(conn, &procurement, schedule, &actor, now)
        })
        .await?;
    Ok(see_other(&format!("/rounds/{}", round.id)))
}

/// A browser's `datetime-local` value, read as JST.
fn jst_field(value: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDateTime> {
    match jst_input(value) {
        Some(t) => Some(t),
        None => {
            errors.push(FieldError::new(
                field,
                "invalid_format",
                "a date and time, JST",
            ));
            None
        }
    }
}
