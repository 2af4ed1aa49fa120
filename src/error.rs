//! The one error type of the library. It says what went wrong in domain terms; the HTTP
//! edge decides what status and body each case gets, in one exhaustive match per API
//! dialect (`http::dialect`). Nothing here knows about HTTP, and nothing here knows an
//! engine: what a driver's or a store's failure means is decided in `storage`
//! (`storage::catalog::engine_errors`, `storage::blob_errors`).

use crate::domain::{QuotaMeasure, QuotaScope, Scope};
use crate::media::MediaError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No credential, or one that does not match any key.
    #[error("a valid API key is required")]
    Unauthenticated,
    /// The credential is valid for this environment but lacks the scope.
    #[error("the API key lacks the {} scope", .0.as_str())]
    Forbidden(Scope),
    /// An anonymous rendition request without a valid signature (missing, tampered,
    /// expired).
    #[error("{0}")]
    SignatureInvalid(String),
    /// The thing does not exist, or belongs to another environment: the two are
    /// indistinguishable on purpose.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is sound but the thing is not in a state that allows it (an
    /// environment that still holds images, say).
    #[error("{0}")]
    Conflict(String),
    /// Storing this would pass a quota of the environment or of the subject; nothing was
    /// stored.
    #[error(
        "the {} quota allows {limit} {}; {usage} are stored",
        .scope.as_str(),
        match .measure { QuotaMeasure::Images => "images", QuotaMeasure::Bytes => "bytes" }
    )]
    QuotaExceeded {
        scope: QuotaScope,
        measure: QuotaMeasure,
        limit: u64,
        usage: u64,
    },
    /// A parameter, header or field the client sent is not acceptable.
    #[error("{message}")]
    InvalidInput {
        target: &'static str,
        message: String,
    },
    /// The body is larger than the configured limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The image is not in an accepted format (whatever it claims to be).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// The bytes claim an accepted format but are truncated or corrupt.
    #[error("{0}")]
    MalformedImage(String),
    /// Dimensions, area or frames exceed a configured limit.
    #[error("{message}")]
    ImageLimit {
        limit: &'static str,
        message: String,
    },
    /// The client stopped sending, or the body could not be read.
    #[error("{0}")]
    BodyIncomplete(String),
    /// The client's address failed authentication too often; it must wait before its
    /// credentials are looked at again.
    #[error(
        "too many failed authentication attempts from this address; retry after {retry_after_secs} seconds"
    )]
    Throttled { retry_after_secs: u64 },
    /// Too much work is queued; the client should come back later.
    #[error("the server is busy; retry after {retry_after_secs} seconds")]
    Overloaded { retry_after_secs: u64 },
    /// The catalog or the blob store cannot be reached right now (connection refused or
    /// lost, pool exhausted, engine shutting down). Transient by nature: the
    /// client is told to retry, and the instance recovers by itself when the engine does.
    #[error("{engine} unavailable: {message}")]
    Unavailable {
        engine: &'static str,
        message: String,
    },
    /// The disk or quota under the catalog, the blob store or the upload spool is full
    /// (ENOSPC, EDQUOT, SQLite's SQLITE_FULL, PostgreSQL's 53100). Not transient like
    /// `Unavailable`: an operator must free space. Made by [`Error::storage_full`], which
    /// readiness remembers (`storage::capacity`).
    #[error("{engine} is full: {message}")]
    StorageFull {
        engine: &'static str,
        message: String,
    },
    /// The catalog failed. Details are logged, never shown to the client.
    #[error("catalog: {0}")]
    Catalog(String),
    /// The blob store failed. Details are logged, never shown to the client.
    #[error("blob store: {0}")]
    Blobs(String),
    /// A bug or an environment problem (no randomness, a worker that vanished).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<MediaError> for Error {
    fn from(error: MediaError) -> Self {
        match error {
            MediaError::Unsupported(message) => Error::UnsupportedMedia(message),
            MediaError::Malformed(message) => Error::MalformedImage(message),
            MediaError::LimitExceeded { limit, message } => Error::ImageLimit { limit, message },
        }
    }
}

impl Error {
    /// Storage refused a write for lack of space; noted, so that readiness reports it.
    pub fn storage_full(engine: &'static str, message: String) -> Error {
        crate::storage::capacity::note_full();
        Error::StorageFull { engine, message }
    }

    /// A short, stable name for metrics labels and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::SignatureInvalid(_) => "signature_invalid",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::QuotaExceeded { .. } => "quota_exceeded",
            Error::InvalidInput { .. } => "invalid_input",
            Error::PayloadTooLarge { .. } => "too_large",
            Error::UnsupportedMedia(_) => "unsupported_media",
            Error::MalformedImage(_) => "malformed_image",
            Error::ImageLimit { limit, .. } => limit,
            Error::BodyIncomplete(_) => "body_incomplete",
            Error::Throttled { .. } => "throttled",
            Error::Overloaded { .. } => "overloaded",
            Error::Unavailable { .. } => "unavailable",
            Error::StorageFull { .. } => "storage_full",
            Error::Catalog(_) => "catalog",
            Error::Blobs(_) => "blobs",
            Error::Internal(_) => "internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
