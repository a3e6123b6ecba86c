//! The shape the API document gives each JSON request body, checked after serde has decoded it.
//!
//! serde's derived `Deserialize` takes more than the document says: a struct from an array of its
//! fields in order (`["token"]` for `{"refresh_token": "token"}`), at any depth, and inside an
//! internally tagged enum too, where no wrapper around the deserializer can see it. So a body that
//! decodes is also checked against the document's schema for its operation, reduced to its shape:
//! types, properties, items, required and unknown fields, and the alternatives between them.
//! Lengths, ranges, patterns, formats and enumerations are left out, because serde or the service
//! checks those itself, with an error that names the field and the rule (`domain::field_error`);
//! a body whose values break them still reaches those checks.
//!
//! The shapes are JSON Schema (2020-12), checked by `Shape::check`, which knows only the
//! `SHAPE_KEYWORDS`. A JSON Schema library (`jsonschema`, which the tests use) would have done it,
//! but with it the service kept 5 MiB more resident under load than the build before the check,
//! against 2.5 MiB with this checker (`bench/RESULTS.md`, 2026-12-06 "sixth"), where the target is 64 MiB.
//! The tests hold the two to the same verdict on every body's example and on mutations of it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use actix_web::http::Method;
use anyhow::Context;
use serde_json::{Map, Value};
use utoipa::openapi::{Content, OpenApi, RefOr, Schema};

/// The shape of each operation's JSON request body, by route pattern and method.
pub struct BodyShapes {
    shapes: Arc<Shapes>,
    routes: HashMap<String, Vec<(Method, usize)>>,
}

/// The shapes of the document's components (by name, as a `$ref` to `#/$defs/NAME` names them)
/// and of the operations' bodies (by index).
struct Shapes {
    defs: Map<String, Value>,
    bodies: Vec<Value>,
}

/// One operation's body shape.
#[derive(Clone)]
pub struct Shape {
    shapes: Arc<Shapes>,
    body: usize,
}

/// Where a value does not have its shape, and what it should have been.
#[derive(Debug, PartialEq)]
pub struct Misfit {
    /// A JSON pointer to the value (`/contact`, `/cost_model/pools/0`); `/` for the whole body.
    pub at: String,
    pub expected: String,
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}, expected {}", self.at, self.expected)
    }
}

/// The keywords of a schema that say what shape a value has. The rest are dropped from the shapes:
/// lengths, ranges, patterns, formats, and the values a string may take (`enum`, `const`), which
/// serde checks for a Rust enum and the service for the rest (an unknown webhook event, say).
const SHAPE_KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "additionalProperties",
    "propertyNames",
    "required",
    "items",
    "prefixItems",
    "oneOf",
    "anyOf",
    "allOf",
];

impl BodyShapes {
    /// One shape for each operation whose document gives it an `application/json` body. The
    /// schemas are the document's own components, so the check and the document cannot differ.
    pub fn from_document(document: &OpenApi) -> anyhow::Result<Self> {
        // Each schema serialized on its own, rather than the whole document (its paths,
        // answers and examples) as one `Value`.
        let json = |schema: &RefOr<Schema>| {
            serde_json::to_value(schema).context("serializing the API document's schemas")
        };
        let mut defs = Map::new();
        for (name, schema) in document.components.iter().flat_map(|c| &c.schemas) {
            defs.insert(name.clone(), shape_of(&json(schema)?));
        }
        let mut bodies = Vec::new();
        let mut routes = HashMap::<String, Vec<_>>::new();
        for (path, item) in &document.paths.paths {
            for (method, operation) in crate::openapi::operations(item) {
                let Some(RefOr::T(body)) = &operation.request_body else {
                    continue;
                };
                let content = body.content.get("application/json");
                let Some(RefOr::T(Content {
                    schema: Some(schema),
                    ..
                })) = content
                else {
                    continue;
                };
                routes
                    .entry(path.clone())
                    .or_default()
                    .push((method, bodies.len()));
                bodies.push(shape_of(&json(schema)?));
            }
        }
        // Only the components a body refers to, at any depth (42 of 100 now): the answers'
        // schemas are never checked.
        let mut wanted = Vec::new();
        bodies.iter().for_each(|body| references(body, &mut wanted));
        let mut kept = Map::new();
        while let Some(name) = wanted.pop() {
            if let Some(shape) = defs.remove(&name) {
                references(&shape, &mut wanted);
                kept.insert(name, shape);
            }
        }
        Ok(Self {
            shapes: Arc::new(Shapes { defs: kept, bodies }),
            routes,
        })
    }

