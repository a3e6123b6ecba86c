//! Request bodies and query strings that are read before the caller is authorized but judged only
//! after: a caller who may not act learns that (401, 403, 404), never what is wrong with its input.
//!
//! actix-web's `Json` and `Query` extractors fail before the handler runs, so with them a
//! coordinator sending a malformed body to an administrators' endpoint would get 422 instead of
//! 403. Handlers take these instead and call `parse` once authorization is settled.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpMessage, HttpRequest, mime};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use serde::de::DeserializeOwned;

use crate::domain::field_error::FieldError;
use crate::domain::text::{self, Lines};
use crate::error::{ApiError, check};
use crate::routes::MAX_QUERY_VALUE;
use crate::routes::body_shapes::{BodyShapes, Shape};

/// A request body, read (within `MAX_BODY_BYTES`) but not yet decoded as JSON.
pub struct JsonBody<T> {
    bytes: Bytes,
    /// Whether it was sent as `application/json` (or a `+json` type).
    declared_json: bool,
    /// The shape the API document gives this operation's body (`body_shapes`).
    shape: Option<Shape>,
    _decodes_to: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// The body decoded: 415 unless it was sent as JSON, 400 when it is not JSON, 422 when it
    /// does not have the expected shape.
    pub fn parse(self) -> Result<T, ApiError> {
        if !self.declared_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The request body must be JSON, sent with `Content-Type: application/json`.",
            ));
        }
        decode(&self.bytes, self.shape.as_ref())
    }

    /// As `parse`, for a body that may be left out or be `null` (then `T::default()`).
    pub fn parse_or_default(self) -> Result<T, ApiError>
    where
        T: Default,
    {
        if matches!(self.bytes.trim_ascii(), b"" | b"null") {
            return Ok(T::default());
        }
        self.parse()
    }
}

/// `bytes` decoded as a `T`, of the `shape` the API document gives it (see `body_shapes`), with no
/// NUL in any string (see `nul_errors`): 400 when it is not JSON, 422 when it is JSON of another
/// shape. A number with a zero fraction (`25.0`) is a whole number, as JSON Schema counts it: a
/// body that fails only for such numbers is read again with them as integers (so the common body
/// is decoded once).
fn decode<T: DeserializeOwned>(bytes: &[u8], shape: Option<&Shape>) -> Result<T, ApiError> {
    use serde_json::Value;
    let decoded = match serde_json::from_slice::<T>(bytes) {
        Ok(decoded) => {
            if let Some(shape) = shape {
                check_shape(shape, &serde_json::from_slice(bytes).map_err(body_error)?)?;
            }
            decoded
        }
        Err(error) => {
            let mut value = serde_json::from_slice::<Value>(bytes).map_err(body_error)?;
            // JSON, so the error is one of shape, whatever serde files it under: a struct given
            // as an array inside an internally tagged enum ends in "trailing characters". serde's
            // own word on a shape (an unknown field, a missing one) names more than the shape's,
            // so the shape is checked first only where serde's word is off the mark, or where
            // the body is read again.
            let read_again = error.is_data() && whole_floats_to_integers(&mut value);
            if let Some(shape) = shape.filter(|_| read_again || !error.is_data()) {
                check_shape(shape, &value)?;
            }
            if !read_again {
                return Err(shape_error(error));
            }
            serde_json::from_value(value).map_err(|_| shape_error(error))?
        }
    };
    check(nul_errors(bytes))?;
    Ok(decoded)
}

/// 422 unless `value` has the `shape`, naming where it does not.
fn check_shape(shape: &Shape, value: &serde_json::Value) -> Result<(), ApiError> {
    shape.check(value).map_err(shape_error)
}

/// A field error for each string of the JSON `bytes` that holds a NUL (`\u0000`), named by where
/// it is (`contact.name`, `events[0]`). No field takes one, and PostgreSQL can neither store nor
/// compare text with it: refused here, it never reaches a lookup by id or code.
fn nul_errors(bytes: &[u8]) -> Vec<FieldError> {
    const ESCAPED_NUL: &[u8] = br"\u0000";
    let mut errors = Vec::new();
    if !bytes.windows(ESCAPED_NUL.len()).any(|w| w == ESCAPED_NUL) {
        return errors;
    }
    if let Ok(value) = serde_json::from_slice(bytes) {
        find_nul(&value, "", &mut errors);
    }
    errors
}

fn find_nul(value: &serde_json::Value, at: &str, errors: &mut Vec<FieldError>) {
    use serde_json::Value;
    let refuse = |at: &str, errors: &mut Vec<FieldError>| {
        let field = if at.is_empty() { "body" } else { at };
        errors.push(FieldError::new(
            field,
            "invalid_characters",
            format!("{field} contains the control character U+0000"),
        ));
    };
    match value {
        Value::String(text) if text.contains('\0') => refuse(at, errors),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(item, &format!("{at}[{i}]"), errors);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                let at = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                if name.contains('\0') {
                    refuse(&at, errors);
                } else {
                    find_nul(item, &at, errors);
                }
            }
        }
        _ => {}
    }
}

