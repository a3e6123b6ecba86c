use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpMessage, HttpServer, web};
use actix_web_prom::PrometheusMetricsBuilder;
use anyhow::Context;
use chrono::Duration;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::jwt::AccessTokens;
use crate::auth::throttle::LoginThrottle;
use crate::bootstrap::{self, FirstAdmin};
use crate::config::Config;
use crate::error;
use crate::openapi;
use crate::routes;
use crate::state::AppState;
use crate::telemetry::RequestSpan;

pub struct Application {
    port: u16,
    server: Server,
    pub first_admin: Option<FirstAdmin>,
}

impl Application {
    /// Prepares the database and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let prepared = config.clone();
        let (pool, url, secret, first_admin) = actix_web::rt::task::spawn_blocking(move || {
            let (pool, url) = bootstrap::prepare_database(&prepared)?;
            let secret = bootstrap::jwt_secret(&prepared, &url)?;
            let first_admin = bootstrap::ensure_first_admin(&pool, &prepared)?;
            anyhow::Ok((pool, url, secret, first_admin))
        })
        .await
        .context("preparing the service")??;

        let state = web::Data::new(AppState {
            pool,
            access_tokens: AccessTokens::new(&secret, config.access_token_ttl_seconds),
            login_throttle: LoginThrottle::new(
                config.login_attempts_per_account,
                config.login_attempts_per_address,
            ),
            refresh_token_ttl: Duration::days(config.refresh_token_ttl_days),
            trust_forwarded_for: config.trust_forwarded_for,
            database_backend: url.backend(),
        });
        let metrics = PrometheusMetricsBuilder::new("kyodo")
            .endpoint("/metrics")
            .build()
            .map_err(|e| anyhow::anyhow!("setting up metrics: {e}"))?;
        let openapi = Arc::new(openapi::document());

        let listener = TcpListener::bind(config.bind_address)
            .with_context(|| format!("binding {}", config.bind_address))?;
        let port = listener.local_addr()?.port();
        let max_body = config.max_body_bytes;
        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .openapi(openapi::base())
                .configure(routes::configure)
                .split_for_parts();
            app.app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(error::json_error),
                )
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .url("/api-docs/openapi.json", (*openapi).clone()),
                )
                .default_service(web::to(error::route_not_found))
                .wrap_fn(|req, srv| {
                    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
                    let response = srv.call(req);
                    async move {
                        let mut response = response.await?;
                        if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok())
                        {
                            response
                                .headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), id);
                        }
                        Ok(response)
                    }
                })
                .wrap(TracingLogger::<RequestSpan>::new())
                .wrap(metrics.clone())
        })
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            first_admin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
