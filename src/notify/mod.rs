//! Delivers what the outbox holds. Every instance runs a dispatcher; it never holds up a
//! request, because requests only write to the outbox.
//!
//! On PostgreSQL each dispatcher claims a batch of due messages with `FOR UPDATE SKIP LOCKED`,
//! so that several instances never take the same message; on SQLite one dispatcher at a time
//! holds a lease. A claim runs out: a dispatcher that stopped mid-batch leaves its messages to
//! another after `CLAIM_SECONDS`. A message sent just before its dispatcher stopped may then go
//! out twice, with the same `Message-ID`; no message is lost.

pub mod email;
pub mod transport;
pub mod unsubscribe;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use anyhow::Context;
use chrono::{Duration, NaiveDateTime};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::clock::Clock;
use crate::db::outbox::{self, OutboxRow, Outcome};
use crate::db::{DbConnection, Pool};
use crate::domain::notification::{Backoff, Channel, DeliveryState, Event};
use email::{MailSettings, Templates};
use transport::{Mailer, SendError};
use webhook::WebhookSender;

/// How long a claim lasts: a dispatcher that has not finished a message by then lost it.
const CLAIM_SECONDS: i64 = 120;
/// The SQLite dispatcher's lease, renewed on every pass.
const LEASE_SECONDS: i64 = 30;
const LEASE: &str = "dispatcher";
/// Messages claimed at a time.
const BATCH: i64 = 50;

pub struct Dispatcher {
    pool: Pool,
    clock: Arc<dyn Clock>,
    mailer: Mailer,
    templates: Templates,
    settings: MailSettings,
    backoff: Backoff,
    /// Names this dispatcher in claims and leases.
    holder: String,
    metrics: DispatchMetrics,
    webhooks: WebhookSender,
    /// How long an endpoint may fail every delivery before it is disabled.
    disable_after: Duration,
    /// Set when the service stops: the dispatcher finishes the message in hand and hands back
    /// the rest.
    stopping: AtomicBool,
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// How long a pass waits after the commit that woke it, for the commits right behind it.
const WAKE_SETTLE: StdDuration = StdDuration::from_millis(20);

impl Dispatcher {
    pub fn new(
        pool: Pool,
        clock: Arc<dyn Clock>,
        mailer: Mailer,
        settings: MailSettings,
        backoff: Backoff,
        webhooks: WebhookSender,
        disable_after: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            clock,
            mailer,
            templates: Templates::load().context("compiling the e-mail templates")?,
            settings,
            backoff,
            holder: format!("dispatcher-{}", uuid::Uuid::new_v4()),
            metrics: DispatchMetrics::new()?,
            webhooks,
            disable_after,
            stopping: AtomicBool::new(false),
        })
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Registers the outbox metrics with `/metrics`.
    pub fn register_metrics(&self, registry: &Registry) -> anyhow::Result<()> {
        self.metrics.register(registry)
    }

    fn conn(&self) -> anyhow::Result<diesel::r2d2::PooledConnection<crate::db::ConnectionManager>> {
        self.pool.get().context("getting a database connection")
    }

    /// One pass, blocking: claims a batch of due messages and delivers them one by one.
    pub fn pass_blocking(&self) -> anyhow::Result<PassReport> {
        let mut report = PassReport::default();
        let now = self.clock.now();
        let mut conn = self.conn()?;
        // New feed entries become webhook deliveries first, so that this pass may send them. A
        // relay that fails holds up webhooks only, not e-mail.
        match crate::service::webhooks::relay(&mut conn, now) {
            Ok(0) => {}
            Ok(relayed) => tracing::debug!(relayed, "changes relayed to webhooks"),
            Err(error) => {
                tracing::error!(error = %error.cause_chain(), "relaying changes to webhooks failed");
            }
        }
        // A look without a lock: the dispatcher wakes on every commit, and on SQLite the lease
        // and the claim below take the write lock that requests need.
        if !outbox::any_due(&mut conn, now)? {
            return Ok(report);
        }
        if matches!(&*conn, DbConnection::Sqlite(_))
            && !outbox::acquire_lease(
                &mut conn,
                LEASE,
                &self.holder,
                now,
                Duration::seconds(LEASE_SECONDS),
            )?
        {
            return Ok(report);
        }
        let batch = outbox::claim(
            &mut conn,
            &self.holder,
            now,
            Duration::seconds(CLAIM_SECONDS),
            BATCH,
        )?;
        // Not held while messages go out: a slow server must not keep a connection from requests.
        drop(conn);
        report.claimed = batch.len();
        for row in &batch {
            if self.stopping.load(Ordering::Acquire) {
                break;
            }
            let outcome = self.deliver(row);
            let now = self.clock.now();
            match &outcome {
                Outcome::Sent => {
                    report.sent += 1;
                    self.metrics.delivered(row, now);
                }
                Outcome::Retry { .. } => report.retried += 1,
                Outcome::Failed { error } => {
                    report.failed += 1;
                    tracing::warn!(message = %row.id, event = %row.event, error = %error, "a message failed for good");
                }
            }
            if !outbox::finish(&mut *self.conn()?, &row.id, &self.holder, &outcome, now)? {
                tracing::warn!(message = %row.id, "another dispatcher took over a message while it was being sent");
            }
        }
        if self.stopping.load(Ordering::Acquire) {
            let released = outbox::release(&mut *self.conn()?, &self.holder, self.clock.now())?;
            if released > 0 {
                tracing::info!(released, "handed back messages on shutdown");
            }
        }
        if report.claimed > 0 {
            self.refresh_counts()?;
        }
        Ok(report)
    }

