//! The native API under `/v1`, shaped like PingOne's images API: upload (raw body or
//! multipart), read, list with keyset pagination, delete. Each handler parses, calls one
//! service method and renders the PingOne JSON shape; errors use the PingOne error shape.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::domain::Subject;
use crate::error::Error;
use crate::http::doc_schemas::{ImageBytes, MultipartNativeImage, NativeJsonCreate};
use crate::http::error::{NativeError, NativeErrorBody};
use crate::http::native::views::{
    EmbeddedImages, ImageList, ImageView, Link, ListLinks, image_view,
};
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::http::upload::read_upload;
use crate::service::{AnyImage, UploadRequest};

/// Query parameters of an upload.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// What the image is about, such as `user:42` (also accepted as a form field).
    pub subject: Option<String>,
}

/// Query parameters of a listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<String>,
    /// The cursor from the previous page's `next` link.
    pub after: Option<String>,
    /// Only images of this subject, such as `user:42`.
    pub subject: Option<String>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// An id in a path that is not a UUID names nothing that exists.
pub(super) fn parse_id(text: &str, what: &'static str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|_| Error::NotFound(what))
}

/// Upload an image (the raw bytes as the body, or multipart with one file part), or with a
/// JSON body claim a dropbox upload (`{"uploadId", "subject"?, "slot"?}`) or register
/// external targets (`{"targets": [{"id", "width", "height", "type", "href"}]}`).
#[utoipa::path(post, path = "/v1/environments/{envId}/images", tag = "images",
    params(("envId" = Uuid, Path, description = "Environment id"), UploadParams),
    request_body(description = "The image bytes (JPEG, PNG, GIF, WebP, TIFF or BMP), raw or as multipart/form-data with one file part; \
        or JSON that claims a dropbox upload or registers external targets",
        content((ImageBytes = "image/*"), (ImageBytes = "application/octet-stream"),
            (MultipartNativeImage = "multipart/form-data"), (NativeJsonCreate = "application/json"))),
    responses(
        (status = 201, description = "Stored", body = ImageView, headers(("Location" = String, description = "The image's URL"))),
        (status = 400, description = "Corrupt image, malformed body or bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:write", body = NativeErrorBody),
        (status = 404, description = "No such environment, or no such dropbox upload to claim", body = NativeErrorBody),
        (status = 413, description = "Larger than the upload limit", body = NativeErrorBody),
        (status = 415, description = "Not an accepted image format", body = NativeErrorBody),
        (status = 422, description = "Dimensions or frames over a limit", body = NativeErrorBody),
        (status = 503, description = "Busy, or storage unreachable; retry after Retry-After", body = NativeErrorBody),
        (status = 507, description = "Storage is full", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn upload_image(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    // Check access before reading a byte of the body.
    state.service.may_upload(&principal, env)?;
    let view = if is_json(&headers) {
        crate::http::native::json_create::create_from_json(&state, &principal, env, body).await?
    } else {
        let incoming = read_upload(&headers, body, state.max_upload_bytes).await?;
        let subject_text = params
            .subject
            .or_else(|| incoming.fields.get("subject").cloned());
        let subject = subject_text.as_deref().map(Subject::parse).transpose()?;
        let request = UploadRequest {
            filename: incoming.filename,
            subject,
            expires_at: None,
            ..Default::default()
        };
        let described = state
            .service
            .upload(&principal, env, request, incoming.body)
            .await?;
        image_view(&state, &described)
    };
    let mut response = (StatusCode::CREATED, Json(&view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&view.links.self_link.href) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// List an environment's images, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/environments/{envId}/images", tag = "images",
    params(("envId" = Uuid, Path, description = "Environment id"), ListParams),
    responses(
        (status = 200, description = "A page of images", body = ImageList),
        (status = 400, description = "Bad parameter", body = NativeErrorBody),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such environment", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list_images(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path(env): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<ImageList>, NativeError> {
    let env = parse_id(&env, "environment")?;
    let invalid = |target: &'static str, message: &str| Error::InvalidInput {
        target,
        message: message.into(),
    };
    let limit = match params.limit.as_deref() {
        None => 100,
        Some(text) => text
            .parse()
            .map_err(|_| invalid("limit", "limit must be a whole number from 1 to 1000"))?,
    };
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| invalid("after", "after must be the cursor of a next link"))?,
        ),
    };
    let subject = params.subject.as_deref().map(Subject::parse).transpose()?;
    let page = state
        .service
        .list(&principal, env, subject.as_ref(), after, limit)
        .await?;
    let base = format!(
        "{}/v1/environments/{env}/images?limit={limit}",
        state.public_url
    );
    let with_subject = |url: String| match &subject {
        Some(s) => format!("{url}&subject={}", s.as_str()),
        None => url,
    };
    let self_href = with_subject(match after {
        Some(after) => format!("{base}&after={after}"),
        None => base.clone(),
    });
    let next = page.next.map(|cursor| Link {
        href: with_subject(format!("{base}&after={cursor}")),
    });
    let images: Vec<ImageView> = page
        .items
        .iter()
        .map(|image| image_view(&state, image))
        .collect();
    Ok(Json(ImageList {
        links: ListLinks {
            self_link: Link { href: self_href },
            next,
        },
        count: images.len(),
        embedded: EmbeddedImages { images },
    }))
}

/// Read an image's description and targets.
#[utoipa::path(get, path = "/v1/environments/{envId}/images/{imageId}", tag = "images",
    params(("envId" = Uuid, Path, description = "Environment id"), ("imageId" = Uuid, Path, description = "Image id")),
    responses(
        (status = 200, description = "The image", body = ImageView),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:read", body = NativeErrorBody),
        (status = 404, description = "No such image", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_image(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "image")?;
    let answer = state
        .service
        .image_answer(&principal, env, id, |image| {
            let view = match image {
                AnyImage::Stored(described) => image_view(&state, &described),
                AnyImage::External(external) => {
                    crate::http::native::json_create::external_view(&state, &external)
                }
            };
            // A view has only string keys, so serializing it cannot fail.
            serde_json::to_vec(&view)
                .map(Bytes::from)
                .map_err(|e| Error::Internal(format!("an image view did not serialize: {e}")))
        })
        .await?;
    Ok(json_response(answer))
}

/// Serialized JSON as axum's `Json` answers it.
fn json_response(json: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// Delete an image and its bytes.
#[utoipa::path(delete, path = "/v1/environments/{envId}/images/{imageId}", tag = "images",
    params(("envId" = Uuid, Path, description = "Environment id"), ("imageId" = Uuid, Path, description = "Image id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = NativeErrorBody),
        (status = 403, description = "The key lacks images:write", body = NativeErrorBody),
        (status = 404, description = "No such image", body = NativeErrorBody),
        (status = 503, description = "Storage unreachable; retry after Retry-After", body = NativeErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_image(
    State(state): State<AppState>,
    Caller(principal, _): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let env = parse_id(&env, "environment")?;
    let id = parse_id(&id, "image")?;
    state.service.delete(&principal, env, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
