use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::reply::csv_attachment;
use crate::routes::extract::QueryString;
use crate::service::allocations::{self, AllocationDocument, AllocationVersion};
use crate::service::exports;
use crate::service::rounds::visible_round;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AllocationParams {
    /// A version; the newest when left out.
    #[param(minimum = 1)]
    pub version: Option<i32>,
    /// `csv` for the spreadsheet (as `Accept: text/csv`), `json` (the default).
    #[param(inline)]
    pub format: Option<Format>,
}

/// Whether the client asked for CSV: `?format=csv`, or `Accept: text/csv` without a format.
fn wants_csv(format: Option<Format>, request: &HttpRequest) -> bool {
    format.map_or_else(
        || {
            request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/csv"))
        },
        |f| f == Format::Csv,
    )
}

/// A round's finalized allocation: every input, every share per pool and fiscal year. Public
/// within the council once finalized. As CSV (`Accept: text/csv` or `?format=csv`) it opens in
/// Excel as it is: UTF-8 with a byte order mark, CRLF, Japanese headers (団体コード, 団体名, 人口,
/// 人口基準日, 年度, 費用区分, 均等割, 人口割, 利用割, 固定額, 端数調整, 負担額), one row per body,
/// pool and fiscal year, and a totals row (合計) equal to the contracted total.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), AllocationParams),
    responses(
        (status = 200, content(
            (AllocationDocument = "application/json"),
            (String = "text/csv", example = "\u{feff}団体コード,団体名,人口,人口基準日,年度,費用区分,均等割,人口割,利用割,固定額,端数調整,負担額\r\n")
        )),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such round, or not finalized, or no such version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/allocation")]
pub async fn get_allocation(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
    query: QueryString<AllocationParams>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = query.parse()?;
    let version = params.version;
    if !wants_csv(params.format, &request) {
        let key = identity.view_key(request.uri());
        return state
            .cached_json(key, move |conn| {
                let (round, _) = visible_round(conn, &identity, &id)?;
                allocations::find(conn, &round, version)
            })
            .await;
    }
    let document = state
        .db(move |conn| {
            let (round, _) = visible_round(conn, &identity, &id)?;
            allocations::find(conn, &round, version)
        })
        .await?;
    let body = exports::csv(&document)?;
    let filename = document.csv_file_name();
    Ok(csv_attachment(&filename, body))
}

/// Every version of a round's allocation, oldest first: the finalization, then each correction
/// with its reason.
#[utoipa::path(
    tag = "allocations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id")),
    responses(
        (status = 200, body = Vec<AllocationVersion>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/allocations")]
pub async fn list_allocations(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = identity.view_key(request.uri());
    state
        .cached_json(key, move |conn| {
            let (round, _) = visible_round(conn, &identity, &id)?;
            allocations::versions(conn, &round)
        })
        .await
}
