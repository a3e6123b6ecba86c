//! A round's answers as a spreadsheet: downloaded, filled in, uploaded again (checked whole and
//! written in one transaction); and reminders sent now to the bodies that have not answered.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use chrono::{Duration, Timelike};
use serde_json::{Value, json};

use crate::allocations::{KAWAKAMI, MATSUMOTO, NAGANO, open_round, put};
use crate::helpers::{Response, TestApp, collect, spawn_app};
use crate::lifecycle::{published_procurement, round};

const UEDA: &str = "202037";
const OKAYA: &str = "202045";
const IIDA: &str = "202053";
const REASON: &str = "紙の回答票を事務局が入力";

const HEADER: [&str; 10] = [
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

fn import_path(round: &str, reason: &str) -> String {
    let reason: String = url::form_urlencoded::byte_serialize(reason.as_bytes()).collect();
    format!("/api/v1/rounds/{round}/participations:import?reason={reason}")
}

async fn upload(app: &TestApp, token: &str, round: &str, csv: Vec<u8>) -> Response {
    app.send_raw(
        Method::POST,
        &import_path(round, REASON),
        Some(token),
        "text/csv",
        csv,
    )
    .await
}

async fn download(app: &TestApp, token: &str, round: &str) -> Response {
    app.get(&format!("/api/v1/rounds/{round}/participations.csv"), token)
        .await
}

/// The sheet's rows, header first, as a spreadsheet reads them.
fn rows(csv: &str) -> Vec<Vec<String>> {
    let csv = csv.strip_prefix('\u{feff}').expect("a byte order mark");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// `rows` as a CSV file, with LF line ends and no byte order mark (as other programs save it).
fn file(rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.into_inner().unwrap()
}

fn line(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn header() -> Vec<String> {
    line(&HEADER)
}

fn row_of<'a>(rows: &'a mut [Vec<String>], code: &str) -> &'a mut Vec<String> {
    rows.iter_mut()
        .find(|r| r[0] == code)
        .unwrap_or_else(|| panic!("no row for {code}"))
}

async fn answers(app: &TestApp, admin: &str, round: &str) -> Vec<Value> {
    let list = app
        .get(&format!("/api/v1/rounds/{round}/participations"), admin)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    list.body["items"].as_array().unwrap().clone()
}

async fn organization_id(app: &TestApp, admin: &str, code: &str) -> String {
    let found = app
        .get(&format!("/api/v1/organizations/{code}"), admin)
        .await;
    found.body["id"].as_str().unwrap().to_owned()
}

async fn audit(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let events = app
        .get(&format!("/api/v1/audit-events?per_page=200&{query}"), admin)
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    events.body["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn answers_go_out_as_a_spreadsheet_and_come_back_filled_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let nagano = app.user("coordinator", NAGANO).await;
    let joined = put(
        &app,
        &nagano.token,
        &round,
        NAGANO,
        json!({"status": "joined", "selected_options": ["lgwan"], "contact": {"name": "信州 太郎", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"}, "note": "=HYPERLINK(\"http://example.com\")"}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.text);

    let refused = download(&app, &nagano.token, &round).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.problem_code(), "admin_only");

    let sheet = download(&app, &admin, &round).await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.text);
    assert!(sheet.content_type().starts_with("text/csv"));
    assert!(sheet.text.starts_with('\u{feff}'), "Excel needs the BOM");
    assert!(
        sheet.text.trim_end_matches("\r\n").split("\r\n").count() > 1
            && !sheet.text.replace("\r\n", "").contains('\n'),
        "CRLF line ends: {:?}",
        sheet.text
    );
    let mut rows = rows(&sheet.text);
    assert_eq!(rows[0], header());
    let non_respondents = app
        .get(&format!("/api/v1/rounds/{round}/non-respondents"), &admin)
        .await;
    let unanswered = non_respondents.body.as_array().unwrap().len();
    assert_eq!(rows.len(), 1 + unanswered + 1, "one row per eligible body");
    // In code order; bodies without a code (unions, the association) last, by their id.
    let codes: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
    let coded = codes.iter().take_while(|c| c.len() == 6).count();
    assert!(coded > 77 && codes[coded..].iter().all(|c| c.len() > 6));
    assert!(codes[..coded].is_sorted(), "in code order");
    let own = row_of(&mut rows, NAGANO).clone();
    assert_eq!(
        own[..9],
        line(&[
            NAGANO,
            "長野市",
            "参加",
            "lgwan",
            "",
            "信州 太郎",
            "dx@city.nagano.lg.jp",
            "026-000-0000",
            "'=HYPERLINK(\"http://example.com\")",
        ])
    );
    let answered_at = chrono::NaiveDateTime::parse_from_str(&own[9], "%Y-%m-%d %H:%M:%S")
        .expect("回答日時 as Excel reads a date");
    let updated = joined.body["updated_at"].as_str().unwrap();
    let updated = chrono::DateTime::parse_from_rfc3339(updated).unwrap();
    assert_eq!(
        answered_at,
        (updated.naive_utc() + Duration::hours(9))
            .with_nanosecond(0)
            .unwrap(),
        "in Japan time"
    );
    assert_eq!(
        row_of(&mut rows, MATSUMOTO)[1..],
        line(&["松本市", "未回答", "", "", "", "", "", "", ""])
    );

    // The secretariat fills in two paper answers and leaves the rest.
    *row_of(&mut rows, MATSUMOTO) = line(&[
        MATSUMOTO,
        "松本市",
        "参加",
        "lgwan　voice",
        "",
        "松本 花子",
        "Joho@City.Matsumoto.lg.jp",
        "0263-00-0000",
        "紙で回答",
        "",
    ]);
    row_of(&mut rows, KAWAKAMI)[2] = "不参加".to_owned();
    let uploaded = upload(&app, &admin, &round, file(&rows)).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.text);
    assert_eq!(
        uploaded.body,
        json!({"rows": rows.len() - 1, "joined": 1, "declined": 1, "unchanged": 1, "skipped": rows.len() - 4})
    );

    let answers = answers(&app, &admin, &round).await;
    let answer = |code: &str| {
        answers
            .iter()
            .find(|a| a["organization_name"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no answer of {code}"))
    };
    let matsumoto = answer("松本市");
    assert_eq!(matsumoto["status"], "joined");
    assert_eq!(matsumoto["selected_options"], json!(["lgwan", "voice"]));
    assert_eq!(
        matsumoto["contact"],
        json!({"name": "松本 花子", "email": "joho@city.matsumoto.lg.jp", "phone": "0263-00-0000"})
    );
    assert_eq!(matsumoto["note"], "紙で回答");
    assert_eq!(answer("川上村")["status"], "declined");
    let nagano_answer = answer("長野市");
    assert_eq!(
        nagano_answer["version"], 1,
        "an unchanged row writes nothing"
    );
    assert_eq!(nagano_answer["note"], "=HYPERLINK(\"http://example.com\")");

    // Each answer written is audited as the administrator on the body's behalf, with the reason,
    // and kept in the body's history with it.
    let me = app.get("/api/v1/me", &admin).await;
    let written: Vec<Value> = audit(&app, &admin, "entity_type=participation")
        .await
        .into_iter()
        .filter(|e| e["reason"] == REASON)
        .collect();
    assert_eq!(written.len(), 2, "{written:#?}");
    for event in &written {
        assert_eq!(event["actor_user_id"], me.body["user"]["id"]);
        assert_eq!(
            event["actor_organization_id"],
            me.body["organization"]["id"]
        );
        assert_ne!(
            event["actor_organization_id"],
            event["after"]["organization_id"]
        );
    }
    let actions: BTreeSet<&str> = written
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from(["participation.joined", "participation.declined"])
    );
    let history = app
        .get(
            &format!("/api/v1/rounds/{round}/participations/{MATSUMOTO}/history"),
            &admin,
        )
        .await;
    assert_eq!(history.body[0]["reason"], REASON, "{}", history.text);

    // The sheet downloaded again uploads as it is: nothing changes.
    let again = rows_of_download(&app, &admin, &round).await;
    let bytes = {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(file(&again).iter().flat_map(|&b| {
            if b == b'\n' {
                b"\r\n".to_vec()
            } else {
                vec![b]
            }
        }));
        bytes
    };
    let replayed = upload(&app, &admin, &round, bytes).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.text);
    assert_eq!(replayed.body["unchanged"], 3, "{}", replayed.text);
    assert_eq!(replayed.body["joined"], 0);
    assert_eq!(replayed.body["declined"], 0);
}

async fn rows_of_download(app: &TestApp, admin: &str, round: &str) -> Vec<Vec<String>> {
    let sheet = download(app, admin, round).await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.text);
    rows(&sheet.text)
}

#[actix_web::test]
async fn every_error_of_a_file_is_listed_with_its_line_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Cities only, with a usage share: a body that joins declares a quantity.
    let procurement = published_procurement(
        &app,
        &admin,
        json!({
            "eligibility": {"kinds": ["city"]},
            "cost_model": {"pools": [
                {"code": "base", "total": {"kind": "fixed", "amount": 10_000_000}, "weights": {"equal": 5000, "usage": 5000}},
                {"code": "lgwan", "total": {"kind": "fixed", "amount": 1_200_000}, "weights": {"equal": 10000}},
                {"code": "voice", "total": {"kind": "fixed", "amount": 600_000}, "weights": {"equal": 10000}}
            ]},
        }),
    )
    .await;
    let opened = round(
        &app,
        &admin,
        &procurement,
        -Duration::hours(1),
        Duration::days(10),
    )
    .await;
    let round = opened["id"].as_str().unwrap().to_owned();
    let audited_before = audit(&app, &admin, "").await.len();

    let rows = vec![
        header(),
        // 2: a good row.
        line(&[NAGANO, "長野市", "参加", "lgwan", "10", "", "", "", "", ""]),
        // 3: no such body; 4: a code whose check digit is wrong.
        line(&["no-such-body", "", "参加", "", "1", "", "", "", "", ""]),
        line(&["202012", "", "参加", "", "1", "", "", "", "", ""]),
        // 5: a village, not eligible.
        line(&[KAWAKAMI, "川上村", "参加", "", "1", "", "", "", "", ""]),
        // 6: an option the procurement does not offer, and no quantity.
        line(&[MATSUMOTO, "松本市", "参加", "cloud", "", "", "", "", "", ""]),
        // 7: 長野市 again.
        line(&[NAGANO, "長野市", "不参加", "", "", "", "", "", "", ""]),
        // 8: a negative quantity, an address and a phone number that are not.
        line(&[
            UEDA,
            "上田市",
            "参加",
            "",
            "-1",
            "",
            "not an address",
            "call me",
            "",
            "",
        ]),
        // 9: an answer the sheet does not know.
        line(&[OKAYA, "岡谷市", "はい", "", "", "", "", "", "", ""]),
        // 10: a quantity that is not a number.
        line(&[IIDA, "飯田市", "参加", "", "たくさん", "", "", "", "", ""]),
        // 11: a row cut short.
        line(&["202061", "諏訪市", "参加"]),
        // 12: a row without a body.
        line(&["", "", "不参加", "", "", "", "", "", "", ""]),
    ];
    let rejected = upload(&app, &admin, &round, file(&rows)).await;
    assert_eq!(
        rejected.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        rejected.text
    );
    assert_eq!(rejected.problem_code(), "import_rejected");
    let found: BTreeSet<(u64, String, String)> = rejected.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(u64, String, String)> = [
        (3, "団体コード", "organization_not_found"),
        (4, "団体コード", "invalid_lg_code"),
        (5, "団体コード", "not_eligible"),
        (6, "オプション", "unknown_option"),
        (6, "数量", "required"),
        (7, "団体コード", "duplicate"),
        (8, "数量", "out_of_range"),
        (8, "メール", "invalid_format"),
        (8, "電話", "invalid_format"),
        (9, "回答", "invalid_value"),
        (10, "数量", "invalid_format"),
        (11, "row", "wrong_column_count"),
        (12, "団体コード", "required"),
    ]
    .into_iter()
    .map(|(l, f, c)| (l, f.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(found, expected, "{}", rejected.text);
    assert!(
        answers(&app, &admin, &round).await.is_empty(),
        "nothing written"
    );
    assert_eq!(audit(&app, &admin, "").await.len(), audited_before);

    // Whole-file refusals.
    let refused = |response: &Response| {
        response.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().unwrap(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let wrong_header = upload(
        &app,
        &admin,
        &round,
        b"code,answer\r\n202011,joined\r\n".to_vec(),
    )
    .await;
    assert_eq!(wrong_header.problem_code(), "import_rejected");
    assert_eq!(refused(&wrong_header), [(1, "invalid_header".to_owned())]);
    let empty = upload(&app, &admin, &round, Vec::new()).await;
    assert_eq!(refused(&empty), [(1, "invalid_header".to_owned())]);
    // Saved by Excel as 「CSV (コンマ区切り)」: Shift_JIS, where 長野市 is 92 B7 96 EC 8E 73.
    let mut shift_jis = file(&[header()]);
    shift_jis.extend(b"202011,\x92\xB7\x96\xEC\x8E\x73,,,,,,,,\n");
    let not_utf8 = upload(&app, &admin, &round, shift_jis).await;
    assert_eq!(refused(&not_utf8), [(2, "not_utf8".to_owned())]);
    // More rows than the round has eligible bodies.
    let sheet = rows_of_download(&app, &admin, &round).await;
    let mut long = sheet.clone();
    long.push(sheet[1].clone());
    let too_long = upload(&app, &admin, &round, file(&long)).await;
    assert_eq!(
        refused(&too_long),
        [(long.len() as u64, "too_many_rows".to_owned())]
    );

    // And what stands before the file.
    let good = file(&rows[..2]);
    let no_reason = app
        .send_raw(
            Method::POST,
            &format!("/api/v1/rounds/{round}/participations:import"),
            Some(&admin),
            "text/csv",
            good.clone(),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_reason.problem_code(), "validation_failed");
    assert_eq!(no_reason.body["errors"][0]["field"], "reason");
    let as_json = app
        .send_raw(
            Method::POST,
            &import_path(&round, REASON),
            Some(&admin),
            "application/json",
            good.clone(),
        )
        .await;
    assert_eq!(as_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let too_large = upload(&app, &admin, &round, vec![b' '; 300_000]).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.problem_code(), "payload_too_large");
    let coordinator = app.user("coordinator", NAGANO).await;
    let not_admin = upload(&app, &coordinator.token, &round, good.clone()).await;
    assert_eq!(not_admin.problem_code(), "admin_only");
    assert!(
        answers(&app, &admin, &round).await.is_empty(),
        "nothing written"
    );

    let written = upload(&app, &admin, &round, good.clone()).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    assert_eq!(written.body["joined"], 1);
    let closed = app
        .post(
            &format!("/api/v1/rounds/{round}/close"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    let late = upload(&app, &admin, &round, good).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.problem_code(), "round_not_open");
}

#[actix_web::test]
async fn a_mandatory_procurement_cannot_be_declined_by_upload() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let procurement = published_procurement(&app, &admin, json!({"mandatory": true})).await;
    let opened = round(
        &app,
        &admin,
        &procurement,
        -Duration::hours(1),
        Duration::days(10),
    )
    .await;
    let round = opened["id"].as_str().unwrap();
    let mut rows = rows_of_download(&app, &admin, round).await;
    assert_eq!(
        row_of(&mut rows, NAGANO)[2],
        "参加",
        "enrolled when it opened"
    );
    row_of(&mut rows, NAGANO)[2] = "不参加".to_owned();
    let line = 1 + rows.iter().position(|r| r[0] == NAGANO).unwrap() as u64;
    let rejected = upload(&app, &admin, round, file(&rows)).await;
    assert_eq!(rejected.problem_code(), "import_rejected");
    assert_eq!(
        rejected.body["errors"],
        json!([{"line": line, "field": "回答", "code": "participation_mandatory", "message": rejected.body["errors"][0]["message"]}])
    );
}

#[actix_web::test]
async fn an_upload_is_written_in_one_transaction() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let kawakami = organization_id(&app, &admin, KAWAKAMI).await;
    let mut rows = rows_of_download(&app, &admin, &round).await;
    for code in [NAGANO, MATSUMOTO, KAWAKAMI] {
        row_of(&mut rows, code)[2] = "参加".to_owned();
    }
    // The last row's answer (川上村, in code order) fails as it is written.
    let sql = if app.database_url.starts_with("postgres") {
        format!(
            "CREATE FUNCTION refuse_answer() RETURNS trigger AS $$ BEGIN \
             IF NEW.organization_id = '{kawakami}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_answer BEFORE INSERT ON participations \
             FOR EACH ROW EXECUTE FUNCTION refuse_answer();"
        )
    } else {
        format!(
            "CREATE TRIGGER refuse_answer BEFORE INSERT ON participations \
             WHEN NEW.organization_id = '{kawakami}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        )
    };
    diesel::connection::SimpleConnection::batch_execute(&mut *app.pool().get().unwrap(), &sql)
        .expect("installing the trigger");
    let audited_before = audit(&app, &admin, "").await.len();
    let messages_before = app.all_messages().len();

    let failed = upload(&app, &admin, &round, file(&rows)).await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        failed.text
    );
    assert!(
        answers(&app, &admin, &round).await.is_empty(),
        "nothing landed"
    );
    assert_eq!(audit(&app, &admin, "").await.len(), audited_before);
    assert_eq!(app.all_messages().len(), messages_before);
    let mut cursor = String::from("0-0");
    let feed = app.follow_feed(&admin, &mut cursor, 0).await;
    assert!(
        feed.iter().all(|e| e["entity_type"] != "participation"),
        "{feed:#?}"
    );
}

#[actix_web::test]
async fn an_upload_with_an_idempotency_key_is_written_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let mut rows = rows_of_download(&app, &admin, &round).await;
    row_of(&mut rows, NAGANO)[2] = "参加".to_owned();
    let body = file(&rows);
    let send = || async {
        let response = app
            .client
            .post(app.url(&import_path(&round, REASON)))
            .bearer_auth(&admin)
            .insert_header(("content-type", "text/csv"))
            .insert_header(("idempotency-key", "upload-2026-12-01"))
            .send_body(body.clone())
            .await
            .unwrap();
        collect(response).await
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["joined"], 1);
    let second = send().await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
    let history = app
        .get(
            &format!("/api/v1/rounds/{round}/participations/{NAGANO}/history"),
            &admin,
        )
        .await;
    assert_eq!(history.body.as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn reminding_now_writes_one_message_per_address_of_each_body_that_has_not_answered() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, round) = open_round(&app, &admin).await;
    let nagano = app.user("coordinator", NAGANO).await;
    let matsumoto = app.user("coordinator", MATSUMOTO).await;
    let kawakami = app.user("coordinator", KAWAKAMI).await;
    let ueda = app.user("coordinator", UEDA).await;
    let joined = put(
        &app,
        &nagano.token,
        &round,
        NAGANO,
        json!({"status": "joined"}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.text);
    // 上田市's coordinator stops reminders.
    let unsubscribe = app.state.unsubscribe.token(&ueda.email);
    let stopped = app
        .post(
            &format!("/api/v1/unsubscribe/{unsubscribe}"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let path = format!("/api/v1/rounds/{round}/reminders");

    let refused = app.post(&path, Some(&matsumoto.token), json!({})).await;
    assert_eq!(refused.problem_code(), "admin_only");

    // Only some bodies: one that answered is passed over; unknown and ineligible bodies refused.
    let unknown = app
        .post(
            &path,
            Some(&admin),
            json!({"organizations": [MATSUMOTO, "nowhere"]}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    assert_eq!(unknown.body["errors"][0]["field"], "organizations[1]");
    let some = app
        .post(
            &path,
            Some(&admin),
            json!({"organizations": [MATSUMOTO, NAGANO]}),
        )
        .await;
    assert_eq!(some.status, StatusCode::OK, "{}", some.text);
    assert_eq!(some.body["reminded"], 1);
    assert_eq!(some.body["organizations"][0]["lg_code"], MATSUMOTO);
    assert_eq!(app.outbox("reminder", &matsumoto.email).len(), 1);

    // Everyone who has not answered, at once, without a body.
    let before = app.all_messages().len();
    let all = app.request(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let reminders: Vec<_> = app
        .all_messages()
        .into_iter()
        .skip(before)
        .filter(|m| m.event == "reminder")
        .collect();
    assert_eq!(
        reminders.len() as u64,
        all.body["messages"].as_u64().unwrap()
    );
    let recipients: Vec<&str> = reminders.iter().map(|m| m.recipient.as_str()).collect();
    let distinct: BTreeSet<&str> = recipients.iter().copied().collect();
    assert_eq!(distinct.len(), recipients.len(), "one message per address");
    assert!(recipients.contains(&matsumoto.email.as_str()));
    assert!(recipients.contains(&kawakami.email.as_str()));
    assert!(!recipients.contains(&nagano.email.as_str()), "answered");
    assert!(!recipients.contains(&ueda.email.as_str()), "opted out");
    let reminded: Vec<&str> = all.body["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["lg_code"].as_str())
        .collect();
    assert!(reminded.contains(&KAWAKAMI) && !reminded.contains(&NAGANO));
    assert_eq!(
        all.body["reminded"].as_u64().unwrap() as usize,
        all.body["organizations"].as_array().unwrap().len()
    );
    let context: Value =
        serde_json::from_str(&app.outbox("reminder", &kawakami.email)[0].context).unwrap();
    assert_eq!(context["days_before"], 10, "the round closes in ten days");

    // Audited once per reminder sent now.
    let audited = audit(&app, &admin, "action=round.reminded").await;
    assert_eq!(audited.len(), 2, "{audited:#?}");
    assert_eq!(audited[0]["entity_id"], round);
    assert_eq!(audited[0]["after"]["reminded"], all.body["reminded"]);

    // A closed round reminds no one.
    let closed = app
        .post(
            &format!("/api/v1/rounds/{round}/close"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    let late = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.problem_code(), "round_not_open");
}
