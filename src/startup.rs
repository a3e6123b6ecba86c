use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpMessage, HttpServer, web};
use anyhow::Context;
use chrono::Duration;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::identity::VerifiedTokens;
use crate::auth::jwt::AccessTokens;
use crate::auth::throttle::LoginThrottle;
use crate::bootstrap::{self, FirstAdmin};
use crate::cache::{self, ReadCache};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::notification::Backoff;
use crate::domain::webhook::WebhookTarget;
use crate::error;
use crate::idempotency;
use crate::metrics::{self, HttpMetrics, MetricsToken};
use crate::notify::Dispatcher;
use crate::notify::email::MailSettings;
use crate::notify::transport::Mailer;
use crate::notify::unsubscribe::UnsubscribeLinks;
use crate::notify::webhook::WebhookSender;
use crate::openapi;
use crate::request_target;
use crate::routes;
use crate::scheduler;
use crate::security_headers::{self, SecurityHeaders};
use crate::state::{AppState, ExportSettings};
use crate::telemetry::RequestSpan;
use crate::web::csrf::CsrfKey;
use crate::web::session::ConsoleSettings;
use crate::write_queue::WriteQueue;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    dispatcher: Arc<Dispatcher>,
    /// Tells the background dispatcher to stop, once the server has.
    stop_dispatcher: tokio::sync::watch::Sender<bool>,
    dispatcher_task: Option<actix_web::rt::task::JoinHandle<()>>,
    pub first_admin: Option<FirstAdmin>,
}

impl Application {
    /// Prepares the database and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As `build`, with the time the service acts on given (tests stand still or jump).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // OpenSSL first, without its exit-time clean-up, before libpq (which would set it up
        // with one): freeing OpenSSL's state while a connection thread still uses it could crash
        // a process on exit after everything had finished. Only the first set-up's options count.
        openssl_sys::init();
        let prepared = config.clone();
        let (pool, url, secret, first_admin) = actix_web::rt::task::spawn_blocking(move || {
            let (pool, url) = bootstrap::prepare_database(&prepared)?;
            let secret = bootstrap::jwt_secret(&prepared, &url)?;
            let first_admin = bootstrap::ensure_first_admin(&pool, &prepared)?;
            anyhow::Ok((pool, url, secret, first_admin))
        })
        .await
        .context("preparing the service")??;

        let unsubscribe = UnsubscribeLinks::new(&secret);
        let webhook_target = WebhookTarget {
            allow_private: config.webhook_allow_private,
        };
        let budget = config.read_cache_mib << 20;
        let cache = Arc::new(ReadCache::new(budget));
        // Without a budget nothing is cached, and there is nothing to watch for.
        if budget > 0 {
            cache::watch(&cache, &url).context("starting the cache watcher")?;
        }
        // A token takes a few hundred bytes: an eighth of the budget holds thousands.
        let verified_tokens = web::Data::new(VerifiedTokens::new(budget / 8));
        let state = web::Data::new(AppState {
            cache,
            pool,
            access_tokens: AccessTokens::new(&secret, config.access_token_ttl_seconds),
            login_throttle: LoginThrottle::new(
                config.login_attempts_per_account,
                config.login_attempts_per_address,
            ),
            refresh_token_ttl: Duration::days(config.refresh_token_ttl_days),
            forwarded_for_hops: config
                .trust_forwarded_for
                .then_some(usize::from(config.trusted_proxy_hops)),
            database_backend: url.backend(),
            write_queue: WriteQueue::start(&url, usize::from(config.database_write_lanes))?,
            clock: clock.clone(),
            unsubscribe: unsubscribe.clone(),
            webhook_target,
            console: ConsoleSettings {
                session_ttl: Duration::hours(config.console_session_hours),
                secure_cookies: config
                    .public_base_url
                    .as_ref()
                    .is_some_and(|url| url.scheme_str() == Some("https")),
                csrf: CsrfKey::new(&secret),
                max_upload_bytes: config.max_body_bytes,
            },
            exports: ExportSettings {
                public_ocds: config.public_ocds,
                ocid_prefix: config.ocds_ocid_prefix.clone(),
                public_base_url: config
                    .public_base_url
                    .as_ref()
                    .map(|url| url.to_string().trim_end_matches('/').to_owned()),
            },
        });
        // Catch up on rounds whose time came while the service was down, before serving.
        if let Err(error) = scheduler::tick(&state).await {
            tracing::error!(error = %error.cause_chain(), "catching up on due rounds failed");
        }
        if config.scheduler_interval_seconds > 0 {
            actix_web::rt::spawn(scheduler::run(
                state.clone(),
                std::time::Duration::from_secs(config.scheduler_interval_seconds),
            ));
        }
        let http_metrics = web::Data::new(HttpMetrics::new().context("setting up metrics")?);
        let dispatcher = Arc::new(Dispatcher::new(
            state.pool.clone(),
            clock,
            Mailer::new(
                config.smtp_url.as_ref(),
                &config.data_dir,
                std::time::Duration::from_secs(config.smtp_timeout_seconds),
            )?,
            MailSettings {
                from: config.mail_from.clone(),
                base_url: state
                    .exports
                    .public_base_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", config.bind_address)),
                unsubscribe,
            },
            Backoff {
                attempts: config.delivery_attempts,
                ..Backoff::default()
            },
            WebhookSender::new(
                std::time::Duration::from_secs(config.webhook_timeout_seconds),
                webhook_target,
            ),
            Duration::hours(config.webhook_disable_after_hours),
        )?);
        dispatcher.register_metrics(http_metrics.registry())?;
        state
            .write_queue
            .register_metrics(http_metrics.registry())?;
        let (stop_dispatcher, stopped) = tokio::sync::watch::channel(false);
        let dispatcher_task = (config.dispatch_interval_ms > 0).then(|| {
            tracing::info!(to = %dispatcher.mailer().describe(), "delivering e-mail");
            actix_web::rt::spawn(dispatcher.clone().run(
                std::time::Duration::from_millis(config.dispatch_interval_ms),
                state.cache.subscribe(),
                stopped,
            ))
        });
        let metrics_token = match config.metrics_token {
            Some(token) => Some(web::Data::new(MetricsToken::new(token)?)),
            None => {
                tracing::info!("METRICS_TOKEN is unset: /metrics is off");
                None
            }
        };
        let security_headers = web::Data::new(SecurityHeaders {
            strict_transport_security: config
                .public_base_url
                .as_ref()
                .is_some_and(|url| url.scheme_str() == Some("https")),
        });
        let openapi = Arc::new(openapi::document());
        let allowed_methods =
            web::Data::new(routes::allowed::AllowedMethods::from_document(&openapi));
        let keyed_operations =
            web::Data::new(idempotency::KeyedOperations::from_document(&openapi));
        let body_shapes = web::Data::new(routes::body_shapes::BodyShapes::from_document(&openapi)?);

