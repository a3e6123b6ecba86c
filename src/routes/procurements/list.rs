use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ProcurementView, view_with_lead};
use crate::auth::Identity;
use crate::db::{organizations, participations, procurements, rounds};
use crate::domain::procurement::{Category, ProcurementStatus};
use crate::domain::round::{RoundKind, RoundState};
use crate::error::{ApiError, Problem};
use crate::routes::extract::QueryString;
use crate::routes::organizations::OrganizationLink;
use crate::routes::{PageParams, Paginated, check};
use crate::service::procurements::Procurement;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProcurementFilter {
    pub status: Option<ProcurementStatus>,
    pub category: Option<Category>,
    /// ★ only.
    pub small_body_friendly: Option<bool>,
    /// Only procurements with a round open now.
    pub open_round: Option<bool>,
    /// Only procurements with an open round that the caller's body has not answered.
    pub awaiting_my_response: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenRound {
    pub id: String,
    pub kind: RoundKind,
    pub closes_at: DateTime<Utc>,
    /// Whether the caller's body has answered.
    pub answered: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcurementListItem {
    #[serde(flatten)]
    pub procurement: ProcurementView,
    pub open_rounds: Vec<OpenRound>,
    /// An open round awaits the caller's body's answer.
    pub awaiting_my_response: bool,
}

/// Procurements the caller may see: administrators all; other users the published (and later)
/// ones their body is eligible for. Newest first.
#[utoipa::path(
    tag = "procurements",
    security(("bearer" = [])),
    params(ProcurementFilter, PageParams),
    responses(
        (status = 200, body = Paginated<ProcurementListItem>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/procurements")]
pub async fn list_procurements(
    state: web::Data<AppState>,
    identity: Identity,
    filter: QueryString<ProcurementFilter>,
    page: QueryString<PageParams>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.parse()?;
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    check(errors)?;
    let key = identity.view_key(&request);
    state
        .cached_json(key, move |conn| {
            let statuses: Vec<&str> = match filter.status {
                Some(ProcurementStatus::Draft) if !identity.is_admin() => {
                    return Ok(Paginated::new(Vec::new(), page, 0));
                }
                Some(status) => vec![status.as_str()],
                None if identity.is_admin() => vec![],
                None => vec!["published", "contracted", "closed", "cancelled"],
            };
            let rows = procurements::list(
                conn,
                &statuses,
                filter.category.map(Category::as_str),
                filter.small_body_friendly,
            )?;
            let bodies: BTreeMap<String, _> = organizations::members(conn)?
                .into_iter()
                .map(|o| (o.id.clone(), o))
                .collect();
            let own = bodies
                .get(&identity.organization_id)
                .ok_or_else(ApiError::internal)?;
            let mut visible = Vec::new();
            for row in rows {
                let procurement = Procurement::decode(row)?;
                if identity.is_admin() || procurement.admits(own).is_ok() {
                    visible.push(procurement);
                }
            }
            let ids: Vec<String> = visible.iter().map(|p| p.id().to_owned()).collect();
            let open = rounds::in_state_for(conn, &ids, RoundState::Open.as_str())?;
            let open_ids: Vec<String> = open.iter().map(|r| r.id.clone()).collect();
            let answered: BTreeSet<String> = participations::responded(conn, &open_ids)?
                .into_iter()
                .filter(|(_, org)| org == &identity.organization_id)
                .map(|(round, _)| round)
                .collect();
            let mut items = Vec::new();
            for procurement in visible {
                let open_rounds: Vec<OpenRound> = open
                    .iter()
                    .filter(|r| r.procurement_id == procurement.id())
                    .map(|r| {
                        Ok(OpenRound {
                            id: r.id.clone(),
                            kind: r.kind.parse().map_err(|e: String| anyhow::anyhow!(e))?,
                            closes_at: r.closes_at.and_utc(),
                            answered: answered.contains(&r.id),
                        })
                    })
                    .collect::<Result<_, ApiError>>()?;
                let awaiting =
                    open_rounds.iter().any(|r| !r.answered) && procurement.admits(own).is_ok();
                if filter
                    .open_round
                    .is_some_and(|wanted| wanted == open_rounds.is_empty())
                    || filter
                        .awaiting_my_response
                        .is_some_and(|wanted| wanted != awaiting)
                {
                    continue;
                }
                let lead = bodies
                    .get(&procurement.row.lead_organization_id)
                    .ok_or_else(ApiError::internal)?;
                let lead = OrganizationLink {
                    id: lead.id.clone(),
                    name: lead.name.clone(),
                };
                items.push(ProcurementListItem {
                    procurement: view_with_lead(&procurement, lead),
                    open_rounds,
                    awaiting_my_response: awaiting,
                });
            }
            let total = items.len() as i64;
            let items = items
                .into_iter()
                .skip(page.offset() as usize)
                .take(page.per_page as usize)
                .collect();
            Ok(Paginated::new(items, page, total))
        })
        .await
}
