use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ProcurementView, view_with_lead};
use crate::auth::identity::Caller;
use crate::domain::id::RoundId;
use crate::domain::procurement::{Category, ProcurementStatus};
use crate::domain::round::RoundKind;
use crate::error::{ApiError, Problem, check};
use crate::routes::extract::QueryString;
use crate::routes::organizations::OrganizationLink;
use crate::routes::{PageParams, Paginated};
use crate::service::procurements::{self, ListFilter, Listed};
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
    #[schema(value_type = String)]
    pub id: RoundId,
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
    caller: Caller,
    filter: QueryString<ProcurementFilter>,
    page: QueryString<PageParams>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.parse()?;
    let page = page.parse()?;
    let mut errors = Vec::new();
    let page = page.resolve(&mut errors);
    check(errors)?;
    state
        .cached_json_for(caller, request.uri(), move |conn, caller| {
            let (identity, listed) = procurements::list_as(conn, caller, &filter.into())?;
            let total = listed.len() as i64;
            let items = listed
                .into_iter()
                .skip(page.offset() as usize)
                .take(page.per_page as usize)
                .map(item)
                .collect::<Result<_, ApiError>>()?;
            Ok((identity, Paginated::new(items, page, total)))
        })
        .await
}

impl From<ProcurementFilter> for ListFilter {
    fn from(f: ProcurementFilter) -> Self {
        Self {
            status: f.status,
            category: f.category,
            small_body_friendly: f.small_body_friendly,
            open_round: f.open_round,
            awaiting_my_response: f.awaiting_my_response,
        }
    }
}

fn item(listed: Listed) -> Result<ProcurementListItem, ApiError> {
    let open_rounds = listed
        .open_rounds
        .into_iter()
        .map(|(round, answered)| OpenRound {
            kind: round.kind,
            closes_at: round.closes_at.and_utc(),
            id: round.id,
            answered,
        })
        .collect();
    Ok(ProcurementListItem {
        procurement: view_with_lead(
            &listed.procurement,
            OrganizationLink {
                id: listed.lead.id,
                name: listed.lead.name,
            },
        ),
        open_rounds,
        awaiting_my_response: listed.awaiting_my_response,
    })
}
