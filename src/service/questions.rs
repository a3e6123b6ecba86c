//! 質疑応答: a coordinator asks about a procurement; an administrator answers, and the answer is
//! published to every eligible body without saying which body asked.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::auth::Identity;
use crate::db::audit::{self, Actor, Audience, Change};
use crate::db::questions::{self, QuestionRow};
use crate::db::{DbConnection, new_id};
use crate::domain::audit::{Action, EntityType};
use crate::domain::procurement::ProcurementStatus;
use crate::domain::user::Role;
use crate::error::ApiError;
use crate::service::notifications;
use crate::service::procurements::Procurement;
use crate::service::single_text;

pub const MAX_TEXT: usize = 4000;

/// The questions on `procurement` the caller may read: answered ones for everyone who sees the
/// procurement; unanswered ones only for the asking body and administrators.
pub fn readable(
    conn: &mut DbConnection,
    identity: &Identity,
    procurement: &Procurement,
) -> Result<Vec<QuestionRow>, ApiError> {
    Ok(questions::list_for_procurement(conn, procurement.id())?
        .into_iter()
        .filter(|q| q.answer.is_some() || identity.may_read_private(&q.organization_id))
        .collect())
}

/// Coordinators ask, for their body.
pub fn may_ask(identity: &Identity) -> Result<(), ApiError> {
    if identity.role == Role::Coordinator {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "role_forbidden",
            "Coordinators ask questions for their body.",
        ))
    }
}

/// Records a question of the caller's body about a published procurement.
pub fn ask(
    conn: &mut DbConnection,
    identity: &Identity,
    procurement: &Procurement,
    text: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<QuestionRow, ApiError> {
    may_ask(identity)?;
    if procurement.row.status != ProcurementStatus::Published {
        return Err(ApiError::conflict(
            "procurement_not_published",
            "Questions are asked while a procurement is published.",
        ));
    }
    let question = single_text(text, "question", MAX_TEXT)?;
    let row = QuestionRow {
        id: new_id(),
        procurement_id: procurement.id().clone(),
        organization_id: identity.organization_id.clone(),
        asked_by: identity.user_id.clone(),
        question,
        answer: None,
        answered_by: None,
        answered_at: None,
        created_at: now,
    };
    questions::insert(conn, &row)?;
    let payload =
        json!({"id": row.id, "procurement_id": row.procurement_id, "question": row.question});
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Question,
            entity_id: &row.id,
            action: Action::Asked,
            procurement_id: Some(&row.procurement_id),
            audience: Audience::Organization(row.organization_id.clone()),
            before: None,
            after: payload,
            reason: None,
        },
        now,
    )?;
    Ok(row)
}

/// Answers a question, or corrects an answer; the answer goes to every eligible body.
pub fn answer(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
    answer: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<QuestionRow, ApiError> {
    identity.require_admin()?;
    let answer = single_text(answer, "answer", MAX_TEXT)?;
    let current = questions::find(conn, id)?.ok_or_else(|| {
        ApiError::not_found(
            "question_not_found",
            format!("No question has the id {id:?}."),
        )
    })?;
    let mut row = current.clone();
    row.answer = Some(answer);
    row.answered_by = Some(identity.user_id.clone());
    row.answered_at = Some(now);
    questions::update(conn, &row)?;
    let before = json!({"answer": current.answer});
    let public = json!({"id": row.id, "procurement_id": row.procurement_id, "question": row.question, "answer": row.answer});
    audit::record_change(
        conn,
        actor,
        Change {
            entity_type: EntityType::Question,
            entity_id: &row.id,
            action: Action::Answered,
            procurement_id: Some(&row.procurement_id),
            audience: Audience::Council,
            before: Some(before),
            after: public,
            reason: None,
        },
        now,
    )?;
    notifications::question_answered(conn, &row, now)?;
    Ok(row)
}
