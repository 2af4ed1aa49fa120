//! Webhooks: an environment's admin subscribes a URL to events and gets a signing secret
//! (shown once, at creation and at each rotation). Every change that raises an event
//! writes it to the outbox in its own transaction (`storage::catalog::events`); the
//! delivery worker (`webhook_delivery`) sends it.
//!
//! A URL is checked before it is stored: http or https, and no host that names this
//! machine or a private network (a loopback, private, link-local or unspecified address,
//! or `localhost`), unless the operator allows them (`--webhook-allow-private`). Names
//! are resolved again at each delivery and refused if any address is private, so that a
//! name changed to point inward afterwards reaches nothing.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use uuid::Uuid;

use super::Service;
use super::control::audit_entry;
use crate::domain::{EventType, Page, Principal, Scope, Webhook, WebhookDelivery};
use crate::error::{Error, Result};

/// The longest webhook URL accepted.
const MAX_URL: usize = 2000;

/// Most webhooks per environment.
const MAX_WEBHOOKS: usize = 20;

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
fn new_secret() -> Result<String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", STANDARD.encode(key)))
}

/// Whether an address is one a webhook must not reach unless the operator allows it:
/// anything not globally routable, and IPv6 forms that carry an IPv4 address (mapped,
/// compatible, SIIT, NAT64, 6to4), judged by the address they carry.
pub(super) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let carried = |high: u16, low: u16| {
                IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(high) << 16) | u32::from(low),
                ))
            };
            // IPv4-compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96 and
            // 64:ff9b:1::/48: the IPv4 address is the last 32 bits.
            let last_32_bits = (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
                || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
                || (s[0] == 0x64 && s[1] == 0xff9b);
            let embedded = if let Some(v4) = v6.to_ipv4_mapped() {
                Some(IpAddr::V4(v4))
            } else if last_32_bits {
                Some(carried(s[6], s[7]))
            } else if s[0] == 0x2002 {
                Some(carried(s[1], s[2])) // 6to4 2002:aabb:ccdd::/48
            } else {
                None
            };
            if let Some(v4) = embedded {
                return is_private(v4);
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
        }
    }
}

/// Refuses a URL that is not http(s), or whose host is private, unless allowed.
pub(super) fn check_url(text: &str, allow_private: bool) -> Result<String> {
    let bad = |message: String| Error::InvalidInput {
        target: "url",
        message,
    };
    if text.len() > MAX_URL {
        return Err(bad(format!("the URL must be at most {MAX_URL} characters")));
    }
    let url = reqwest::Url::parse(text).map_err(|e| bad(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the URL must be http or https".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("the URL must not carry credentials".into()));
    }
    let private = match url.host() {
        None => return Err(bad("the URL needs a host".into())),
        Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err(bad(
            "the URL reaches a private, loopback or link-local address; webhooks go to public \
             addresses only (the operator may allow private ones)"
                .into(),
        ));
    }
    Ok(url.to_string())
}

impl Service {
    /// Subscribes a URL to events (admin); the answer holds the secret, once.
    pub async fn create_webhook(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        url: &str,
        events: &[String],
    ) -> Result<Webhook> {
        principal.require(environment_id, Scope::Admin)?;
        let url = check_url(url, self.settings.webhook_allow_private)?;
        if events.is_empty() {
            return Err(Error::InvalidInput {
                target: "events",
                message: format!(
                    "name at least one event: {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            });
        }
        let mut kinds = events
            .iter()
            .map(|name| EventType::parse(name))
            .collect::<Result<Vec<_>>>()?;
        kinds.sort_by_key(|kind| kind.as_str());
        kinds.dedup();
        if self.catalog.webhooks(environment_id).await?.len() >= MAX_WEBHOOKS {
            return Err(Error::Conflict(format!(
                "an environment has at most {MAX_WEBHOOKS} webhooks"
            )));
        }
        let now = Utc::now();
        let webhook = Webhook {
            id: Uuid::new_v4(),
            environment_id,
            url,
            events: kinds,
            secret: new_secret()?,
            created_at: now,
            updated_at: now,
        };
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "webhook.create",
            format!("webhook/{}", webhook.id),
        );
        self.catalog.insert_webhook(&webhook, &audit).await?;
        Ok(webhook)
    }

    /// An environment's webhooks (admin); their secrets are for the caller to hide.
    pub async fn webhooks(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<Vec<Webhook>> {
        principal.require(environment_id, Scope::Admin)?;
        self.catalog.webhooks(environment_id).await
    }

    pub async fn webhook(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Webhook> {
        principal.require(environment_id, Scope::Admin)?;
        self.catalog
            .webhook(environment_id, id)
            .await?
            .ok_or(Error::NotFound("webhook"))
    }

    pub async fn delete_webhook(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<()> {
        principal.require(environment_id, Scope::Admin)?;
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "webhook.delete",
            format!("webhook/{id}"),
        );
        if self
            .catalog
            .delete_webhook(environment_id, id, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("webhook"))
        }
    }

    /// Replaces a webhook's secret (admin); the answer holds the new one, once.
    pub async fn rotate_webhook_secret(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Webhook> {
        principal.require(environment_id, Scope::Admin)?;
        let secret = new_secret()?;
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "webhook.rotate",
            format!("webhook/{id}"),
        );
        if !self
            .catalog
            .rotate_webhook_secret(environment_id, id, &secret, Utc::now(), &audit)
            .await?
        {
            return Err(Error::NotFound("webhook"));
        }
        self.webhook(principal, environment_id, id).await
    }

    /// A page of a webhook's deliveries, newest first (admin).
    pub async fn webhook_deliveries(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<WebhookDelivery>> {
        super::check_page_limit(limit)?;
        let webhook = self.webhook(principal, environment_id, id).await?;
        self.catalog
            .webhook_deliveries(webhook.id, before, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.1:8080/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[fe80::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://0.0.0.0/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://100.64.0.1/",
            "http://[64:ff9b::a00:5]/",
            "http://[::127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[fec0::1]/",
            "http://198.18.0.1/",
            "http://2130706433/",
        ] {
            assert!(check_url(url, false).is_err(), "{url} was accepted");
            assert!(
                check_url(url, true).is_ok(),
                "{url} was refused when allowed"
            );
        }
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://u:p@example.com/",
            "nonsense",
        ] {
            assert!(check_url(url, true).is_err(), "{url} was accepted");
        }
        assert!(check_url("https://hooks.example.com/imagestore", false).is_ok());
        assert!(check_url("http://[2606:4700::1111]/", false).is_ok());
        assert!(check_url("http://[64:ff9b::808:808]/", false).is_ok());
    }
}
