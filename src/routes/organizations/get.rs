use actix_web::{HttpResponse, get, web};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{OrganizationView, views};
use crate::auth::Identity;
use crate::db::organizations;
use crate::error::{ApiError, Problem};
use crate::service::organizations::resolve;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PopulationFigure {
    pub value: i64,
    pub base_date: NaiveDate,
    pub source: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationDetail {
    #[serde(flatten)]
    pub organization: OrganizationView,
    /// Every recorded figure, newest base date first.
    pub population_history: Vec<PopulationFigure>,
}

/// One member body, by id or by its 6-digit local government code.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("key" = String, Path, description = "Organization id, or 全国地方公共団体コード such as `202011`")),
    responses(
        (status = 200, body = OrganizationDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A code with a wrong check digit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{key}")]
pub async fn get_organization(
    state: web::Data<AppState>,
    identity: Identity,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.db(move |conn| detail(conn, &key, &identity)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

pub fn detail(
    conn: &mut crate::db::DbConnection,
    key: &str,
    identity: &Identity,
) -> Result<OrganizationDetail, ApiError> {
    let row = resolve(conn, key)?;
    let history = organizations::population_history(conn, &row.id)?
        .into_iter()
        .map(|f| PopulationFigure {
            value: f.population,
            base_date: f.base_date,
            source: f.source,
            recorded_at: f.recorded_at.and_utc(),
        })
        .collect();
    let organization = views(conn, vec![row], |row| identity.may_read_private(&row.id))?
        .pop()
        .context("an organization has no view")?;
    Ok(OrganizationDetail {
        organization,
        population_history: history,
    })
}
