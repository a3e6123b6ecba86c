//! The secretariat's records: the outbox (failed messages, retry) and the audit log, filtered.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use serde_json::json;
use tracing_actix_web::RequestId;

use super::{render_page, see_other};
use crate::db::{audit, outbox};
use crate::domain::audit::audit_actions;
use crate::domain::notification::from_jst;
use crate::error::{ApiError, check};
use crate::routes::audit::{AuditEvent, AuditParams};
use crate::routes::notifications::{Notification, NotificationParams};
use crate::routes::{Page, PageParams};
use crate::service::notifications;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::form::{CsrfForm, query};
use crate::web::session::Viewer;

/// The page of a list the query asks for, checked as the API checks it.
fn page_of(req: &HttpRequest) -> Result<Page, ApiError> {
    let params: PageParams = query(req)?;
    let mut errors = Vec::new();
    let page = params.resolve(&mut errors);
    check(errors)?;
    Ok(page)
}

/// The query string without its page, for the links to other pages.
fn filters_of(req: &HttpRequest) -> String {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, v)| k != "page" && !v.is_empty())
        .fold(
            url::form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            },
        )
        .finish()
}

#[get("/admin/outbox")]
pub async fn outbox_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    viewer.identity.require_admin()?;
    let page = page_of(&req)?;
    let params: NotificationParams = query(&req)?;
    let shown =
        json!({"state": params.state, "recipient": params.recipient, "event": params.event});
    let filter = params.filter();
    let (rows, total) = state
        .db(move |conn| Ok(outbox::list(conn, &filter, page.offset(), page.per_page)?))
        .await?;
    let items = rows
        .into_iter()
        .map(Notification::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    render_page(
        &viewer,
        "outbox.j2",
        json!({
            "items": items, "total": total, "page": page.page, "per_page": page.per_page,
            "filter": shown, "filters": filters_of(&req),
        }),
    )
}

#[post("/admin/outbox/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    viewer: Viewer,
    request_id: RequestId,
    id: web::Path<String>,
    _: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    identity.require_admin()?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let id = id.into_inner();
    state
        .transaction(move |conn| notifications::retry(conn, &id, &actor, now))
        .await?;
    Ok(see_other("/admin/outbox?state=pending"))
}

/// The audit log's filters as the form sends them: dates are whole JST days.
#[derive(Deserialize)]
struct AuditQuery {
    entity_type: Option<String>,
    action: Option<String>,
    entity_id: Option<String>,
    actor_organization: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

#[get("/admin/audit")]
pub async fn audit_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    viewer.identity.require_admin()?;
    let page = page_of(&req)?;
    let q: AuditQuery = query(&req)?;
    let jst_midnight = |day: NaiveDate| from_jst(day.and_time(NaiveTime::MIN)).and_utc();
    let shown = json!({
        "entity_type": q.entity_type, "action": q.action, "entity_id": q.entity_id,
        "actor_organization": q.actor_organization, "from": q.from, "to": q.to,
    });
    let filter = AuditParams {
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        action: q.action,
        actor: None,
        actor_organization: q.actor_organization,
        since: q.from.map(jst_midnight),
        until: q
            .to
            .map(|day| jst_midnight(day + chrono::Duration::days(1))),
    }
    .filter();
    let (rows, total) = state
        .db(move |conn| Ok(audit::list(conn, &filter, page.offset(), page.per_page)?))
        .await?;
    let items: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
    let actions = audit_actions();
    let mut entity_types: Vec<&str> = actions
        .iter()
        .filter_map(|a| a.split_once('.').map(|(entity, _)| entity))
        .collect();
    entity_types.sort_unstable();
    entity_types.dedup();
    render_page(
        &viewer,
        "audit.j2",
        json!({
            "items": items, "total": total, "page": page.page, "per_page": page.per_page,
            "filter": shown, "filters": filters_of(&req),
            "actions": actions,
            "entity_types": entity_types,
        }),
    )
}
