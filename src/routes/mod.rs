//! The HTTP edge. Every endpoint is listed here; handlers parse, authorize, call the database in
//! one transaction and map the result to a response.

pub mod auth;
pub mod health;
pub mod organizations;
pub mod tokens;
pub mod users;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, FieldError};

/// Every documented route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(utoipa_actix_web::scope("/api/v1").configure(api_v1))
        .configure(operations);
}

/// Routes under `/api/v1`.
fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(auth::login::login)
        .service(auth::refresh::refresh)
        .service(auth::logout::logout)
        .service(auth::me::me)
        .service(tokens::list::list_tokens)
        .service(tokens::create::create_token)
        .service(tokens::revoke::revoke_token)
        .service(organizations::list::list_organizations)
        .service(organizations::get::get_organization)
        .service(organizations::update::update_organization)
        .service(users::list::list_users)
        .service(users::create::create_user)
        .service(users::accept::accept_invitation);
}

/// Routes at the root, for operators and load balancers.
fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::health).service(health::ready);
}

pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn offset(self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

impl PageParams {
    pub fn resolve(&self, errors: &mut Vec<FieldError>) -> Page {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page < 1 {
            errors.push(FieldError::new("page", "out_of_range", "page starts at 1"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            errors.push(FieldError::new(
                "per_page",
                "out_of_range",
                format!("per_page is between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Page {
            page: page.max(1),
            per_page: per_page.clamp(1, MAX_PER_PAGE),
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    /// Items matching the filters, on all pages.
    pub total: i64,
}

impl<T> Paginated<T> {
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        }
    }
}

/// `Ok(())` when no field failed, else a 422 listing them all.
pub fn check(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}
