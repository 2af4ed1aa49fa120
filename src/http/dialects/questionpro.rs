//! The QuestionPro dialect: `/a/api/v2/users/{userId}/images?apiKey=…`. The key decides
//! the environment; the image's subject is `user:{userId}`. Answers use QuestionPro's
//! `{"response": {…}}` envelope and its error envelope (`docs`, `name`, `httpStatusCode`,
//! `id`, `message`, `resourceUrl`) with its codes: every input problem is a 400
//! BAD_REQUEST, as QuestionPro's clients expect. Which status and code each error gets is
//! decided in one place, `QuestionPro`'s [`Dialect::answer`] (see [`crate::http::dialect`]).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Image, Subject};
use crate::error::Error;
use crate::http::dialect::{Answer, Dialect, DialectError, Message, in_dialect};
use crate::http::doc_schemas::{ImageBytes, MultipartImage};
use crate::http::error::Classified;
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::http::upload::read_upload;
use crate::service::UploadRequest;

/// The QuestionPro dialect; `resource` is the request path its error envelope echoes
/// (never the query, which carries the key).
#[derive(Debug)]
pub struct QuestionPro {
    resource: String,
}

/// An error in QuestionPro's envelope.
pub type QuestionProError = DialectError<QuestionPro>;

impl Dialect for QuestionPro {
    /// The envelope's `name` and `id`.
    type Fields = (&'static str, &'static str);

    fn of_request(uri: &Uri, _headers: &HeaderMap) -> QuestionPro {
        QuestionPro {
            resource: uri.path().to_string(),
        }
    }

    /// QuestionPro's statuses and codes; every input problem is its 400 BAD_REQUEST,
    /// whatever the native answer's status.
    fn answer(&self, error: &Error, _classified: &Classified) -> Answer<Self::Fields> {
        let (status, message, name, code) = match error {
            Error::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                Message::Own("Incorrect API Key"),
                "UNAUTHORIZED",
                "1010",
            ),
            Error::Forbidden(_) | Error::SignatureInvalid(_) | Error::QuotaExceeded { .. } => {
                (StatusCode::FORBIDDEN, Message::Public, "FORBIDDEN", "1013")
            }
            Error::NotFound(_) => (
                StatusCode::NOT_FOUND,
                Message::Own("The resource that you're trying to access doesn't exist"),
                "NOT_FOUND",
                "1040",
            ),
            Error::Conflict(_)
            | Error::InvalidInput { .. }
            | Error::PayloadTooLarge { .. }
            | Error::UnsupportedMedia(_)
            | Error::MalformedImage(_)
            | Error::ImageLimit { .. }
            | Error::BodyIncomplete(_) => (
                StatusCode::BAD_REQUEST,
                Message::Public,
                "BAD_REQUEST",
                "1000",
            ),
            Error::Throttled { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                Message::Public,
                "TOO_MANY_REQUESTS",
                "1029",
            ),
            Error::Overloaded { .. } | Error::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Message::Public,
                "SERVICE_UNAVAILABLE",
                "1029",
            ),
            Error::StorageFull { .. } => (
                StatusCode::INSUFFICIENT_STORAGE,
                Message::Public,
                "INSUFFICIENT_STORAGE",
                "1026",
            ),
            Error::Catalog(_) | Error::Blobs(_) | Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Message::Public,
                "INTERNAL_SERVER_ERROR",
                "1026",
            ),
        };
        Answer::new(status, message, (name, code))
    }

    fn render(
        &self,
        status: StatusCode,
        (name, code): Self::Fields,
        message: String,
        _id: Uuid,
    ) -> Response {
        let body = json!({"response": {"error": {
            "docs": "https://www.questionpro.com/api/error-codes.html",
            "name": name,
            "httpStatusCode": status.as_u16(),
            "id": code,
            "message": message,
            "resourceUrl": self.resource,
        }}});
        Json(body).into_response()
    }

    /// The `apiKey` query parameter, which QuestionPro's clients send; without it, the
    /// Authorization header or a session.
    fn query_credential(uri: &Uri) -> Result<Option<String>, QueryRejection> {
        Query::<KeyQuery>::try_from_uri(uri).map(|Query(key)| key.api_key)
    }
}

