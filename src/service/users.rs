//! Accounts: invitations and their acceptance.

use anyhow::Context as _;
use chrono::NaiveDateTime;

use crate::auth::Identity;
use crate::auth::secret;
use crate::db::audit::Actor;
use crate::db::users::UserRow;
use crate::db::{self, DbConnection};
use crate::domain::audit::{Action, EntityType};
use crate::domain::email::Email;
use crate::domain::field_error::FieldError;
use crate::domain::id::UserId;
use crate::domain::limits::MAX_NAME;
use crate::domain::notification::{Event, japanese_datetime};
use crate::domain::text::required_text;
use crate::domain::user::{Invitation, Role};
use crate::error::{ApiError, check};
use crate::service::notifications::{self, Message};
use crate::service::organizations::resolve;

/// Invites a user of the organization the invitation names (or the caller's), once the caller
/// may act for it. An address that already has an account the caller cannot see is answered
/// as any other, with a row that is never stored (its owner is not invited twice).
/// How long an invitation's link works.
pub const INVITATION_TTL_DAYS: i64 = 7;
/// Invitation tokens carry this prefix, so that a leaked one is recognizable.
const INVITATION_PREFIX: &str = "kyi_";

/// Who may invite: a signed-in person (not an API token) who is not a viewer; and an
/// administrator only by an administrator (`role`, once the invitation says it).
pub fn may_invite(identity: &Identity, role: Option<Role>) -> Result<(), ApiError> {
    identity.require_session()?;
    if identity.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Viewers cannot invite users.",
        ));
    }
    if role == Some(Role::Admin) && !identity.is_admin() {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Only administrators can invite administrators.",
        ));
    }
    Ok(())
}

pub fn invite(
    conn: &mut DbConnection,
    identity: &Identity,
    body: Invitation,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(UserRow, NaiveDateTime), ApiError> {
    may_invite(identity, Some(body.role))?;
    let invitation = &secret::generate(INVITATION_PREFIX);
    let expires_at = now + chrono::Duration::days(INVITATION_TTL_DAYS);
    let organization = match &body.organization {
        Some(key) => resolve(conn, key)?,
        None => db::organizations::find(conn, &identity.organization_id)?
            .context("the caller's organization is missing")?,
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
    let display_name = required_text(&body.display_name, "display_name", MAX_NAME, &mut errors);
    if body.role == Role::Admin && !organization.kind.runs_the_council() {
        errors.push(FieldError::new("role", "admin_outside_secretariat", format!("{} is not part of the council's secretariat; its users can be coordinators or viewers.", organization.name)));
    }
    check(errors)?;
    let email = email.context("a checked e-mail address is missing")?;
    let row = UserRow {
        id: UserId::generate(),
        organization_id: organization.id.clone(),
        email: email.to_string(),
        display_name,
        role: body.role,
        password_hash: None,
        invitation_token_hash: Some(invitation.digest.clone()),
        invitation_expires_at: Some(expires_at),
        created_by: Some(identity.user_id.clone()),
        created_at: now,
        updated_at: now,
    };
    let invited = serde_json::json!({"id": row.id, "email": row.email, "role": row.role, "organization_id": row.organization_id});
    if let Some(existing) = db::users::find_by_email(conn, email.as_str())? {
        if identity.may_read_private(&existing.organization_id) {
            return Err(ApiError::conflict(
                "email_taken",
                format!("{email} already has an account."),
            ));
        }
        // The same answer as for a new address, with an invitation that was never stored.
        let attempt = serde_json::json!({"email": row.email, "role": row.role, "organization_id": row.organization_id});
        db::audit::record_simple(
            conn,
            actor,
            (EntityType::User, &existing.id),
            Action::InvitationNotSent,
            None,
            Some(attempt),
            now,
        )?;
        return Ok((row, expires_at));
    }
    db::users::insert(conn, &row)?;
    db::audit::record_simple(
        conn,
        actor,
        (EntityType::User, &row.id),
        Action::Invited,
        None,
        Some(invited),
        now,
    )?;
    let inviter = db::users::find(conn, &identity.user_id)?
        .map(|u| u.display_name)
        .unwrap_or_default();
    notifications::enqueue(
        conn,
        vec![Message {
            event: Event::Invitation,
            recipient: row.email.clone(),
            organization_id: Some(row.organization_id.clone()),
            round_id: None,
            context: serde_json::json!({
                "display_name": row.display_name,
                "organization_name": organization.name,
                "role": row.role,
                "role_label": row.role.label_ja(),
                "inviter": inviter,
                "expires_at": japanese_datetime(expires_at),
                "path": format!("/invitations/{}", invitation.plain),
            }),
        }],
        now,
    )?;
    Ok((row, expires_at))
}

/// The account an unspent invitation token belongs to: 404 when unknown or spent, 410 when
/// expired.
pub fn pending_invitation(
    conn: &mut DbConnection,
    digest: &str,
    now: NaiveDateTime,
) -> Result<UserRow, ApiError> {
    let invited = db::users::find_by_invitation(conn, digest)?.ok_or_else(invitation_not_found)?;
    if invited.invitation_expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::gone(
            "invitation_expired",
            "The invitation has expired; ask for a new one.",
        ));
    }
    Ok(invited)
}

/// Sets the invited account's password and spends the invitation, unless another request spent
/// it first.
pub fn activate(
    conn: &mut DbConnection,
    invited: &UserRow,
    digest: &str,
    password_hash: &str,
    request_id: &str,
    now: NaiveDateTime,
) -> Result<UserRow, ApiError> {
    if !db::users::accept_invitation(conn, &invited.id, digest, password_hash, now)? {
        return Err(invitation_not_found());
    }
    let actor = Actor {
        user_id: Some(invited.id.clone()),
        organization_id: Some(invited.organization_id.clone()),
        request_id: Some(request_id.to_owned()),
    };
    db::audit::record_simple(
        conn,
        &actor,
        (EntityType::User, &invited.id),
        Action::Activated,
        None,
        Some(serde_json::json!({"id": invited.id, "email": invited.email})),
        now,
    )?;
    Ok(db::users::find(conn, &invited.id)?.context("the user who accepted is missing")?)
}

fn invitation_not_found() -> ApiError {
    ApiError::not_found(
        "invitation_not_found",
        "The invitation is unknown or has already been used.",
    )
}
