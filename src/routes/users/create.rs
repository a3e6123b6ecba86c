use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::UserView;
use crate::auth::Identity;
use crate::auth::secret;
use crate::db::users::UserRow;
use crate::db::{self, new_id};
use crate::domain::email::Email;
use crate::domain::organization::OrganizationKind;
use crate::domain::text::required_text;
use crate::domain::user::Role;
use crate::error::check;
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::extract::JsonBody;
use crate::service::organizations::resolve;
use crate::state::AppState;

pub const INVITATION_TTL_DAYS: i64 = 7;
const INVITATION_PREFIX: &str = "kyi_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "dx@city.nagano.lg.jp", "display_name": "信州 太郎", "role": "coordinator", "organization": "202011"}))]
pub struct CreateUserRequest {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Organization id or 全国地方公共団体コード; defaults to the caller's organization.
    pub organization: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitedUser {
    pub user: UserView,
    /// One-time token for `POST /invitations/{token}/accept`; shown only here.
    pub invitation_token: String,
    pub invitation_expires_at: DateTime<Utc>,
}

/// Invite a user. Administrators invite anyone; coordinators invite users of their own body.
///
/// Administrators belong to the council's secretariat (長野県 or 長野県市町村自治振興組合).
/// Inviting needs a password login (403 `session_required` with an API token), so that a leaked
/// token cannot create accounts. An address that already has an account is answered as any
/// other (201, with an invitation that cannot be accepted), so that the answer does not reveal
/// who has an account; only when the caller may already see that account (administrators, and
/// coordinators for their own body) is it 409 `email_taken`.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = InvitedUser),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail address has an account the caller can see", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
    body: JsonBody<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    identity.require_session()?;
    if identity.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Viewers cannot invite users.",
        ));
    }
    let body = body.parse()?;
    if body.role == Role::Admin && !identity.is_admin() {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Only administrators can invite administrators.",
        ));
    }
    let actor = identity.actor(&request_id);
    let invitation = secret::generate(INVITATION_PREFIX);
    let now = state.now();
    let expires_at = now + Duration::days(INVITATION_TTL_DAYS);
    let row = state
        .transaction(move |conn| {
            let organization = match &body.organization {
                Some(key) => resolve(conn, key)?,
                None => db::organizations::find(conn, &identity.organization_id)?
                    .ok_or_else(ApiError::internal)?,
            };
            if !identity.may_act_for(&organization.id) {
                return Err(ApiError::forbidden(
                    "not_your_organization",
                    "Coordinators invite users of their own organization only.",
                ));
            }
            let mut errors = Vec::new();
            let email = Email::parse(&body.email)
                .map_err(|e| errors.push(FieldError::new("email", "invalid_format", e.to_string())))
                .ok();
            let display_name = required_text(&body.display_name, "display_name", 100, &mut errors);
            let kind: OrganizationKind = organization.kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            if body.role == Role::Admin && !kind.runs_the_council() {
                errors.push(FieldError::new("role", "admin_outside_secretariat", format!("{} is not part of the council's secretariat; its users can be coordinators or viewers.", organization.name)));
            }
            check(errors)?;
            let email = email.ok_or_else(ApiError::internal)?;
            let row = UserRow {
                id: new_id(),
                organization_id: organization.id,
                email: email.to_string(),
                display_name,
                role: body.role.as_str().to_owned(),
                password_hash: None,
                invitation_token_hash: Some(invitation.digest),
                invitation_expires_at: Some(expires_at),
                created_by: Some(identity.user_id.clone()),
                created_at: now,
                updated_at: now,
            };
            let invited = serde_json::json!({"id": row.id, "email": row.email, "role": row.role, "organization_id": row.organization_id});
            if let Some(existing) = db::users::find_by_email(conn, email.as_str())? {
                if identity.may_read_private(&existing.organization_id) {
                    return Err(ApiError::conflict("email_taken", format!("{email} already has an account.")));
                }
                // The same answer as for a new address, with an invitation that was never stored.
                let attempt = serde_json::json!({"email": row.email, "role": row.role, "organization_id": row.organization_id});
                db::audit::record_simple(conn, &actor, "user.invitation_not_sent", ("user", &existing.id), None, Some(attempt), now)?;
                return Ok(row);
            }
            db::users::insert(conn, &row)?;
            db::audit::record_simple(conn, &actor, "user.invited", ("user", &row.id), None, Some(invited), now)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(InvitedUser {
        user: UserView::try_from(row)?,
        invitation_token: invitation.plain,
        invitation_expires_at: expires_at.and_utc(),
    }))
}
