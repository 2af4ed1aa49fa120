//! How domain errors become HTTP answers. [`classify`] is the one exhaustive match from
//! [`Error`] to a status and an error code (no catch-all arm: a new error case does not
//! compile until it is given an answer); each API dialect then renders that in its own
//! shape. Server-side failures are logged with the request id and answered with a generic
//! message, so no path, SQL or driver text reaches a client.
//!
//! The request id lives in a task-local set by the request-context middleware
//! ([`crate::logging::REQUEST`]), so every error body can carry the same id as the log
//! lines of its request.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Error;

/// The current request's id, or a fresh one outside a request.
pub fn current_request_id() -> Uuid {
    crate::logging::REQUEST
        .try_with(|request| request.id)
        .unwrap_or_else(|_| Uuid::new_v4())
}

/// The HTTP meaning of an error, shared by every dialect.
pub struct Classified {
    pub status: StatusCode,
    /// PingOne's top-level code.
    pub code: &'static str,
    /// PingOne's detail code, and the field it is about, when there is one.
    pub detail: Option<(&'static str, &'static str)>,
    /// Seconds for `Retry-After`, on 429 and 503.
    pub retry_after: Option<u64>,
}

/// What a client is told to wait when an engine is unreachable: long enough not to
/// hammer it, short enough that a restarted engine is used again soon.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

pub fn classify(error: &Error) -> Classified {
    let (status, code, detail, retry_after) = match error {
        Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "ACCESS_FAILED", None, None),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "ACCESS_FAILED", None, None),
        Error::SignatureInvalid(_) => (
            StatusCode::FORBIDDEN,
            "ACCESS_FAILED",
            Some(("INVALID_SIGNATURE", "sig")),
            None,
        ),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND", None, None),
        Error::InvalidInput { target, .. } => (
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            Some(("INVALID_VALUE", *target)),
            None,
        ),
        Error::PayloadTooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_DATA",
            Some(("SIZE_LIMIT_EXCEEDED", "file")),
            None,
        ),
        Error::UnsupportedMedia(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_DATA",
            Some(("UNSUPPORTED_FORMAT", "file")),
            None,
        ),
        Error::MalformedImage(_) => (
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            Some(("INVALID_IMAGE", "file")),
            None,
        ),
        Error::ImageLimit { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_DATA",
            Some(("IMAGE_LIMIT_EXCEEDED", "file")),
            None,
        ),
        Error::BodyIncomplete(_) => (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            Some(("INVALID_VALUE", "body")),
            None,
        ),
        Error::Throttled { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            "REQUEST_LIMITED",
            None,
            Some(*retry_after_secs),
        ),
        Error::Overloaded { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "REQUEST_LIMITED",
            None,
            Some(*retry_after_secs),
        ),
        Error::Unavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            None,
            Some(UNAVAILABLE_RETRY_AFTER_SECS),
        ),
        // Not a 503: retrying soon does not free space, and the client must not be told to.
        Error::StorageFull { .. } => (
            StatusCode::INSUFFICIENT_STORAGE,
            "INSUFFICIENT_STORAGE",
            None,
            None,
        ),
        Error::Catalog(_) | Error::Blobs(_) | Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNEXPECTED_ERROR",
            None,
            None,
        ),
    };
    Classified {
        status,
        code,
        detail,
        retry_after,
    }
}

/// The message a client sees: the error's own text, except for server-side failures.
pub fn public_message(error: &Error, status: StatusCode) -> String {
    if let Error::Unavailable { .. } = error {
        "The service cannot reach its storage right now; retry shortly.".into()
    } else if let Error::StorageFull { .. } = error {
        "The service's storage is full; nothing was stored. Retry once space has been freed.".into()
    } else if status.is_server_error() && !matches!(error, Error::Overloaded { .. }) {
        "An unexpected error occurred; quote the error id when reporting it.".into()
    } else {
        match error {
            Error::Unauthenticated => {
                "The request could not be completed. You do not have access to this resource."
                    .into()
            }
            Error::Forbidden(scope) => format!(
                "The request could not be completed. The API key lacks the {} scope.",
                scope.as_str()
            ),
            other => other.to_string(),
        }
    }
}

/// Logs an error at the level its status deserves.
pub fn log_error(error: &Error, status: StatusCode, id: Uuid) {
    if let Error::Unavailable { .. } = error {
        tracing::warn!(error_id = %id, %error, "storage unavailable");
    } else if status.is_server_error() && !matches!(error, Error::Overloaded { .. }) {
        tracing::error!(error_id = %id, %error, "request failed");
    } else {
        tracing::debug!(error_id = %id, %error, status = status.as_u16(), "request refused");
    }
}

/// The headers every error answer of a given class carries.
pub fn error_headers(response: &mut Response, classified: &Classified) {
    let headers = response.headers_mut();
    if classified.status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"imagestore\", Basic realm=\"imagestore\""),
        );
    }
    if let Some(secs) = classified.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// An error rendered in the native (PingOne) shape.
#[derive(Debug)]
pub struct NativeError(pub Error);

impl From<Error> for NativeError {
    fn from(error: Error) -> Self {
        NativeError(error)
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NativeErrorBody {
    /// Also logged with the request, for support.
    id: Uuid,
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<NativeErrorDetail>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NativeErrorDetail {
    code: &'static str,
    target: &'static str,
    message: String,
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        let classified = classify(&self.0);
        let id = current_request_id();
        log_error(&self.0, classified.status, id);
        let message = public_message(&self.0, classified.status);
        let details = classified
            .detail
            .map(|(code, target)| NativeErrorDetail {
                code,
                target,
                message: message.clone(),
            })
            .into_iter()
            .collect();
        let body = NativeErrorBody {
            id,
            code: classified.code,
            message,
            details,
        };
        let mut response = (classified.status, axum::Json(body)).into_response();
        error_headers(&mut response, &classified);
        response
    }
}
