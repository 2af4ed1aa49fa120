//! Direct uploads from a browser: `POST /v1/environments/{envId}/upload-tokens` (a key
//! with `images:write`) makes a token and its upload URL; `POST /v1/uploads?token=…`
//! takes the image with no other credential, raw or multipart, and answers the native
//! image JSON. `DELETE …/upload-tokens/{id}` revokes a token. The token travels in the
//! query, whose `token` parameter the access log redacts.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::Subject;
use crate::error::Error;
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::images::parse_id;
use crate::http::native::json_body;
use crate::http::native::views::{ImageView, iso_millis};
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::http::upload::read_upload;
use crate::service::UploadTokenRequest;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadTokenBody {
    /// The subject every upload with the token is about, such as `user:42`.
    pub subject: Option<String>,
    /// Also make each upload the subject's current image (needs `subject`).
    pub slot: Option<bool>,
    /// Largest upload, in bytes (at most the server's limit).
    pub max_bytes: Option<u64>,
    /// How many uploads the token allows (default 1).
    pub max_uploads: Option<u32>,
    /// Accepted formats by extension (`jpg`, `png`, `gif`, `webp`, `tiff`, `bmp`).
    pub formats: Option<Vec<String>>,
    /// Seconds until the token expires (default 600, at most 86400).
    pub expires_in: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadTokenView {
    pub id: String,
    /// Shown once: the browser sends it in the upload URL.
    pub token: String,
    /// Where the browser POSTs the image (raw or multipart), with no other credential.
    pub upload_url: String,
    pub expires_at: String,
}

#[derive(Deserialize, IntoParams)]
pub struct UploadParams {
    /// The upload token.
    pub token: Option<String>,
}

/// Make an upload token for a browser.
#[utoipa::path(post, path = "/v1/environments/{envId}/upload-tokens", tag = "uploads",
    operation_id = "create_upload_token",
    params(("envId" = Uuid, Path, description = "Environment id")),
    request_body = UploadTokenBody,
    responses(
        (status = 201, description = "The token and its upload URL (shown once)", body = UploadTokenView),
        (status = 400, description = "A malformed body or a bad limit", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:write", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_upload_token(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    body: Result<Json<UploadTokenBody>, JsonRejection>,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    let body = json_body(body)?;
    let request = UploadTokenRequest {
        subject: body.subject.as_deref().map(Subject::parse).transpose()?,
        slot: body.slot.unwrap_or(false),
        max_bytes: body.max_bytes,
        max_uploads: body.max_uploads,
        formats: body.formats,
        expires_in: body.expires_in,
    };
    let created = state
        .service
        .create_upload_token(&principal, env, request)
        .await?;
    let view = UploadTokenView {
        id: created.grant.id.to_string(),
        upload_url: format!("{}/v1/uploads?token={}", state.public_url, created.token),
        token: created.token,
        expires_at: iso_millis(created.grant.expires_at),
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revoke an upload token: it is refused from then on.
#[utoipa::path(delete, path = "/v1/environments/{envId}/upload-tokens/{tokenId}", tag = "uploads",
    operation_id = "revoke_upload_token",
    params(("envId" = Uuid, Path, description = "Environment id"), ("tokenId" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:write", body = NativeErrorBody),
        (status = 404, description = "No such token", body = NativeErrorBody),
        (status = 503, description = "The catalog cannot be reached; retry", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn revoke_upload_token(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "upload token")?;
    state
        .service
        .revoke_upload_token(&principal, env, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload with an upload token (from a browser; no other credential). The token decides
/// the environment and subject; fields the browser sends cannot change them.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads",
    operation_id = "upload_with_token",
    params(UploadParams),
    request_body(description = "The image bytes, raw or as multipart/form-data with one file part",
        content((crate::http::doc_schemas::ImageBytes = "image/*"),
            (crate::http::doc_schemas::ImageBytes = "application/octet-stream"),
            (crate::http::doc_schemas::MultipartImage = "multipart/form-data"))),
    responses(
        (status = 201, description = "Stored", body = ImageView),
        (status = 400, description = "Corrupt image or malformed body", body = NativeErrorBody),
        (status = 401, description = "No usable token: unknown, used up, expired or revoked", body = NativeErrorBody),
        (status = 413, description = "Larger than the token's or the server's limit", body = NativeErrorBody),
        (status = 415, description = "Not a format the token accepts", body = NativeErrorBody),
        (status = 422, description = "Dimensions or frames over a limit", body = NativeErrorBody),
        (status = 503, description = "Busy, or storage unreachable; retry after Retry-After", body = NativeErrorBody),
        (status = 507, description = "Storage is full", body = NativeErrorBody),
    ))]
pub async fn upload_with_token(
    State(state): State<AppState>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, NativeError> {
    let token = params.token.ok_or(Error::Unauthenticated)?;
    // The use is taken before a byte of the body is read.
    // A failure from here on gives the use back before answering; a request that goes
    // away gives it back through the guard (see `TakenUse`).
    let (grant, taken) = state.service.take_upload_token(&token).await?;
    let limit = grant.max_bytes.map_or(state.max_upload_bytes, |max| {
        max.min(state.max_upload_bytes)
    });
    let incoming = match read_upload(&headers, body, limit).await {
        Ok(incoming) => incoming,
        Err(error) => {
            taken.give_back().await;
            return Err(error.into());
        }
    };
    let described = state
        .service
        .upload_with_token(&grant, taken, incoming.filename, incoming.body)
        .await?;
    let view = crate::http::native::views::image_view(&state, &described);
    let mut response = (StatusCode::CREATED, Json(&view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&view.links.self_link.href) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
