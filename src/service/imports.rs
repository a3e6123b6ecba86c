//! Answers uploaded as a spreadsheet: the answers sheet (`exports::answers_sheet`), filled in by
//! the secretariat. Every row is checked as `PUT …/participations/{org}` checks one answer
//! (`participations::{AnswerInput, may_answer_for, judge}`), and the errors of every row are
//! reported together with their line; only a file without any is written, each row through
//! `participations::answer`, in the caller's transaction.

use std::collections::HashMap;

use crate::domain::text::typed_integer;
use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::db::DbConnection;
use crate::db::audit::Actor;
use crate::db::organizations::OrganizationRow;
use crate::db::participations::{self, ParticipationRow};
use crate::db::rounds::RoundRow;
use crate::domain::field_error::FieldError;
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::limits::MAX_REASON;
use crate::domain::participation::{ParticipationStatus, UNANSWERED_JA};
use crate::error::ApiError;
use crate::service::exports::{ANSWER_HEADERS, BOM, typed};
use crate::service::participations::{
    AnswerDetails, AnswerInput, Context, Existing, ParticipationChange, answer, answered_round,
    judge, may_answer_for, takes_answers,
};
use crate::service::procurements::{Procurement, eligible_bodies};
use crate::service::{organizations, single_text};

/// What an upload did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[schema(example = json!({"rows": 77, "joined": 40, "declined": 12, "unchanged": 5, "skipped": 20}))]
pub struct ImportReport {
    /// Rows of bodies in the file (blank rows aside).
    pub rows: usize,
    /// Answers written as 参加.
    pub joined: usize,
    /// Answers written as 不参加.
    pub declined: usize,
    /// 参加 or 不参加 rows that say what is stored already: nothing written.
    pub unchanged: usize,
    /// Rows left 未回答 (or blank), and 辞退 rows of answers withdrawn already: nothing written.
    pub skipped: usize,
}

/// The columns an upload reads, by position in `ANSWER_HEADERS` (団体名 and 回答日時 are only
/// for people).
const CODE: usize = 0;
const ANSWER: usize = 2;
const OPTIONS: usize = 3;
const QUANTITY: usize = 4;
const CONTACT_NAME: usize = 5;
const EMAIL: usize = 6;
const PHONE: usize = 7;
const NOTE: usize = 8;

/// The column of a field of an answer, as `AnswerInput::checked` and `judge` name them.
fn column_of(field: &str) -> &str {
    let column = match field {
        "lg_code" => CODE,
        "status" => ANSWER,
        "selected_options" => OPTIONS,
        "declared_quantity" => QUANTITY,
        "contact.name" => CONTACT_NAME,
        "contact.email" => EMAIL,
        "contact.phone" => PHONE,
        "note" => NOTE,
        other => return other,
    };
    ANSWER_HEADERS[column]
}

