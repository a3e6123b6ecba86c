//! The HTTP edge. Every endpoint is listed here; handlers parse, authorize, call the database in
//! one transaction and map the result to a response.

pub mod allocations;
pub mod allowed;
pub mod audit;
pub mod auth;
pub mod body_shapes;
pub mod calendar;
pub mod changes;
pub mod etag;
pub mod extract;
pub mod health;
pub mod notifications;
pub mod ocds;
pub mod organizations;
pub mod participations;
pub mod procurements;
pub mod questions;
pub mod rounds;
pub mod tokens;
pub mod users;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::domain::field_error::FieldError;

/// Where the API's operations live.
pub const API_V1: &str = "/api/v1";

/// Every documented route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(utoipa_actix_web::scope(API_V1).configure(api_v1))
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
        .service(calendar::get::get_calendar_feed)
        .service(calendar::create::create_calendar_feed)
        .service(calendar::revoke::revoke_calendar_feed)
        .service(calendar::feed::calendar_feed)
        .service(organizations::list::list_organizations)
        .service(organizations::get::get_organization)
        .service(organizations::update::update_organization)
        .service(users::list::list_users)
        .service(users::create::create_user)
        .service(users::accept::accept_invitation)
        .service(procurements::list::list_procurements)
        .service(procurements::create::create_procurement)
        .service(procurements::get::get_procurement)
        .service(procurements::update::update_procurement)
        .service(procurements::publish::publish_procurement)
        .service(procurements::cancel::cancel_procurement)
        .service(rounds::list::list_rounds)
        .service(rounds::create::create_round)
        .service(rounds::get::get_round)
        .service(rounds::update::update_round)
        .service(rounds::actions::open_round)
        .service(rounds::actions::close_round)
        .service(rounds::actions::reopen_round)
        .service(rounds::actions::cancel_round)
        .service(rounds::reminders::remind)
        .service(participations::list::list_participations)
        .service(participations::export::export_participations)
        .service(participations::import::import_participations)
        .service(participations::put::put_participation)
        .service(participations::withdraw::withdraw_participation)
        .service(participations::history::participation_history)
        .service(participations::non_respondents::non_respondents)
        .service(allocations::estimate::estimate)
        .service(allocations::estimate::what_if)
        .service(allocations::stream::estimate_stream)
        .service(allocations::finalize::finalize)
        .service(allocations::finalize::correct)
        .service(allocations::get::get_allocation)
        .service(allocations::get::list_allocations)
        .service(ocds::ocds_releases)
        .service(questions::list_questions)
        .service(questions::ask_question)
        .service(questions::answer_question)
        .service(audit::list_audit_events)
        .service(notifications::list_notifications)
        .service(notifications::retry_notification)
        .service(notifications::unsubscribe_page)
        .service(notifications::unsubscribe)
        .service(webhooks::register_webhook)
        .service(webhooks::list_webhooks)
        .service(webhooks::get_webhook)
        .service(webhooks::delete_webhook)
        .service(webhooks::rotate_webhook_secret)
        .service(webhooks::webhook_deliveries)
        .service(changes::list_changes);
}

/// Routes at the root, for operators and load balancers.
fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::health).service(health::ready);
}

/// The `Idempotency-Key` header, in the parameters of the operations that take one. Listing it is
/// what makes an operation take a key (`crate::idempotency`), and its handler must then write
/// through `AppState::write`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1 to 255 visible ASCII characters, new for each change you mean to make. Sent again with
    /// the same request, it gets the first answer (status, body, `ETag`, `Location`) with
    /// `idempotent-replayed: true` instead of a second change; with another request, 422
    /// `idempotency_key_reused`. Refusals are not stored: a retry is handled afresh. Keys belong
    /// to their user and are kept 24 hours.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    pub key: Option<String>,
}

/// A string schema with these values only, for text the service writes from a closed list.
pub fn one_of(description: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values.into_iter().map(Into::into)))
        .build()
}

pub use crate::domain::limits::MAX_REASON;

/// Characters of any one query parameter's value: the longest any takes is a reason.
pub const MAX_QUERY_VALUE: usize = MAX_REASON;

pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 200;
/// Highest page number: 20 million items at the largest page size, far beyond any list here, and
/// an offset no database overflows on.
pub const MAX_PAGE: i64 = 100_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
    offset: i64,
}

impl Page {
    pub fn offset(self) -> i64 {
        self.offset
    }
}

impl PageParams {
    pub fn resolve(&self, errors: &mut Vec<FieldError>) -> Page {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PAGE).contains(&page) {
            errors.push(FieldError::new(
                "page",
                "out_of_range",
                format!("page is between 1 and {MAX_PAGE}"),
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            errors.push(FieldError::new(
                "per_page",
                "out_of_range",
                format!("per_page is between 1 and {MAX_PER_PAGE}"),
            ));
        }
        let page = page.clamp(1, MAX_PAGE);
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let offset = (page - 1) * per_page;
        Page {
            page,
            per_page,
            offset,
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

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    use super::*;

    /// The bounds the document states for `page` and `per_page`, as numbers.
    fn documented_maximum(name: &str) -> f64 {
        let parameter = PageParams::into_params(|| None)
            .into_iter()
            .find(|p| p.name == name)
            .expect("the parameter");
        let Some(RefOr::T(Schema::Object(schema))) = parameter.schema else {
            panic!("{name} has an inline schema");
        };
        let maximum = serde_json::to_value(schema.maximum).expect("a number");
        maximum.as_f64().expect("a maximum")
    }

    #[test]
    fn the_document_states_the_page_bounds_the_service_enforces() {
        assert_eq!(documented_maximum("page"), MAX_PAGE as f64);
        assert_eq!(documented_maximum("per_page"), MAX_PER_PAGE as f64);
        let mut errors = Vec::new();
        let last = PageParams {
            page: Some(MAX_PAGE),
            per_page: Some(MAX_PER_PAGE),
        }
        .resolve(&mut errors);
        assert!(errors.is_empty());
        assert_eq!(last.offset(), (MAX_PAGE - 1) * MAX_PER_PAGE);
        PageParams {
            page: Some(MAX_PAGE + 1),
            per_page: Some(1),
        }
        .resolve(&mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "page");
    }
}
