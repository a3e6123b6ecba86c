//! `Idempotency-Key`: a client that lost an answer sends the request again with the same key and
//! gets the first answer, instead of a second change.
//!
//! - Operations take a key when their documentation lists the header: the POST and PUT that create
//!   or change procurements, rounds, answers (one, or a spreadsheet of them) and questions, and
//!   the reminder sent now. Every other POST and PUT refuses one with 422
//!   `idempotency_key_not_accepted`, so that answers carrying a secret (`POST /tokens`,
//!   `POST /users`, `/auth/*`, `/invitations/*`) are never stored and a refresh token is spent
//!   once. PATCH (which takes `If-Match`), DELETE and reads ignore the header.
//! - The key, the request's writes and its answer commit in one transaction
//!   ([`AppState::write`]): a change that committed has its answer stored, and a request that
//!   failed or never finished leaves nothing behind, not even its key.
//! - Refusals (4xx) and failures (5xx) change nothing and are not stored: a retry with the same
//!   key is handled afresh, refused again while what stood in its way stands.
//! - The same key with the same method, path and body gets the stored status, body, `ETag` and
//!   `Location` again, with `idempotent-replayed: true`; with another request, 422
//!   `idempotency_key_reused`. A duplicate that arrives while the first is being handled waits for
//!   it (on the key's unique index on PostgreSQL, on the write lock on SQLite), then is replayed.
//! - Keys belong to their user and are kept 24 hours.

use std::collections::HashSet;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, web};
use sha2::{Digest, Sha256};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::{OpenApi, RefOr};

use crate::auth::Identity;
use crate::db::idempotency::{self, Claim};
use crate::error::ApiError;
use crate::reply;
use crate::routes::allowed::AllowedMethods;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const RETENTION_HOURS: i64 = 24;

/// The operations that take a key, as `(method, path pattern)`.
pub struct KeyedOperations(HashSet<(Method, String)>);

impl KeyedOperations {
    /// Those whose documentation lists the `Idempotency-Key` header: the document says which
    /// operations take one, and the service does what it says.
    pub fn from_document(document: &OpenApi) -> Self {
        let mut operations = HashSet::new();
        for (path, item) in &document.paths.paths {
            let writes = crate::openapi::operations(item)
                .filter(|(method, _)| matches!(*method, Method::POST | Method::PUT));
            for (method, operation) in writes {
                let takes_key =
                    operation
                        .parameters
                        .iter()
                        .flatten()
                        .any(|parameter| match parameter {
                            RefOr::T(p) => {
                                p.parameter_in == ParameterIn::Header
                                    && p.name.eq_ignore_ascii_case(HEADER)
                            }
                            RefOr::Ref(_) => false,
                        });
                if takes_key {
                    operations.insert((method, path.clone()));
                }
            }
        }
        Self(operations)
    }
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = req.headers().get(HEADER).cloned();
    let Some(key) = key.filter(|_| matches!(*req.method(), Method::POST | Method::PUT)) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Some(pattern) = req.match_pattern() else {
        // No route: on to the 404.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let takes_key = req
        .app_data::<web::Data<KeyedOperations>>()
        .is_some_and(|o| o.0.contains(&(req.method().clone(), pattern.clone())));
    // A path that does not take this method at all is answered 405, key or not.
    let no_such_operation = req
        .app_data::<web::Data<AllowedMethods>>()
        .and_then(|allowed| allowed.of(req.path()))
        .is_some_and(|methods| !methods.contains(req.method()));
    if no_such_operation {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    if !takes_key {
        let refusal = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_not_accepted",
            format!(
                "{} {pattern} takes no Idempotency-Key. Operations on credentials (tokens, users, \
                 /auth, /invitations) take none, so that no answer with a secret is ever stored; \
                 the API document lists the header on those that do. Send the request without it.",
                req.method()
            ),
        );
        return Ok(req.error_response(refusal));
    }
    let Some(key) = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()))
        .map(str::to_owned)
    else {
        return Ok(req.error_response(ApiError::bad_request(
            "invalid_idempotency_key",
            "An Idempotency-Key has 1 to 255 visible ASCII characters.",
        )));
    };
    let (Some(state), Ok(identity)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        Identity::extract(req.request()).await,
    ) else {
        // Unauthenticated: the handler answers 401 as usual.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    req.extensions_mut().insert(identity.clone());
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(error) => return Ok(req.error_response(error)),
    };
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.uri().to_string());
    hasher.update(b"\n");
    hasher.update(&body);
    let claim = Claim {
        user_id: identity.user_id,
        idempotency_key: key,
        request_hash: hex::encode(hasher.finalize()),
    };
    let (user_id, key) = (claim.user_id.clone(), claim.idempotency_key.clone());
    match state
        .db(move |conn| Ok(idempotency::find(conn, &user_id, &key)?))
        .await
    {
        Err(error) => return Ok(req.error_response(error)),
        Ok(Some(first)) => {
            return Ok(match reply::replay(first, &claim.request_hash) {
                Ok(response) => req.into_response(response),
                Err(error) => req.error_response(error),
            });
        }
        Ok(None) => {}
    }
    // The handler's write claims the key in its transaction (`AppState::write`).
    req.extensions_mut().insert(claim);
    req.set_payload(Payload::from(body));
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
