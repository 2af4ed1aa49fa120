//! The nouns of imagestore: environments (tenants), credentials and their scopes, the
//! principal a request acts as, subjects, and images. These are plain data with the
//! validation that belongs to the value itself (a subject's syntax, a scope's name); rules
//! that need storage live in `service`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::media::ImageFormat;
use crate::media::transform::{Crop, Fit, OutputFormat};

mod governance;
mod names;
pub mod rendition_params;
mod tenancy;
pub use governance::{
    Event, EventType, Limits, Quota, QuotaMeasure, QuotaScope, Receipt, SubjectSummary, Usage,
    Webhook, WebhookDelivery,
};
pub use names::{is_hidden_character, sanitize_filename};
pub use tenancy::{AuditEntry, AuditEvent, EnvironmentSettings, UploadGrant};

/// A tenant. Every row, blob key and environment credential belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: EnvironmentSettings,
}

/// What a credential may do. `Admin` implies the other environment scopes; `Operator`
/// belongs to deployment-wide keys only and implies everything in every environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    ImagesRead,
    ImagesWrite,
    Admin,
    Operator,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ImagesRead,
        Scope::ImagesWrite,
        Scope::Admin,
        Scope::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ImagesRead => "images:read",
            Scope::ImagesWrite => "images:write",
            Scope::Admin => "admin",
            Scope::Operator => "operator",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    /// Parses a comma-separated list such as `images:read,images:write`.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, Error> {
        let mut scopes = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::parse(part).ok_or_else(|| Error::InvalidInput {
                target: "scopes",
                message: format!(
                    "unknown scope {part:?}; expected images:read, images:write or admin"
                ),
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(Error::InvalidInput {
                target: "scopes",
                message: "at least one scope is required".into(),
            });
        }
        Ok(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An API key's stored form: never the token itself, only a hash of its secret part.
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: Uuid,
    /// The environment the key belongs to; `None` for an operator key.
    pub environment_id: Option<Uuid>,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    pub secret_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// When the key stops working; `None` never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was last accepted, to the minute; `None` never.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Credential {
    /// A short, non-secret prefix of the key's token, by which people tell keys apart.
    pub fn token_prefix(&self) -> String {
        format!("isk_{}", &self.id.simple().to_string()[..8])
    }
}

/// Who a request acts as: an environment's key with some scopes, or an operator key,
/// which reaches every environment.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's environment; `None` for an operator key.
    pub environment_id: Option<Uuid>,
    pub credential_id: Uuid,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Lets the request through only for its own environment and with the scope. Another
    /// environment answers NotFound so that nobody learns whether it exists. An operator
    /// may do everything in every environment.
    pub fn require(&self, environment_id: Uuid, scope: Scope) -> Result<(), Error> {
        let Some(own) = self.environment_id else {
            return Ok(());
        };
        if own != environment_id {
            return Err(Error::NotFound("environment"));
        }
        if self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin) {
            Ok(())
        } else {
            Err(Error::Forbidden(scope))
        }
    }

    /// The operator at the server's shell: what CLI commands and the first start act as.
    pub fn shell() -> Principal {
        Principal {
            environment_id: None,
            credential_id: Uuid::nil(),
            scopes: vec![Scope::Operator],
        }
    }

    /// The environment a key without an environment in its route acts in (the vendor
    /// dialects, sessions); an operator key has none.
    pub fn home(&self) -> Result<Uuid, Error> {
        self.environment_id.ok_or(Error::NotFound("environment"))
    }

    pub fn is_operator(&self) -> bool {
        self.environment_id.is_none()
    }

    /// Whether the principal holds `scope`, directly or by implication.
    pub fn holds(&self, scope: Scope) -> bool {
        self.is_operator()
            || (scope != Scope::Operator
                && (self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)))
    }

    /// The actor the audit log names: `operator`, or the key's id.
    pub fn actor(&self) -> String {
        if self.is_operator() {
            "operator".to_string()
        } else {
            self.credential_id.to_string()
        }
    }
}

/// What an image is about inside an environment, such as `user:42` or `person:7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);

