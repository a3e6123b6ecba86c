use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::IdempotencyKey;
use crate::routes::extract::JsonBody;
use crate::routes::organizations::OrganizationSummary;
use crate::service::notifications;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organizations": ["202011", "203025"]}))]
pub struct RemindRequest {
    /// Only these bodies (id or 全国地方公共団体コード), each eligible; every body that has not
    /// answered when left out.
    #[schema(max_items = 200)]
    pub organizations: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemindedView {
    /// Bodies reminded: at least one of their addresses takes reminders.
    pub reminded: usize,
    /// Messages written to the outbox, one per address.
    pub messages: usize,
    /// The bodies reminded, in code order.
    pub organizations: Vec<OrganizationSummary>,
}

/// Send an open round's reminder now (administrators).
///
/// The reminder e-mail goes at once to every eligible body that has not answered (or to those of
/// `organizations` that have not), at each of its addresses that did not opt out of reminders. It
/// is recorded once in the audit log and the feed (`round.reminded`, for administrators), and does
/// not replace the reminders the round sends by itself before its deadline.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), IdempotencyKey),
    request_body(content = Option<RemindRequest>, description = "Optional: which bodies"),
    responses(
        (status = 200, body = RemindedView, example = json!({
            "reminded": 1,
            "messages": 2,
            "organizations": [{"id": "0190a0c4-3d1f-7c2e-9f4b-1a2b3c4d5e6f", "lg_code": "202011", "name": "長野市", "romaji": "Nagano-shi", "kind": "city"}]
        })),
        (status = 403, description = "Not an administrator (`admin_only`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such round (`round_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round does not take answers (`round_not_open`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body not sent as JSON (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body of another shape (`invalid_body`), or a body that is unknown or not eligible (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rounds/{id}/reminders")]
pub async fn remind(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    body: JsonBody<RemindRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let only = body.parse_or_default()?.organizations;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let reminded =
                notifications::remind_now(conn, &identity, &actor, &id, only.as_deref(), now)?;
            Reply::ok(&RemindedView {
                reminded: reminded.organizations.len(),
                messages: reminded.messages,
                organizations: reminded
                    .organizations
                    .iter()
                    .map(OrganizationSummary::from)
                    .collect(),
            })
        })
        .await
}
