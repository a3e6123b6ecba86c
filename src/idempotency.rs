//! `Idempotency-Key` on POST and PUT: a client that lost a response retries with the same key and
//! gets the stored response instead of a second effect. The same key with another body is 422;
//! while the first request is still running, 409. Keys belong to the user and live 24 hours.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpResponse, ResponseError, web};
use sha2::{Digest, Sha256};

use crate::auth::Identity;
use crate::db::idempotency::{self, IdempotencyRow};
use crate::error::ApiError;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const RETENTION_HOURS: i64 = 24;

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
    let claim = IdempotencyRow {
        user_id: identity.user_id.clone(),
        idempotency_key: key.clone(),
        request_hash: hex::encode(hasher.finalize()),
        status_code: None,
        response_body: None,
        created_at: state.now(),
    };
    let claimed =
        state
            .db(move |conn| {
                Ok(idempotency::claim(conn, &claim)?
                    .map_err(|existing| (existing, claim.request_hash)))
            })
            .await;
    match claimed {
        Err(error) => return Ok(req.error_response(error)),
        Ok(Err((existing, hash))) => return Ok(req.into_response(replay(existing, &hash))),
        Ok(Ok(())) => {}
    }

    req.set_payload(Payload::from(body));
    let response = next.call(req).await?;
    let status = response.status();
    let user_id = identity.user_id.clone();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let _ = state
            .db(move |conn| Ok(idempotency::release(conn, &user_id, &key)?))
            .await;
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        ApiError::unexpected(anyhow::anyhow!("reading the response to store it: {e}"))
    })?;
    let stored = String::from_utf8_lossy(&bytes).into_owned();
    if let Err(error) = state
        .db(move |conn| {
            Ok(idempotency::complete(
                conn,
                &user_id,
                &key,
                i32::from(status.as_u16()),
                &stored,
            )?)
        })
        .await
    {
        // The client has its answer, so the request did not fail; but a retry with this key will be
        // told that the first request is still in progress.
        tracing::error!(error = %error.cause_chain(), "storing an idempotent response failed");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(BoxBody::new(bytes)),
    ))
}

fn replay(existing: IdempotencyRow, request_hash: &str) -> HttpResponse {
    if existing.request_hash != request_hash {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
        )
        .error_response();
    }
    let (Some(status), Some(body)) = (existing.status_code, existing.response_body) else {
        return ApiError::conflict(
            "idempotency_key_in_progress",
            "The first request with this Idempotency-Key is still being handled; retry shortly.",
        )
        .error_response();
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, content_type));
    response.insert_header((
        HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    ));
    if body.is_empty() {
        response.finish()
    } else {
        response.body(body)
    }
}