    /// The shape of the body of `method` on the route `pattern` (as `HttpRequest::match_pattern`
    /// gives it), if the document gives the operation a JSON body.
    pub fn of(&self, method: &Method, pattern: &str) -> Option<Shape> {
        let (_, body) = self
            .routes
            .get(pattern)?
            .iter()
            .find(|(m, _)| m == method)?;
        Some(Shape {
            shapes: Arc::clone(&self.shapes),
            body: *body,
        })
    }
}

impl Shape {
    /// Whether `value` has this shape; else the first place where it does not.
    pub fn check(&self, value: &Value) -> Result<(), Misfit> {
        let mut at = Vec::new();
        self.shapes
            .check(&self.shapes.bodies[self.body], value, &mut at)
    }
}

impl Shapes {
    /// Whether `value` (at `at`, a list of keys and indices) fits `schema`, keyword by keyword as
    /// JSON Schema 2020-12 defines them. When no alternative of an `anyOf` fits, the misfit
    /// reported is the one deepest inside the value, which is where an alternative of the right
    /// type went wrong.
    fn check(&self, schema: &Value, value: &Value, at: &mut Vec<String>) -> Result<(), Misfit> {
        let fields = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Object(fields) => fields,
            _ => return Err(self.misfit(schema, at)),
        };
        if let Some(target) = fields.get("$ref") {
            self.check(self.resolve(target), value, at)?;
        }
        if let Some(types) = fields.get("type") {
            let fits = |name: &Value| name.as_str().is_some_and(|name| is_of_type(name, value));
            let fits = match types {
                Value::Array(names) => names.iter().any(fits),
                name => fits(name),
            };
            if !fits {
                return Err(self.misfit(schema, at));
            }
        }
        if let Value::Object(members) = value {
            self.check_object(fields, members, at)?;
        }
        if let Value::Array(items) = value {
            let prefix = fields.get("prefixItems").and_then(Value::as_array);
            let prefix = prefix.map_or(&[][..], Vec::as_slice);
            for (index, item) in items.iter().enumerate() {
                let schema = prefix.get(index).or_else(|| fields.get("items"));
                if let Some(schema) = schema {
                    at.push(index.to_string());
                    self.check(schema, item, at)?;
                    at.pop();
                }
            }
        }
        for schema in list(fields, "allOf") {
            self.check(schema, value, at)?;
        }
        if let Some(alternatives) = fields.get("anyOf").and_then(Value::as_array) {
            let mut deepest: Option<Misfit> = None;
            let here = at.len();
            for alternative in alternatives {
                let fits = self.check(alternative, value, at);
                // A misfit leaves `at` where it was found.
                at.truncate(here);
                match fits {
                    Ok(()) => return Ok(()),
                    Err(misfit) => {
                        if deepest
                            .as_ref()
                            .is_none_or(|d| depth(&misfit.at) > depth(&d.at))
                        {
                            deepest = Some(misfit);
                        }
                    }
                }
            }
            return Err(deepest
                .filter(|misfit| depth(&misfit.at) > here)
                .unwrap_or_else(|| self.misfit(schema, at)));
        }
        Ok(())
    }

    fn check_object(
        &self,
        fields: &Map<String, Value>,
        members: &Map<String, Value>,
        at: &mut Vec<String>,
    ) -> Result<(), Misfit> {
        let properties = fields.get("properties").and_then(Value::as_object);
        for (name, member) in members {
            let schema = properties
                .and_then(|properties| properties.get(name))
                .or_else(|| fields.get("additionalProperties"));
            if let Some(names) = fields.get("propertyNames") {
                self.check(names, &Value::String(name.clone()), at)?;
            }
            at.push(name.clone());
            if let Some(schema) = schema {
                self.check(schema, member, at)?;
            }
            at.pop();
        }
        for name in list(fields, "required") {
            if let Some(name) = name.as_str().filter(|name| !members.contains_key(*name)) {
                return Err(Misfit {
                    at: pointer(at),
                    expected: format!("a member `{name}`"),
                });
            }
        }
        Ok(())
    }

    /// The component a `$ref` names (a reference to no component fits nothing).
    fn resolve<'a>(&'a self, target: &Value) -> &'a Value {
        const NOTHING: &Value = &Value::Bool(false);
        target
            .as_str()
            .and_then(|target| target.strip_prefix("#/$defs/"))
            .and_then(|name| self.defs.get(name))
            .unwrap_or(NOTHING)
    }

    fn misfit(&self, schema: &Value, at: &[String]) -> Misfit {
        Misfit {
            at: pointer(at),
            expected: self.describe(schema),
        }
    }

    /// What fits `schema`, in words: its types (`an object or null`), or `nothing here`.
    fn describe(&self, schema: &Value) -> String {
        let mut kinds = Vec::new();
        self.kinds(schema, &mut kinds);
        if kinds.is_empty() {
            return "nothing here".to_owned();
        }
        kinds.join(" or ")
    }

    fn kinds(&self, schema: &Value, kinds: &mut Vec<&'static str>) {
        let Value::Object(fields) = schema else {
            return;
        };
        if let Some(target) = fields.get("$ref") {
            self.kinds(self.resolve(target), kinds);
        }
        let names = match fields.get("type") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(name)) => vec![name.as_str()],
            _ => Vec::new(),
        };
        for name in names {
            let kind = match name {
                "object" => "an object",
                "array" => "an array",
                "string" => "a string",
                "integer" => "a whole number",
                "number" => "a number",
                "boolean" => "true or false",
                _ => "null",
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        for alternative in list(fields, "anyOf") {
            self.kinds(alternative, kinds);
        }
    }
}

