//! Opens and closes rounds on time. Each instance runs one; a round changes state through a
//! conditional update, so with several instances on one database it still opens once.

use std::time::Duration;

use actix_web::web;

use crate::db::{console_sessions, idempotency};
use crate::error::ApiError;
use crate::service::notifications;
use crate::service::rounds::run_due;
use crate::state::AppState;

/// One pass: every round whose opening or closing time has come changes state, reminders that
/// are due are written to the outbox, and expired idempotency keys are forgotten. Returns how many rounds changed.
pub async fn tick(state: &AppState) -> Result<usize, ApiError> {
    let now = state.now();
    let changed = state
        .db(move |conn| {
            idempotency::purge(
                conn,
                now - chrono::Duration::hours(crate::idempotency::RETENTION_HOURS),
            )?;
            console_sessions::delete_expired(conn, now)?;
            let changed = run_due(conn, now)?;
            notifications::send_due_reminders(conn, now)?;
            Ok(changed)
        })
        .await?;
    if changed > 0 {
        state.cache.invalidate();
    }
    Ok(changed)
}

/// Ticks every `interval` until the server stops.
pub async fn run(state: web::Data<AppState>, interval: Duration) {
    let mut timer = actix_web::rt::time::interval(interval);
    loop {
        timer.tick().await;
        match tick(&state).await {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "scheduler changed rounds"),
            Err(error) => tracing::error!(error = %error.cause_chain(), "scheduler pass failed"),
        }
    }
}
