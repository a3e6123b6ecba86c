use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Identity;
use crate::db::audit::{self, AuditEventRow, AuditFilter};
use crate::domain::id::{OrganizationId, UserId};
use crate::error::check;
use crate::error::{ApiError, Problem};
use crate::routes::extract::QueryString;
use crate::routes::{PageParams, Paginated, one_of};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// `procurement`, `round`, `participation`, `question`.
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// e.g. `participation.joined`, `round.opened`.
    pub action: Option<String>,
    /// User id.
    pub actor: Option<String>,
    /// Organization id of the acting user.
    pub actor_organization: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    /// Null when the service acted by itself (the scheduler).
    #[schema(value_type = Option<String>)]
    pub actor_user_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub actor_organization_id: Option<OrganizationId>,
    #[schema(schema_with = audit_action)]
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
    /// Also in the service's logs and the response's `x-request-id`.
    pub request_id: Option<String>,
}

impl AuditParams {
    pub fn filter(self) -> AuditFilter {
        AuditFilter {
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            action: self.action,
            actor_user_id: self.actor.map(UserId::from),
            actor_organization_id: self.actor_organization.map(OrganizationId::from),
            since: self.since.map(|t| t.naive_utc()),
            until: self.until.map(|t| t.naive_utc()),
        }
    }
}

impl From<AuditEventRow> for AuditEvent {
    fn from(r: AuditEventRow) -> Self {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Self {
            id: r.id,
            occurred_at: r.occurred_at.and_utc(),
            actor_user_id: r.actor_user_id,
            actor_organization_id: r.actor_organization_id,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            before: json(r.before),
            after: json(r.after),
            reason: r.reason,
            request_id: r.request_id,
        }
    }
}

fn audit_action() -> utoipa::openapi::schema::Object {
    one_of(
        "What happened: the entity type, a dot, and the change.",
        crate::domain::audit::audit_actions(),
    )
}

/// The audit log, newest first (administrators).
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(AuditParams, PageParams),
    responses((status = 200, body = Paginated<AuditEvent>), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    identity: Identity,
    params: QueryString<AuditParams>,
    page: QueryString<PageParams>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let params = params.parse()?;
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    check(errors)?;
    let filter = params.filter();
    let (rows, total) = state
        .db(move |conn| Ok(audit::list(conn, &filter, page.offset(), page.per_page)?))
        .await?;
    let items = rows.into_iter().map(AuditEvent::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page, total)))
}
