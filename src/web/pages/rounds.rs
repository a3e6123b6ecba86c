//! A round: for a body, its answer with a live estimate; for the secretariat, its dashboard —
//! who answered, who has not, the actions of the round, and the allocation once finalized.

use std::collections::{BTreeMap, BTreeSet};

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::NaiveDateTime;
use futures_util::TryStreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing_actix_web::RequestId;

use super::{html, render_page, see_other};
use crate::auth::Identity;
use crate::db::organizations::Member;
use crate::db::{DbConnection, organizations};
use crate::domain::allocation::PoolYearTotal;
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::organization::OrganizationKind;
use crate::domain::round::{RoundAction, RoundState};
use crate::domain::text::typed_integer;
use crate::error::ApiError;
use crate::reply::csv_attachment;
use crate::routes::allocations::estimate::compute;
use crate::routes::allocations::finalize::checked as checked_finalization;
use crate::routes::allocations::stream::live;
use crate::routes::participations::view as participation_view;
use crate::routes::procurements::view as procurement_view;
use crate::routes::rounds::{counts, view_with_counts};
use crate::service::allocations::{self, AllocationDocument, Choices, FinalizeRequest};
use crate::service::charts;
use crate::service::exports;
use crate::service::imports::import_answers;
use crate::service::notifications;
use crate::service::participations::{
    AnswerInput, answer as record_answer, authorize, require_reason,
};
use crate::service::rounds::{self, Details, visible_roll, visible_round};
use crate::state::AppState;
use crate::web::charts::{answers_over_time, shares_against_population};
use crate::web::error::PageError;
use crate::web::form::{CsrfForm, query, verify};
use crate::web::jst_input;
use crate::web::session::Viewer;
use crate::web::templates;

/// Everything the round page shows, read in one go.
fn round_context(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &RoundId,
    now: NaiveDateTime,
) -> Result<Value, ApiError> {
    let (round, procurement, roll) = visible_roll(conn, identity, id)?;
    let tally = counts(&procurement, &roll);
    let eligible: Vec<Member> = roll
        .eligible(&procurement)
        .map(|(o, _)| o.clone())
        .collect();
    let own_eligible = eligible.iter().any(|o| o.id == identity.organization_id);
    let waiting: Vec<Value> = roll
        .eligible(&procurement)
        .filter(|(_, reply)| reply.is_none())
        .map(|(o, _)| json!({"id": o.id, "name": o.name, "lg_code": o.lg_code}))
        .collect();
    let answered: BTreeSet<OrganizationId> = roll
        .answers()
        .map(|(row, _)| row.organization_id.clone())
        .collect();
    let answers = roll.into_answers();
    let own = answers
        .iter()
        .find(|(row, _)| row.organization_id == identity.organization_id)
        .map(|(row, name)| participation_view(row.clone(), name.clone(), identity))
        .transpose()?;
    let items = answers
        .into_iter()
        .map(|(row, name)| participation_view(row, name, identity))
        .collect::<Result<Vec<_>, _>>()?;
    let mut context = json!({
        "round": view_with_counts(&round, tally)?,
        "procurement": procurement_view(conn, &procurement)?,
        "participations": items,
        "own": own,
        "own_eligible": own_eligible,
        "takes_answers": round.state == RoundState::Open,
    });
    // The estimate is in the page itself, so that it reads without JavaScript; htmx only
    // refreshes it.
    if !identity.is_admin() && own_eligible && round.state == RoundState::Open {
        let estimate =
            allocations::estimate(conn, &round, &procurement, &identity.organization_id, None);
        // A model that cannot price the body yet (a population weight and no figure) says so
        // when the page asks for the estimate; the page itself still shows.
        if let Ok(estimate) = estimate {
            context["estimate"] = json!(estimate);
        }
    }
    if identity.is_admin() {
        context["waiting"] = json!(waiting);
        context["by_union"] = json!(by_union(conn, &eligible, &answered)?);
        context["versions"] = json!(allocations::versions(conn, &round)?);
        if round.state == RoundState::Closed {
            context["model_totals"] = json!(allocations::totals_at_model_prices(
                conn,
                &round,
                &procurement
            )?);
        }
    }
    let eligible_count = u32::try_from(eligible.len()).unwrap_or(u32::MAX);
    let timeline = charts::answer_timeline(conn, &round, eligible_count, now)?;
    context["answers_chart"] = json!(answers_over_time(&timeline));
    if matches!(round.state, RoundState::Finalized) {
        let document = allocations::find(conn, &round, None)?;
        context["allocation"] = allocation_table(&document, identity);
        context["shares_chart"] = json!(shares_against_population(&charts::shares(&document)));
    }
    Ok(context)
}

