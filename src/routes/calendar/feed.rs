use actix_web::{HttpRequest, HttpResponse, get, web};

use super::feed_not_found;
use crate::error::{ApiError, Problem};
use crate::routes::rounds;
use crate::service::calendar;
use crate::state::AppState;

/// A calendar feed, as iCalendar (RFC 5545).
///
/// The opening and the deadline of every round that concerns the feed owner's body, in
/// Asia/Tokyo. For calendar clients, which send no bearer token: the secret address from
/// `POST /me/calendar` is the credential. Each event keeps its UID, and its SEQUENCE grows when the
/// round changes (an extended deadline moves the closing event); a cancelled round's events are
/// `STATUS:CANCELLED`. An address that was replaced or revoked is 404, like one that never was.
#[utoipa::path(
    tag = "calendar",
    security(()),
    params(("token" = String, Path, description = "The secret in the address `POST /me/calendar` gave")),
    responses(
        (status = 200, description = "iCalendar", content_type = "text/calendar", body = String),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/calendar/{token}.ics")]
pub async fn calendar_feed(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = token.into_inner();
    let feed = state
        .db(move |conn| calendar::feed(conn, &token))
        .await?
        .ok_or_else(feed_not_found)?;
    let base = state.exports.base_url(&request);
    let document = calendar::ics(&feed, |id| format!("{base}{}", rounds::location(id)))?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .body(document))
}
