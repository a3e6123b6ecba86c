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
        serde_json::from_slice(&self.bytes).map_err(body_error)
    }

    /// As `parse`, for a body that may be left out (then `T::default()`).
    pub fn parse_or_default(self) -> Result<T, ApiError>
    where
        T: Default,
    {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.parse()
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
