//! Webhooks: endpoints a body registers to be told of the changes it may see, instead of polling
//! the feed.
//!
//! Every change is already written to the feed (`changes`) in its own transaction. The relay
//! turns new feed entries into one outbox row per endpoint that subscribed to the change and may
//! see it, in one transaction that also moves its position: a committed change is delivered to
//! each endpoint once, and a request never waits for it. The dispatcher delivers those rows as
//! it delivers e-mail.

use std::collections::HashMap;

use anyhow::Context as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use crate::auth::Identity;
use crate::db::audit::{self, Actor, ChangeRow};
use crate::db::outbox::{self, OutboxRow};
use crate::db::webhooks::{self, WebhookRow};
use crate::db::{self, DbConnection, new_id};
use crate::domain::audit::{Action, EntityType, webhook_events};
use crate::domain::field_error::FieldError;
use crate::domain::id::OrganizationId;
use crate::domain::notification::{Channel, Event};
use crate::domain::webhook::WebhookTarget;
use crate::error::{ApiError, check};
use crate::service::feed::Visibility;
use crate::service::notifications::{self, Message};
use crate::service::organizations::resolve;

/// Feed entries relayed at a time.
const RELAY_BATCH: i64 = 500;

/// What a caller asks to register.
pub struct Registration {
    pub url: String,
    pub events: Vec<String>,
    /// Id or code; the caller's own body when absent.
    pub organization: Option<String>,
}

/// A new signing secret, as Standard Webhooks writes it: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "webhook_not_found",
        format!("No webhook endpoint you may see has the id {id:?}."),
    )
}

/// Registers an endpoint of `registration.organization` (the caller's by default), once the
/// caller may act for it. The URL is checked for shape here and its addresses by `target`.
pub fn register(
    conn: &mut DbConnection,
    identity: &Identity,
    registration: Registration,
    target: &WebhookTarget,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<WebhookRow, ApiError> {
    let organization = match &registration.organization {
        Some(key) => resolve(conn, key)?,
        None => db::organizations::find(conn, &identity.organization_id)?
            .context("the caller's organization is missing")?,
    };
    if !identity.may_act_for(&organization.id) {
        return Err(ApiError::forbidden(
            "not_your_organization",
            "Coordinators register webhooks of their own organization only.",
        ));
    }
    let mut errors = Vec::new();
    let known = webhook_events();
    let mut events = Vec::new();
    if registration.events.is_empty() {
        errors.push(FieldError::new(
            "events",
            "required",
            "name the changes to deliver, or [\"*\"] for all",
        ));
    }
    for (i, event) in registration.events.iter().enumerate() {
        if event == "*" || known.contains(event) {
            if !events.contains(event) {
                events.push(event.clone());
            }
        } else {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                "unknown_event",
                format!("{event:?} is not a change the feed carries, such as participation.joined"),
            ));
        }
    }
    if let Err(why) = target.check_shape(&registration.url) {
        errors.push(FieldError::new("url", "url_not_allowed", why));
    }
    check(errors)?;
    let row = WebhookRow {
        id: new_id(),
        organization_id: organization.id,
        url: registration.url.trim().to_owned(),
        events: json!(events).to_string(),
        secret: new_secret(),
        created_by: Some(identity.user_id.clone()),
        created_at: now,
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
    };
    webhooks::insert(conn, &row)?;
    db::audit::record_simple(
        conn,
        actor,
        (EntityType::Webhook, &row.id),
        Action::Created,
        None,
        Some(json!({"url": row.url, "events": events, "organization_id": row.organization_id})),
        now,
    )?;
    Ok(row)
}

/// The endpoints the caller may see: its body's, or with `organization` (administrators) that
/// body's, or every one (administrators without a filter).
pub fn list(
    conn: &mut DbConnection,
    identity: &Identity,
    organization: Option<&str>,
) -> Result<Vec<WebhookRow>, ApiError> {
    let organization = match organization {
        Some(key) => Some(resolve(conn, key)?.id),
        None if identity.is_admin() => None,
        None => Some(identity.organization_id.clone()),
    };
    if let Some(id) = &organization
        && !identity.may_read_private(id)
    {
        return Err(ApiError::forbidden(
            "not_your_organization",
            "Webhooks are private to their organization.",
        ));
    }
    Ok(webhooks::list(conn, organization.as_ref())?)
}

/// An endpoint the caller may see; 404 otherwise.
pub fn visible(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
) -> Result<WebhookRow, ApiError> {
    webhooks::find(conn, id)?
        .filter(|row| identity.may_read_private(&row.organization_id))
        .ok_or_else(|| not_found(id))
}

/// An endpoint the caller may change: 404 when it may not see it, 403 when it only reads it.
fn changeable(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
) -> Result<WebhookRow, ApiError> {
    let row = visible(conn, identity, id)?;
    if !identity.may_act_for(&row.organization_id) {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Viewers cannot change webhooks.",
        ));
    }
    Ok(row)
}

/// Deletes an endpoint; deliveries not yet made fail as the dispatcher reaches them.
pub fn delete(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let row = changeable(conn, identity, id)?;
    webhooks::delete(conn, id)?;
    db::audit::record_simple(
        conn,
        actor,
        (EntityType::Webhook, id),
        Action::Revoked,
        Some(json!({"url": row.url, "organization_id": row.organization_id})),
        None,
        now,
    )?;
    Ok(())
}

