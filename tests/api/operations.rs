use actix_web::http::{Method, StatusCode};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

#[actix_web::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.request(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    let expected = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready.body["database"], expected);
}

const METRICS_TOKEN: &str = "metrics-token-metrics-token-0123456789";

async fn spawn_app_with_metrics() -> TestApp {
    spawn_app_with(|config| config.metrics_token = Some(METRICS_TOKEN.into())).await
}

/// The request counters of `/metrics`, one line per label set.
fn request_counters(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|line| line.starts_with("kyodo_http_requests_total{"))
        .collect()
}

#[actix_web::test]
async fn metrics_are_exposed_for_prometheus_under_route_patterns() {
    let app = spawn_app_with_metrics().await;
    app.request(Method::GET, "/health", None, None).await;
    let missing_round = format!("/api/v1/rounds/{}", uuid::Uuid::new_v4());
    app.request(Method::GET, &missing_round, None, None).await;
    let metrics = app.get("/metrics", METRICS_TOKEN).await;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.text);
    assert!(
        metrics.content_type().starts_with("text/plain"),
        "{}",
        metrics.content_type()
    );
    let counters = request_counters(&metrics.text);
    assert!(
        counters.contains(
            &r#"kyodo_http_requests_total{endpoint="/health",method="GET",status="200"} 1"#
        ),
        "{counters:#?}"
    );
    assert!(
        counters.iter().any(|line| line.starts_with(
            r#"kyodo_http_requests_total{endpoint="/api/v1/rounds/{id}",method="GET""#
        )),
        "{counters:#?}"
    );
    assert!(!metrics.text.contains(&missing_round), "{}", metrics.text);
}

#[actix_web::test]
async fn metrics_count_the_write_transactions_each_commit_held() {
    let app = spawn_app_with_metrics().await;
    let batches = |metrics: &str| -> (u64, u64) {
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        };
        (
            value("kyodo_write_batch_transactions_count"),
            value("kyodo_write_batch_transactions_sum"),
        )
    };
    let before = batches(&app.get("/metrics", METRICS_TOKEN).await.text);
    // A sign-in writes its refresh token: one transaction, alone in its commit.
    app.admin_token().await;
    let after = batches(&app.get("/metrics", METRICS_TOKEN).await.text);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
}

#[actix_web::test]
async fn requests_that_match_no_route_share_one_label_set() {
    let app = spawn_app_with_metrics().await;
    let paths: Vec<String> = (0..40)
        .map(|_| format!("/{}", uuid::Uuid::new_v4().simple()))
        .collect();
    for path in &paths {
        let response = app.request(Method::GET, path, None, None).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND);
    }
    for method in ["BREW", "PROPFIND", &"Q".repeat(2000)] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        app.request(method, "/api/v1/procurements", None, None)
            .await;
    }
    let long_path = format!("/{}", "x".repeat(50_000));
    let long = app.request(Method::GET, &long_path, None, None).await;
    assert_eq!(long.status, StatusCode::URI_TOO_LONG);

    let metrics = app.get("/metrics", METRICS_TOKEN).await;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.text);
    let counters = request_counters(&metrics.text);
    let unmatched: Vec<_> = counters
        .iter()
        .filter(|line| line.contains(r#"endpoint="unmatched""#))
        .collect();
    assert_eq!(
        unmatched,
        [
            &r#"kyodo_http_requests_total{endpoint="unmatched",method="GET",status="404"} 40"#,
            &r#"kyodo_http_requests_total{endpoint="unmatched",method="GET",status="414"} 1"#
        ],
        "{counters:#?}"
    );
    assert!(
        counters
            .iter()
            .any(|line| line.contains(r#"method="OTHER""#)),
        "{counters:#?}"
    );
    assert!(counters.len() < 10, "{counters:#?}");
    assert!(
        !metrics.text.contains("xxxxxxxx"),
        "the long path is a label"
    );
    assert!(!metrics.text.contains("PROPFIND"), "a method is a label");
    assert!(
        paths
            .iter()
            .all(|path| !metrics.text.contains(path.as_str())),
        "unknown paths are labels"
    );
}

#[actix_web::test]
async fn metrics_are_only_for_the_holder_of_the_token() {
    let app = spawn_app_with_metrics().await;
    let anonymous = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );
    assert_eq!(anonymous.problem_code(), "invalid_credentials");
    assert!(!anonymous.text.contains("kyodo_http"), "{}", anonymous.text);
    let guessed = app
        .get("/metrics", "metrics-token-metrics-token-012345678")
        .await;
    assert_eq!(guessed.status, StatusCode::UNAUTHORIZED, "{}", guessed.text);
    let admin = app.admin_token().await;
    let user = app.get("/metrics", &admin).await;
    assert_eq!(user.status, StatusCode::UNAUTHORIZED, "{}", user.text);

    let without_token = spawn_app().await;
    let off = without_token
        .request(Method::GET, "/metrics", None, None)
        .await;
    assert_eq!(off.status, StatusCode::NOT_FOUND, "{}", off.text);
    assert_eq!(off.problem_code(), "route_not_found");
}

#[actix_web::test]
async fn interactive_docs_and_the_document_are_served() {
    let app = spawn_app().await;
    let no_follow = awc::Client::builder().disable_redirects().finish();
    let bare = no_follow.get(app.url("/docs")).send().await.unwrap();
    assert!(bare.status().is_redirection(), "/docs redirects to /docs/");
    let docs = app.request(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text.contains("swagger"), "{}", docs.text);
    let served = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.body,
        serde_json::to_value(kyodo::openapi::document()).unwrap()
    );
}

#[actix_web::test]
async fn the_committed_openapi_document_is_current() {
    let generated = kyodo::openapi::document().to_pretty_json().unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/api-spec/openapi.json"
    ))
    .unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "api-spec/openapi.json is stale: run `cargo run -- openapi > api-spec/openapi.json`"
    );
    let document: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
}

