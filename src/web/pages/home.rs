//! The first page after signing in: what is open for my body now, with its deadline, and every
//! procurement I may see.

use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};

use super::render_page;
use crate::service::procurements::{self, ListFilter, Listed};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::session::Viewer;

fn listed(item: &Listed) -> Value {
    let p = &item.procurement;
    json!({
        "id": p.id(),
        "title": p.row.title,
        "category": p.row.category,
        "status": p.row.status,
        "lead": item.lead.name,
        "mandatory": p.row.mandatory,
        "small_body_friendly": p.row.small_body_friendly,
        "awaiting": item.awaiting_my_response,
        "open_rounds": item.open_rounds.iter().map(|(round, answered)| json!({
            "id": round.id,
            "kind": round.kind,
            "closes_at": round.closes_at.and_utc(),
            "answered": answered,
        })).collect::<Vec<_>>(),
    })
}

#[get("/")]
pub async fn home(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, PageError> {
    let identity = viewer.identity.clone();
    let all = state
        .db(move |conn| procurements::list(conn, &identity, &ListFilter::default()))
        .await?;
    let (open, others): (Vec<&Listed>, Vec<&Listed>) =
        all.iter().partition(|item| !item.open_rounds.is_empty());
    render_page(
        &viewer,
        "home.j2",
        json!({
            "now": state.now().and_utc(),
            "open": open.into_iter().map(listed).collect::<Vec<_>>(),
            "others": others.into_iter().map(listed).collect::<Vec<_>>(),
        }),
    )
}
