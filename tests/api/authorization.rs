//! The authorization matrix: every endpoint, called by every kind of caller about its own body and
//! about another, with the exact status (and problem `code`) the policy gives each.
//!
//! Each row of a table is one endpoint; its eight columns are the callers in `CALLERS` order.
//! Objects a request could change (a round, a draft, an answer) are made afresh for every single
//! request, so that no cell depends on which ran before it.

use std::fmt;

use actix_web::http::Method;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use kyodo::clock::Clock;

use crate::helpers::{Response, TestApp, procurement_input, spawn_app};

const OWN: &str = "202011"; // 長野市 (a city)
const OTHER: &str = "202029"; // 松本市 (a city)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    CoordinatorOwn,
    ViewerOwn,
    CoordinatorOther,
    ViewerOther,
    TokenRo,
    TokenRw,
    Anonymous,
}

/// The columns of every table, in this order.
const CALLERS: [Caller; 8] = [
    Caller::Admin,
    Caller::CoordinatorOwn,
    Caller::ViewerOwn,
    Caller::CoordinatorOther,
    Caller::ViewerOther,
    Caller::TokenRo,
    Caller::TokenRw,
    Caller::Anonymous,
];

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Admin => "admin",
            Self::CoordinatorOwn => "coordinator_own",
            Self::ViewerOwn => "viewer_own",
            Self::CoordinatorOther => "coordinator_other",
            Self::ViewerOther => "viewer_other",
            Self::TokenRo => "token_ro",
            Self::TokenRw => "token_rw",
            Self::Anonymous => "unauthenticated",
        })
    }
}

/// What a caller gets: a status, and for a problem its `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    status: u16,
    code: Option<&'static str>,
}

const fn success(status: u16) -> Outcome {
    Outcome { status, code: None }
}

const fn problem(status: u16, code: &'static str) -> Outcome {
    Outcome {
        status,
        code: Some(code),
    }
}

const OK: Outcome = success(200);
const CREATED: Outcome = success(201);
const NO_CONTENT: Outcome = success(204);
const ANON: Outcome = problem(401, "missing_credentials");
const ADMIN_ONLY: Outcome = problem(403, "admin_only");
const READ_ONLY: Outcome = problem(403, "read_only_token");
const NOT_YOURS: Outcome = problem(403, "not_your_organization");
const ROLE: Outcome = problem(403, "role_forbidden");
const SESSION: Outcome = problem(403, "session_required");
const NOT_ELIGIBLE: Outcome = problem(403, "not_eligible");
const HIDDEN: Outcome = problem(404, "procurement_not_found");
const NO_ANSWER: Outcome = problem(404, "participation_not_found");
/// An administrator answering for another body without a `reason`.
const NO_REASON: Outcome = problem(422, "validation_failed");

/// Everyone signed in may.
const EVERYONE: [Outcome; 8] = [OK, OK, OK, OK, OK, OK, OK, ANON];
/// Administrators only: a write (a read-only token is stopped before the handler).
const fn admin_write(done: Outcome) -> [Outcome; 8] {
    [
        done, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, READ_ONLY, ADMIN_ONLY, ANON,
    ]
}
/// Administrators only: a read.
const ADMIN_READ: [Outcome; 8] = [
    OK, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ANON,
];
/// Private data of body A: the body itself and administrators.
const PRIVATE_OWN: [Outcome; 8] = [OK, OK, OK, NOT_YOURS, NOT_YOURS, OK, OK, ANON];
/// Private data of body B.
const PRIVATE_OTHER: [Outcome; 8] = [OK, NOT_YOURS, NOT_YOURS, OK, OK, NOT_YOURS, NOT_YOURS, ANON];

/// What a case needs made afresh before each request; its id replaces `{new}` in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Nothing,
    /// A draft procurement.
    Draft,
    /// A published procurement open to every kind of body.
    Published,
    /// An open round of the shared published procurement.
    OpenRound,
    /// A round opening tomorrow.
    ScheduledRound,
    /// An open round, closed again before its deadline.
    ClosedRound,
    /// An open round that body A has joined.
    AnsweredRound,
    /// A question asked by body A about the shared published procurement.
    Question,
    /// A closed round of a new procurement that body A joined.
    JoinedClosedRound,
    /// A finalized round of a new procurement that body A joined.
    FinalizedRound,
    /// A new procurement with a finalized round.
    FinalizedProcurement,
    /// An API token of the caller (for API tokens and the unauthenticated: of coordinator_own).
    OwnToken,
    /// A message in the outbox that failed for good.
    FailedMessage,
    /// The token of an unsubscribe link, as a reminder carries it.
    UnsubscribeLink,
    /// A webhook endpoint of body A, registered by its coordinator.
    OwnWebhook,
    /// The caller's calendar feed (for API tokens and the unauthenticated: coordinator_own's);
    /// its secret.
    OwnCalendar,
}