#[derive(Deserialize)]
pub struct KeyQuery {
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
}

/// `{"imageID", "imageURL", "size"}`, exactly the seed's schema.
#[derive(Serialize, ToSchema)]
pub struct QuestionProImage {
    #[serde(rename = "imageID")]
    image_id: i64,
    #[serde(rename = "imageURL")]
    image_url: String,
    size: String,
}

/// Sizes as QuestionPro writes them: "1.5 Mb", "11.2 Kb", "900 bytes".
pub fn human_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KB * KB {
        format!("{:.1} Mb", b / (KB * KB))
    } else if b >= KB {
        format!("{:.1} Kb", b / KB)
    } else {
        format!("{bytes} bytes")
    }
}

fn view(state: &AppState, image: &Image) -> QuestionProImage {
    QuestionProImage {
        image_id: image.number,
        image_url: crate::http::content::target_href(
            &state.public_url,
            image,
            "original",
            image.format.extension(),
        ),
        size: human_size(image.byte_size),
    }
}

/// The user's subject; checked after the caller, so a bad key is a 401 whatever the path.
fn subject(user: &str) -> Result<Subject, Error> {
    let valid_user = !user.is_empty()
        && user.len() <= 18
        && user.bytes().all(|b| b.is_ascii_digit())
        && user != "0";
    if !valid_user {
        return Err(Error::InvalidInput {
            target: "userId",
            message: "Invalid URL parameters: the user id must be a positive integer".into(),
        });
    }
    Subject::parse(&format!("user:{user}"))
}

fn image_number(text: &str) -> Result<i64, Error> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(Error::NotFound("image"))
}

/// Upload a user's image (multipart, file in `file`).
#[utoipa::path(post, path = "/a/api/v2/users/{userId}/images", tag = "questionpro",
    operation_id = "questionpro_upload",
    params(("userId" = u64, Path, description = "The user; a positive integer"),
        ("apiKey" = Option<String>, Query, description = "The API key; without it, the Authorization header")),
    request_body(description = "The image in the `file` part, or the raw bytes as the body",
        content((MultipartImage = "multipart/form-data"), (ImageBytes = "image/*"),
            (ImageBytes = "application/octet-stream"))),
    responses((status = 200, body = QuestionProImage, description = "In {\"response\": …}"),
        (status = 400, description = "BAD_REQUEST: a bad user id, a malformed body, or an image refused (format, size, limits)"),
        (status = 401, description = "UNAUTHORIZED: no valid API key"),
        (status = 403, description = "FORBIDDEN: the key lacks images:write"),
        (status = 500, description = "INTERNAL_SERVER_ERROR: an unexpected failure, with an error id"),
        (status = 503, description = "SERVICE_UNAVAILABLE: busy, or storage unreachable; retry after Retry-After"),
        (status = 507, description = "INSUFFICIENT_STORAGE: storage is full; nothing was stored")))]
pub async fn upload(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Caller(principal, dialect): Caller<QuestionPro>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    in_dialect(dialect, async {
        let subject = subject(&user)?;
        let incoming = read_upload(&headers, body, state.max_upload_bytes).await?;
        let request = UploadRequest {
            filename: incoming.filename,
            subject: Some(subject),
            expires_at: None,
            ..Default::default()
        };
        let described = state
            .service
            .upload(&principal, principal.home()?, request, incoming.body)
            .await?;
        Ok(Json(json!({"response": view(&state, &described.image)})))
    })
    .await
}

