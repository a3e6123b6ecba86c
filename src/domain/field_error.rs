//! What is wrong with one field of an input, as rules find it: the HTTP edge lists these in a 422.

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// Line of an uploaded file the field is on (the header is line 1); only for uploads.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, example = 3)]
    pub line: Option<usize>,
    /// JSON path of the field, e.g. `population.base_date`; in an uploaded file, its column
    /// (`メール`), `header` or `row`.
    pub field: String,
    /// Stable code, e.g. `required`, `invalid_format`, `out_of_range`.
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            line: None,
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The error, found on `line` of an uploaded file.
    pub fn on_line(self, line: usize) -> Self {
        Self {
            line: Some(line),
            ..self
        }
    }
}