/// How many of each wide-area union's members answered.
fn by_union(
    conn: &mut DbConnection,
    eligible: &[Member],
    answered: &BTreeSet<OrganizationId>,
) -> Result<Vec<Value>, ApiError> {
    let eligible_ids: BTreeSet<&OrganizationId> = eligible.iter().map(|o| &o.id).collect();
    let unions: Vec<_> = organizations::members(conn)?
        .into_iter()
        .filter(|o| o.kind == OrganizationKind::WideAreaUnion)
        .collect();
    let ids: Vec<OrganizationId> = unions.iter().map(|u| u.id.clone()).collect();
    let memberships = organizations::members_of(conn, &ids)?;
    let unions = unions
        .into_iter()
        .map(|union| {
            let members: Vec<&OrganizationId> = memberships
                .iter()
                .filter(|(u, m)| u == &union.id && eligible_ids.contains(&m.0))
                .map(|(_, m)| &m.0)
                .collect();
            let done = members.iter().filter(|m| answered.contains(**m)).count();
            json!({"name": union.name, "members": members.len(), "answered": done})
        })
        .collect();
    Ok(unions)
}

/// Each participant's total over pools and years, with the viewer's own body first.
fn allocation_table(document: &AllocationDocument, identity: &Identity) -> Value {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for pool in &document.pools {
        for share in &pool.shares {
            *totals.entry(share.organization_id.as_str()).or_default() += share.amount;
        }
    }
    let mut rows: Vec<Value> = document
        .participants
        .iter()
        .map(|body| {
            let p = &body.participant;
            json!({
                "organization_id": p.organization_id,
                "name": p.name,
                "population": p.population,
                "amount": totals.get(p.organization_id.as_str()).copied().unwrap_or(0),
                "own": *identity.organization_id == *p.organization_id,
            })
        })
        .collect();
    rows.sort_by_key(|row| !row["own"].as_bool().unwrap_or(false));
    json!({
        "version": document.version,
        "total": document.total,
        "finalized_at": document.finalized_at,
        "rows": rows,
    })
}

#[derive(Deserialize)]
struct ShowParams {
    /// How many bodies a reminder just went to.
    reminded: Option<usize>,
}

#[get("/rounds/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<RoundId>,
    params: web::Query<ShowParams>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let now = state.now();
    let mut context = state
        .db(move |conn| round_context(conn, &identity, &id, now))
        .await?;
    context["now"] = json!(state.now().and_utc());
    if let Some(reminded) = params.reminded {
        context["reminded"] = json!(reminded);
    }
    render_page(&viewer, "round.j2", context)
}