impl Subject {
    /// A kind of 1–32 lowercase letters, digits, `_` or `-`, a colon, and an id of 1–128
    /// characters from `A-Z a-z 0-9 . _ @ -`: enough for user ids and e-mail-like keys,
    /// nothing that needs escaping in a URL, a log line or a blob key.
    pub fn parse(text: &str) -> Result<Subject, Error> {
        let invalid = || Error::InvalidInput {
            target: "subject",
            message: format!(
                "subject must look like kind:id (for example user:42), got {:?}",
                text.chars().take(80).collect::<String>()
            ),
        };
        let (kind, id) = text.split_once(':').ok_or_else(invalid)?;
        let kind_ok = (1..=32).contains(&kind.len())
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        let id_ok = (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
        if kind_ok && id_ok {
            Ok(Subject(text.to_string()))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored image and everything known about it.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: Uuid,
    /// Unique per deployment and small enough for int32 APIs.
    pub number: i64,
    pub environment_id: Uuid,
    pub subject: Option<Subject>,
    pub filename: Option<String>,
    pub format: ImageFormat,
    pub byte_size: u64,
    /// As displayed: EXIF orientation applied.
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// BLAKE3 of the stored bytes, hex; also the strong ETag.
    pub content_hash: String,
    /// Random part of the public href, so that knowing an image id grants no access.
    pub serve_key: String,
    pub blob_key: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Absent only for images stored before placeholders existed.
    pub placeholder: Option<Placeholder>,
    /// Set while the image is an unclaimed dropbox item, which vanishes at that time.
    pub expires_at: Option<DateTime<Utc>>,
    /// A rectangle (displayed coordinates) every rendition is cut from first.
    pub crop: Option<Crop>,
}

/// What a page paints before the image arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// ThumbHash bytes, standard base64.
    pub thumbhash: String,
    /// `#rrggbb`.
    pub dominant_color: String,
}

/// The output format of a rendition: fixed, or negotiated from `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatChoice {
    Fixed(OutputFormat),
    /// AVIF, then WebP, then the source's own format, as the client accepts.
    Auto,
}

impl FormatChoice {
    pub fn parse(text: &str) -> Option<FormatChoice> {
        if text.eq_ignore_ascii_case("auto") {
            Some(FormatChoice::Auto)
        } else {
            OutputFormat::from_name(text).map(FormatChoice::Fixed)
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FormatChoice::Fixed(format) => format.extension(),
            FormatChoice::Auto => "auto",
        }
    }
}

/// A named rendition an environment defines once and every image then offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    /// None: the source's own format.
    pub format: Option<FormatChoice>,
    pub quality: u8,
    /// Rendered at upload rather than on first request.
    pub eager: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Preset {
    /// 1–64 characters: a letter, then letters, digits, `-`; not `original`. Names appear in
    /// hrefs (`…_{name}.{ext}`), so no `_`, `.` or `/`.
    pub fn validate_name(name: &str) -> Result<(), Error> {
        let ok = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && name != "original";
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidInput {
                target: "name",
                message: "a preset name is 1 to 64 letters, digits or '-', starts with a letter, \
                          and is not 'original'"
                    .into(),
            })
        }
    }
}

/// A secret that signs rendition URLs of one environment.
#[derive(Debug, Clone)]
pub struct SigningSecret {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

/// An image about to be recorded; the catalog assigns its number.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub subject: Option<Subject>,
    pub filename: Option<String>,
    pub format: ImageFormat,
    pub byte_size: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub content_hash: String,
    pub serve_key: String,
    pub blob_key: String,
    pub created_at: DateTime<Utc>,
    pub placeholder: Option<Placeholder>,
    /// Some: a dropbox item, held until then unless claimed.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A browser session: made from a credential, carried by a cookie, and guarded against
/// cross-site requests by a CSRF token that state-changing requests must echo.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// One target of an image registered by reference: its bytes live at `href`, elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalTarget {
    pub name: String,
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub kind: String,
    pub href: String,
}

/// An image registered by reference (PingOne's JSON create): nothing is stored or fetched.
#[derive(Debug, Clone)]
pub struct ExternalImage {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub targets: Vec<ExternalTarget>,
}

/// One page of a keyset-paginated listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor to pass as `after` for the next page, when there is one.
    pub next: Option<i64>,
}

/// Random bytes as lowercase hex, for secrets and unguessable URL parts.
pub fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests;