    /// Renders and sends one message; what to record of the attempt.
    fn deliver(&self, row: &OutboxRow) -> Outcome {
        let sent = match row.channel.parse::<Channel>() {
            Ok(Channel::Email) => self.send_email(row),
            Ok(Channel::Webhook) => self.send_webhook(row),
            Err(_) => Err(SendError::Permanent(format!(
                "unknown channel {:?}",
                row.channel
            ))),
        };
        match sent {
            Ok(()) => Outcome::Sent,
            Err(SendError::Permanent(error)) => Outcome::Failed { error },
            Err(SendError::Transient(error)) => {
                match self
                    .backoff
                    .after(u32::try_from(row.attempts).unwrap_or(u32::MAX))
                {
                    Some(wait) => Outcome::Retry {
                        at: self.clock.now() + wait,
                        error,
                    },
                    None => Outcome::Failed {
                        error: format!("gave up after {} attempts: {error}", row.attempts),
                    },
                }
            }
        }
    }

    fn send_email(&self, row: &OutboxRow) -> Result<(), SendError> {
        let permanent = |e: email::RenderError| SendError::Permanent(e.to_string());
        let rendered = self
            .templates
            .render(row, &self.settings)
            .map_err(permanent)?;
        let encoding = match self.mailer {
            Mailer::Files(..) => email::Encoding::Readable,
            Mailer::Smtp(_) => email::Encoding::ForTransport,
        };
        let message = email::message(
            &row.id,
            &rendered,
            &self.settings,
            self.clock.now().and_utc().into(),
            encoding,
        )
        .map_err(permanent)?;
        self.mailer.send(&message)
    }

    /// Delivers a webhook, and records on its endpoint whether it is failing.
    fn send_webhook(&self, row: &OutboxRow) -> Result<(), SendError> {
        let transient = |e: anyhow::Error| SendError::Transient(format!("{e:#}"));
        let mut conn = self.conn().map_err(transient)?;
        let endpoint = crate::db::webhooks::find(&mut conn, &row.recipient)
            .map_err(|e| transient(e.into()))?
            .ok_or_else(|| SendError::Permanent("the endpoint was deleted".to_owned()))?;
        if endpoint.disabled_at.is_some() {
            return Err(SendError::Permanent("the endpoint is disabled".to_owned()));
        }
        drop(conn);
        let sent = self.webhooks.send(&endpoint, row, self.clock.now());
        let recorded = crate::service::webhooks::record_outcome(
            &mut *self.conn().map_err(transient)?,
            &endpoint.id,
            sent.is_ok(),
            self.disable_after,
            self.clock.now(),
        );
        match recorded {
            Ok(true) => {
                tracing::warn!(endpoint = %endpoint.id, "a failing webhook endpoint was disabled")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(error = %error.cause_chain(), "recording a webhook's outcome failed")
            }
        }
        sent
    }

    /// Updates the pending and failed gauges from the outbox.
    pub fn refresh_counts(&self) -> anyhow::Result<()> {
        let counts = outbox::counts(&mut *self.conn()?)?;
        for state in [
            DeliveryState::Pending,
            DeliveryState::Sending,
            DeliveryState::Failed,
        ] {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            self.metrics
                .messages
                .with_label_values(&[state.as_str()])
                .set(n);
        }
        Ok(())
    }

