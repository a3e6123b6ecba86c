use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{OrganizationView, views};
use crate::auth::Identity;
use crate::db::organizations::{self, ListFilter};
use crate::domain::limits::MAX_NAME;
use crate::domain::organization::OrganizationKind;
use crate::domain::text::{Lines, optional_text};
use crate::error::{ApiError, Problem, check};
use crate::routes::extract::QueryString;
use crate::routes::{PageParams, Paginated};
use crate::service;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    pub kind: Option<OrganizationKind>,
    /// Members of this wide-area union (its id or its exact name; 404 `union_not_found` when none
    /// has it).
    pub union: Option<String>,
    /// Part of the name, in kanji (`伊那`) or romaji (`ina`, any case).
    pub name: Option<String>,
}

/// List the council's member bodies.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(OrganizationFilter, PageParams),
    responses(
        (status = 200, body = Paginated<OrganizationView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations")]
pub async fn list_organizations(
    state: web::Data<AppState>,
    identity: Identity,
    filter: QueryString<OrganizationFilter>,
    page: QueryString<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.parse()?;
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    let name = optional_text(
        filter.name.as_deref(),
        "name",
        MAX_NAME,
        Lines::One,
        &mut errors,
    );
    check(errors)?;
    let (kind, union) = (filter.kind, filter.union);
    let (rows, total) = state
        .db(move |conn| {
            let union_id = match union {
                Some(key) => Some(service::organizations::find_union(conn, &key)?),
                None => None,
            };
            let filter = ListFilter {
                kind,
                union_id,
                name,
            };
            let (rows, total) = organizations::list(conn, &filter, page.offset(), page.per_page)?;
            let views = views(conn, rows, |row| identity.may_read_private(&row.id))?;
            Ok((views, total))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paginated::new(rows, page, total)))
}
