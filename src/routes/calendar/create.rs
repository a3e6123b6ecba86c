use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{MY_CALENDAR, feed_url};
use crate::auth::Identity;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::API_V1;
use crate::service::calendar;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct CreatedCalendarFeed {
    /// The feed's secret address, shown this once: subscribe to it in a calendar client. Anyone
    /// who has it sees the rounds of your body; replace it (`POST` again) or revoke it (`DELETE`)
    /// if it leaks.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// Create the caller's calendar feed, or replace it.
///
/// The feed is an iCalendar address with the opening and the deadline of every round that
/// concerns the caller's body (every round, for administrators), in Asia/Tokyo. It is shown once;
/// calling again makes a new address and the old one stops working. A `read_only` API token may
/// not do this.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 201, body = CreatedCalendarFeed, headers(("Location" = String, description = "The caller's feed, for its state and for revoking it"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with a read-only API token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/me/calendar")]
pub async fn create_calendar_feed(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let actor = identity.actor(&request_id);
    let now = state.now();
    let feed = state
        .transaction(move |conn| calendar::rotate(conn, &identity.user_id, &actor, now))
        .await?;
    let created = CreatedCalendarFeed {
        url: feed_url(&state.exports.base_url(&request), &feed.secret),
        created_at: feed.row.created_at.and_utc(),
    };
    Ok(Reply::created(&format!("{API_V1}{MY_CALENDAR}"), &created)?.into_response())
}
