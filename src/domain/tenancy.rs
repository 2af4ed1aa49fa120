//! The control plane's nouns: an environment's settings, a browser's grant to upload
//! (what an upload token allows), and an audit event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Quota, Subject};
use crate::error::Error;
use crate::media::ImageFormat;

/// How many origins an environment may allow, at most.
const MAX_ORIGINS: usize = 100;

/// An environment's settings, stored as JSON. (The API refuses unknown fields in what it
/// is sent; what is stored is read leniently, so that a row written by another version
/// never makes an environment unreadable.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentSettings {
    /// Origins (`scheme://host[:port]`) whose browsers may call the API and upload
    /// across origins; exact matches only, and never `*`.
    pub allowed_origins: Vec<String>,
    /// Whether metadata is stripped from uploads. GPS is removed whatever this says; the
    /// current pipeline strips every other field too (keeping them is allowed, not
    /// promised).
    pub strip_metadata: bool,
    /// Limits on the whole environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Limits on each subject, unless the subject has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_quota: Option<Quota>,
}

impl Default for EnvironmentSettings {
    fn default() -> Self {
        EnvironmentSettings {
            allowed_origins: Vec::new(),
            strip_metadata: true,
            quota: None,
            subject_quota: None,
        }
    }
}

impl EnvironmentSettings {
    /// The settings with every origin as a browser sends it: lower case, without a
    /// default port, without a trailing slash.
    pub fn normalized(mut self) -> EnvironmentSettings {
        for origin in &mut self.allowed_origins {
            let mut normal = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
                if normal.starts_with(scheme) && normal.ends_with(port) {
                    normal.truncate(normal.len() - port.len());
                }
            }
            *origin = normal;
        }
        self.allowed_origins.sort();
        self.allowed_origins.dedup();
        self
    }

    /// Refuses origins that are not exact `scheme://host[:port]` values, and limits a
    /// catalog integer cannot hold.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(quota) = &self.quota {
            quota.validate("settings.quota")?;
        }
        if let Some(quota) = &self.subject_quota {
            quota.validate("settings.subjectQuota")?;
        }
        let bad = |message: String| Error::InvalidInput {
            target: "settings.allowedOrigins",
            message,
        };
        if self.allowed_origins.len() > MAX_ORIGINS {
            return Err(bad(format!("at most {MAX_ORIGINS} origins")));
        }
        for origin in &self.allowed_origins {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| bad(format!("{origin:?} must start with https:// or http://")))?;
            let valid_host = !rest.is_empty()
                && !rest.starts_with(':')
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !valid_host {
                return Err(bad(format!(
                    "{origin:?} must be an exact origin: scheme://host[:port], no path, no *"
                )));
            }
        }
        Ok(())
    }

    /// Whether a browser at `origin` may call across origins.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|allowed| allowed == origin)
    }
}

/// What an upload token lets its holder do: upload into one environment, about the
/// subject it names (and into its slot), within its limits, until it expires.
#[derive(Debug, Clone)]
pub struct UploadGrant {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub subject: Option<Subject>,
    pub slot: bool,
    pub max_bytes: Option<u64>,
    /// `None`: any format imagestore accepts.
    pub formats: Option<Vec<ImageFormat>>,
    pub uploads_left: u32,
    /// The key that made the token (its id, or `operator`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One control-plane change to record: who did what to which object, in which request.
/// Never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `None` for an event about the deployment (an environment made or removed).
    pub environment_id: Option<Uuid>,
    /// The key that acted (its id), or `operator`.
    pub actor: String,
    /// Such as `key.create`, `environment.delete`.
    pub action: String,
    /// What was changed, such as `key/{id}`.
    pub target: String,
    pub request_id: Option<String>,
}

/// A recorded change: its entry, its place in the log and its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub number: i64,
    pub created_at: DateTime<Utc>,
    pub entry: AuditEntry,
}
