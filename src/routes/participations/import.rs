use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use tracing_actix_web::RequestId;
use utoipa::IntoParams;

use crate::auth::Identity;
use crate::domain::id::RoundId;
use crate::error::{ApiError, Problem};
use crate::reply::Reply;
use crate::routes::IdempotencyKey;
use crate::routes::extract::{CsvBody, QueryString};
use crate::service::imports::{self, ImportReport};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Why the secretariat answers for these bodies (1 to 1000 characters): recorded with every
    /// answer written, in its history and the audit log.
    #[param(
        required = true,
        min_length = 1,
        max_length = 1000,
        example = "紙の回答票を事務局が入力"
    )]
    pub reason: Option<String>,
}

/// Write a round's answers from a spreadsheet (administrators, on the bodies' behalf).
///
/// The body is the file `GET /rounds/{id}/participations.csv` gives, filled in (`text/csv`,
/// UTF-8 with or without a byte order mark, CRLF or LF). 団体名 and 回答日時 are not read. A row
/// whose 回答 is 参加 or 不参加 answers for its body, as `PUT /rounds/{id}/participations/{org}`
/// would, with the same checks; rows left 未回答 or blank are skipped, and so are rows saying
/// what is stored already. A blank contact or note keeps the stored one. 辞退 is only taken where
/// the answer is withdrawn already (withdraw with `DELETE`).
///
/// Every row is checked before anything is written: a file with any error is refused whole with
/// 422 `import_rejected`, whose `errors` list each error with its `line` (the header is line 1),
/// `field` (the column, or `header` or `row`), `code` and `message`. Otherwise every answer is
/// written in one transaction, each with its history, audit entry (the administrator, on the
/// body's behalf, with `reason`), feed entry and notifications.
#[utoipa::path(
    tag = "participations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Round id"), ImportParams, IdempotencyKey),
    request_body(
        content = String,
        content_type = "text/csv",
        description = "The answers sheet, filled in",
        example = "団体コード,団体名,回答,オプション,数量,担当者,メール,電話,備考,回答日時\r\n202011,長野市,参加,lgwan,25,信州 太郎,dx@city.nagano.lg.jp,026-000-0000,4月から利用予定,\r\n202029,松本市,不参加,,,,,,,\r\n"
    ),
    responses(
        (status = 200, description = "Every row written or skipped", body = ImportReport),
        (status = 400, description = "Unreadable query (`invalid_query`) or body (`unreadable_body`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator (`admin_only`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such round (`round_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round does not take answers (`round_not_open`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the service accepts (`payload_too_large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as `text/csv` (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No valid reason (`validation_failed`); any error in the file, each with its line (`import_rejected`: field errors with codes such as `invalid_header`, `not_utf8`, `wrong_column_count`, `too_many_rows`, `required`, `organization_not_found`, `invalid_lg_code`, `duplicate`, `not_eligible`, `invalid_value`, `withdrawal_not_imported`, `invalid_format`, `out_of_range`, `unknown_option`, `participation_mandatory`); an Idempotency-Key used for another request (`idempotency_key_reused`)", body = Problem, content_type = "application/problem+json",
            example = json!({
                "type": "urn:kyodo:problem:import_rejected",
                "title": "Unprocessable Entity",
                "status": 422,
                "code": "import_rejected",
                "detail": "The file has 2 errors on 2 lines; nothing was written.",
                "errors": [
                    {"line": 3, "field": "団体コード", "code": "organization_not_found", "message": "No organization has the id or code \"999999\"."},
                    {"line": 5, "field": "メール", "code": "invalid_format", "message": "not an e-mail address"}
                ]
            })),
    )
)]
#[post("/rounds/{id}/participations:import")]
pub async fn import_participations(
    req: HttpRequest,
    state: web::Data<AppState>,
    identity: Identity,
    request_id: RequestId,
    id: web::Path<RoundId>,
    query: QueryString<ImportParams>,
    body: CsvBody,
) -> Result<HttpResponse, ApiError> {
    identity.require_admin()?;
    let reason = query.parse()?.reason.unwrap_or_default();
    let csv = body.take()?;
    let now = state.now();
    let actor = identity.actor(&request_id);
    state
        .write(&req, move |conn| {
            let report = imports::import_answers(conn, &identity, &actor, &id, &csv, &reason, now)?;
            Reply::ok(&report)
        })
        .await
}