/// One row: an endpoint and what each caller gets.
struct Case {
    /// Method and path under `/api/v1`. In the path, `{new}` is the object made afresh;
    /// `{published}`, `{draft}`, `{round}`, `{ineligible}` and `{ineligible_round}` are the world's
    /// shared objects, which no request in the tables changes.
    endpoint: &'static str,
    fresh: Fresh,
    body: fn() -> Option<Value>,
    /// In `CALLERS` order.
    expect: [Outcome; 8],
}

fn case(
    endpoint: &'static str,
    fresh: Fresh,
    body: fn() -> Option<Value>,
    expect: [Outcome; 8],
) -> Case {
    Case {
        endpoint,
        fresh,
        body,
        expect,
    }
}

fn none() -> Option<Value> {
    None
}

fn joined() -> Option<Value> {
    Some(json!({"status": "joined"}))
}

fn joined_with_reason() -> Option<Value> {
    Some(json!({"status": "joined", "reason": "x"}))
}

/// An answers sheet where body A joins and body B declines, sent as CSV.
fn answers_sheet() -> Option<Value> {
    Some(Value::String(format!(
        "団体コード,団体名,回答,オプション,数量,担当者,メール,電話,備考,回答日時\r\n\
         {OWN},長野市,参加,,,,,,,\r\n{OTHER},松本市,不参加,,,,,,,\r\n"
    )))
}

fn reason() -> Option<Value> {
    Some(json!({"reason": "x"}))
}

