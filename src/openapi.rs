use std::collections::BTreeMap;

use actix_web::App;
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

pub mod links;
pub mod rules;

use crate::domain::field_error::FieldError;
use crate::error::Problem;
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "共同調達 coordination API",
        description = "Joint procurement for the 89 member bodies of Nagano's council (先端技術活用推進協議会). \
Authenticate with `POST /api/v1/auth/login` or an API token; send `Authorization: Bearer <token>`. \
Errors are `application/problem+json` with a stable `code`. \
Writes that list the `Idempotency-Key` header may be retried safely with one; every other POST and PUT \
refuses it with 422 `idempotency_key_not_accepted` (operations on credentials answer with secrets, \
which are never stored).",
        version = "1.0.0",
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Logging in and out, the caller"),
        (name = "tokens", description = "API tokens for scripts and other clients"),
        (name = "calendar", description = "A secret iCalendar feed of the rounds that concern the caller's body"),
        (name = "organizations", description = "The council's 89 member bodies"),
        (name = "users", description = "Accounts and invitations"),
        (name = "procurements", description = "Joint procurements (共同調達案件)"),
        (name = "rounds", description = "Participation rounds (募集回): interest surveys, commitments, renewals"),
        (name = "participations", description = "Bodies joining or declining a round (参加登録)"),
        (name = "questions", description = "Questions and answers (質疑応答)"),
        (name = "allocations", description = "Cost shares (負担金): estimates, finalization, corrections, CSV and OCDS exports"),
        (name = "notifications", description = "E-mail the service sends (通知): the outbox, retries, unsubscribe links"),
        (name = "webhooks", description = "Changes pushed to municipal systems, signed (Standard Webhooks)"),
        (name = "audit", description = "Who changed what, when"),
        (name = "changes", description = "A feed API clients poll to stay in sync"),
        (name = "operations", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /auth/login, or an API token (kyd_…)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The operations of a documented path, with their methods, in the order `Allow` lists them.
pub fn operations(
    item: &utoipa::openapi::PathItem,
) -> impl Iterator<Item = (actix_web::http::Method, &utoipa::openapi::path::Operation)> {
    use actix_web::http::Method;
    [
        (Method::GET, &item.get),
        (Method::PUT, &item.put),
        (Method::POST, &item.post),
        (Method::DELETE, &item.delete),
        (Method::PATCH, &item.patch),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_ref()?)))
}

/// The base document, before the routes add their paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The full document, as served at `/api-docs/openapi.json` and committed at `api-spec/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(routes::configure)
        .split_for_parts()
        .1;
    add_response_examples(&mut document);
    add_common_responses(&mut document);
    let unplaced = rules::apply(&mut document);
    debug_assert!(unplaced.is_empty(), "rules without a place: {unplaced:?}");
    let unplaced = links::apply(&mut document);
    debug_assert!(unplaced.is_empty(), "links without a place: {unplaced:?}");
    document
}

/// The shared 503 answer's name among the document's components.
const OUTAGE: &str = "Outage";