/// The items of the list a schema's `keyword` holds (`allOf`, `required`), none when it has none.
fn list<'a>(fields: &'a Map<String, Value>, keyword: &str) -> impl Iterator<Item = &'a Value> {
    fields
        .get(keyword)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Adds the names of the components `shape` refers to, at any depth, to `names`.
fn references(shape: &Value, names: &mut Vec<String>) {
    match shape {
        Value::Object(fields) => {
            for (keyword, value) in fields {
                match (keyword.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        names.extend(target.strip_prefix("#/$defs/").map(str::to_owned));
                    }
                    _ => references(value, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, names)),
        _ => {}
    }
}

/// Whether `value` is of the JSON Schema type `name` (an integer being a number with no fraction,
/// `30.0` included).
fn is_of_type(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// How many keys and indices deep the place `pointer` (from `pointer`) is.
fn depth(pointer: &str) -> usize {
    if pointer == "/" {
        return 0;
    }
    // A `/` inside a key is written `~1`.
    pointer.matches('/').count()
}

/// The JSON pointer (RFC 6901) of a place, `/` for the whole value.
fn pointer(at: &[String]) -> String {
    if at.is_empty() {
        return "/".to_owned();
    }
    at.iter()
        .map(|key| format!("/{}", key.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// `schema` with only its `SHAPE_KEYWORDS`, at every depth; `oneOf` becomes `anyOf`, since without
/// their rules two alternatives may both fit, and a shape only asks that one does. A reference
/// to a component points to the component's shape among the `$defs`.
fn shape_of(schema: &Value) -> Value {
    let Value::Object(fields) = schema else {
        return schema.clone();
    };
    let mut shape = Map::new();
    for (keyword, value) in fields {
        if !SHAPE_KEYWORDS.contains(&keyword.as_str()) {
            continue;
        }
        let value = match (keyword.as_str(), value) {
            ("$ref", Value::String(target)) => {
                Value::String(target.replacen("#/components/schemas/", "#/$defs/", 1))
            }
            ("properties", Value::Object(properties)) => Value::Object(
                properties
                    .iter()
                    .map(|(name, schema)| (name.clone(), shape_of(schema)))
                    .collect(),
            ),
            ("oneOf" | "anyOf" | "allOf" | "prefixItems", Value::Array(schemas)) => {
                Value::Array(schemas.iter().map(shape_of).collect())
            }
            ("additionalProperties" | "propertyNames" | "items", schema) => shape_of(schema),
            (_, value) => value.clone(),
        };
        let keyword = if keyword == "oneOf" { "anyOf" } else { keyword };
        shape.insert(keyword.to_owned(), value);
    }
    Value::Object(shape)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn shapes() -> BodyShapes {
        BodyShapes::from_document(&crate::openapi::document()).expect("the shapes build")
    }

    #[test]
    fn every_json_body_of_the_document_has_a_shape() {
        let shapes = shapes();
        let count = shapes.routes.values().map(Vec::len).sum::<usize>();
        assert!(count >= 20, "{count}");
        let put = shapes
            .of(&Method::PUT, "/api/v1/rounds/{id}/participations/{org}")
            .expect("the registration's shape");
        assert_eq!(
            put.check(&json!({"status": "joined", "contact": {"name": "信州 花子"}})),
            Ok(())
        );
        assert_eq!(
            put.check(&json!({"status": "joined", "contact": ["信州 花子"]})),
            Err(Misfit {
                at: "/contact".into(),
                expected: "an object or null".into()
            })
        );
        let misfit = put.check(&json!(["joined"])).unwrap_err();
        assert_eq!(
            (misfit.at.as_str(), misfit.expected.as_str()),
            ("/", "an object")
        );
        assert!(
            shapes
                .of(&Method::POST, "/api/v1/rounds/{id}/participations:import")
                .is_none(),
            "a CSV body has no JSON shape"
        );
    }

    #[test]
    fn a_misfit_inside_an_alternative_is_named_where_it_is() {
        let shapes = shapes();
        let create = shapes
            .of(&Method::POST, "/api/v1/procurements")
            .expect("the procurement's shape");
        let steps = json!({"pools": [{"code": "base", "weights": {"equal": 10_000},
            "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 1}, [null, 2]]}}]});
        let misfit = create
            .check(&json!({"title": "t", "cost_model": steps}))
            .unwrap_err();
        assert_eq!(misfit.at, "/cost_model/pools/0/total/steps/1");
        assert_eq!(misfit.expected, "an object");
    }

    #[test]
    fn a_place_is_a_json_pointer_and_has_a_depth() {
        let at = ["cost/model".to_owned(), "a~b".to_owned(), "0".to_owned()];
        assert_eq!(pointer(&at), "/cost~1model/a~0b/0");
        assert_eq!(depth(&pointer(&at)), 3);
        assert_eq!((pointer(&[]), depth("/")), ("/".to_owned(), 0));
    }

    #[test]
    fn a_shape_keeps_types_and_drops_rules() {
        let schema = json!({
            "type": "object",
            "required": ["steps"],
            "properties": {
                "name": {"type": "string", "maxLength": 3, "pattern": "^a$", "description": "x"},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "steps": {"type": "array", "maxItems": 1, "items": {"$ref": "#/components/schemas/Step"}},
                "total": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            },
            "additionalProperties": false,
        });
        assert_eq!(
            shape_of(&schema),
            json!({
                "type": "object",
                "required": ["steps"],
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string"},
                    "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
                    "total": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
                "additionalProperties": false,
            })
        );
    }

    /// Each body's shape with the document's example of it, and the same shape compiled by a
    /// JSON Schema library.
    static CASES: std::sync::LazyLock<Vec<(Shape, Value, jsonschema::Validator)>> =
        std::sync::LazyLock::new(cases);

    fn cases() -> Vec<(Shape, Value, jsonschema::Validator)> {
        let document = crate::openapi::document();
        let examples = serde_json::to_value(&document).expect("the document serializes");
        let shapes = BodyShapes::from_document(&document).expect("the shapes build");
        let mut root = Map::new();
        root.insert("$defs".into(), Value::Object(shapes.shapes.defs.clone()));
        let mut cases = Vec::new();
        for (index, body) in shapes.shapes.bodies.iter().enumerate() {
            root.insert("$ref".into(), json!(format!("#/$defs/body{index}")));
            let defs = root["$defs"].as_object_mut().expect("the defs");
            defs.insert(format!("body{index}"), body.clone());
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&Value::Object(root.clone()))
                .expect("a shape compiles");
            // The example of the component the body refers to (the reminders' body is that or null).
            let mut target = &body["$ref"];
            if target.is_null() {
                target = &body["anyOf"][0]["$ref"];
            }
            let name = target.as_str().and_then(|t| t.strip_prefix("#/$defs/"));
            let example = name
                .and_then(|name| examples.pointer(&format!("/components/schemas/{name}/example")))
                .unwrap_or_else(|| panic!("body {index} ({body}) has an example"));
            let shape = Shape {
                shapes: Arc::clone(&shapes.shapes),
                body: index,
            };
            cases.push((shape, example.clone(), validator));
        }
        cases
    }

    #[test]
    fn every_bodys_example_has_its_shape() {
        for (shape, example, validator) in CASES.iter() {
            assert_eq!(shape.check(example), Ok(()), "{example}");
            assert!(validator.is_valid(example), "{example}");
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            Just(json!(2.0)),
            Just(json!(2.5)),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every place in `value`, as JSON pointers.
    fn places(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(members) => {
                for (name, member) in members {
                    places(member, format!("{at}/{name}"), out);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    places(item, format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// An example with one place changed: to any value, to an array of what an object held,
        /// or without one of its members. The check and the library agree on every one.
        #[test]
        fn the_check_agrees_with_a_json_schema_library(
            body in any::<prop::sample::Index>(),
            place in any::<prop::sample::Index>(),
            how in 0..3u8,
            replacement in any_json(),
        ) {
            let (shape, example, validator) = &CASES[body.index(CASES.len())];
            let mut value = example.clone();
            let mut all = Vec::new();
            places(&value, String::new(), &mut all);
            let at = all[place.index(all.len())].clone();
            let (parent, last) = at.rsplit_once('/').unwrap_or(("", ""));
            match how {
                0 => *value.pointer_mut(&at).expect("a place") = replacement,
                1 => {
                    let target = value.pointer_mut(&at).expect("a place");
                    if let Value::Object(members) = target {
                        *target = Value::Array(members.values().cloned().collect());
                    }
                }
                _ => {
                    if let Some(Value::Object(members)) = value.pointer_mut(parent) {
                        members.remove(last);
                    }
                }
            }
            prop_assert_eq!(
                shape.check(&value).is_ok(),
                validator.is_valid(&value),
                "{} {:?}", value, shape.check(&value)
            );
        }
    }
}
