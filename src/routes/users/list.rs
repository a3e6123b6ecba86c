use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::UserView;
use crate::auth::Identity;
use crate::db;
use crate::error::check;
use crate::error::{ApiError, Problem};
use crate::routes::extract::QueryString;
use crate::routes::{PageParams, Paginated};
use crate::service::organizations::resolve;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Organization id or 全国地方公共団体コード. Administrators see every organization's users;
    /// others only their own organization's.
    pub organization: Option<String>,
}

/// List users.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(UserFilter, PageParams),
    responses(
        (status = 200, body = Paginated<UserView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    identity: Identity,
    filter: QueryString<UserFilter>,
    page: QueryString<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.parse()?;
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    check(errors)?;
    let organization = filter.organization;
    let (rows, total) = state
        .db(move |conn| {
            let organization_id = match organization {
                Some(key) => Some(resolve(conn, &key)?.id),
                None if identity.is_admin() => None,
                None => Some(identity.organization_id.clone()),
            };
            if let Some(id) = &organization_id
                && !identity.may_read_private(id)
            {
                return Err(ApiError::forbidden(
                    "not_your_organization",
                    "You may list the users of your own organization only.",
                ));
            }
            Ok(db::users::list(
                conn,
                organization_id.as_ref(),
                page.offset(),
                page.per_page,
            )?)
        })
        .await?;
    let items = rows.into_iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page, total)))
}