/// Every success answer with a JSON body has an example in the document: a recorded answer of the
/// real service (api-spec/examples.json) or one on its schema; every recorded answer found its
/// response and still fits the schema it documents.
#[test]
fn every_success_response_has_an_example_that_fits_its_schema() {
    let document = serde_json::to_value(kyodo::openapi::document()).unwrap();
    let schemas = &document["components"]["schemas"];
    let mut missing = Vec::new();
    let mut unfit = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let Some(content) = response["content"].get("application/json") else {
                    continue;
                };
                let name = format!("{method} {path} {status}");
                let schema = resolve(&content["schema"], schemas);
                match content.get("example") {
                    Some(example) => {
                        if let Err(why) = fits(example, &content["schema"], schemas, "$") {
                            unfit.push(format!("{name}: {why}"));
                        }
                    }
                    None if status.starts_with('2') && schema.get("example").is_none() => {
                        missing.push(name);
                    }
                    None => {}
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "success responses without an example (run api-spec/capture_examples.py): {missing:#?}"
    );
    assert!(
        unfit.is_empty(),
        "recorded examples that no longer fit (run api-spec/capture_examples.py): {unfit:#?}"
    );

    let recorded: serde_json::Value =
        serde_json::from_str(kyodo::openapi::RESPONSE_EXAMPLES).unwrap();
    for (operation, responses) in recorded.as_object().unwrap() {
        let (method, path) = operation.split_once(' ').unwrap();
        for (status, example) in responses.as_object().unwrap() {
            assert_eq!(
                &document["paths"][path][method]["responses"][status]["content"]["application/json"]
                    ["example"],
                example,
                "the recorded answer of {operation} {status} has no such response in the document"
            );
        }
    }
}

fn resolve<'a>(
    schema: &'a serde_json::Value,
    schemas: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema["$ref"].as_str() {
        Some(reference) => resolve(
            &schemas[reference.trim_start_matches("#/components/schemas/")],
            schemas,
        ),
        None => schema,
    }
}

/// Whether `value` has the shape `schema` describes: types, required and known properties, items.
fn fits(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    schemas: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    use serde_json::Value;
    let schema = resolve(schema, schemas);
    if let Some(choices) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return choices
            .iter()
            .any(|choice| fits(value, choice, schemas, at).is_ok())
            .then_some(())
            .ok_or_else(|| format!("{at}: {value} matches none of its alternatives"));
    }
    // Objects, possibly made of parts (`allOf`, from flattened structs, nested): gather the parts.
    fn parts<'a>(schema: &'a Value, schemas: &'a Value, into: &mut Vec<&'a Value>) {
        match schema["allOf"].as_array() {
            Some(all) => all
                .iter()
                .for_each(|part| parts(resolve(part, schemas), schemas, into)),
            None => into.push(schema),
        }
    }
    let mut all = Vec::new();
    parts(schema, schemas, &mut all);
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for part in &all {
        if let Some(own) = part["properties"].as_object() {
            properties.extend(own.clone());
        }
        if let Some(own) = part["required"].as_array() {
            required.extend(own.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let typed = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !typed {
        return Err(format!("{at}: {kind} where the schema says {types:?}"));
    }
    match value {
        Value::Object(object) if !properties.is_empty() => {
            for key in &required {
                if !object.contains_key(key) {
                    return Err(format!("{at}: lacks the required `{key}`"));
                }
            }
            for (key, field) in object {
                let Some(field_schema) = properties.get(key) else {
                    return Err(format!("{at}: `{key}` is not in the schema"));
                };
                fits(field, field_schema, schemas, &format!("{at}.{key}"))?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| fits(item, &schema["items"], schemas, &format!("{at}[{i}]"))),
        _ => Ok(()),
    }
}
