//! Logs on standard output: JSON lines for machines, or text for a person at a terminal. Every line
//! of a request carries its request id, and a failed request is logged once, with its cause (the
//! error policy is in `error.rs`). Secrets never reach a log line: tokens in paths are redacted
//! here, and secret settings are `SecretString`s that print as `[REDACTED]`.

use std::io::IsTerminal;

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::ApiError;
use crate::web::error::PageError;

/// Installs the global subscriber; later calls (tests starting many apps) do nothing.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let json = match format {
        LogFormat::Auto => !terminal,
        LogFormat::Json => true,
        LogFormat::Text => false,
    };
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        // Colours only for a terminal: in a file they are escape codes.
        builder.with_ansi(terminal).try_init()
    };
}

/// The root span of every request: request id, method, route with secrets removed, status.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            path = %redact_path(request.path()),
            status = tracing::field::Empty,
        )
    }

    /// The one place a request's failure is logged: here the response and the error it was built
    /// from are known, and the line is inside the request's span.
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        let status = status.as_u16();
        span.record("status", status);
        let _in_request = span.enter();
        match error.filter(|_| status >= 500) {
            Some(error) => {
                tracing::error!(status, error = %cause_chain(error), "request failed");
            }
            None => tracing::info!(status, "request completed"),
        }
    }
}

/// Why a request failed, cause after cause: an API error's, or the one behind a console page's.
fn cause_chain(error: &Error) -> String {
    error
        .as_error::<ApiError>()
        .or_else(|| error.as_error::<PageError>().and_then(PageError::api_error))
        .map_or_else(|| error.to_string(), ApiError::cause_chain)
}

/// Hides the secrets that travel in a path: the token in `/invitations/{token}/…` and the
/// calendar feed's in `/calendar/{token}.ics`.
pub fn redact_path(path: &str) -> String {
    let mut redact_next = false;
    path.split('/')
        .map(|segment| {
            let shown = if redact_next { "[REDACTED]" } else { segment };
            redact_next = matches!(segment, "invitations" | "calendar");
            shown
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::{cause_chain, redact_path};
    use crate::error::ApiError;
    use crate::web::error::PageError;

    #[test]
    fn a_failed_page_logs_the_cause_of_its_api_error() {
        let failure = || ApiError::unexpected(anyhow::anyhow!("no such table: procurements"));
        for error in [
            actix_web::Error::from(failure()),
            actix_web::Error::from(PageError::Api(failure())),
        ] {
            assert!(cause_chain(&error).contains("no such table: procurements"));
        }
    }

    #[test]
    fn secrets_in_paths_never_reach_the_log() {
        assert_eq!(
            redact_path("/api/v1/invitations/kyi_secret/accept"),
            "/api/v1/invitations/[REDACTED]/accept"
        );
        assert_eq!(
            redact_path("/api/v1/calendar/kydcal_secret.ics"),
            "/api/v1/calendar/[REDACTED]"
        );
        assert_eq!(redact_path("/api/v1/me/calendar"), "/api/v1/me/calendar");
        assert_eq!(
            redact_path("/api/v1/organizations/202011"),
            "/api/v1/organizations/202011"
        );
    }
}
