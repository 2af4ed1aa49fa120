//! Data governance's nouns: what an environment or a subject holds, the limits on it, the
//! receipt an erasure answers with, and the events a change raises for webhooks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Subject;
use crate::error::Error;

/// Limits on what an environment or a subject holds; a `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_images: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

impl Quota {
    /// Refuses limits a catalog integer cannot hold.
    pub fn validate(&self, target: &'static str) -> Result<(), Error> {
        let too_large = |limit: Option<u64>| limit.is_some_and(|n| n > i64::MAX as u64);
        if too_large(self.max_images) || too_large(self.max_bytes) {
            return Err(Error::InvalidInput {
                target,
                message: format!("limits must be at most {}", i64::MAX),
            });
        }
        Ok(())
    }

    pub fn is_unlimited(&self) -> bool {
        self.max_images.is_none() && self.max_bytes.is_none()
    }
}

/// What is stored: permanent images (a dropbox item counts once claimed), their
/// originals' bytes, and the bytes of their stored variants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub images: u64,
    pub bytes: u64,
    pub variant_bytes: u64,
}

/// A subject as the subjects API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSummary {
    pub subject: Subject,
    pub usage: Usage,
    /// The subject's current image (SuperOffice's person image), if it has one.
    pub slot_image_id: Option<Uuid>,
    /// The limits that apply to the subject: its own, else the environment's default.
    pub quota: Option<Quota>,
    /// Whether `quota` is the subject's own rather than the environment's default.
    pub own_quota: bool,
}

/// Which limit refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    Environment,
    Subject,
}

impl QuotaScope {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaScope::Environment => "environment",
            QuotaScope::Subject => "subject",
        }
    }
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaMeasure {
    Images,
    Bytes,
}

impl QuotaMeasure {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaMeasure::Images => "maxImages",
            QuotaMeasure::Bytes => "maxBytes",
        }
    }
}

/// The proof of an erasure, as signed: what was removed, when, and by which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub subject: Subject,
    pub erased_at: DateTime<Utc>,
    pub images: u64,
    pub bytes: u64,
    /// Every distinct content hash erased, sorted.
    pub content_hashes: Vec<String>,
    pub kid: String,
    /// Ed25519 over [`Receipt::signed_bytes`], base64url without padding.
    pub signature: String,
}

impl Receipt {
    /// The receipt's JSON fields except `signature`.
    pub fn unsigned_json(&self) -> serde_json::Value {
        serde_json::json!({
            "receiptId": self.id,
            "environmentId": self.environment_id,
            "subject": self.subject.as_str(),
            "erasedAt": self.erased_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "images": self.images,
            "bytes": self.bytes,
            "contentHashes": self.content_hashes,
            "kid": self.kid,
        })
    }

    /// What the signature covers: the unsigned JSON with its keys sorted and no
    /// insignificant whitespace (RFC 8785's form for these values: strings, integers and
    /// an array of strings).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        canonical_json(&self.unsigned_json(), &mut out);
        out.into_bytes()
    }
}

/// `value` with every object's keys sorted by their UTF-16 code units (RFC 8785; the
/// same as byte order for the ASCII keys used here) and no whitespace. Written out rather
/// than trusted to the map's order, which a dependency's `preserve_order` feature would
/// change for the whole build.
pub fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The kinds of event a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    ImageCreated,
    ImageDeleted,
    SubjectErased,
    QuotaExceeded,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::ImageCreated,
        EventType::ImageDeleted,
        EventType::SubjectErased,
        EventType::QuotaExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ImageCreated => "image.created",
            EventType::ImageDeleted => "image.deleted",
            EventType::SubjectErased => "subject.erased",
            EventType::QuotaExceeded => "quota.exceeded",
        }
    }

    pub fn parse(name: &str) -> Result<EventType, Error> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| Error::InvalidInput {
                target: "events",
                message: format!(
                    "unknown event {name:?}; known: {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            })
    }
}

/// A change, as webhooks are told of it. `id` is the `webhook-id` of every delivery of
/// it; `payload` is the body sent, `{"type", "timestamp", "data"}` (Standard Webhooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub environment_id: Uuid,
    pub kind: EventType,
    pub at: DateTime<Utc>,
    pub payload: String,
}

impl Event {
    /// A new event about `data`, with a fresh id.
    pub fn new(environment_id: Uuid, kind: EventType, data: serde_json::Value) -> Event {
        let at = Utc::now();
        let payload = serde_json::json!({
            "type": kind.as_str(),
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        });
        Event {
            id: format!("msg_{}", Uuid::new_v4().simple()),
            environment_id,
            kind,
            at,
            payload: payload.to_string(),
        }
    }
}

/// The limits an upload or a claim is checked against: the environment's, and its
/// default per subject (a subject's own limits, kept in the catalog, replace the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub environment: Option<Quota>,
    pub subject: Option<Quota>,
}

/// An environment's subscription to events, delivered to `url` signed with `secret`
/// (Standard Webhooks: `whsec_` and base64 of the HMAC-SHA256 key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub url: String,
    pub events: Vec<EventType>,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One event on its way to one webhook: its attempts so far and how the last one ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub number: i64,
    pub webhook_id: Uuid,
    pub environment_id: Uuid,
    /// The `webhook-id` header, the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    /// The body sent.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// When it is tried next; None once delivered or given up.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}
