use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::UserView;
use crate::auth::Identity;
use crate::domain::user::Invitation;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::API_V1;
use crate::routes::extract::JsonBody;
use crate::service::users;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitedUser {
    pub user: UserView,
    /// Until when the link e-mailed to the new user works. The one-time token travels only by
    /// e-mail, to the invited address.
    pub invitation_expires_at: DateTime<Utc>,
}

/// Invite a user. Administrators invite anyone; coordinators invite users of their own body.
///
/// The new user is e-mailed a one-time link (`POST /invitations/{token}/accept` sets the
/// password); the token is never in this answer.
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
    request_body = Invitation,
    responses(
        (status = 201, body = InvitedUser, headers(("Location" = String, description = "The user"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No organization has the id or code given (`organization_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail address has an account the caller can see", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    identity: Identity,
    request_id: tracing_actix_web::RequestId,
    body: JsonBody<Invitation>,
) -> Result<HttpResponse, ApiError> {
    // Who may invite is settled before the body is read, whom once it is.
    users::may_invite(&identity, None)?;
    let body = body.parse()?;
    users::may_invite(&identity, Some(body.role))?;
    let actor = identity.actor(&request_id);
    let now = state.now();
    let (row, expires_at) = state
        .transaction(move |conn| users::invite(conn, &identity, body, &actor, now))
        .await?;
    let location = format!("{API_V1}/users/{}", row.id);
    let invited = InvitedUser {
        user: UserView::from(row),
        invitation_expires_at: expires_at.and_utc(),
    };
    Ok(Reply::created(&location, &invited)?.into_response())
}
