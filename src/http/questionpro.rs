//! The QuestionPro dialect: `/a/api/v2/users/{userId}/images?apiKey=…`. The key decides
//! the environment; the image's subject is `user:{userId}`. Answers use QuestionPro's
//! `{"response": {…}}` envelope and its error envelope (`docs`, `name`, `httpStatusCode`,
//! `id`, `message`, `resourceUrl`) with its codes: every input problem is a 400
//! BAD_REQUEST, as QuestionPro's clients expect.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::doc_schemas::{ImageBytes, MultipartImage};
use super::error::{classify, log_error, public_message};
use super::upload::read_upload;
use crate::domain::{Image, Principal, Subject};
use crate::error::Error;
use crate::service::UploadRequest;

/// An error in QuestionPro's envelope; `resource` is the request path (never the query,
/// which carries the key).
pub struct QuestionProError {
    error: Error,
    resource: String,
}

impl QuestionProError {
    pub(super) fn at(uri: &Uri, error: Error) -> QuestionProError {
        QuestionProError {
            error,
            resource: uri.path().to_string(),
        }
    }
}

impl IntoResponse for QuestionProError {
    fn into_response(self) -> Response {
        let classified = classify(&self.error);
        let id = super::error::current_request_id();
        log_error(&self.error, classified.status, id);
        let (status, name, code) = match classified.status.as_u16() {
            401 => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "1010"),
            403 => (StatusCode::FORBIDDEN, "FORBIDDEN", "1013"),
            404 => (StatusCode::NOT_FOUND, "NOT_FOUND", "1040"),
            429 => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "1029"),
            503 => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "1029",
            ),
            507 => (
                StatusCode::INSUFFICIENT_STORAGE,
                "INSUFFICIENT_STORAGE",
                "1026",
            ),
            s if s >= 500 => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "1026",
            ),
            _ => (StatusCode::BAD_REQUEST, "BAD_REQUEST", "1000"),
        };
        let message = match &self.error {
            Error::Unauthenticated => "Incorrect API Key".to_string(),
            Error::NotFound(_) => {
                "The resource that you're trying to access doesn't exist".to_string()
            }
            other => public_message(other, status),
        };
        let body = json!({"response": {"error": {
            "docs": "https://www.questionpro.com/api/error-codes.html",
            "name": name,
            "httpStatusCode": status.as_u16(),
            "id": code,
            "message": message,
            "resourceUrl": self.resource,
        }}});
        let mut response = (status, Json(body)).into_response();
        super::error::error_headers(&mut response, &classified);
        response
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
        image_url: super::content::target_href(
            &state.public_url,
            image,
            "original",
            image.format.extension(),
        ),
        size: human_size(image.byte_size),
    }
}

/// The caller (from `apiKey`, or an Authorization header) and the user's subject.
async fn caller(
    state: &AppState,
    key: &KeyQuery,
    headers: &HeaderMap,
    user: &str,
) -> Result<(Principal, Subject), Error> {
    let principal = match &key.api_key {
        Some(token) => state.service.authenticate(token).await?,
        None => super::principal::principal_from_request(state, &Method::GET, headers).await?,
    };
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
    Ok((principal, Subject::parse(&format!("user:{user}"))?))
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
        (status = 500, description = "INTERNAL_SERVER_ERROR, storage full included"),
        (status = 503, description = "SERVICE_UNAVAILABLE: busy, or storage unreachable; retry after Retry-After")))]
pub async fn upload(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Query(key): Query<KeyQuery>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    let wrap = |error: Error| QuestionProError::at(&uri, error);
    let (principal, subject) = caller(&state, &key, &headers, &user).await.map_err(wrap)?;
    let incoming = read_upload(&headers, body, state.max_upload_bytes)
        .await
        .map_err(wrap)?;
    let request = UploadRequest {
        filename: incoming.filename,
        subject: Some(subject),
        expires_at: None,
    };
    let described = state
        .service
        .upload(&principal, principal.environment_id, request, incoming.body)
        .await
        .map_err(wrap)?;
    Ok(Json(json!({"response": view(&state, &described.image)})))
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
    Query(key): Query<KeyQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    let wrap = |error: Error| QuestionProError::at(&uri, error);
    let (principal, subject) = caller(&state, &key, &headers, &user).await.map_err(wrap)?;
    let mut images = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .service
            .list(
                &principal,
                principal.environment_id,
                Some(&subject),
                after,
                1000,
            )
            .await
            .map_err(wrap)?;
        images.extend(page.items.iter().map(|d| view(&state, &d.image)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Json(json!({"response": {"images": images}})))
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
    Query(key): Query<KeyQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    let wrap = |error: Error| QuestionProError::at(&uri, error);
    let (principal, subject) = caller(&state, &key, &headers, &user).await.map_err(wrap)?;
    let number = image_number(&image).map_err(wrap)?;
    let image = state
        .service
        .subject_image(&principal, principal.environment_id, &subject, number)
        .await
        .map_err(wrap)?;
    Ok(Json(json!({"response": view(&state, &image)})))
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
    Query(key): Query<KeyQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, QuestionProError> {
    let wrap = |error: Error| QuestionProError::at(&uri, error);
    let (principal, subject) = caller(&state, &key, &headers, &user).await.map_err(wrap)?;
    let number = image_number(&image).map_err(wrap)?;
    let env = principal.environment_id;
    let image = state
        .service
        .subject_image(&principal, env, &subject, number)
        .await
        .map_err(wrap)?;
    state
        .service
        .delete(&principal, env, image.id)
        .await
        .map_err(wrap)?;
    Ok(Json(
        json!({"response": {"imageID": number, "deleted": true}}),
    ))
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