    /// Hands back what this dispatcher holds: its claims and the SQLite lease.
    fn release_all(&self) -> anyhow::Result<()> {
        let mut conn = self.conn()?;
        outbox::release(&mut conn, &self.holder, self.clock.now())?;
        outbox::release_lease(&mut conn, LEASE, &self.holder)?;
        Ok(())
    }

    /// One pass off the async workers.
    pub async fn pass(self: &Arc<Self>) -> anyhow::Result<PassReport> {
        let dispatcher = self.clone();
        actix_web::rt::task::spawn_blocking(move || dispatcher.pass_blocking())
            .await
            .context("running the dispatcher")?
    }

    /// Delivers until `stop` turns true: a pass whenever the database changed (`wake`) or
    /// `interval` has passed, and at once again after a full batch. On stop, the message in
    /// hand is finished and the rest handed back.
    pub async fn run(
        self: Arc<Self>,
        interval: StdDuration,
        mut wake: tokio::sync::watch::Receiver<u64>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut since_counts = std::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            let full = match self.pass().await {
                Ok(report) => report.claimed as i64 == BATCH,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "dispatcher pass failed");
                    false
                }
            };
            if since_counts.elapsed() > StdDuration::from_secs(15) {
                since_counts = std::time::Instant::now();
                if let Err(error) = self.refresh_counts() {
                    tracing::warn!(error = format!("{error:#}"), "counting the outbox failed");
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                () = actix_web::rt::time::sleep(interval) => {}
                _ = wake.changed() => {
                    // Commits that come in a rush share a pass: under a thousand registrations
                    // a second, a pass per commit would cost as much as the registrations.
                    tokio::select! {
                        () = actix_web::rt::time::sleep(WAKE_SETTLE) => {}
                        _ = stop.changed() => {}
                    }
                }
                _ = stop.changed() => {}
            }
        }
        self.stopping.store(true, Ordering::Release);
        let dispatcher = self.clone();
        let released = actix_web::rt::task::spawn_blocking(move || dispatcher.release_all()).await;
        if let Ok(Err(error)) | Err(error) = released.map_err(anyhow::Error::from) {
            tracing::error!(
                error = format!("{error:#}"),
                "handing back messages on shutdown failed"
            );
        }
    }

    /// Asks a running `run` to stop after the message in hand.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }
}

/// `kyodo_outbox_messages{state}` (pending, sending, failed), `kyodo_outbox_sent_total{channel,
/// event}` and `kyodo_outbox_delivery_seconds` (from the change to the delivery).
struct DispatchMetrics {
    messages: IntGaugeVec,
    sent: IntCounterVec,
    latency: Histogram,
}

impl DispatchMetrics {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            messages: IntGaugeVec::new(
                Opts::new("outbox_messages", "Messages in the outbox, by state").namespace("kyodo"),
                &["state"],
            )?,
            sent: IntCounterVec::new(
                Opts::new("outbox_sent_total", "Messages delivered by this instance")
                    .namespace("kyodo"),
                &["channel", "event"],
            )?,
            latency: Histogram::with_opts(
                HistogramOpts::new(
                    "outbox_delivery_seconds",
                    "Time from the change that caused a message to its delivery",
                )
                .namespace("kyodo")
                .buckets(vec![
                    0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0, 21600.0,
                ]),
            )?,
        })
    }

    fn register(&self, registry: &Registry) -> anyhow::Result<()> {
        registry.register(Box::new(self.messages.clone()))?;
        registry.register(Box::new(self.sent.clone()))?;
        registry.register(Box::new(self.latency.clone()))?;
        Ok(())
    }

    fn delivered(&self, row: &OutboxRow, now: NaiveDateTime) {
        // Label values come from the service's own names, never from a request.
        let event = match row.event.parse::<Event>() {
            Ok(event) => event.as_str(),
            Err(_) if row.channel == "webhook" => "webhook",
            Err(_) => "unknown",
        };
        let channel = row
            .channel
            .parse::<Channel>()
            .map_or("unknown", |c| c.into());
        self.sent.with_label_values(&[channel, event]).inc();
        let seconds = (now - row.created_at).num_milliseconds().max(0) as f64 / 1000.0;
        self.latency.observe(seconds);
    }
}
