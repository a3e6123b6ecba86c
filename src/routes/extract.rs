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

use crate::error::ApiError;

/// A request body, read (within `MAX_BODY_BYTES`) but not yet decoded as JSON.
pub struct JsonBody<T> {
    bytes: Bytes,
    /// Whether it was sent as `application/json` (or a `+json` type).
    declared_json: bool,
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
        decode(&self.bytes)
    }

    /// As `parse`, for a body that may be left out or be `null` (then `T::default()`).
    pub fn parse_or_default(self) -> Result<T, ApiError>
    where
        T: Default,
    {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        Ok(self.parse_as::<Option<T>>()?.unwrap_or_default())
    }

    fn parse_as<U: DeserializeOwned>(self) -> Result<U, ApiError> {
        JsonBody::<U> {
            bytes: self.bytes,
            declared_json: self.declared_json,
            _decodes_to: PhantomData,
        }
        .parse()
    }
}

/// `bytes` decoded as a `T`. A number with a zero fraction (`25.0`) is a whole number, as JSON
/// Schema counts it: a body that fails only for such numbers is read again with them as integers
/// (so the common body is decoded once).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).or_else(|error| {
        if !error.is_data() {
            return Err(body_error(error));
        }
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Err(body_error(error));
        };
        if !whole_floats_to_integers(&mut value) {
            return Err(body_error(error));
        }
        serde_json::from_value(value).map_err(|_| body_error(error))
    })
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
        let bytes = read_body(req, payload);
        Box::pin(async move {
            Ok(Self {
                bytes: bytes.await?,
                declared_json,
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
    /// The parameters decoded; 400 when they do not fit.
    pub fn parse(&self) -> Result<T, ApiError> {
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
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("The JSON body does not match the expected shape: {error}."),
        )
    } else {
        ApiError::bad_request(
            "malformed_json",
            format!("The body is not valid JSON: {error}."),
        )
    }
}
