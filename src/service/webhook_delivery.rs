//! The webhook delivery worker. Each instance runs one: it takes due deliveries from the
//! outbox (leasing each, so that one instance makes each attempt; see
//! `storage::catalog::webhooks`), POSTs each event with the Standard Webhooks headers, and
//! records the answer. A 2xx is delivered; anything else is tried again after 1, 2, 4, …
//! seconds, at most an hour apart, for 25 hours after the event, then given up. Every
//! attempt of one event carries the same `webhook-id`, so a receiver that saw it already
//! (an answer lost on the way back, say) can tell. Deliveries live in the catalog, so
//! they outlast restarts; one an instance took and then died with is taken again when its
//! lease runs out.
//!
//! The HTTP client follows no redirects and resolves names through [`PublicOnly`], which
//! refuses a name with any private address unless the operator allows them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Service;
use super::webhooks::{check_url, is_private};
use crate::domain::WebhookDelivery;
use crate::error::{Error, Result};
use crate::storage::catalog::Attempt;

/// Deliveries taken per round.
const BATCH: u32 = 16;

/// How long a taken delivery is this instance's; longer than an attempt can take.
const LEASE: Duration = Duration::from_secs(60);

/// How long an attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How often the outbox is looked at when it had nothing due.
const IDLE: Duration = Duration::from_millis(500);

/// The longest wait between two attempts, and how long an event is tried at all.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(25);

/// How long a finished delivery is kept for `GET …/deliveries`.
pub(super) const KEEP_FINISHED: chrono::Duration = chrono::Duration::days(7);

/// Answers kept of a failed attempt, in characters.
const MAX_ERROR: usize = 500;

impl Service {
    /// Starts this instance's delivery worker.
    pub fn spawn_webhook_deliveries(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        let client = match client(self.settings.webhook_allow_private) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "webhooks will not be delivered");
                return tokio::spawn(async {});
            }
        };
        tokio::spawn(async move {
            loop {
                let taken = match self.deliver_due(&client).await {
                    Ok(taken) => taken,
                    Err(error) => {
                        tracing::warn!(%error, "webhook deliveries not taken");
                        0
                    }
                };
                if taken < BATCH as usize {
                    tokio::time::sleep(IDLE).await;
                }
            }
        })
    }

    /// Takes what is due and attempts it; returns how many were taken.
    async fn deliver_due(&self, client: &reqwest::Client) -> Result<usize> {
        let now = Utc::now();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::minutes(1));
        // Milliseconds, as stored, so that the attempt's record can name its lease.
        let lease_until = DateTime::from_timestamp_millis((now + lease).timestamp_millis())
            .unwrap_or(now + lease);
        let due = self
            .catalog
            .take_due_deliveries(now, lease_until, BATCH)
            .await?;
        let taken = due.len();
        futures_util::future::join_all(due.into_iter().map(|delivery| async move {
            let attempt = self.attempt(client, &delivery).await;
            if let Err(error) = self
                .catalog
                .record_attempt(delivery.number, lease_until, Utc::now(), &attempt)
                .await
            {
                tracing::warn!(%error, delivery = delivery.number, "webhook attempt not recorded");
            }
        }))
        .await;
        Ok(taken)
    }

    async fn attempt(&self, client: &reqwest::Client, delivery: &WebhookDelivery) -> Attempt {
        let webhook = match self
            .catalog
            .webhook(delivery.environment_id, delivery.webhook_id)
            .await
        {
            Ok(Some(webhook)) => webhook,
            // Deleted since: its deliveries go with it.
            Ok(None) => return give_up(None, "the webhook was deleted".into()),
            Err(error) => return self.retry(delivery, None, error.to_string()),
        };
        // Checked again: the operator may have stopped allowing private addresses since.
        if let Err(error) = check_url(&webhook.url, self.settings.webhook_allow_private) {
            return give_up(None, error.to_string());
        }
        let timestamp = Utc::now().timestamp().to_string();
        let signature = match sign(
            &webhook.secret,
            &delivery.event_id,
            &timestamp,
            &delivery.payload,
        ) {
            Ok(signature) => signature,
            Err(error) => return give_up(None, error.to_string()),
        };
        let sent = client
            .post(&webhook.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(response) if response.status().is_success() => Attempt::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status().as_u16();
                let text = answer_start(response).await;
                self.retry(delivery, Some(status), format!("answered {status}: {text}"))
            }
            Err(error) => self.retry(delivery, None, describe(&error)),
        };
        let label = match &outcome {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Failed { next: Some(_), .. } => "retry",
            Attempt::Failed { next: None, .. } => "failed",
        };
        metrics::counter!("imagestore_webhook_attempts_total", "outcome" => label).increment(1);
        outcome
    }

    /// A failed attempt, tried again after the backoff unless the event is too old.
    fn retry(&self, delivery: &WebhookDelivery, status: Option<u16>, error: String) -> Attempt {
        let now = Utc::now();
        let exponent = delivery.attempts.min(12);
        let wait = Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF);
        let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
        Attempt::Failed {
            status,
            error: error.chars().take(MAX_ERROR).collect(),
            next: (next < delivery.created_at + GIVE_UP_AFTER).then_some(next),
        }
    }
}

/// The start of a refusing receiver's answer, for the deliveries log: read until
/// [`MAX_ERROR`] bytes at most, the rest never read (a receiver cannot fill our memory).
async fn answer_start(mut response: reqwest::Response) -> String {
    let mut start = Vec::new();
    while start.len() < MAX_ERROR {
        match response.chunk().await {
            Ok(Some(chunk)) => start.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    start.truncate(MAX_ERROR);
    String::from_utf8_lossy(&start).into_owned()
}

fn give_up(status: Option<u16>, error: String) -> Attempt {
    Attempt::Failed {
        status,
        error,
        next: None,
    }
}

/// A transport failure in words (the source chain, which names the refused address).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `v1,` and base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}"), the key being the
/// base64 after `whsec_` (Standard Webhooks).
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &str) -> Result<String> {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|_| Error::Catalog("a stored webhook secret is not base64".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| Error::Internal("an HMAC key was refused".into()))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn client(allow_private: bool) -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .no_proxy()
        .user_agent("imagestore-webhooks")
        .dns_resolver(Arc::new(PublicOnly { allow_private }))
        .build()
        .map_err(|e| Error::Internal(format!("the webhook client: {e}")))
}

/// Resolves names with the system resolver, refusing a name any of whose addresses is
/// private (unless allowed): checked at each connection, so a name repointed after its
/// webhook was made reaches nothing inside. (An address literal in the URL was checked
/// when the webhook was made and does not change.)
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && addresses.iter().any(|a| is_private(a.ip())) {
                return Err(format!("{host} resolves to a private address; not delivered").into());
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
