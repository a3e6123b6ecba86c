//! Prometheus metrics of the HTTP server, served at `/metrics` to holders of `METRICS_TOKEN`.
//!
//! Every label value comes from what the service defines, never from what a client sends: the
//! route's pattern (`unmatched` when no route matches), a standard method (`OTHER` for any other)
//! and the status. A label set lives as long as the process, so one per client-chosen path or
//! method would let anyone grow the process and `/metrics` without bound. actix-web-prom 0.10
//! can mask unmatched paths, but labels by the raw method, and any token is a method to actix.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use anyhow::{Context, bail};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const NAMESPACE: &str = "kyodo";
const LABELS: [&str; 3] = ["endpoint", "method", "status"];
/// The endpoint label of every request that matches no route.
const UNMATCHED: &str = "unmatched";
const MIN_TOKEN_CHARS: usize = 32;

pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl HttpMetrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "Total number of HTTP requests").namespace(NAMESPACE),
            &LABELS,
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "http_requests_duration_seconds",
                "HTTP request duration in seconds",
            )
            .namespace(NAMESPACE),
            &LABELS,
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        Ok(Self {
            registry,
            requests,
            durations,
        })
    }

    /// Where other parts of the service register what `/metrics` serves beside requests.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn observe(&self, endpoint: Option<&str>, method: &Method, status: &str, started: Instant) {
        let labels = [endpoint.unwrap_or(UNMATCHED), method_label(method), status];
        self.requests.with_label_values(&labels).inc();
        self.durations
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Counts each request under its route pattern, once its response is ready.
pub async fn record(
    metrics: web::Data<HttpMetrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.call(req).await?;
    // Only after routing does the request know which route took it.
    let endpoint = response.request().match_pattern();
    metrics.observe(
        endpoint.as_deref(),
        &method,
        response.status().as_str(),
        started,
    );
    Ok(response)
}

/// The secret a scraper presents as `Authorization: Bearer`.
pub struct MetricsToken(SecretString);

impl MetricsToken {
    pub fn new(token: SecretString) -> anyhow::Result<Self> {
        if token.expose_secret().chars().count() < MIN_TOKEN_CHARS {
            bail!("METRICS_TOKEN must have at least {MIN_TOKEN_CHARS} characters");
        }
        Ok(Self(token))
    }

    fn admits(&self, req: &HttpRequest) -> bool {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            });
        // Comparing digests rather than the secrets keeps the time a comparison takes from
        // telling how much of a guess was right.
        presented.is_some_and(|presented| {
            Sha256::digest(presented.trim()) == Sha256::digest(self.0.expose_secret())
        })
    }
}

/// `GET /metrics`, for the holder of the token.
pub fn endpoint(token: web::Data<MetricsToken>) -> Resource {
    web::resource("/metrics")
        .app_data(token)
        .route(web::get().to(render))
}

async fn render(
    req: HttpRequest,
    metrics: web::Data<HttpMetrics>,
    token: web::Data<MetricsToken>,
) -> Result<HttpResponse, ApiError> {
    if !token.admits(&req) {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "Send `Authorization: Bearer <METRICS_TOKEN>`.",
        ));
    }
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    encoder
        .encode(&metrics.registry.gather(), &mut body)
        .context("encoding the metrics")?;
    Ok(HttpResponse::Ok()
        .content_type(encoder.format_type())
        .body(body))
}