/// The answers every operation of a kind can give, added where an operation does not describe
/// its own: 401 to any that asks for a bearer token (missing, malformed, expired or revoked); 403
/// to any write that does (a read-only API token is refused every write, as the identity
/// extractor does it); 400 to any that reads a JSON body (not JSON) or a query string (a value of
/// the wrong type); 413, 415 and 422 to any that reads a body (too large; another content type;
/// another shape);
/// 422 to any that reads a query (a value out of range or too long) and to every POST and PUT (an
/// `Idempotency-Key` where none is taken); 414 to any that reads a query (a request target beyond
/// `request_target::MAX_REQUEST_TARGET_BYTES`); 404 to any with an identifier in its path or query;
/// 503 with `Retry-After` to all but `/health` (an outage, `crate::error::outage`).
/// Derived from what the operation declares, as the extractors that give these answers are.
fn add_common_responses(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let mut outage = problem(
        "An outage the client can wait out, which changed nothing (or committed with the request's `Idempotency-Key`): the database cannot be reached (`database_unavailable`), SQLite's lock stayed taken past its busy timeout or PostgreSQL broke a deadlock by failing this write (`database_busy`), or SQLite's disk is full (`storage_full`)",
    );
    outage.headers.insert(
        "Retry-After".to_owned(),
        HeaderBuilder::new()
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            ))
            .description(Some("Seconds to wait before trying again"))
            .build()
            .into(),
    );
    document
        .components
        .get_or_insert_with(Default::default)
        .responses
        .insert(OUTAGE.to_owned(), outage.into());
    for (method, operation) in operations_mut(document) {
        let writes = method != "get";
        let post_or_put = matches!(method, "post" | "put");
        let secured = operation
            .security
            .as_ref()
            .is_some_and(|requirements| !requirements.is_empty());
        let json_body = operation
            .request_body
            .as_ref()
            .is_some_and(|body| match body {
                RefOr::T(body) => body.content.contains_key("application/json"),
                RefOr::Ref(_) => true,
            });
        let any_body = operation.request_body.is_some();
        let parameters_in = |place: ParameterIn| {
            operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
        };
        let query = parameters_in(ParameterIn::Query);
        let path = parameters_in(ParameterIn::Path);
        // The one header an operation lists is `Idempotency-Key`: malformed (400) or reused
        // with another request (422).
        let header = parameters_in(ParameterIn::Header);
        let responses = &mut operation.responses.responses;
        if secured {
            responses.entry("401".to_owned()).or_insert_with(|| {
                problem("No credentials, or credentials that are malformed, expired or revoked (`missing_credentials`, `invalid_credentials`, `invalid_token`, `token_expired`)").into()
            });
        }
        if secured && writes {
            responses.entry("403".to_owned()).or_insert_with(|| {
                problem("The caller's role or body may not do this (`admin_only`, `role_forbidden`, …), or an API token that may only read (`read_only_token`)").into()
            });
        }
        if json_body || query || header {
            responses.entry("400".to_owned()).or_insert_with(|| {
                problem("A body that is not JSON (`malformed_json`), a query parameter of the wrong type (`invalid_query`), or a malformed `Idempotency-Key`").into()
            });
        }
        if any_body {
            responses.entry("415".to_owned()).or_insert_with(|| {
                problem("A body of another content type than the operation reads (`unsupported_media_type`)").into()
            });
            responses.entry("413".to_owned()).or_insert_with(|| {
                problem(
                    "A body larger than the service takes (`MAX_BODY_BYTES`, `payload_too_large`)",
                )
                .into()
            });
        }
        if query {
            responses.entry("414".to_owned()).or_insert_with(|| {
                problem(&format!(
                    "A path and query longer than {} KiB (`uri_too_long`)",
                    crate::request_target::MAX_REQUEST_TARGET_BYTES / 1024
                ))
                .into()
            });
        }
        if path || query {
            responses.entry("404".to_owned()).or_insert_with(|| {
                problem("No resource has the identifier in the path, or one named in the query (`…_not_found`)").into()
            });
        }
        // Every operation but liveness reads or writes the database (see `crate::error::outage`).
        if operation.operation_id.as_deref() != Some("health") {
            responses
                .entry("503".to_owned())
                .or_insert_with(|| Ref::from_response_name(OUTAGE).into());
        }
        if any_body || query || header || post_or_put {
            responses.entry("422".to_owned()).or_insert_with(|| {
                problem("A body of another shape (`invalid_body`), fields or query values that break a rule (`validation_failed`, with `errors`), an `Idempotency-Key` used for another request (`idempotency_key_reused`), or one sent to a POST or PUT that takes none (`idempotency_key_not_accepted`)").into()
            });
        }
    }
}

/// The operations of one path with their methods (`get`, `put`, `post`, `delete`, `patch`: all
/// the service's paths have).
fn item_operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
}

/// Every operation of the document, with its method in lower case.
pub fn operations_mut(
    document: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    document
        .paths
        .paths
        .values_mut()
        .flat_map(item_operations_mut)
}

/// The operation of `item` for `method` (`get` or `GET`, …), if the path has one.
pub fn operation_mut<'a>(
    item: &'a mut utoipa::openapi::PathItem,
    method: &str,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    item_operations_mut(item)
        .find(|(m, _)| m.eq_ignore_ascii_case(method))
        .map(|(_, operation)| operation)
}

/// Answers the real service gave, recorded by `api-spec/capture_examples.py`: for each operation
/// (`"get /api/v1/me"`), status and JSON body.
pub const RESPONSE_EXAMPLES: &str = include_str!("../api-spec/examples.json");

/// Puts each recorded answer into its response as the example. (A test checks that every one
/// finds its response and still fits its schema.)
fn add_response_examples(document: &mut utoipa::openapi::OpenApi) {
    type Recorded = BTreeMap<String, BTreeMap<String, serde_json::Value>>;
    let Ok(recorded) = serde_json::from_str::<Recorded>(RESPONSE_EXAMPLES) else {
        return;
    };
    for (operation, responses) in recorded {
        let Some((method, path)) = operation.split_once(' ') else {
            continue;
        };
        let Some(item) = document.paths.paths.get_mut(path) else {
            continue;
        };
        let Some(operation) = operation_mut(item, method) else {
            continue;
        };
        for (status, example) in responses {
            if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(&status)
                && let Some(RefOr::T(content)) = response.content.get_mut("application/json")
            {
                content.example = Some(example);
            }
        }
    }
}
