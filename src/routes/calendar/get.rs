use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::db::calendar_feeds;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct CalendarFeedView {
    /// When the current address was made. The address itself is shown only when it is made.
    pub created_at: DateTime<Utc>,
}

/// Whether the caller has a calendar feed, and since when.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CalendarFeedView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No feed: create one with `POST`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me/calendar")]
pub async fn get_calendar_feed(
    state: web::Data<AppState>,
    identity: Identity,
) -> Result<HttpResponse, ApiError> {
    let feed = state
        .db(move |conn| Ok(calendar_feeds::find_active(conn, &identity.user_id)?))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "calendar_feed_not_found",
                "You have no calendar feed; create one with POST /api/v1/me/calendar.",
            )
        })?;
    Ok(HttpResponse::Ok().json(CalendarFeedView {
        created_at: feed.created_at.and_utc(),
    }))
}