fn invitation(organization: &str) -> Option<Value> {
    let email = format!("invited.{}@example.lg.jp", uuid::Uuid::new_v4().simple());
    Some(
        json!({"email": email, "display_name": "招待 花子", "role": "viewer", "organization": organization}),
    )
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Two bodies, their users, two API tokens, and the shared objects.
struct World {
    app: TestApp,
    /// Indexed like `CALLERS`; the unauthenticated have none.
    tokens: [Option<String>; 8],
    published: String,
    draft: String,
    /// An open round of `published`.
    round: String,
    /// Published, for villages only, with an open round.
    ineligible: String,
    ineligible_round: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let coordinator_own = app.user("coordinator", OWN).await.token;
    let viewer_own = app.user("viewer", OWN).await.token;
    let coordinator_other = app.user("coordinator", OTHER).await.token;
    let viewer_other = app.user("viewer", OTHER).await.token;
    let mut api_tokens = Vec::new();
    for scope in ["read_only", "read_write"] {
        let created = app
            .post(
                "/api/v1/tokens",
                Some(&coordinator_own),
                json!({"name": scope, "scope": scope}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        api_tokens.push(created.body["token"].as_str().unwrap().to_owned());
    }
    let token_rw = api_tokens.pop();
    let token_ro = api_tokens.pop();
    let mut world = World {
        app,
        tokens: [
            Some(admin),
            Some(coordinator_own),
            Some(viewer_own),
            Some(coordinator_other),
            Some(viewer_other),
            token_ro,
            token_rw,
            None,
        ],
        published: String::new(),
        draft: String::new(),
        round: String::new(),
        ineligible: String::new(),
        ineligible_round: String::new(),
    };
    world.published = world.procurement(json!({}), true).await;
    world.draft = world.procurement(json!({}), false).await;
    world.round = world.open_round(&world.published).await;
    world.ineligible = world.procurement(json!({"kinds": ["village"]}), true).await;
    world.ineligible_round = world.open_round(&world.ineligible).await;
    world
}

impl World {
    fn token(&self, caller: Caller) -> Option<&str> {
        let column = CALLERS.iter().position(|c| *c == caller).unwrap();
        self.tokens[column].as_deref()
    }

    fn admin(&self) -> &str {
        self.token(Caller::Admin).unwrap()
    }

    fn now(&self) -> DateTime<Utc> {
        self.app.clock.now().and_utc()
    }

    async fn procurement(&self, eligibility: Value, publish: bool) -> String {
        let input = procurement_input("共同調達 権限確認", eligibility);
        let created = self
            .app
            .ok(
                Method::POST,
                "/api/v1/procurements",
                self.admin(),
                Some(input),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        if publish {
            let path = format!("/api/v1/procurements/{id}/publish");
            self.app.ok(Method::POST, &path, self.admin(), None).await;
        }
        id
    }

    async fn round(&self, procurement: &str, opens_in: Duration) -> String {
        let now = self.now();
        let input = json!({
            "kind": "commitment",
            "opens_at": rfc3339(now + opens_in),
            "closes_at": rfc3339(now + Duration::days(10)),
            "population_base_date": "2020-01-01",
        });
        let path = format!("/api/v1/procurements/{procurement}/rounds");
        let round = self
            .app
            .ok(Method::POST, &path, self.admin(), Some(input))
            .await;
        round["id"].as_str().unwrap().to_owned()
    }

    async fn open_round(&self, procurement: &str) -> String {
        self.round(procurement, -Duration::hours(1)).await
    }

    /// A new procurement with a round that body A joined, closed; returns both ids.
    async fn joined_closed_round(&self) -> (String, String) {
        let procurement = self.procurement(json!({}), true).await;
        let id = self.open_round(&procurement).await;
        let path = format!("/api/v1/rounds/{id}/participations/{OWN}");
        let coordinator = self.token(Caller::CoordinatorOwn).unwrap();
        self.app.ok(Method::PUT, &path, coordinator, joined()).await;
        let path = format!("/api/v1/rounds/{id}/close");
        self.app.ok(Method::POST, &path, self.admin(), None).await;
        (procurement, id)
    }

    async fn finalized_round(&self) -> (String, String) {
        let (procurement, id) = self.joined_closed_round().await;
        let path = format!("/api/v1/rounds/{id}/finalize");
        self.app
            .ok(Method::POST, &path, self.admin(), contracted_totals())
            .await;
        (procurement, id)
    }

    /// Makes what `fresh` asks for, for a request by `caller`; returns its id.
    async fn fresh(&self, fresh: Fresh, caller: Caller) -> String {
        let admin = self.admin();
        match fresh {
            Fresh::Nothing => String::new(),
            Fresh::Draft => self.procurement(json!({}), false).await,
            Fresh::Published => self.procurement(json!({}), true).await,
            Fresh::OpenRound => self.open_round(&self.published).await,
            Fresh::ScheduledRound => self.round(&self.published, Duration::days(1)).await,
            Fresh::ClosedRound => {
                let id = self.open_round(&self.published).await;
                let path = format!("/api/v1/rounds/{id}/close");
                self.app.ok(Method::POST, &path, admin, None).await;
                id
            }
            Fresh::AnsweredRound => {
                let id = self.open_round(&self.published).await;
                let path = format!("/api/v1/rounds/{id}/participations/{OWN}");
                let coordinator = self.token(Caller::CoordinatorOwn).unwrap();
                self.app.ok(Method::PUT, &path, coordinator, joined()).await;
                id
            }
            Fresh::JoinedClosedRound => self.joined_closed_round().await.1,
            Fresh::FinalizedRound => self.finalized_round().await.1,
            Fresh::FinalizedProcurement => self.finalized_round().await.0,
            Fresh::Question => {
                let path = format!("/api/v1/procurements/{}/questions", self.published);
                let coordinator = self.token(Caller::CoordinatorOwn).unwrap();
                let body = Some(json!({"question": "LGWAN環境から利用できますか。"}));
                let question = self.app.ok(Method::POST, &path, coordinator, body).await;
                question["id"].as_str().unwrap().to_owned()
            }
            Fresh::FailedMessage => {
                let now = self.app.clock_now();
                let mut row = kyodo::db::outbox::OutboxRow::pending(
                    kyodo::domain::notification::Channel::Email,
                    "reminder",
                    "refused@example.lg.jp".to_owned(),
                    None,
                    None,
                    "{}".to_owned(),
                    now,
                );
                row.state = "failed".to_owned();
                row.attempts = 10;
                row.last_error = Some("550 Mailbox unavailable".to_owned());
                kyodo::db::outbox::insert(
                    &mut self.app.pool().get().unwrap(),
                    std::slice::from_ref(&row),
                )
                .unwrap();
                row.id
            }
            Fresh::UnsubscribeLink => self.app.state.unsubscribe.token("reminded@example.lg.jp"),
            Fresh::OwnWebhook => {
                let coordinator = self.token(Caller::CoordinatorOwn).unwrap();
                let created = self
                    .app
                    .ok(Method::POST, "/api/v1/webhooks", coordinator, webhook())
                    .await;
                created["id"].as_str().unwrap().to_owned()
            }
            Fresh::OwnToken => {
                let owner = match caller {
                    Caller::TokenRo | Caller::TokenRw | Caller::Anonymous => Caller::CoordinatorOwn,
                    session => session,
                };
                let body = Some(json!({"name": "to revoke", "scope": "read_only"}));
                let token = self.token(owner).unwrap();
                let created = self
                    .app
                    .ok(Method::POST, "/api/v1/tokens", token, body)
                    .await;
                created["id"].as_str().unwrap().to_owned()
            }
            Fresh::OwnCalendar => {
                let owner = match caller {
                    Caller::TokenRo | Caller::TokenRw | Caller::Anonymous => Caller::CoordinatorOwn,
                    session => session,
                };
                let token = self.token(owner).unwrap();
                let created = self
                    .app
                    .ok(Method::POST, "/api/v1/me/calendar", token, None)
                    .await;
                let url = created["url"].as_str().unwrap();
                let (_, file) = url.rsplit_once('/').unwrap();
                file.trim_end_matches(".ics").to_owned()
            }
        }
    }

    /// Runs every cell of `cases`; fails naming every cell that differs from the policy.
    async fn check(&self, cases: &[Case]) {
        let mut failures = Vec::new();
        for case in cases {
            let (method, template) = case.endpoint.split_once(' ').unwrap();
            let method: Method = method.parse().unwrap();
            for (caller, expected) in CALLERS.into_iter().zip(case.expect) {
                let new = self.fresh(case.fresh, caller).await;
                let path = format!("/api/v1{template}")
                    .replace("{new}", &new)
                    .replace("{published}", &self.published)
                    .replace("{draft}", &self.draft)
                    .replace("{round}", &self.round)
                    .replace("{ineligible}", &self.ineligible)
                    .replace("{ineligible_round}", &self.ineligible_round);
                let token = self.token(caller);
                let response = match (case.body)() {
                    // A spreadsheet upload.
                    Some(Value::String(csv)) => {
                        self.app
                            .send_raw(method.clone(), &path, token, "text/csv", csv.into_bytes())
                            .await
                    }
                    body => self.app.request(method.clone(), &path, token, body).await,
                };
                let (expected, actual) = (show(expected), show_response(&response));
                if actual != expected {
                    let fresh = match case.fresh {
                        Fresh::Nothing => String::new(),
                        fresh => format!(" ({{new}} = a fresh {fresh:?})"),
                    };
                    failures.push(format!(
                        "{}{fresh} as {caller}: expected {expected}, got {actual}: {}",
                        case.endpoint, response.text
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cells differ from the policy:\n{}",
            failures.len(),
            cases.len() * CALLERS.len(),
            failures.join("\n")
        );
    }
}

/// The contracted total of `procurement_input`'s one pool and year.
fn contracted_totals() -> Option<Value> {
    Some(json!({"totals": [{"pool": "base", "fiscal_year": 2027, "amount": 1_000_000}]}))
}

fn correction() -> Option<Value> {
    Some(
        json!({"totals": [{"pool": "base", "fiscal_year": 2027, "amount": 990_000}], "reason": "契約変更"}),
    )
}

/// A body no endpoint takes: every input rejects unknown fields.
fn invalid() -> Option<Value> {
    Some(json!({"unexpected": "field"}))
}

/// A file no upload takes: not the answers sheet.
fn invalid_csv() -> Option<Value> {
    Some(Value::String("unexpected,columns\r\n".to_owned()))
}

impl World {
    /// `check` again with an invalid body in every case that sends one: callers the policy
    /// refuses are refused the same way (authorization comes first), the others learn that the
    /// body is wrong.
    async fn check_invalid_bodies(&self, cases: &[Case]) {
        const INVALID: Outcome = problem(422, "invalid_body");
        const INVALID_FILE: Outcome = problem(422, "import_rejected");
        // An invitation names its organization in the body: without a readable body, only the
        // caller's role can be judged.
        let judged = |endpoint: &str, outcome: Outcome| {
            let names_its_target = endpoint == "POST /users" && outcome == NOT_YOURS;
            if outcome.status < 300 || outcome == NO_REASON || names_its_target {
                INVALID
            } else {
                outcome
            }
        };
        let invalid_cases: Vec<Case> = cases
            .iter()
            .filter_map(|case| {
                let (body, invalid_input): (fn() -> Option<Value>, Outcome) = match (case.body)()? {
                    Value::String(_) => (invalid_csv, INVALID_FILE),
                    _ => (invalid, INVALID),
                };
                Some(Case {
                    endpoint: case.endpoint,
                    fresh: case.fresh,
                    body,
                    expect: case
                        .expect
                        .map(|outcome| match judged(case.endpoint, outcome) {
                            INVALID => invalid_input,
                            other => other,
                        }),
                })
            })
            .collect();
        assert!(!invalid_cases.is_empty());
        self.check(&invalid_cases).await;
    }
}

/// The response as the tables write it: the status, and a problem's code (only for a
/// well-formed problem document).
fn show_response(response: &Response) -> String {
    let status = response.status.as_u16();
    if status < 400 {
        return status.to_string();
    }
    let code = if response.content_type() == "application/problem+json"
        && response.body["status"] == status
    {
        response.body["code"].as_str().unwrap_or("(no code)")
    } else {
        "(not a problem document)"
    };
    format!("{status} {code}")
}

fn show(outcome: Outcome) -> String {
    match outcome.code {
        Some(code) => format!("{} {code}", outcome.status),
        None => outcome.status.to_string(),
    }
}

// --- the matrix, by resource family -------------------------------------------------------------
//
// Columns: admin, coordinator_own, viewer_own, coordinator_other, viewer_other, token_ro, token_rw,
// unauthenticated. "Own" is body A (202011), "other" body B (202029).

#[actix_web::test]
async fn identity_and_organizations() {
    use Fresh::Nothing;
    let contacts = || Some(json!({"contacts": []}));
    #[rustfmt::skip]
    let cases = [
        case("GET /me",                     Nothing, none,     EVERYONE),
        case("GET /changes",                Nothing, none,     EVERYONE),
        case("GET /organizations",          Nothing, none,     EVERYONE),
        case("GET /organizations/202011",   Nothing, none,     EVERYONE),
        case("GET /organizations/202029",   Nothing, none,     EVERYONE),
        case("PATCH /organizations/202011", Nothing, contacts, admin_write(OK)),
        case("PATCH /organizations/202029", Nothing, contacts, admin_write(OK)),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn api_tokens() {
    use Fresh::{Nothing, OwnToken};
    let new_token = || Some(json!({"name": "script", "scope": "read_only"}));
    #[rustfmt::skip]
    let cases = [
        case("GET /tokens",          Nothing,  none,      [OK,         OK,         OK,         OK,         OK,         SESSION, SESSION, ANON]),
        // A read-only token is refused any write before the handler looks further.
        case("POST /tokens",         Nothing,  new_token, [CREATED,    CREATED,    CREATED,    CREATED,    CREATED,    READ_ONLY, SESSION, ANON]),
        case("DELETE /tokens/{new}", OwnToken, none,      [NO_CONTENT, NO_CONTENT, NO_CONTENT, NO_CONTENT, NO_CONTENT, READ_ONLY, SESSION, ANON]),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn calendar_feeds() {
    use Fresh::{Nothing, OwnCalendar};
    let gone = problem(404, "calendar_feed_not_found");
    #[rustfmt::skip]
    let cases = [
        case("GET /me/calendar",                 OwnCalendar, none, EVERYONE),
        // Everyone's own feed; a read-only token is refused any write before the handler.
        case("POST /me/calendar",                Nothing,     none, [CREATED,    CREATED,    CREATED,    CREATED,    CREATED,    READ_ONLY, CREATED,    ANON]),
        case("DELETE /me/calendar",              OwnCalendar, none, [NO_CONTENT, NO_CONTENT, NO_CONTENT, NO_CONTENT, NO_CONTENT, READ_ONLY, NO_CONTENT, ANON]),
        case("DELETE /me/calendar",              Nothing,     none, [NO_CONTENT, NO_CONTENT, NO_CONTENT, NO_CONTENT, NO_CONTENT, READ_ONLY, NO_CONTENT, ANON]),
        // The secret address is the credential: a calendar client sends no bearer token, and
        // whatever else a request carries neither opens nor closes it.
        case("GET /calendar/{new}.ics",          OwnCalendar, none, [OK; 8]),
        case("GET /calendar/kydcal_unknown.ics", Nothing,     none, [gone; 8]),
    ];
    let world = world().await;
    world.check(&cases).await;
}

#[actix_web::test]
async fn users() {
    use Fresh::Nothing;
    let invite_to_own = || invitation(OWN);
    let invite_to_other = || invitation(OTHER);
    #[rustfmt::skip]
    let cases = [
        case("GET /users",                     Nothing, none,            EVERYONE),
        case("GET /users?organization=202011", Nothing, none,            PRIVATE_OWN),
        case("GET /users?organization=202029", Nothing, none,            PRIVATE_OTHER),
        // Inviting needs a password login: a leaked token cannot mint accounts.
        case("POST /users",                    Nothing, invite_to_own,   [CREATED, CREATED,   ROLE, NOT_YOURS, ROLE, READ_ONLY, SESSION,   ANON]),
        case("POST /users",                    Nothing, invite_to_other, [CREATED, NOT_YOURS, ROLE, CREATED,   ROLE, READ_ONLY, SESSION,   ANON]),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn procurements_and_questions() {
    use Fresh::{Draft, Nothing, Published, Question};
    let create = || Some(procurement_input("新規調達", json!({})));
    let summary = || Some(json!({"summary": "x"}));
    let question = || Some(json!({"question": "x"}));
    let answer = || Some(json!({"answer": "x"}));
    let hidden = [OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, ANON];
    #[rustfmt::skip]
    let cases = [
        case("GET /procurements",                        Nothing,   none,     EVERYONE),
        case("GET /procurements/{published}",            Nothing,   none,     EVERYONE),
        case("GET /procurements/{draft}",                Nothing,   none,     hidden),
        case("GET /procurements/{ineligible}",           Nothing,   none,     hidden),
        case("POST /procurements",                       Nothing,   create,   admin_write(CREATED)),
        case("PATCH /procurements/{new}",                Draft,     summary,  admin_write(OK)),
        case("POST /procurements/{new}/publish",         Draft,     none,     admin_write(OK)),
        case("POST /procurements/{new}/cancel",          Published, reason,   admin_write(OK)),
        case("GET /procurements/{published}/questions",  Nothing,   none,     EVERYONE),
        case("POST /procurements/{published}/questions", Nothing,   question, [ROLE, CREATED, ROLE, CREATED, ROLE, READ_ONLY, CREATED, ANON]),
        case("POST /questions/{new}/answer",             Question,  answer,   admin_write(OK)),
        case("GET /audit-events",                        Nothing,   none,     ADMIN_READ),
        // A query the endpoint cannot read tells only those allowed to read it.
        case("GET /audit-events?page=first",             Nothing,   none,     [problem(400, "invalid_query"), ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ANON]),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn rounds() {
    use Fresh::{ClosedRound, Nothing, OpenRound, Published, ScheduledRound};
    let round = || {
        let now = Utc::now();
        Some(json!({
            "kind": "commitment",
            "opens_at": rfc3339(now - Duration::hours(1)),
            "closes_at": rfc3339(now + Duration::days(10)),
            "population_base_date": "2020-01-01",
        }))
    };
    let reminders = || Some(json!({"reminder_days": [3]}));
    let remind = || Some(json!({"organizations": [OWN, OTHER]}));
    #[rustfmt::skip]
    let cases = [
        case("GET /procurements/{published}/rounds", Nothing,        none,      EVERYONE),
        case("POST /procurements/{new}/rounds",      Published,      round,     admin_write(CREATED)),
        case("GET /rounds/{round}",                  Nothing,        none,      EVERYONE),
        case("PATCH /rounds/{new}",                  OpenRound,      reminders, admin_write(OK)),
        case("POST /rounds/{new}/open",              ScheduledRound, none,      admin_write(OK)),
        case("POST /rounds/{new}/close",             OpenRound,      none,      admin_write(OK)),
        case("POST /rounds/{new}/reopen",            ClosedRound,    none,      admin_write(OK)),
        case("POST /rounds/{new}/cancel",            OpenRound,      reason,    admin_write(OK)),
        case("GET /rounds/{round}/non-respondents",  Nothing,        none,      ADMIN_READ),
        case("POST /rounds/{new}/reminders",         OpenRound,      none,      admin_write(OK)),
        case("POST /rounds/{new}/reminders",         OpenRound,      remind,    admin_write(OK)),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn participations() {
    use Fresh::{AnsweredRound as Answered, Nothing, OpenRound as Open};
    let with_reason = joined_with_reason;
    let sheet = answers_sheet;
    #[rustfmt::skip]
    let cases = [
        case("GET /rounds/{round}/participations",                  Nothing,  none,        EVERYONE),
        case("GET /rounds/{round}/participations/202011/history",   Nothing,  none,        PRIVATE_OWN),
        case("GET /rounds/{round}/participations/202029/history",   Nothing,  none,        PRIVATE_OTHER),
        // A first answer, for body A and for body B.
        case("PUT /rounds/{new}/participations/202011",             Open,     joined,      [NO_REASON, CREATED,   ROLE, NOT_YOURS, ROLE, READ_ONLY, CREATED,   ANON]),
        case("PUT /rounds/{new}/participations/202011",             Open,     with_reason, [CREATED,   CREATED,   ROLE, NOT_YOURS, ROLE, READ_ONLY, CREATED,   ANON]),
        case("PUT /rounds/{new}/participations/202029",             Open,     joined,      [NO_REASON, NOT_YOURS, ROLE, CREATED,   ROLE, READ_ONLY, NOT_YOURS, ANON]),
        // A changed answer.
        case("PUT /rounds/{new}/participations/202011",             Answered, joined,      [NO_REASON, OK,        ROLE, NOT_YOURS, ROLE, READ_ONLY, OK,        ANON]),
        case("PUT /rounds/{new}/participations/202011",             Answered, with_reason, [OK,        OK,        ROLE, NOT_YOURS, ROLE, READ_ONLY, OK,        ANON]),
        // Withdrawing an answer, and withdrawing none.
        case("DELETE /rounds/{new}/participations/202011",          Answered, none,        [NO_REASON, OK,        ROLE, NOT_YOURS, ROLE, READ_ONLY, OK,        ANON]),
        case("DELETE /rounds/{new}/participations/202011?reason=x", Answered, none,        [OK,        OK,        ROLE, NOT_YOURS, ROLE, READ_ONLY, OK,        ANON]),
        case("DELETE /rounds/{new}/participations/202011?reason=x", Open,     none,        [NO_ANSWER, NO_ANSWER, ROLE, NOT_YOURS, ROLE, READ_ONLY, NO_ANSWER, ANON]),
        // The answers as a spreadsheet: the secretariat's, for every body.
        case("GET /rounds/{round}/participations.csv",              Nothing,  none,        ADMIN_READ),
        case("POST /rounds/{new}/participations:import?reason=x",   Open,     sheet,       admin_write(OK)),
        // A procurement for villages only: 長野市 (a city) may not take part.
        case("PUT /rounds/{ineligible_round}/participations/202011", Nothing, with_reason, [NOT_ELIGIBLE, NOT_ELIGIBLE, ROLE, NOT_YOURS, ROLE, READ_ONLY, NOT_ELIGIBLE, ANON]),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn allocations() {
    use Fresh::{FinalizedProcurement, FinalizedRound, JoinedClosedRound, Nothing};
    let what_if =
        || Some(json!({"participants": [{"organization": OWN}, {"organization": OTHER}]}));
    let hidden = problem(404, "round_not_found");
    #[rustfmt::skip]
    let cases = [
        // Each caller's own body by default; another body's only for administrators.
        case("GET /rounds/{round}/estimate",                    Nothing,              none,               EVERYONE),
        case("GET /rounds/{round}/estimate?org=202011",         Nothing,              none,               PRIVATE_OWN),
        case("GET /rounds/{round}/estimate?org=202029",         Nothing,              none,               PRIVATE_OTHER),
        case("GET /rounds/{ineligible_round}/estimate?org=202011", Nothing,           none,               [problem(403, "not_eligible"), hidden, hidden, hidden, hidden, hidden, hidden, ANON]),
        case("POST /rounds/{round}/estimate",                   Nothing,              what_if,            admin_write(OK)),
        case("POST /rounds/{new}/finalize",                     JoinedClosedRound,    contracted_totals,  admin_write(CREATED)),
        case("POST /rounds/{new}/allocations",                  FinalizedRound,       correction,         admin_write(CREATED)),
        // Once finalized, the whole table is public within the council.
        case("GET /rounds/{new}/allocation",                    FinalizedRound,       none,               EVERYONE),
        case("GET /rounds/{new}/allocation?format=csv",         FinalizedRound,       none,               EVERYONE),
        case("GET /rounds/{new}/allocations",                   FinalizedRound,       none,               EVERYONE),
        // Open data: no login needed.
        case("GET /ocds/releases?procurement={new}",            FinalizedProcurement, none,               [OK; 8]),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

/// A webhook to a public address written as such: nothing is looked up.
fn webhook() -> Option<Value> {
    Some(json!({"url": "https://203.0.114.10/kyodo", "events": ["*"]}))
}

#[actix_web::test]
async fn webhooks() {
    use Fresh::{Nothing, OwnWebhook};
    let hidden = problem(404, "webhook_not_found");
    #[rustfmt::skip]
    let cases = [
        // Coordinators register their own body's; viewers cannot; administrators any.
        case("POST /webhooks",                                  Nothing,              webhook,            [CREATED, CREATED, ROLE, CREATED, ROLE, READ_ONLY, CREATED, ANON]),
        case("GET /webhooks",                                   Nothing,              none,               EVERYONE),
        case("GET /webhooks?organization=202029",               Nothing,              none,               PRIVATE_OTHER),
        // Body A's endpoint: another body does not learn that it exists.
        case("GET /webhooks/{new}",                             OwnWebhook,           none,               [OK, OK, OK, hidden, hidden, OK, OK, ANON]),
        case("GET /webhooks/{new}/deliveries",                  OwnWebhook,           none,               [OK, OK, OK, hidden, hidden, OK, OK, ANON]),
        case("POST /webhooks/{new}/rotate-secret",              OwnWebhook,           none,               [OK, OK, ROLE, hidden, hidden, READ_ONLY, OK, ANON]),
        case("DELETE /webhooks/{new}",                          OwnWebhook,           none,               [NO_CONTENT, NO_CONTENT, ROLE, hidden, hidden, READ_ONLY, NO_CONTENT, ANON]),
    ];
    let world = world().await;
    world.check(&cases).await;
    world.check_invalid_bodies(&cases).await;
}

#[actix_web::test]
async fn notifications() {
    use Fresh::{FailedMessage, Nothing, UnsubscribeLink};
    #[rustfmt::skip]
    let cases = [
        // The outbox is the secretariat's.
        case("GET /notifications",                              Nothing,              none,               ADMIN_READ),
        case("GET /notifications?state=failed",                 Nothing,              none,               ADMIN_READ),
        case("POST /notifications/{new}/retry",                 FailedMessage,        none,               admin_write(OK)),
        // Whoever holds the link, signed in or not: a mail client follows it without a login.
        case("GET /unsubscribe/{new}",                          UnsubscribeLink,      none,               [OK; 8]),
        case("POST /unsubscribe/{new}",                         UnsubscribeLink,      none,               [OK; 8]),
    ];
    world().await.check(&cases).await;
}

// --- an ineligible body, in detail ---------------------------------------------------------------

#[actix_web::test]
async fn an_ineligible_body_is_told_why_it_cannot_answer() {
    let world = world().await;
    let coordinator = world.token(Caller::CoordinatorOwn).unwrap();

    let procurement = format!("/api/v1/procurements/{}", world.ineligible);
    let response = world.app.get(&procurement, coordinator).await;
    assert_eq!(response.status, 404, "{}", response.text);
    assert_eq!(response.problem_code(), "procurement_not_found");

    let path = format!(
        "/api/v1/rounds/{}/participations/{OWN}",
        world.ineligible_round
    );
    let response = world
        .app
        .request(Method::PUT, &path, Some(coordinator), joined())
        .await;
    assert_eq!(response.status, 403, "{}", response.text);
    assert_eq!(response.problem_code(), "not_eligible");
    let detail = response.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("長野市"), "{detail}");
    assert!(detail.contains("village"), "{detail}");
    assert!(detail.contains("city"), "{detail}");

    // Nothing was written.
    let answers = format!("/api/v1/rounds/{}/participations", world.ineligible_round);
    let listed = world.app.get(&answers, world.admin()).await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.text);
}

/// Every operation the API document lists under `/api/v1` has a row in the tables above, so an
/// endpoint added later cannot go untested for who may call it.
#[test]
fn the_matrix_covers_every_documented_operation() {
    fn shape(path: &str) -> String {
        path.split('/')
            .map(|segment| {
                if segment.contains('{')
                    || (!segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()))
                {
                    "*"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
    let source = include_str!("authorization.rs");
    let tested: std::collections::BTreeSet<String> = source
        .match_indices("case(\"")
        .filter_map(|(at, _)| {
            let rest = &source[at + "case(\"".len()..];
            let endpoint = &rest[..rest.find('"')?];
            let (method, path) = endpoint.split_once(' ')?;
            let path = path.split('?').next()?;
            Some(format!("{method} {}", shape(path)))
        })
        .collect();
    let document = serde_json::to_value(kyodo::openapi::document()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some(path) = path.strip_prefix("/api/v1") else {
            continue;
        };
        // Signing in, refreshing, signing out and accepting an invitation take no bearer token:
        // who may use them is the credential itself (tests/api/auth.rs, tests/api/hardening.rs).
        // The live estimate is authorized by the same first rendering as `GET .../estimate` (its
        // rows above) before any byte is sent; a stream that never ends does not fit the table's
        // read-the-whole-answer cells.
        if path.starts_with("/auth/")
            || path.starts_with("/invitations/")
            || path.ends_with("/estimate/stream")
        {
            continue;
        }
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                let operation = format!("{} {}", method.to_uppercase(), shape(path));
                if !tested.contains(&operation) {
                    missing.push(operation);
                }
            }
        }
    }
    assert_eq!(missing, Vec::<String>::new(), "operations without a row");
}
