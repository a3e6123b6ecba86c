//! Data for other programs: a finalized allocation as CSV that Excel in Japan opens as it is and
//! as an Open Contracting Data Standard 1.1 release package; a round's answers as the same kind
//! of CSV, which the secretariat fills in and uploads again (`service::imports`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::auth::Identity;
use crate::db::DbConnection;
use crate::db::organizations::Member;
use crate::db::participations::{self, ParticipationRow};
use crate::domain::allocation::Share;
use crate::domain::id::{OrganizationId, RoundId};
use crate::domain::notification::jst;
use crate::domain::participation::UNANSWERED_JA;
use crate::error::ApiError;
use crate::service::allocations::AllocationDocument;
use crate::service::procurements::eligible_bodies;
use crate::service::rounds::visible_round;

/// The CSV's columns, as Japanese finance offices name them.
pub const CSV_HEADERS: [&str; 12] = [
    "団体コード",
    "団体名",
    "人口",
    "人口基準日",
    "年度",
    "費用区分",
    "均等割",
    "人口割",
    "利用割",
    "固定額",
    "端数調整",
    "負担額",
];

/// UTF-8 byte order mark: without it Excel reads UTF-8 as Shift_JIS.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV file that Excel in Japan opens as it is: a byte order mark, CRLF line ends, `headers`.
fn excel_csv(headers: &[&str]) -> Result<csv::Writer<Vec<u8>>, ApiError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.to_vec());
    writer.write_record(headers).map_err(anyhow::Error::from)?;
    Ok(writer)
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ApiError> {
    writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing CSV: {e}").into())
}

