use actix_web::{HttpResponse, get, web};

use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::reply::csv_attachment;
use crate::service::exports;
use crate::state::AppState;

/// A round's answers as a spreadsheet, for the secretariat (administrators).
///
/// CSV that Excel in Japan opens as it is (UTF-8 with a byte order mark, CRLF), one row per
/// eligible body in code order, answered or not: 団体コード (or the organization id of a body
/// without one), 団体名, 回答 (参加, 不参加, 辞退 or 未回答), オプション (option codes separated by
/// spaces), 数量, 担当者, メール, 電話, 備考, 回答日時 (JST). Filled in, it is what
/// `POST /rounds/{id}/participations:import` reads. A cell someone typed that would start a
/// formula (`=`, `+`, `-`, `@`) begins with an apostrophe, which the upload drops again.
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id")),
    responses(
        (status = 200, content(
            (String = "text/csv", example = "\u{feff}団体コード,団体名,回答,オプション,数量,担当者,メール,電話,備考,回答日時\r\n202011,長野市,参加,lgwan,25,信州 太郎,dx@city.nagano.lg.jp,026-000-0000,4月から利用予定,2026-12-01 17:00:00\r\n202029,松本市,未回答,,,,,,,\r\n")
        ), headers(("Content-Disposition" = String, description = "attachment; filename=\"participations-{id}.csv\""))),
        (status = 403, description = "Not an administrator (`admin_only`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such round (`round_not_found`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rounds/{id}/participations.csv")]
pub async fn export_participations(
    state: web::Data<AppState>,
    identity: Identity,
    id: web::Path<RoundId>,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let filename = format!("participations-{id}.csv");
    let body = state
        .db(move |conn| exports::answers_sheet(conn, &identity, &id))
        .await?;
    Ok(csv_attachment(&filename, body))
}
