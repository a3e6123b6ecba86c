use actix_web::{HttpResponse, patch, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Contact;
use super::get::{OrganizationDetail, detail};
use crate::auth::Identity;
use crate::domain::contact::{ContactDetails, clean_contact};
use crate::domain::field_error::FieldError;
use crate::domain::limits::{
    MAX_CONTACTS, MAX_NAME, MAX_POPULATION_FIGURE, MAX_TITLE, check_count,
};
use crate::domain::organization::PopulationInput;
use crate::domain::text::Lines;
use crate::domain::text::{optional_text, required_text};
use crate::error::check;
use crate::error::{ApiError, Problem};
use crate::routes::extract::JsonBody;
use crate::service::organizations;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "population": {"value": 372000, "base_date": "2026-01-01", "source": "住民基本台帳"},
    "contacts": [{"name": "信州 太郎", "department": "企画課", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"}]
}))]
pub struct UpdateOrganizationRequest {
    /// A new population figure. The history keeps every figure; the newest base date is in force.
    pub population: Option<PopulationInput>,
    /// Replaces the contact list.
    pub contacts: Option<Vec<Contact>>,
}

/// Record a population figure or replace the contacts (administrators).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("key" = String, Path, description = "Organization id or 全国地方公共団体コード")),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, body = OrganizationDetail),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A figure for that base date exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/organizations/{key}")]
pub async fn update_organization(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
    key: web::Path<String>,
    body: JsonBody<UpdateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let actor = identity.actor(&request_id);
    let mut body = body.parse()?;
    let now = state.now();
    let contacts = validate(&mut body, now.date())?;
    let updated = state
        .transaction(move |conn| {
            let row = organizations::update(conn, &key, body.population, contacts, &actor, now)?;
            detail(conn, &row.id, &identity)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Checks every field; returns the contacts as stored (JSON), if given.
fn validate(
    body: &mut UpdateOrganizationRequest,
    today: NaiveDate,
) -> Result<Option<String>, ApiError> {
    let mut errors = Vec::new();
    if body.population.is_none() && body.contacts.is_none() {
        errors.push(FieldError::new(
            "",
            "empty_update",
            "give population, contacts or both",
        ));
    }
    if let Some(p) = &mut body.population {
        p.source = optional_text(
            p.source.as_deref(),
            "population.source",
            MAX_TITLE,
            Lines::One,
            &mut errors,
        );
        if !(0..=MAX_POPULATION_FIGURE).contains(&p.value) {
            errors.push(FieldError::new(
                "population.value",
                "out_of_range",
                "population is between 0 and 100,000,000",
            ));
        }
        if p.base_date > today {
            errors.push(FieldError::new(
                "population.base_date",
                "in_future",
                "the base date cannot be in the future",
            ));
        }
    }
    let Some(contacts) = &body.contacts else {
        return check(errors).map(|()| None);
    };
    check_count(contacts.len(), MAX_CONTACTS, "contacts", &mut errors);
    let mut cleaned = Vec::with_capacity(contacts.len());
    for (i, c) in contacts.iter().enumerate() {
        let field = |name: &str| format!("contacts[{i}].{name}");
        let name = required_text(&c.name, &field("name"), MAX_NAME, &mut errors);
        let ContactDetails { email, phone } = clean_contact(
            &field(""),
            c.email.as_deref(),
            c.phone.as_deref(),
            &mut errors,
        );
        let department = optional_text(
            c.department.as_deref(),
            &field("department"),
            MAX_NAME,
            Lines::One,
            &mut errors,
        );
        cleaned.push(Contact {
            name,
            department,
            email,
            phone,
        });
    }
    check(errors)?;
    Ok(Some(
        serde_json::to_string(&cleaned).map_err(anyhow::Error::from)?,
    ))
}
