//! Request targets (path and query) that no endpoint can take, refused before any handler runs:
//! longer than any real request needs (414), or with a path that percent-encodes a control
//! character, which no resource has in its name (PostgreSQL cannot even compare text with NUL).
//!
//! Longer targets never get here: actix-http answers a target beyond 64 KiB (what `http::Uri`
//! parses) with a bare 400, and a request head beyond its 128 KiB buffer with 431, closing the
//! connection.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;

use crate::error::ApiError;

/// Longest path and query taken, in bytes as sent: a 1,000-character reason in kanji,
/// percent-encoded, is 9 KiB.
pub const MAX_REQUEST_TARGET_BYTES: usize = 12 * 1024;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let length = req
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    let refusal = if length > MAX_REQUEST_TARGET_BYTES {
        Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "The path and query have {length} bytes; the service takes at most \
                 {MAX_REQUEST_TARGET_BYTES}."
            ),
        ))
    } else if encodes_a_control(req.path()) {
        Some(ApiError::not_found(
            "not_found",
            "No resource has a control character in its path.",
        ))
    } else {
        None
    };
    match refusal {
        Some(error) => {
            let response = actix_web::ResponseError::error_response(&error);
            Ok(req.into_response(response).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// Whether `path` has a `%XX` escape of a C0 control character or DEL.
fn encodes_a_control(path: &str) -> bool {
    path.as_bytes().windows(3).any(|escape| {
        let hex = |digit: u8| char::from(digit).to_digit(16);
        match (escape[0], hex(escape[1]), hex(escape[2])) {
            (b'%', Some(high), Some(low)) => high * 16 + low < 0x20 || high * 16 + low == 0x7f,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_escaped_controls_only() {
        assert!(encodes_a_control("/api/v1/rounds/%00"));
        assert!(encodes_a_control("/api/v1/rounds/a%1Fb"));
        assert!(encodes_a_control("/api/v1/rounds/%7f"));
        assert!(!encodes_a_control("/api/v1/rounds/%20%E9%95%B7"));
        assert!(!encodes_a_control("/api/v1/rounds/%zz%"));
        assert!(!encodes_a_control("/api/v1/rounds/100%"));
        assert!(!encodes_a_control("/api/v1/rounds/%+1"));
    }
}
