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

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::Method;
use anyhow::{Context, anyhow};
use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

/// The shape of each operation's JSON request body, by method and route pattern.
pub struct BodyShapes(HashMap<(Method, String), Arc<jsonschema::Validator>>);

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
    /// One check for each operation whose document gives it an `application/json` body. The
    /// schemas are the document's own components, so the check and the document cannot differ.
    pub fn from_document(document: &OpenApi) -> anyhow::Result<Self> {
        let document = serde_json::to_value(document).context("serializing the API document")?;
        let mut defs = Map::new();
        if let Some(schemas) = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                defs.insert(name.clone(), shape_of(schema));
            }
        }
        let mut operations = Vec::new();
        let paths = document.get("paths").and_then(Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let pointer = "/requestBody/content/application~1json/schema";
                let Some(body) = operation.pointer(pointer) else {
                    continue;
                };
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .with_context(|| format!("the method of {path}"))?;
                let name = format!("body{}", operations.len());
                defs.insert(name.clone(), shape_of(body));
                operations.push(((method, path.clone()), format!("#/$defs/{name}")));
            }
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
        });
        let validators = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(false)
            .build_map(&root)
            .map_err(|error| anyhow!("compiling the request bodies' shapes: {error}"))?;
        let mut shapes = HashMap::new();
        for (operation, pointer) in operations {
            let validator = validators
                .get(&pointer)
                .with_context(|| format!("no shape compiled at {pointer}"))?;
            shapes.insert(operation, Arc::new(validator.clone()));
        }
        Ok(Self(shapes))
    }

    /// The shape of the body of `method` on the route `pattern` (as `HttpRequest::match_pattern`
    /// gives it), if the document gives the operation a JSON body.
    pub fn of(&self, method: &Method, pattern: &str) -> Option<Arc<jsonschema::Validator>> {
        self.0.get(&(method.clone(), pattern.to_owned())).cloned()
    }
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
    use super::*;

    fn shapes() -> BodyShapes {
        BodyShapes::from_document(&crate::openapi::document()).expect("the shapes compile")
    }

    #[test]
    fn every_json_body_of_the_document_has_a_shape() {
        let shapes = shapes();
        assert!(shapes.0.len() >= 20, "{}", shapes.0.len());
        let put = shapes
            .of(&Method::PUT, "/api/v1/rounds/{id}/participations/{org}")
            .expect("the registration's shape");
        assert!(put.is_valid(&json!({"status": "joined", "contact": {"name": "信州 花子"}})));
        assert!(!put.is_valid(&json!({"status": "joined", "contact": ["信州 花子"]})));
        assert!(!put.is_valid(&json!(["joined"])));
        assert!(
            shapes
                .of(&Method::POST, "/api/v1/rounds/{id}/participations:import")
                .is_none(),
            "a CSV body has no JSON shape"
        );
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
}