/// List a user's images.
#[utoipa::path(get, path = "/a/api/v2/users/{userId}/images", tag = "questionpro",
    operation_id = "questionpro_list",
    params(("userId" = u64, Path, description = "The user; a positive integer"),
        ("apiKey" = Option<String>, Query, description = "The API key; without it, the Authorization header")),
    responses((status = 200, description = "{\"response\": {\"images\": […]}}"),
        (status = 400, description = "BAD_REQUEST: a bad user id"),
        (status = 401, description = "UNAUTHORIZED: no valid API key"),
        (status = 403, description = "FORBIDDEN: the key lacks images:read"),
        (status = 503, description = "SERVICE_UNAVAILABLE: storage unreachable; retry after Retry-After")))]
pub async fn list(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Caller(principal, dialect): Caller<QuestionPro>,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    in_dialect(dialect, async {
        let subject = subject(&user)?;
        let mut images = Vec::new();
        let mut after = None;
        loop {
            let page = state
                .service
                .list(&principal, principal.home()?, Some(&subject), after, 1000)
                .await?;
            images.extend(page.items.iter().map(|d| view(&state, &d.image)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(Json(json!({"response": {"images": images}})))
    })
    .await
}

/// Read one of a user's images.
#[utoipa::path(get, path = "/a/api/v2/users/{userId}/images/{imageId}", tag = "questionpro",
    operation_id = "questionpro_get",
    params(("userId" = u64, Path, description = "The user; a positive integer"),
        ("apiKey" = Option<String>, Query, description = "The API key; without it, the Authorization header"),
        ("imageId" = i64, Path, description = "The image's imageID")),
    responses((status = 200, body = QuestionProImage, description = "In {\"response\": …}"),
        (status = 400, description = "BAD_REQUEST: a bad user id"),
        (status = 401, description = "UNAUTHORIZED: no valid API key"),
        (status = 403, description = "FORBIDDEN: the key lacks images:read"),
        (status = 404, description = "NOT_FOUND: no such image of this user"),
        (status = 503, description = "SERVICE_UNAVAILABLE: storage unreachable; retry after Retry-After")))]
pub async fn get(
    State(state): State<AppState>,
    Path((user, image)): Path<(String, String)>,
    Caller(principal, dialect): Caller<QuestionPro>,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    in_dialect(dialect, async {
        let subject = subject(&user)?;
        let number = image_number(&image)?;
        let image = state
            .service
            .subject_image(&principal, principal.home()?, &subject, number)
            .await?;
        Ok(Json(json!({"response": view(&state, &image)})))
    })
    .await
}

/// Delete one of a user's images.
#[utoipa::path(delete, path = "/a/api/v2/users/{userId}/images/{imageId}", tag = "questionpro",
    operation_id = "questionpro_delete",
    params(("userId" = u64, Path, description = "The user; a positive integer"),
        ("apiKey" = Option<String>, Query, description = "The API key; without it, the Authorization header"),
        ("imageId" = i64, Path, description = "The image's imageID")),
    responses((status = 200, description = "{\"response\": {\"imageID\": …, \"deleted\": true}}"),
        (status = 400, description = "BAD_REQUEST: a bad user id"),
        (status = 401, description = "UNAUTHORIZED: no valid API key"),
        (status = 403, description = "FORBIDDEN: the key lacks images:read or images:write"),
        (status = 404, description = "NOT_FOUND: no such image of this user"),
        (status = 503, description = "SERVICE_UNAVAILABLE: storage unreachable; retry after Retry-After")))]
pub async fn delete(
    State(state): State<AppState>,
    Path((user, image)): Path<(String, String)>,
    Caller(principal, dialect): Caller<QuestionPro>,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    in_dialect(dialect, async {
        let subject = subject(&user)?;
        let number = image_number(&image)?;
        let env = principal.home()?;
        let image = state
            .service
            .subject_image(&principal, env, &subject, number)
            .await?;
        state.service.delete(&principal, env, image.id).await?;
        Ok(Json(
            json!({"response": {"imageID": number, "deleted": true}}),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_questionpros() {
        assert_eq!(super::human_size(1_572_864), "1.5 Mb");
        assert_eq!(super::human_size(11_191), "10.9 Kb");
        assert_eq!(super::human_size(900), "900 bytes");
    }
}
