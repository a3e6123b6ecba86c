//! Webhook deliveries: a signed POST (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`) to an endpoint whose addresses are all public, unless private targets
//! are allowed.

use std::net::ToSocketAddrs;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::outbox::OutboxRow;
use crate::db::webhooks::WebhookRow;
use crate::domain::webhook::WebhookTarget;
use crate::notify::transport::SendError;

pub struct WebhookSender {
    agent: ureq::Agent,
    pub target: WebhookTarget,
}

impl WebhookSender {
    pub fn new(timeout: Duration, target: WebhookTarget) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // A redirect could lead anywhere, a private address included: it is an answer, not
            // a delivery.
            .max_redirects(0)
            .http_status_as_error(false)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::NativeTls)
                    .build(),
            )
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            target,
        }
    }

    /// POSTs the delivery `row` to `endpoint`, signed with its secret at `now`.
    pub fn send(
        &self,
        endpoint: &WebhookRow,
        row: &OutboxRow,
        now: NaiveDateTime,
    ) -> Result<(), SendError> {
        check_target(&self.target, &endpoint.url).map_err(SendError::Permanent)?;
        let signer = standardwebhooks::Webhook::new(&endpoint.secret)
            .map_err(|e| SendError::Permanent(format!("the endpoint's secret: {e}")))?;
        let timestamp = now.and_utc().timestamp();
        let body = row.context.as_bytes();
        let signature = signer
            .sign(&row.id, timestamp, body)
            .map_err(|e| SendError::Permanent(format!("signing: {e}")))?;
        let response = self
            .agent
            .post(&endpoint.url)
            .header("webhook-id", &row.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .header("user-agent", "kyodo-webhooks/1")
            .send(body)
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            // The receiver is busy, slow or failing: it may take it later.
            408 | 425 | 429 | 500..=599 => Err(SendError::Transient(format!("HTTP {status}"))),
            // Anything else (a redirect, 4xx) says this delivery will never be taken.
            _ => Err(SendError::Permanent(format!("HTTP {status}"))),
        }
    }
}

/// Checks `url`'s shape, then every address its host resolves to. (An address may still change
/// between this check and the connection; the check is repeated at each delivery.)
pub fn check_target(target: &WebhookTarget, url: &str) -> Result<(), String> {
    let url = target.check_shape(url)?;
    if target.allow_private {
        return Ok(());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| format!("{host} does not resolve: {e}"))?;
    let mut any = false;
    for address in addresses {
        any = true;
        target.check_address(address.ip())?;
    }
    if any {
        Ok(())
    } else {
        Err(format!("{host} resolves to no address"))
    }
}