/// Writes the answers of an uploaded answers sheet (`csv`, UTF-8 with or without a byte order
/// mark) to round `round_id`, as administrator `identity` acting for each body with `reason`.
/// Refuses, writing nothing: non-administrators (403), an unknown round (404), a round that does
/// not take answers (409 `round_not_open`), a reason that is not 1 to 1000 characters (422
/// `validation_failed`), and a file with any error (422 `import_rejected`, every error with its
/// line, column and message). Runs in the caller's transaction, which must be one for the whole
/// upload (`AppState::write`).
pub fn import_answers(
    conn: &mut DbConnection,
    identity: &Identity,
    actor: &Actor,
    round_id: &RoundId,
    csv: &[u8],
    reason: &str,
    now: NaiveDateTime,
) -> Result<ImportReport, ApiError> {
    identity.require_admin()?;
    let (round, procurement) = answered_round(conn, identity, round_id)?;
    takes_answers(&round, now)?;
    let reason = single_text(reason, "reason", MAX_REASON)?;
    let eligible = eligible_bodies(conn, &procurement)?.len();
    let (lines, mut errors) = read(csv, eligible).map_err(rejected)?;

    let mut report = ImportReport {
        rows: lines.len(),
        ..ImportReport::default()
    };
    let mut writes = Vec::new();
    let mut first_line_of: HashMap<OrganizationId, usize> = HashMap::new();
    for line in &lines {
        let row = Row {
            identity,
            round: &round,
            procurement: &procurement,
            line,
        };
        match row.plan(conn, &mut first_line_of)? {
            Ok(Some(write)) => writes.push(write),
            Ok(None) => report.skipped += 1,
            Err(found) => errors.extend(found.into_iter().map(|e| e.on_line(line.number))),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(rejected(errors));
    }

    for write in writes {
        if write.unchanged {
            report.unchanged += 1;
            continue;
        }
        match write.change {
            ParticipationChange::Join => report.joined += 1,
            _ => report.declined += 1,
        }
        let details = AnswerDetails {
            reason: Some(reason.clone()),
            ..write.details
        };
        let context = Context {
            round: round.clone(),
            procurement: procurement.clone(),
            organization: write.organization,
            existing: Existing::Unread,
        };
        answer(conn, actor, &context, write.change, details, now)?;
    }
    Ok(report)
}

fn rejected(errors: Vec<FieldError>) -> ApiError {
    let lines = errors
        .iter()
        .filter_map(|e| e.line)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let detail = match (errors.len(), lines) {
        (1, _) => "The file has 1 error; nothing was written.".to_owned(),
        (n, 1) => format!("The file has {n} errors on 1 line; nothing was written."),
        (n, l) => format!("The file has {n} errors on {l} lines; nothing was written."),
    };
    ApiError::unprocessable("import_rejected", detail, errors)
}

/// A line of the file with a body's row: its number (the header is line 1) and its cells.
struct Line {
    number: usize,
    cells: Vec<String>,
}

impl Line {
    fn cell(&self, column: usize) -> Option<String> {
        self.cells
            .get(column)
            .map(|c| typed(c.trim()).to_owned())
            .filter(|c| !c.is_empty())
    }
}

/// The line (from 1) of the record starting at byte `at`. The csv crate's own line count is one
/// short after CRLF line ends (Excel's), and a record's start may be the `\n` of the previous
/// line's CRLF; so the line is counted from the bytes.
fn line_at(csv: &[u8], at: usize) -> usize {
    let before = csv.get(..at).unwrap_or(csv);
    1 + before.iter().filter(|&&b| b == b'\n').count() + usize::from(csv.get(at) == Some(&b'\n'))
}

/// The rows of bodies in `csv` (blank rows left out), after its header, and the errors of rows
/// that cannot be read as one; or why the file as a whole cannot be taken (not UTF-8, not the
/// answers sheet's header, more than `max_rows` rows).
fn read(csv: &[u8], max_rows: usize) -> Result<(Vec<Line>, Vec<FieldError>), Vec<FieldError>> {
    let csv = csv.strip_prefix(BOM).unwrap_or(csv);
    if let Err(error) = std::str::from_utf8(csv) {
        let line = 1 + csv[..error.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        return Err(vec![
            FieldError::new(
                "row",
                "not_utf8",
                "the file is not UTF-8 text: save it as 「CSV UTF-8 (コンマ区切り)」",
            )
            .on_line(line),
        ]);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut records = reader.records();
    let header: Option<Vec<String>> = match records.next() {
        Some(Ok(record)) => Some(record.iter().map(|c| c.trim().to_owned()).collect()),
        Some(Err(error)) => return Err(vec![unreadable(&error)]),
        None => None,
    };
    if header.is_none_or(|h| h != ANSWER_HEADERS) {
        return Err(vec![
            FieldError::new(
                "header",
                "invalid_header",
                format!(
                    "the first line names the columns of the answers sheet: {}",
                    ANSWER_HEADERS.join(",")
                ),
            )
            .on_line(1),
        ]);
    }
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut rows = 0;
    for record in records {
        let record = record.map_err(|e| vec![unreadable(&e)])?;
        let number = record.position().map_or(0, |p| {
            line_at(csv, usize::try_from(p.byte()).unwrap_or(usize::MAX))
        });
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows += 1;
        if rows > max_rows {
            return Err(vec![
                FieldError::new(
                    "row",
                    "too_many_rows",
                    format!(
                        "the round has {max_rows} eligible bodies: a file has at most one row for each"
                    ),
                )
                .on_line(number),
            ]);
        }
        if record.len() != ANSWER_HEADERS.len() {
            errors.push(
                FieldError::new(
                    "row",
                    "wrong_column_count",
                    format!(
                        "a row has {} columns, as the header; this one has {}",
                        ANSWER_HEADERS.len(),
                        record.len()
                    ),
                )
                .on_line(number),
            );
            continue;
        }
        // No field takes a NUL, and PostgreSQL cannot even look a body's code up with one.
        if record.iter().any(|c| c.contains('\0')) {
            errors.push(
                FieldError::new(
                    "row",
                    "invalid_characters",
                    "a cell holds the control character U+0000",
                )
                .on_line(number),
            );
            continue;
        }
        lines.push(Line {
            number,
            cells: record.iter().map(str::to_owned).collect(),
        });
    }
    Ok((lines, errors))
}

fn unreadable(error: &csv::Error) -> FieldError {
    let line = error
        .position()
        .map_or(1, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
    FieldError::new("row", "unreadable", format!("the line is not CSV: {error}")).on_line(line)
}

/// What a row asks to write.
struct Write {
    organization: OrganizationRow,
    change: ParticipationChange,
    details: AnswerDetails,
    /// Whether it says what is stored already.
    unchanged: bool,
}

/// One row, judged against the round it is uploaded to.
struct Row<'a> {
    identity: &'a Identity,
    round: &'a RoundRow,
    procurement: &'a Procurement,
    line: &'a Line,
}

impl Row<'_> {
    /// The row's write; `None` for a row that writes nothing; the row's errors (without their
    /// line). Fails only when the service does.
    fn plan(
        &self,
        conn: &mut DbConnection,
        first_line_of: &mut HashMap<OrganizationId, usize>,
    ) -> Result<Result<Option<Write>, Vec<FieldError>>, ApiError> {
        let mut errors = Vec::new();
        let code_column = ANSWER_HEADERS[CODE];
        let organization = match self.line.cell(CODE) {
            None => {
                errors.push(FieldError::new(
                    code_column,
                    "required",
                    "each row names its body by 団体コード (or id)",
                ));
                None
            }
            Some(key) => match self.body(conn, &key, first_line_of) {
                Ok(organization) => Some(organization),
                Err(error) => {
                    errors.extend(as_row_errors(error, code_column)?);
                    None
                }
            },
        };
        let existing = match &organization {
            Some(o) => participations::find(conn, &self.round.id, &o.id)?,
            None => None,
        };
        let join = match self.line.cell(ANSWER).as_deref() {
            None | Some(UNANSWERED_JA) => return Ok(finish(errors, None)),
            Some(label) => match ParticipationStatus::from_label_ja(label) {
                Some(ParticipationStatus::Joined) => true,
                Some(ParticipationStatus::Declined) => false,
                Some(ParticipationStatus::Withdrawn) => {
                    let withdrawn = existing
                        .as_ref()
                        .is_some_and(|p| p.status == ParticipationStatus::Withdrawn);
                    if !withdrawn {
                        errors.push(FieldError::new(
                            ANSWER_HEADERS[ANSWER],
                            "withdrawal_not_imported",
                            "an upload joins or declines; withdraw an answer with DELETE /rounds/{id}/participations/{org}",
                        ));
                    }
                    return Ok(finish(errors, None));
                }
                None => {
                    errors.push(FieldError::new(
                        ANSWER_HEADERS[ANSWER],
                        "invalid_value",
                        format!(
                            "回答 is 参加, 不参加 or {UNANSWERED_JA} (or blank), not {label:?}"
                        ),
                    ));
                    return Ok(finish(errors, None));
                }
            },
        };
        let Some(input) = self.input(join, &mut errors) else {
            return Ok(finish(errors, None));
        };
        let (change, details) = match input.checked() {
            Ok(checked) => checked,
            Err(found) => {
                errors.extend(on_columns(found));
                return Ok(finish(errors, None));
            }
        };
        if let Err(error) = judge(self.procurement, change, &details) {
            errors.extend(as_row_errors(error, ANSWER_HEADERS[ANSWER])?);
        }
        let Some(organization) = organization else {
            return Ok(finish(errors, None));
        };
        let unchanged = existing
            .as_ref()
            .is_some_and(|stored| says_the_same(stored, change, &details));
        Ok(finish(
            errors,
            Some(Write {
                organization,
                change,
                details,
                unchanged,
            }),
        ))
    }

    /// The body a row names, once: eligible, and one the caller may answer for.
    fn body(
        &self,
        conn: &mut DbConnection,
        key: &str,
        first_line_of: &mut HashMap<OrganizationId, usize>,
    ) -> Result<OrganizationRow, ApiError> {
        let organization = organizations::resolve(conn, key)?;
        if let Some(first) = first_line_of.get(&organization.id) {
            return Err(ApiError::invalid_field(
                "lg_code",
                "duplicate",
                format!("{} has a row on line {first} already", organization.name),
            ));
        }
        first_line_of.insert(organization.id.clone(), self.line.number);
        may_answer_for(self.identity, self.procurement, &organization)?;
        Ok(organization)
    }

    /// The row as an answer, before its checks; `None` (with errors) when a cell cannot even be
    /// read as its type.
    fn input(&self, join: bool, errors: &mut Vec<FieldError>) -> Option<AnswerInput> {
        let quantity = match self.line.cell(QUANTITY) {
            None => None,
            Some(cell) => match typed_integer(&cell) {
                Some(quantity) => Some(quantity),
                None => {
                    errors.push(FieldError::new(
                        ANSWER_HEADERS[QUANTITY],
                        "invalid_format",
                        format!("数量 is a whole number, not {cell:?}"),
                    ));
                    return None;
                }
            },
        };
        Some(AnswerInput {
            join,
            selected_options: self
                .line
                .cell(OPTIONS)
                .map(|cell| cell.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            declared_quantity: quantity,
            contact_name: self.line.cell(CONTACT_NAME),
            contact_email: self.line.cell(EMAIL),
            contact_phone: self.line.cell(PHONE),
            note: self.line.cell(NOTE),
            reason: None,
        })
    }
}

fn finish(errors: Vec<FieldError>, write: Option<Write>) -> Result<Option<Write>, Vec<FieldError>> {
    if errors.is_empty() {
        Ok(write)
    } else {
        Err(errors)
    }
}

/// A refusal of a row, as errors on its columns; `field` for a refusal of the whole row.
fn as_row_errors(error: ApiError, field: &str) -> Result<Vec<FieldError>, ApiError> {
    Ok(on_columns(error.into_field_errors(field)?))
}

/// Errors on an answer's fields, as errors on the sheet's columns.
fn on_columns(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError {
            field: column_of(&e.field).to_owned(),
            ..e
        })
        .collect()
}

/// Whether writing `change` with `details` would leave `stored` as it is: a blank contact or
/// note keeps what is stored, as in `participations::answer`.
fn says_the_same(
    stored: &ParticipationRow,
    change: ParticipationChange,
    details: &AnswerDetails,
) -> bool {
    let joins = change == ParticipationChange::Join;
    let mut options: Vec<&String> = if joins {
        details.selected_options.iter().collect()
    } else {
        Vec::new()
    };
    options.sort();
    let mut stored_options: Vec<String> =
        serde_json::from_str(&stored.selected_options).unwrap_or_default();
    stored_options.sort();
    let quantity = if joins {
        details.declared_quantity
    } else {
        None
    };
    let kept = |given: &Option<String>, stored: &Option<String>| given.is_none() || given == stored;
    stored.status == change.status()
        && options.into_iter().eq(stored_options.iter())
        && quantity == stored.declared_quantity
        && kept(&details.contact_name, &stored.contact_name)
        && kept(&details.contact_email, &stored.contact_email)
        && kept(&details.contact_phone, &stored.contact_phone)
        && kept(&details.note, &stored.note)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_counted_alike_with_crlf_and_lf_and_inside_quotes() {
        for (file, expected) in [
            ("h\r\na\r\n\"x\r\ny\"\r\nb\r\n", [1, 2, 3, 5]),
            ("h\na\n\"x\ny\"\nb\n", [1, 2, 3, 5]),
        ] {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(file.as_bytes());
            let lines: Vec<usize> = reader
                .records()
                .map(|r| {
                    let at = r.unwrap().position().unwrap().byte();
                    super::line_at(file.as_bytes(), usize::try_from(at).unwrap())
                })
                .collect();
            assert_eq!(lines, expected, "{file:?}");
        }
    }
}
