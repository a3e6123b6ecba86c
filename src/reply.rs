//! The answer to a write, rendered inside the write's transaction so that an `Idempotency-Key`
//! stores it with the write it answers and a retry gets it back (see `crate::idempotency`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde::Serialize;

use crate::db::idempotency::{IdempotencyRow, StoredReply};
use crate::error::ApiError;

/// Set on an answer given again.
pub const REPLAYED: &str = "idempotent-replayed";

/// Status, JSON body and the headers a client acts on (`ETag`, `Location`).
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: String,
}

impl Reply {
    pub fn new(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Self {
            status,
            headers: Vec::new(),
            body: serde_json::to_string(body).map_err(anyhow::Error::from)?,
        })
    }

    pub fn ok(body: &impl Serialize) -> Result<Self, ApiError> {
        Self::new(StatusCode::OK, body)
    }

    /// 201, with the address of what was created.
    pub fn created(location: &str, body: &impl Serialize) -> Result<Self, ApiError> {
        let location = HeaderValue::from_str(location).map_err(anyhow::Error::from)?;
        Ok(Self::new(StatusCode::CREATED, body)?.header((header::LOCATION, location)))
    }

    pub fn header(mut self, header: (HeaderName, HeaderValue)) -> Self {
        self.headers.push(header);
        self
    }

    pub fn into_response(self) -> HttpResponse {
        let content_type = if self.status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, content_type));
        for header in self.headers {
            response.insert_header(header);
        }
        response.body(self.body)
    }

    /// As an idempotency key keeps it.
    pub fn stored(&self) -> Result<StoredReply, ApiError> {
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
            .collect::<Result<Vec<_>, header::ToStrError>>()
            .map_err(anyhow::Error::from)?;
        Ok(StoredReply {
            status_code: i32::from(self.status.as_u16()),
            headers: serde_json::to_string(&headers).map_err(anyhow::Error::from)?,
            body: self.body.clone(),
        })
    }

    fn restore(row: IdempotencyRow) -> anyhow::Result<Self> {
        let (Some(status), Some(headers), Some(body)) =
            (row.status_code, row.response_headers, row.response_body)
        else {
            anyhow::bail!("a committed idempotency key has no answer");
        };
        let headers: Vec<(String, String)> = serde_json::from_str(&headers)?;
        Ok(Self {
            status: StatusCode::from_u16(u16::try_from(status)?)?,
            headers: headers
                .into_iter()
                .map(|(name, value)| Ok((name.parse()?, value.parse()?)))
                .collect::<anyhow::Result<_>>()?,
            body,
        })
    }
}

/// The answer to a request whose key has an answer stored: that answer again, marked, when the
/// request is the same one; 422 when the key was used for another.
pub fn replay(row: IdempotencyRow, request_hash: &str) -> Result<HttpResponse, ApiError> {
    if row.request_hash != request_hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
        ));
    }
    let mut response = Reply::restore(row)?.into_response();
    response.headers_mut().insert(
        HeaderName::from_static(REPLAYED),
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

/// A CSV file to save as `filename` (the spreadsheets the service writes are UTF-8 with a BOM).
pub fn csv_attachment(filename: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}
