//! The console's pages, by what they are about.

mod account;
mod admin;
mod auth;
mod home;
mod procurements;
mod rounds;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::web::error::PageError;
use crate::web::session::Viewer;
use crate::web::templates;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(auth::sign_in_page)
        .service(auth::sign_in)
        .service(auth::sign_out)
        .service(auth::invitation_page)
        .service(auth::accept_invitation)
        .service(home::home)
        .service(procurements::new_form)
        .service(procurements::create)
        .service(procurements::edit_form)
        .service(procurements::update)
        .service(procurements::publish)
        .service(procurements::create_round)
        .service(procurements::show)
        .service(procurements::ask)
        .service(procurements::answer)
        .service(rounds::show)
        .service(rounds::answer)
        .service(rounds::estimate_fragment)
        .service(rounds::live_estimate)
        .service(rounds::act)
        .service(rounds::finalize)
        .service(rounds::allocation_csv)
        .service(rounds::answers_csv)
        .service(rounds::remind)
        .service(rounds::upload_answers)
        .service(account::page)
        .service(account::invite)
        .service(account::create_token)
        .service(account::revoke_token)
        .service(account::calendar_feed)
        .service(admin::outbox_page)
        .service(admin::retry)
        .service(admin::audit_page);
}

/// A page of the signed-in console: `context` plus the viewer, in the layout.
fn render_page(
    viewer: &Viewer,
    template: &str,
    mut context: Value,
) -> Result<HttpResponse, PageError> {
    context["viewer"] = json!(viewer.context());
    Ok(html(templates::render(template, context)?))
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(body)
}

/// After a form is handled: the browser loads `location` (303, so a reload does not post again).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