/// The allocation as CSV: UTF-8 with a byte order mark, CRLF line ends, one row per body, pool
/// and fiscal year (by year, pool, then 団体コード), and a last row of totals.
pub fn csv(document: &AllocationDocument) -> Result<Vec<u8>, ApiError> {
    let mut writer = excel_csv(&CSV_HEADERS)?;
    let mut sums = [0i64; 6];
    let mut pools: Vec<_> = document.pools.iter().collect();
    pools.sort_by_key(|p| p.fiscal_year);
    for pool in pools {
        let mut shares: Vec<&Share> = pool.shares.iter().collect();
        shares.sort_by_key(|s| {
            let body = document.body(&s.organization_id);
            let code = body.and_then(|b| b.participant.lg_code.clone());
            (code.is_none(), code, s.organization_id.clone())
        });
        for share in shares {
            let (code, name, population, base_date) = match document.body(&share.organization_id) {
                Some(body) => (
                    body.participant.lg_code.clone().unwrap_or_default(),
                    body.participant.name.clone(),
                    body.participant
                        .population
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    body.population_base_date
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                ),
                // The lead body, paying only the leftover yen of a pool it takes no part in.
                None => (
                    document
                        .lead_organization
                        .lg_code
                        .clone()
                        .unwrap_or_default(),
                    document.lead_organization.name.clone(),
                    String::new(),
                    String::new(),
                ),
            };
            let money = [
                share.equal,
                share.population,
                share.usage,
                share.fixed,
                share.rounding,
                share.amount,
            ];
            for (sum, value) in sums.iter_mut().zip(money) {
                *sum += value;
            }
            let mut record = vec![
                code,
                name,
                population,
                base_date,
                pool.fiscal_year.to_string(),
                document.pool_name(&pool.pool).to_owned(),
            ];
            record.extend(money.iter().map(i64::to_string));
            writer.write_record(&record).map_err(anyhow::Error::from)?;
        }
    }
    let mut totals = vec![
        String::new(),
        "合計".to_owned(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ];
    totals.extend(sums.iter().map(i64::to_string));
    writer.write_record(&totals).map_err(anyhow::Error::from)?;
    finish(writer)
}

/// The columns of the answers sheet, which an upload (`service::imports`) reads back.
pub const ANSWER_HEADERS: [&str; 10] = [
    "団体コード",
    "団体名",
    "回答",
    "オプション",
    "数量",
    "担当者",
    "メール",
    "電話",
    "備考",
    "回答日時",
];

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text someone typed, made inert for a spreadsheet: a cell that would start a formula
/// (`=HYPERLINK(…)` in a note) gets a leading apostrophe, which Excel shows as text.
fn inert(text: &str) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// A cell of an uploaded sheet as typed: without the apostrophe `inert` added.
pub fn typed(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// A round's answers for the secretariat: every eligible body, answered or not, in code order.
pub fn answers_sheet(
    conn: &mut DbConnection,
    identity: &Identity,
    round_id: &RoundId,
) -> Result<Vec<u8>, ApiError> {
    identity.require_admin()?;
    let (round, procurement) = visible_round(conn, identity, round_id)?;
    let mut answers: HashMap<OrganizationId, ParticipationRow> =
        participations::list_for_round(conn, &round.id)?
            .into_iter()
            .map(|(row, _)| (row.organization_id.clone(), row))
            .collect();
    let bodies = eligible_bodies(conn, &procurement)?;
    let mut writer = excel_csv(&ANSWER_HEADERS)?;
    for body in bodies {
        let answer = answers.remove(&body.id);
        let record = answer_record(&body, answer.as_ref())?;
        writer.write_record(&record).map_err(anyhow::Error::from)?;
    }
    finish(writer)
}

/// One body's line of the answers sheet, in `ANSWER_HEADERS` order.
fn answer_record(
    body: &Member,
    answer: Option<&ParticipationRow>,
) -> Result<Vec<String>, ApiError> {
    let code = body.lg_code.clone().unwrap_or_else(|| body.id.to_string());
    let Some(answer) = answer else {
        let mut record = vec![code, body.name.clone(), UNANSWERED_JA.to_owned()];
        record.resize(ANSWER_HEADERS.len(), String::new());
        return Ok(record);
    };
    let options: Vec<String> =
        serde_json::from_str(&answer.selected_options).map_err(anyhow::Error::from)?;
    let text = |value: &Option<String>| value.as_deref().map(inert).unwrap_or_default();
    let answered_at = answer.updated_at.and_utc().with_timezone(&jst());
    Ok(vec![
        code,
        body.name.clone(),
        answer.status.label_ja().to_owned(),
        options.join(" "),
        answer
            .declared_quantity
            .map(|q| q.to_string())
            .unwrap_or_default(),
        text(&answer.contact_name),
        text(&answer.contact_email),
        text(&answer.contact_phone),
        text(&answer.note),
        answered_at.format("%Y-%m-%d %H:%M:%S").to_string(),
    ])
}

/// The Budget Breakdown extension, which `planning.budget.budgetBreakdown` comes from.
pub const BUDGET_BREAKDOWN_EXTENSION: &str = "https://raw.githubusercontent.com/open-contracting-extensions/ocds_budget_breakdown_extension/master/extension.json";

/// Where an OCDS release package says it comes from.
pub struct OcdsSource<'a> {
    /// The package's own address.
    pub uri: &'a str,
    /// `ocds-` and the publisher's registered prefix.
    pub ocid_prefix: &'a str,
}

/// The party id of a body: its 団体コード, or its id when it has none.
fn party_id(lg_code: Option<&str>, organization_id: &str) -> String {
    lg_code.map_or_else(
        || organization_id.to_owned(),
        |code| format!("JP-LGC-{code}"),
    )
}

/// The first and last moment of Japanese fiscal year `year` (April to March, JST).
fn fiscal_year_period(year: i32) -> Value {
    let start = NaiveDate::from_ymd_opt(year, 4, 1);
    let end = NaiveDate::from_ymd_opt(year + 1, 3, 31);
    match (start, end) {
        (Some(start), Some(end)) => json!({
            "startDate": format!("{start}T00:00:00+09:00"),
            "endDate": format!("{end}T23:59:59+09:00"),
        }),
        _ => json!({}),
    }
}

fn release(document: &AllocationDocument, ocid_prefix: &str) -> Value {
    let lead = &document.lead_organization;
    let lead_id = party_id(lead.lg_code.as_deref(), &lead.organization_id);
    let mut parties = vec![json!({
        "id": lead_id,
        "name": lead.name,
        "roles": ["buyer"],
    })];
    for body in &document.participants {
        let p = &body.participant;
        let id = party_id(p.lg_code.as_deref(), &p.organization_id);
        if id == lead_id {
            parties[0]["roles"] = json!(["buyer", "sourceParty"]);
            continue;
        }
        parties.push(json!({"id": id, "name": p.name, "roles": ["buyer", "sourceParty"]}));
    }
    let mut breakdown = Vec::new();
    for pool in &document.pools {
        for share in &pool.shares {
            let (id, name) = match document.body(&share.organization_id) {
                Some(body) => (
                    party_id(body.participant.lg_code.as_deref(), &share.organization_id),
                    body.participant.name.as_str(),
                ),
                None => (lead_id.clone(), lead.name.as_str()),
            };
            breakdown.push(json!({
                "id": format!("{}-{}-{}", pool.pool, pool.fiscal_year, id),
                "description": format!("{} {}年度 {}", document.pool_name(&pool.pool), pool.fiscal_year, name),
                "amount": {"amount": share.amount, "currency": "JPY"},
                "period": fiscal_year_period(pool.fiscal_year),
                "sourceParty": {"id": id, "name": name},
            }));
        }
    }
    let mut planning = json!({
        "budget": {
            "description": format!("{} 負担金（第{}版）", document.procurement_title, document.version),
            "amount": {"amount": document.total, "currency": "JPY"},
            "budgetBreakdown": breakdown,
        },
    });
    // A version without a reason has no rationale: OCDS wants the field left out, not null.
    if let Some(reason) = &document.reason {
        planning["rationale"] = json!(reason);
    }
    json!({
        "ocid": format!("{ocid_prefix}-{}", document.procurement_id),
        "id": format!("{}-{}", document.round_id, document.version),
        "date": document.finalized_at,
        "tag": [if document.version == 1 { "planning" } else { "planningUpdate" }],
        "initiationType": "tender",
        "language": "ja",
        "buyer": {"id": lead_id, "name": lead.name},
        "parties": parties,
        "planning": planning,
        "tender": {
            "id": document.round_id,
            "title": document.procurement_title,
            "status": "complete",
        },
    })
}

/// An OCDS 1.1 release package: one release per finalized version, oldest first.
pub fn ocds_package(
    documents: &[AllocationDocument],
    publisher: &str,
    source: &OcdsSource<'_>,
) -> Value {
    let published: Option<DateTime<Utc>> = documents.iter().map(|d| d.finalized_at).max();
    let releases: Vec<Value> = documents
        .iter()
        .map(|d| release(d, source.ocid_prefix))
        .collect();
    json!({
        "uri": source.uri,
        "version": "1.1",
        "extensions": [BUDGET_BREAKDOWN_EXTENSION],
        "publishedDate": published.unwrap_or_default(),
        "publisher": {"name": publisher},
        "releases": releases,
    })
}
