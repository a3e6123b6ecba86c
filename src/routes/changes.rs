//! The change feed: API clients poll `GET /changes?since=<cursor>` and stay in sync, seeing each
//! change they may see exactly once, in a stable order.

use actix_web::{HttpResponse, get, web};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Identity;
use crate::db::audit::{self, ChangeRow, Cursor};
use crate::domain::id::ProcurementId;
use crate::error::{ApiError, Problem};
use crate::routes::extract::QueryString;
use crate::routes::one_of;
use crate::service::feed::Visibility;
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
/// A cursor as `encode` writes it: two whole numbers (a transaction and a position in it).
pub const CURSOR: &str = "^[0-9]{1,18}-[0-9]{1,18}$";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `next_cursor` of the previous page; leave out to start from the beginning.
    pub since: Option<String>,
    /// Changes per page (1–1000, default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedEntry {
    /// Position of this change; resuming from it yields the changes after it.
    pub cursor: String,
    pub occurred_at: DateTime<Utc>,
    /// `procurement`, `round`, `participation`, `question`.
    pub entity_type: String,
    pub entity_id: String,
    #[schema(schema_with = feed_action)]
    pub action: String,
    #[schema(value_type = Option<String>)]
    pub procurement_id: Option<ProcurementId>,
    /// The entity's public state after the change.
    pub data: serde_json::Value,
}

fn feed_action() -> utoipa::openapi::schema::Object {
    one_of(
        "What happened to the entity.",
        crate::domain::audit::feed_actions(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [], "next_cursor": "0-42"}))]
pub struct FeedPage {
    pub items: Vec<FeedEntry>,
    /// Pass as `since` next time. When `items` is empty, you are up to date: poll again later.
    pub next_cursor: String,
}

fn encode(cursor: Cursor) -> String {
    cursor.to_string()
}

fn decode(text: &str) -> Result<Cursor, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_cursor",
            "The cursor is not one this feed returned.",
        )
    };
    let (txid, seq) = text.split_once('-').ok_or_else(invalid)?;
    let number =
        |part: &str| (1..=18).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
    if !number(txid) || !number(seq) {
        return Err(invalid());
    }
    Ok(Cursor {
        txid: txid.parse().map_err(|_| invalid())?,
        seq: seq.parse().map_err(|_| invalid())?,
    })
}

fn entry(row: ChangeRow) -> Result<FeedEntry, ApiError> {
    Ok(FeedEntry {
        cursor: encode(Cursor {
            txid: row.txid,
            seq: row.seq,
        }),
        occurred_at: row.occurred_at.and_utc(),
        data: serde_json::from_str(&row.payload).context("a feed entry's data does not decode")?,
        entity_type: row.entity_type,
        entity_id: row.entity_id,
        action: row.action,
        procurement_id: row.procurement_id,
    })
}

/// Changes after a cursor, oldest first.
#[utoipa::path(
    tag = "changes",
    security(("bearer" = [])),
    params(FeedParams),
    responses((status = 200, body = FeedPage), (status = 400, description = "Unknown cursor", body = Problem, content_type = "application/problem+json"))
)]
#[get("/changes")]
pub async fn list_changes(
    state: web::Data<AppState>,
    identity: Identity,
    params: QueryString<FeedParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.parse()?;
    let cursor = params
        .since
        .as_deref()
        .map(decode)
        .transpose()?
        .unwrap_or_default();
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "out_of_range",
            format!("limit is between 1 and {MAX_LIMIT}"),
        ));
    }
    let page = state
        .db(move |conn| {
            let rows = audit::changes_after(conn, cursor, limit)?;
            let next = rows.last().map_or(cursor, |r| Cursor {
                txid: r.txid,
                seq: r.seq,
            });
            let mut visibility =
                Visibility::new(conn, &identity.organization_id, identity.is_admin())?;
            let mut items = Vec::new();
            for row in rows {
                if visibility.allows(conn, &row)? {
                    items.push(entry(row)?);
                }
            }
            Ok(FeedPage {
                items,
                next_cursor: encode(next),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
