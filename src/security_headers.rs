//! Headers on every answer that tell browsers and caches how to treat it: no content sniffing, no
//! referrer, no framing, nothing loaded or run by an API answer, and nothing stored that carries
//! or was fetched with a credential.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// API answers are JSON (or text, for `/metrics`): a browser that renders one anyway may load and
/// run nothing.
const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The vendored Swagger UI loads its scripts, styles and icons from here, fetches the document and
/// sends "try it out" requests here, styles elements inline, and draws icons from `data:` SVGs.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";
/// The console's pages run only the scripts and styles it serves itself (no inline script, no
/// inline style), draw charts as inline SVG, and post forms and htmx requests to itself only.
const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";
/// Answers under these paths carry passwords, tokens or invitation tokens, or refuse them; a
/// calendar feed is fetched with the secret in its address, and is private.
const CREDENTIAL_PATHS: [&str; 5] = [
    "/api/v1/auth/",
    "/api/v1/tokens",
    "/api/v1/users",
    "/api/v1/invitations/",
    "/api/v1/calendar/",
];
/// One year, without subdomains: other services may share the domain.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

pub struct SecurityHeaders {
    /// Only for a service whose public address is https: browsers then refuse plain http to it.
    pub strict_transport_security: bool,
}

pub async fn middleware(
    settings: web::Data<SecurityHeaders>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let docs = path == "/docs" || path.starts_with("/docs/");
    let console = is_console(path);
    let private = req.headers().contains_key(header::AUTHORIZATION)
        // Console pages carry a CSRF token, and often a person's data: none is stored. Their
        // stylesheet and scripts are the same for everyone and are.
        || (console && !path.starts_with(crate::web::ASSETS))
        || CREDENTIAL_PATHS
            .iter()
            .any(|prefix| path.starts_with(prefix));
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs {
            DOCS_POLICY
        } else if console {
            CONSOLE_POLICY
        } else {
            API_POLICY
        }),
    );
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if settings.strict_transport_security {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    Ok(response)
}

/// Whether `path` is one of the console's pages (everything but the API, its documents and the
/// operators' endpoints).
fn is_console(path: &str) -> bool {
    ![
        "/api/",
        "/api-docs/",
        "/docs",
        "/metrics",
        "/health",
        "/ready",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}