/// Turns every float of `value` that is a whole number (exactly, within ±2^53) into an integer;
/// whether there was one.
fn whole_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            if float.fract() == 0.0 && float.abs() <= EXACT {
                #[allow(clippy::cast_possible_truncation)] // whole and within ±2^53: exact
                let whole = float as i64;
                *value = Value::from(whole);
                return true;
            }
            false
        }
        Value::Array(items) => {
            // Every item is visited, so no short-circuiting `any`.
            let mut any = false;
            for item in items {
                any |= whole_floats_to_integers(item);
            }
            any
        }
        Value::Object(fields) => {
            let mut any = false;
            for item in fields.values_mut() {
                any |= whole_floats_to_integers(item);
            }
            any
        }
        _ => false,
    }
}

impl<T: 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_json = matches!(
            req.mime_type(),
            Ok(Some(mime)) if mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON)
        );
        let shape = req
            .app_data::<web::Data<BodyShapes>>()
            .zip(req.match_pattern())
            .and_then(|(shapes, pattern)| shapes.of(req.method(), &pattern));
        debug_assert!(
            shape.is_some(),
            "the API document gives {} {:?} no JSON body",
            req.method(),
            req.match_pattern()
        );
        let bytes = read_body(req, payload);
        Box::pin(async move {
            Ok(Self {
                bytes: bytes.await?,
                declared_json,
                shape,
                _decodes_to: PhantomData,
            })
        })
    }
}

/// The body, within `MAX_BODY_BYTES` (413 beyond).
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<Bytes, ApiError>> {
    let bytes = Bytes::from_request(req, payload);
    Box::pin(async move {
        bytes
            .await
            .map_err(|error| match error.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::payload_too_large(),
                _ => ApiError::bad_request(
                    "unreadable_body",
                    format!("The request body could not be read: {error}."),
                ),
            })
    })
}

/// A request body sent as a spreadsheet (`text/csv`), read (within `MAX_BODY_BYTES`) but not yet
/// taken.
pub struct CsvBody {
    bytes: Bytes,
    declared_csv: bool,
}

impl CsvBody {
    /// The file: 415 unless it was sent as `text/csv`.
    pub fn take(self) -> Result<Bytes, ApiError> {
        if !self.declared_csv {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The request body must be CSV, sent with `Content-Type: text/csv`.",
            ));
        }
        Ok(self.bytes)
    }
}

impl FromRequest for CsvBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_csv = matches!(
            req.mime_type(),
            Ok(Some(mime)) if mime.type_() == mime::TEXT && mime.subtype() == mime::CSV
        );
        let bytes = read_body(req, payload);
        Box::pin(async move {
            Ok(Self {
                bytes: bytes.await?,
                declared_csv,
            })
        })
    }
}

/// A query string, kept as sent until the handler decodes it.
pub struct QueryString<T> {
    query: String,
    _decodes_to: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> QueryString<T> {
    /// The parameters decoded: 422 for a value no parameter takes (see `value_errors`), 400 when
    /// they do not fit.
    pub fn parse(&self) -> Result<T, ApiError> {
        check(value_errors(&self.query))?;
        web::Query::<T>::from_query(&self.query)
            .map(web::Query::into_inner)
            .map_err(|error| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("The query string is invalid: {error}."),
                )
            })
    }
}

/// A field error for each value of `query` longer than any parameter takes, or holding a
/// character no text may hold (a control character, NUL among them, which PostgreSQL cannot even
/// compare; a direction override), so that no such value reaches a lookup. A value of white space
/// alone counts as left out, as the optional filters take it. A parameter with a rule of its own
/// (`?name`, `?reason`) checks it afterwards.
fn value_errors(query: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if value.chars().count() > MAX_QUERY_VALUE {
            errors.push(FieldError::new(
                name.as_ref(),
                "invalid_length",
                format!("{name} has at most {MAX_QUERY_VALUE} characters"),
            ));
        } else if let Some(why) = text::refused_characters(&value, Lines::Many) {
            errors.push(FieldError::new(
                name.as_ref(),
                "invalid_characters",
                format!("{name} {why}"),
            ));
        }
    }
    errors
}

impl<T> FromRequest for QueryString<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self {
            query: req.query_string().to_owned(),
            _decodes_to: PhantomData,
        }))
    }
}

/// A body that is not JSON (400) or not of the expected shape (422).
pub fn body_error(error: serde_json::Error) -> ApiError {
    if error.is_data() {
        shape_error(error)
    } else {
        ApiError::bad_request(
            "malformed_json",
            format!("The body is not valid JSON: {error}."),
        )
    }
}

/// A JSON body not of the expected shape (422), with what is wrong.
fn shape_error(wrong: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("The JSON body does not match the expected shape: {wrong}."),
    )
}
