//! The one error type of the library. It says what went wrong in domain terms; the HTTP
//! edge (`http::error`) decides, in one exhaustive match, what status and body each case
//! gets in each API dialect. Nothing here knows about HTTP.

use crate::domain::Scope;
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
    /// Too much work is queued; the client should come back later.
    #[error("the server is busy; retry after {retry_after_secs} seconds")]
    Overloaded { retry_after_secs: u64 },
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

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Catalog(error.to_string())
    }
}

impl From<object_store::Error> for Error {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Error::NotFound("blob"),
            other => Error::Blobs(other.to_string()),
        }
    }
}

impl Error {
    /// A short, stable name for metrics labels and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::SignatureInvalid(_) => "signature_invalid",
            Error::NotFound(_) => "not_found",
            Error::InvalidInput { .. } => "invalid_input",
            Error::PayloadTooLarge { .. } => "too_large",
            Error::UnsupportedMedia(_) => "unsupported_media",
            Error::MalformedImage(_) => "malformed_image",
            Error::ImageLimit { limit, .. } => limit,
            Error::BodyIncomplete(_) => "body_incomplete",
            Error::Overloaded { .. } => "overloaded",
            Error::Catalog(_) => "catalog",
            Error::Blobs(_) => "blobs",
            Error::Internal(_) => "internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