/// The answer form's fields.
#[derive(Debug, Deserialize)]
struct AnswerForm {
    /// `joined` or `declined`.
    status: String,
    #[serde(default)]
    options: Vec<String>,
    quantity: Option<String>,
    contact_name: Option<String>,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    note: Option<String>,
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// A quantity as typed: blank is none; anything else must be a whole number.
fn quantity(value: Option<String>) -> Result<Option<i64>, ApiError> {
    blank_to_none(value)
        .map(|v| {
            typed_integer(&v).ok_or_else(|| {
                ApiError::invalid_field("declared_quantity", "invalid_format", "a whole number")
            })
        })
        .transpose()
}

impl AnswerForm {
    fn into_input(self) -> Result<AnswerInput, ApiError> {
        let join = match self.status.as_str() {
            "joined" => true,
            "declined" => false,
            _ => {
                return Err(ApiError::invalid_field(
                    "status",
                    "invalid_value",
                    "join or decline",
                ));
            }
        };
        Ok(AnswerInput {
            join,
            selected_options: self.options,
            declared_quantity: quantity(self.quantity)?,
            contact_name: blank_to_none(self.contact_name),
            contact_email: blank_to_none(self.contact_email),
            contact_phone: blank_to_none(self.contact_phone),
            note: blank_to_none(self.note),
            reason: None,
        })
    }
}

/// A body's answer, through the same checks and service as `PUT /rounds/{id}/participations/{org}`.
#[post("/rounds/{id}/answer")]
pub async fn answer(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<RoundId>,
    CsrfForm(form): CsrfForm<AnswerForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let round_id = id.into_inner();
    let location = format!("/rounds/{round_id}");
    let attempt = state
        .transaction({
            let identity = identity.clone();
            let round_id = round_id.clone();
            move |conn| {
                let own = identity.organization_id.to_string();
                let context = authorize(conn, &identity, &round_id, &own, now)?;
                let (change, details) =
                    form.into_input()?.checked().map_err(ApiError::validation)?;
                require_reason(&identity, &context, details.reason.as_deref())?;
                record_answer(conn, &actor, &context, change, details, now)
            }
        })
        .await;
    match attempt {
        Ok(_) => Ok(see_other(&location)),
        Err(error) if error.problem().status == 422 => {
            // The form again, with what is wrong beside each field.
            let mut context = state
                .db(move |conn| round_context(conn, &identity, &round_id, now))
                .await?;
            context["now"] = json!(state.now().and_utc());
            context["errors"] = field_errors(&error);
            let mut response = render_page(&viewer, "round.j2", context)?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(error) => Err(error.into()),
    }
}

/// A 422's field errors by field, for the template.
fn field_errors(error: &ApiError) -> Value {
    let problem = error.problem();
    let mut by_field = serde_json::Map::new();
    for e in problem.errors {
        by_field.insert(e.field, json!(e.message));
    }
    if by_field.is_empty() {
        by_field.insert("form".to_owned(), json!(problem.detail));
    }
    Value::Object(by_field)
}

#[derive(Debug, Deserialize)]
struct Considering {
    #[serde(default)]
    options: Vec<String>,
    quantity: Option<String>,
}

/// The estimate fragment for the options and quantity the form shows now (htmx swaps it in as
/// they change; it is also where a live update lands).
#[get("/rounds/{id}/estimate")]
pub async fn estimate_fragment(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, PageError> {
    let considering: Considering = query(&req)?;
    let choices = Choices {
        options: considering.options,
        quantity: quantity(considering.quantity)?,
    };
    let identity = viewer.identity.clone();
    let estimate = state
        .db(move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            allocations::estimate(
                conn,
                &round,
                &procurement,
                &identity.organization_id,
                Some(choices),
            )
        })
        .await?;
    Ok(html(templates::render(
        "estimate.j2",
        json!({"estimate": estimate}),
    )?))
}

/// A `changed` event whenever the body's estimate changes (another body joins, a price is
/// corrected): the page then asks for its estimate again, with the choices it shows.
#[get("/rounds/{id}/estimate/live")]
pub async fn live_estimate(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let id = id.into_inner();
    let render = move |conn: &mut DbConnection| {
        let estimate = compute(conn, &identity, &id, None)?;
        Ok(serde_json::to_string(&estimate).map_err(anyhow::Error::from)?)
    };
    Ok(live(state, "changed", render).await?)
}

#[derive(Debug, Deserialize)]
struct ActionForm {
    action: String,
    closes_at: Option<String>,
    reason: Option<String>,
}

/// Open, close, reopen (with a new deadline) or cancel (with a reason) a round.
#[post("/rounds/{id}/actions")]
pub async fn act(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<RoundId>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    identity.require_admin()?;
    if form.action == "extend" {
        return extend(
            &state,
            identity,
            &request_id,
            id.into_inner(),
            form.closes_at,
        )
        .await;
    }
    let action = match form.action.as_str() {
        "open" => RoundAction::Open,
        "close" => RoundAction::Close,
        "reopen" => RoundAction::Reopen,
        "cancel" => RoundAction::Cancel,
        other => {
            return Err(ApiError::bad_request(
                "unknown_action",
                format!("A round cannot {other:?}."),
            )
            .into());
        }
    };
    let closes_at = blank_to_none(form.closes_at)
        .map(|v| {
            jst_input(&v).ok_or_else(|| {
                ApiError::invalid_field("closes_at", "invalid_format", "a date and time, JST")
            })
        })
        .transpose()?;
    let reason = blank_to_none(form.reason)
        .map(|r| crate::service::single_text(&r, "reason", crate::routes::MAX_REASON))
        .transpose()?;
    if action == RoundAction::Cancel && reason.is_none() {
        return Err(ApiError::invalid_field(
            "reason",
            "required",
            "say why the round is cancelled",
        )
        .into());
    }
    let actor = identity.actor(&request_id);
    let now = state.now();
    let location = format!("/rounds/{id}");
    state
        .transaction(move |conn| {
            let (round, _) = visible_round(conn, &identity, &id)?;
            let details = Details {
                closes_at,
                reason: reason.as_deref(),
            };
            rounds::act(conn, &round, action, details, &actor, now)
        })
        .await?;
    Ok(see_other(&location))
}

/// Moves an open round's deadline (participants are told), as `PATCH /rounds/{id}` does.
async fn extend(
    state: &AppState,
    identity: Identity,
    request_id: &RequestId,
    id: RoundId,
    closes_at: Option<String>,
) -> Result<HttpResponse, PageError> {
    let closes_at = blank_to_none(closes_at)
        .and_then(|v| jst_input(&v))
        .ok_or_else(|| {
            ApiError::invalid_field("closes_at", "invalid_format", "a date and time, JST")
        })?;
    let actor = identity.actor(request_id);
    let now = state.now();
    let location = format!("/rounds/{id}");
    state
        .transaction(move |conn| {
            let (round, _) = visible_round(conn, &identity, &id)?;
            let patch = rounds::Reschedule {
                closes_at: Some(closes_at),
                ..Default::default()
            };
            rounds::reschedule(conn, &round, patch, &actor, now)
        })
        .await?;
    Ok(see_other(&location))
}

/// Finalizes a closed round with the contracted totals: fields `total.<pool>.<year>` in yen.
#[post("/rounds/{id}/finalize")]
pub async fn finalize(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<RoundId>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    identity.require_admin()?;
    let mut totals = Vec::new();
    let mut reason = None;
    for (name, value) in fields {
        if name == "reason" {
            reason = blank_to_none(Some(value));
            continue;
        }
        let Some((pool, year)) = name
            .strip_prefix("total.")
            .and_then(|rest| rest.rsplit_once('.'))
        else {
            continue;
        };
        let field = format!("totals.{pool}.{year}");
        let fiscal_year = year
            .parse::<i32>()
            .map_err(|_| ApiError::invalid_field(&field, "invalid_format", "a fiscal year"))?;
        let amount = typed_integer(&value).ok_or_else(|| {
            ApiError::invalid_field(&field, "invalid_format", "an amount in whole yen")
        })?;
        totals.push(PoolYearTotal {
            pool: pool.to_owned(),
            fiscal_year,
            amount,
        });
    }
    let request = checked_finalization(FinalizeRequest { totals, reason })?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let location = format!("/rounds/{id}");
    state
        .transaction(move |conn| {
            let (round, procurement) = visible_round(conn, &identity, &id)?;
            allocations::finalize(conn, &round, &procurement, request, &actor, now)
        })
        .await?;
    Ok(see_other(&location))
}

/// The finalized allocation as the Excel-ready CSV the API serves.
#[get("/rounds/{id}/allocation.csv")]
pub async fn allocation_csv(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let document = state
        .db(move |conn| {
            let (round, _) = visible_round(conn, &identity, &id)?;
            allocations::find(conn, &round, None)
        })
        .await?;
    let body = exports::csv(&document)?;
    let filename = document.csv_file_name();
    Ok(csv_attachment(&filename, body))
}

/// The round's answers as the spreadsheet the API serves: fill it in, then upload it.
#[get("/rounds/{id}/answers.csv")]
pub async fn answers_csv(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let filename = format!("participations-{id}.csv");
    let body = state
        .db(move |conn| exports::answers_sheet(conn, &identity, &id))
        .await?;
    Ok(csv_attachment(&filename, body))
}

/// Reminds every body that has not answered, now.
#[post("/rounds/{id}/reminders")]
pub async fn remind(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<RoundId>,
    _: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let round_id = id.into_inner();
    let location = format!("/rounds/{round_id}");
    let reminded = state
        .transaction(move |conn| {
            notifications::remind_now(conn, &identity, &actor, &round_id, None, now)
        })
        .await?;
    Ok(see_other(&format!(
        "{location}?reminded={}",
        reminded.organizations.len()
    )))
}

/// What an upload form holds: its CSRF token, the reason and the file.
struct Upload {
    csrf: Option<String>,
    reason: String,
    file: Vec<u8>,
}

/// Reads the upload form's parts, the file up to `limit` bytes.
async fn read_upload(mut parts: Multipart, limit: usize) -> Result<Upload, ApiError> {
    let mut upload = Upload {
        csrf: None,
        reason: String::new(),
        file: Vec::new(),
    };
    let unreadable = |e: actix_multipart::MultipartError| {
        ApiError::bad_request(
            "invalid_form",
            format!("The upload could not be read: {e}."),
        )
    };
    while let Some(mut part) = parts.try_next().await.map_err(unreadable)? {
        let name = part.name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.try_next().await.map_err(unreadable)? {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::payload_too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "_csrf" => upload.csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "reason" => upload.reason = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => upload.file = bytes,
            _ => {}
        }
    }
    Ok(upload)
}

/// Answers for many bodies from the spreadsheet: every row checked first, every error listed
/// with its line; then all written in one transaction, each audited with the upload's reason.
#[post("/rounds/{id}/answers")]
pub async fn upload_answers(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<RoundId>,
    parts: Multipart,
) -> Result<HttpResponse, PageError> {
    let upload = read_upload(parts, state.console.max_upload_bytes).await?;
    verify(&req, upload.csrf.as_deref())?;
    let identity = viewer.identity.clone();
    let actor = identity.actor(&request_id);
    let now = state.now();
    let round_id = id.into_inner();
    let outcome = state
        .transaction({
            let identity = identity.clone();
            let round_id = round_id.clone();
            move |conn| {
                import_answers(
                    conn,
                    &identity,
                    &actor,
                    &round_id,
                    &upload.file,
                    &upload.reason,
                    now,
                )
            }
        })
        .await;
    let (status, result) = match outcome {
        Ok(report) => (StatusCode::OK, json!({"report": report})),
        Err(error) if error.problem().status == 422 => {
            let problem = error.problem();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"upload_errors": {"detail": problem.detail, "errors": problem.errors}}),
            )
        }
        Err(error) => return Err(error.into()),
    };
    let mut context = state
        .db(move |conn| round_context(conn, &identity, &round_id, now))
        .await?;
    context["now"] = json!(state.now().and_utc());
    context["upload"] = result;
    let mut response = render_page(&viewer, "round.j2", context)?;
    *response.status_mut() = status;
    Ok(response)
}