        let listener = TcpListener::bind(config.bind_address)
            .with_context(|| format!("binding {}", config.bind_address))?;
        let port = listener.local_addr()?.port();
        let max_body = config.max_body_bytes;
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let state = shared.clone();
            let (app, _) = App::new()
                .into_utoipa_app()
                .openapi(openapi::base())
                .configure(routes::configure)
                .split_for_parts();
            let app = app.configure(crate::web::configure);
            let app = match &metrics_token {
                Some(token) => app.service(metrics::endpoint(token.clone())),
                None => app,
            };
            app.app_data(state.clone())
                .app_data(http_metrics.clone())
                .app_data(security_headers.clone())
                .app_data(verified_tokens.clone())
                .app_data(keyed_operations.clone())
                .app_data(body_shapes.clone())
                .app_data(allowed_methods.clone())
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .service(web::redirect("/docs", "/docs/"))
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .url("/api-docs/openapi.json", (*openapi).clone()),
                )
                .default_service(web::to(routes::allowed::no_route))
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
                .wrap(actix_web::middleware::from_fn(idempotency::middleware))
                .wrap(actix_web::middleware::from_fn(request_target::middleware))
                .wrap(actix_web::middleware::from_fn(security_headers::middleware))
                .wrap(TracingLogger::<RequestSpan>::new())
                .wrap(actix_web::middleware::from_fn(metrics::record))
        })
        .workers(workers)
        // More threads than pooled connections would only wait for a connection, each with its
        // own stack and allocator arena.
        .worker_max_blocking_threads(
            (config.database_pool_size as usize)
                .div_ceil(workers)
                .max(1),
        )
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            state,
            dispatcher,
            stop_dispatcher,
            dispatcher_task,
            first_admin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for running the scheduler by hand in tests.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The outbox's dispatcher, for delivering by hand in tests.
    pub fn dispatcher(&self) -> Arc<Dispatcher> {
        self.dispatcher.clone()
    }

    /// Serves until the server is told to stop (SIGTERM, SIGINT); then the dispatcher finishes
    /// the message in hand and hands back the rest of its batch.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.dispatcher.stop();
        // Nobody listens once the dispatcher has stopped by itself; nothing is lost then.
        let _ = self.stop_dispatcher.send(true);
        if let Some(task) = self.dispatcher_task
            && actix_web::rt::time::timeout(std::time::Duration::from_secs(60), task)
                .await
                .is_err()
        {
            tracing::warn!("the dispatcher did not stop within 60 s");
        }
        served
    }
}