/// Gives an endpoint a new signing secret; deliveries from now on are signed with it.
pub fn rotate_secret(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<WebhookRow, ApiError> {
    let mut row = changeable(conn, identity, id)?;
    row.secret = new_secret();
    webhooks::set_secret(conn, id, &row.secret)?;
    db::audit::record_simple(
        conn,
        actor,
        (EntityType::Webhook, id),
        Action::SecretRotated,
        None,
        Some(json!({"url": row.url})),
        now,
    )?;
    Ok(row)
}

/// The endpoint's deliveries, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    identity: &Identity,
    id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<OutboxRow>, i64), ApiError> {
    visible(conn, identity, id)?;
    let filter = outbox::OutboxFilter {
        channel: Some(Channel::Webhook.to_string()),
        recipient: Some(id.to_owned()),
        ..Default::default()
    };
    Ok(outbox::list(conn, &filter, offset, limit)?)
}

/// Turns feed entries after the relay's position into deliveries, in one transaction that moves
/// the position. Returns how many deliveries it wrote.
pub fn relay(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    // A look without a lock first: most passes find nothing new, and on SQLite the transaction
    // below takes the write lock.
    let position = webhooks::relay_position(conn)?;
    if audit::changes_after(conn, position, 1)?.is_empty() {
        return Ok(0);
    }
    // Without endpoints there is nobody to relay to: the position waits, and an endpoint
    // registered later skips what came before it (`created_at`).
    if webhooks::active(conn)?.is_empty() {
        return Ok(0);
    }
    db::transaction(conn, |conn| {
        let cursor = webhooks::lock_relay(conn)?;
        let changes = audit::changes_after(conn, cursor, RELAY_BATCH)?;
        let Some(last) = changes.last() else {
            return Ok(0);
        };
        let next = audit::Cursor {
            txid: last.txid,
            seq: last.seq,
        };
        let endpoints = webhooks::active(conn)?;
        let mut rows = Vec::new();
        let mut views: HashMap<OrganizationId, Visibility> = HashMap::new();
        for change in &changes {
            let event = format!("{}.{}", change.entity_type, change.action);
            for endpoint in &endpoints {
                if change.occurred_at < endpoint.created_at || !subscribes(endpoint, &event) {
                    continue;
                }
                let view = match views.entry(endpoint.organization_id.clone()) {
                    std::collections::hash_map::Entry::Occupied(seen) => seen.into_mut(),
                    std::collections::hash_map::Entry::Vacant(new) => {
                        let admin = db::organizations::find(conn, &endpoint.organization_id)?
                            .is_some_and(|o| o.kind.runs_the_council());
                        new.insert(Visibility::new(conn, &endpoint.organization_id, admin)?)
                    }
                };
                if !view.allows(conn, change)? {
                    continue;
                }
                rows.push(delivery(endpoint, change, &event, now)?);
            }
        }
        outbox::insert(conn, &rows)?;
        webhooks::advance_relay(conn, next)?;
        Ok(rows.len())
    })
}

fn subscribes(endpoint: &WebhookRow, event: &str) -> bool {
    let events: Vec<String> = serde_json::from_str(&endpoint.events).unwrap_or_default();
    events.iter().any(|e| e == "*" || e == event)
}

/// The outbox row of one change for one endpoint: its context is the body the endpoint receives,
/// `{type, timestamp, data}` as Standard Webhooks shapes it, `data` being the feed entry.
fn delivery(
    endpoint: &WebhookRow,
    change: &ChangeRow,
    event: &str,
    now: NaiveDateTime,
) -> Result<OutboxRow, ApiError> {
    let data: serde_json::Value =
        serde_json::from_str(&change.payload).context("a feed entry's data does not decode")?;
    let body = json!({
        "type": event,
        "timestamp": change.occurred_at.and_utc(),
        "data": {
            "cursor": audit::Cursor { txid: change.txid, seq: change.seq }.to_string(),
            "entity_type": change.entity_type,
            "entity_id": change.entity_id,
            "action": change.action,
            "procurement_id": change.procurement_id,
            "data": data,
        },
    });
    Ok(OutboxRow::pending(
        Channel::Webhook,
        event,
        endpoint.id.clone(),
        Some(endpoint.organization_id.clone()),
        None,
        body.to_string(),
        now,
    ))
}

/// Records how a delivery to `endpoint` went: a success ends its failing spell; a failure starts
/// one, and one that has lasted `disable_after` disables the endpoint and e-mails whoever
/// registered it. Returns whether the endpoint was disabled now.
pub fn record_outcome(
    conn: &mut DbConnection,
    endpoint: &str,
    delivered: bool,
    disable_after: Duration,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    db::transaction(conn, |conn| {
        if delivered {
            webhooks::succeeded(conn, endpoint)?;
            return Ok(false);
        }
        let Some(since) = webhooks::failed(conn, endpoint, now)? else {
            return Ok(false);
        };
        if now - since < disable_after {
            return Ok(false);
        }
        let reason = format!(
            "every delivery failed from {} on",
            since.and_utc().to_rfc3339()
        );
        if !webhooks::disable(conn, endpoint, &reason, now)? {
            return Ok(false);
        }
        let Some(row) = webhooks::find(conn, endpoint)? else {
            return Ok(false);
        };
        db::audit::record_simple(
            conn,
            &Actor::system(),
            (EntityType::Webhook, endpoint),
            Action::Disabled,
            None,
            Some(json!({"url": row.url, "reason": reason})),
            now,
        )?;
        let owner = match &row.created_by {
            Some(user) => db::users::find(conn, user)?,
            None => None,
        };
        if let Some(owner) = owner {
            notifications::enqueue(
                conn,
                vec![Message {
                    event: Event::WebhookDisabled,
                    recipient: owner.email,
                    organization_id: Some(row.organization_id.clone()),
                    round_id: None,
                    context: json!({
                        "display_name": owner.display_name,
                        "url": row.url,
                        "failing_since": crate::domain::notification::japanese_datetime(since),
                        "path": format!("/api/v1/webhooks/{}", row.id),
                    }),
                }],
                now,
            )?;
        }
        Ok(true)
    })
}
