//! What every dialect shares about an error, and the native dialect. [`classify`] is the
//! one exhaustive match from [`Error`] to its HTTP meaning: the status, the seconds for
//! `Retry-After`, and PingOne's codes, which makes it also the place the native dialect
//! maps each error. [`public_message`] is the one exhaustive match deciding the text a
//! client may read: server-side failures are logged with the request id and answered
//! with a generic message, so no path, SQL or driver text reaches a client. Neither has a
//! catch-all arm, so a new error case does not compile until it is given an answer. The
//! other dialects map errors in their own modules, each through [`super::dialect`].
//!
//! The request id lives in a task-local set by the request-context middleware
//! ([`crate::logging::REQUEST`]), so every error body can carry the same id as the log
//! lines of its request.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use super::dialect::{Answer, Dialect, DialectError, Message};
use crate::domain::{QuotaMeasure, QuotaScope};
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
        Error::Conflict(_) => (StatusCode::CONFLICT, "REQUEST_FAILED", None, None),
        Error::QuotaExceeded { scope, measure, .. } => (
            StatusCode::FORBIDDEN,
            "QUOTA_EXCEEDED",
            Some(("QUOTA_EXCEEDED", quota_target(*scope, *measure))),
            None,
        ),
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

/// The setting that holds the limit a refusal names (`quota.maxImages`, …).
fn quota_target(scope: QuotaScope, measure: QuotaMeasure) -> &'static str {
    match (scope, measure) {
        (QuotaScope::Environment, QuotaMeasure::Images) => "quota.maxImages",
        (QuotaScope::Environment, QuotaMeasure::Bytes) => "quota.maxBytes",
        (QuotaScope::Subject, QuotaMeasure::Images) => "subjectQuota.maxImages",
        (QuotaScope::Subject, QuotaMeasure::Bytes) => "subjectQuota.maxBytes",
    }
}

/// The message a client sees: the error's own text, except for server-side failures,
/// whose details are only logged.
pub fn public_message(error: &Error) -> String {
    match error {
        Error::Unauthenticated => {
            "The request could not be completed. You do not have access to this resource.".into()
        }
        Error::Forbidden(scope) => format!(
            "The request could not be completed. The API key lacks the {} scope.",
            scope.as_str()
        ),
        Error::SignatureInvalid(_)
        | Error::NotFound(_)
        | Error::Conflict(_)
        | Error::QuotaExceeded { .. }
        | Error::InvalidInput { .. }
        | Error::PayloadTooLarge { .. }
        | Error::UnsupportedMedia(_)
        | Error::MalformedImage(_)
        | Error::ImageLimit { .. }
        | Error::BodyIncomplete(_)
        | Error::Throttled { .. }
        | Error::Overloaded { .. } => error.to_string(),
        Error::Unavailable { .. } => {
            "The service cannot reach its storage right now; retry shortly.".into()
        }
        Error::StorageFull { .. } => {
            "The service's storage is full; nothing was stored. Retry once space has been freed."
                .into()
        }
        Error::Catalog(_) | Error::Blobs(_) | Error::Internal(_) => {
            "An unexpected error occurred; quote the error id when reporting it.".into()
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

/// The native (PingOne) dialect.
#[derive(Debug, Default)]
pub struct Native;

/// An error rendered in the native (PingOne) shape.
pub type NativeError = DialectError<Native>;

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

impl Dialect for Native {
    /// PingOne's code, and its detail code and target when there is one.
    type Fields = (&'static str, Option<(&'static str, &'static str)>);

    fn of_request(_uri: &Uri, _headers: &HeaderMap) -> Native {
        Native
    }

    /// The native answer is [`classify`]'s, which is where it maps each error.
    fn answer(&self, _error: &Error, classified: &Classified) -> Answer<Self::Fields> {
        Answer::new(
            classified.status,
            Message::Public,
            (classified.code, classified.detail),
        )
    }

    fn render(
        &self,
        _status: StatusCode,
        (code, detail): Self::Fields,
        message: String,
        id: Uuid,
    ) -> Response {
        let details = detail
            .map(|(code, target)| NativeErrorDetail {
                code,
                target,
                message: message.clone(),
            })
            .into_iter()
            .collect();
        let body = NativeErrorBody {
            id,
            code,
            message,
            details,
        };
        axum::Json(body).into_response()
    }
}
