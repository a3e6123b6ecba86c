use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::{StreamExt as _, stream};

use super::estimate::{EstimateParams, compute};
use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::routes::extract::QueryString;
use crate::state::AppState;

/// A comment line every this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Commits that come in a burst are priced once.
const SETTLE: Duration = Duration::from_millis(100);

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
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
        (status = 200, description = "`text/event-stream` of `estimate` events, each an Estimate", content_type = "text/event-stream", body = String),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
    let changes = state.cache.subscribe();
    // The first estimate before any byte is sent: a caller who may not see it gets a plain error.
    let (identity_first, id_first, org_first) = (identity.clone(), id.clone(), org.clone());
    let first = state
        .db(move |conn| compute(conn, &identity_first, &id_first, org_first.as_deref()))
        .await?;
    let first = serde_json::to_string(&first).map_err(anyhow::Error::from)?;
    struct Live {
        state: web::Data<AppState>,
        identity: Identity,
        id: RoundId,
        org: Option<String>,
        changes: tokio::sync::watch::Receiver<u64>,
        last: String,
        ended: bool,
    }
    let live = Live {
        state,
        identity,
        id,
        org,
        changes,
        last: first.clone(),
        ended: false,
    };
    let updates = stream::unfold(live, |mut live| async move {
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
            let (identity, id, org) = (live.identity.clone(), live.id.clone(), live.org.clone());
            let estimate = live
                .state
                .db(move |conn| compute(conn, &identity, &id, org.as_deref()))
                .await;
            let json = match estimate
                .and_then(|e| serde_json::to_string(&e).map_err(|e| anyhow::Error::from(e).into()))
            {
                Ok(json) => json,
                Err(error) => {
                    live.ended = true;
                    let problem = serde_json::to_string(&error.problem()).unwrap_or_default();
                    return Some((Ok::<_, actix_web::Error>(event("error", &problem)), live));
                }
            };
            if json != live.last {
                live.last.clone_from(&json);
                return Some((Ok(event("estimate", &json)), live));
            }
        }
    });
    let body = stream::once(async move { Ok::<_, actix_web::Error>(event("estimate", &first)) })
        .chain(updates);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}
