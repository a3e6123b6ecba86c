use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::{StreamExt as _, stream};

use super::estimate::{EstimateParams, compute};
use crate::auth::Identity;
use crate::db::DbConnection;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::routes::extract::QueryString;
use crate::state::AppState;

/// A comment line every this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Commits that come in a burst are priced once.
const SETTLE: Duration = Duration::from_millis(100);

/// One event; data of several lines (an HTML fragment) takes a `data:` line each.
fn event(name: &str, data: &str) -> Bytes {
    let mut text = format!("event: {name}\n");
    for line in data.lines() {
        text.push_str("data: ");
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    Bytes::from(text)
}

/// One server-sent event of the stream, as a client's event parser hands it over.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the events; they are written by `event`.
pub struct EstimateEvent {
    #[schema(schema_with = event_name)]
    event: String,
    #[schema(schema_with = event_data)]
    data: String,
}

fn event_name() -> utoipa::openapi::schema::Object {
    crate::routes::one_of(
        "`estimate`, or `error` (which ends the stream)",
        ["estimate", "error"],
    )
}

fn event_data() -> utoipa::openapi::schema::Object {
    let mut data = utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "An Estimate, or for `error` a problem document, as JSON",
        ))
        .build();
    data.content_media_type = "application/json".to_owned();
    data
}

/// The estimate of `GET /rounds/{id}/estimate`, live (server-sent events): an `estimate` event at
/// once, then another whenever a change anywhere in the service — this instance or another on the
/// same database — changes it; a comment every 15 s while nothing does. An `error` event (a
/// problem document) ends the stream, e.g. when the round is no longer visible.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), EstimateParams),
    responses(
        (status = 200, description = "`text/event-stream` of `estimate` events, each an Estimate", content_type = "text/event-stream", body = EstimateEvent),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`allocation_impossible`, as for `GET /rounds/{id}/estimate`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`org` is a malformed 団体コード", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/estimate/stream")]
pub async fn estimate_stream(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
    query: QueryString<EstimateParams>,
) -> Result<HttpResponse, ApiError> {
    let org = query.parse()?.org;
    let id = id.into_inner();
    let render = move |conn: &mut DbConnection| {
        let estimate = compute(conn, &identity, &id, org.as_deref())?;
        Ok(serde_json::to_string(&estimate).map_err(anyhow::Error::from)?)
    };
    live(state, "estimate", render).await
}

/// Server-sent events of what `render` makes of the database: an `event` at once, then another
/// whenever a change anywhere in the service — this instance or another on the same database —
/// changes it; a comment every 15 s while nothing does. When `render` fails before anything is
/// sent, that is the answer; later, an `error` event (a problem document) ends the stream.
pub async fn live<F>(
    state: web::Data<AppState>,
    event_name: &'static str,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: Fn(&mut DbConnection) -> Result<String, ApiError> + Clone + Send + 'static,
{
    let changes = state.cache.subscribe();
    // The first rendering before any byte is sent: a caller who may not see it gets a plain error.
    let first = state.db(render.clone()).await?;
    struct Live<F> {
        state: web::Data<AppState>,
        render: F,
        changes: tokio::sync::watch::Receiver<u64>,
        last: String,
        ended: bool,
    }
    let live = Live {
        state,
        render,
        changes,
        last: first.clone(),
        ended: false,
    };
    let updates = stream::unfold(live, move |mut live| async move {
        if live.ended {
            return None;
        }
        loop {
            match actix_web::rt::time::timeout(KEEP_ALIVE, live.changes.changed()).await {
                Err(_) => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), live)),
                Ok(Err(_)) => return None,
                Ok(Ok(())) => {}
            }
            actix_web::rt::time::sleep(SETTLE).await;
            live.changes.mark_unchanged();
            let data = match live.state.db(live.render.clone()).await {
                Ok(data) => data,
                Err(error) => {
                    live.ended = true;
                    let problem = serde_json::to_string(&error.problem()).unwrap_or_default();
                    return Some((Ok::<_, actix_web::Error>(event("error", &problem)), live));
                }
            };
            if data != live.last {
                live.last.clone_from(&data);
                return Some((Ok(event(event_name, &data)), live));
            }
        }
    });
    let body = stream::once(async move { Ok::<_, actix_web::Error>(event(event_name, &first)) })
        .chain(updates);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}
