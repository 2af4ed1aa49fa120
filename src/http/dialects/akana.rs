//! The Akana dropbox dialect: a temporary upload area. `POST /api/dropbox/pictures`
//! (multipart, the image under any field name) validates the image like any upload and
//! holds it, answering its PictureID as text/plain, or wrapped in an HTML document with
//! `wrapInHTML=true` for iframe uploads. `GET …/{PictureID}` serves it, `PUT …/{PictureID}`
//! sets the crop its renditions will honour, and `POST /v1/environments/{envId}/images`
//! with `{"uploadId": PictureID}` claims it. Unclaimed items expire. Errors are plain
//! text with the native statuses, decided in `Akana`'s [`Dialect::answer`] (see
//! [`crate::http::dialect`]).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Error;
use crate::http::dialect::{Answer, Dialect, DialectError, Message};
use crate::http::doc_schemas::{CropRequest, ImageBytes, MultipartImage};
use crate::http::error::Classified;
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::http::upload::read_upload;
use crate::media::transform::Crop;

/// The Akana dialect: the native statuses, answered as plain text.
#[derive(Debug, Default)]
pub struct Akana;

/// An error as plain text, as Akana answers.
pub type AkanaError = DialectError<Akana>;

impl Dialect for Akana {
    type Fields = ();

    fn of_request(_uri: &Uri, _headers: &HeaderMap) -> Akana {
        Akana
    }

    /// The native status of every error; a refused credential in Akana's words, as its
    /// browser pages log in or send the session's CSRF token.
    fn answer(&self, error: &Error, classified: &Classified) -> Answer<()> {
        let message = match error {
            Error::Unauthenticated => {
                Message::Own("Unauthorized: log in, or send the session's CSRF token")
            }
            Error::Forbidden(_)
            | Error::SignatureInvalid(_)
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
            | Error::Overloaded { .. }
            | Error::Unavailable { .. }
            | Error::StorageFull { .. }
            | Error::Catalog(_)
            | Error::Blobs(_)
            | Error::Internal(_) => Message::Public,
        };
        Answer::new(classified.status, message, ())
    }

    fn render(&self, _status: StatusCode, _fields: (), message: String, id: Uuid) -> Response {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message} (error id {id})"),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
pub struct UploadQuery {
    #[serde(rename = "wrapInHTML")]
    wrap_in_html: Option<String>,
}

fn picture_id(text: &str) -> Result<i64, Error> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(Error::NotFound("picture"))
}

fn text_answer(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// Upload a picture to the dropbox; answers its PictureID.
#[utoipa::path(post, path = "/api/dropbox/pictures", tag = "akana",
    operation_id = "akana_upload",
    params(("wrapInHTML" = Option<bool>, Query, description = "Wrap the answer in an HTML document (iframe uploads)")),
    request_body(description = "The image under any field name, or the raw bytes as the body",
        content((MultipartImage = "multipart/form-data"), (ImageBytes = "image/*"),
            (ImageBytes = "application/octet-stream"))),
    responses((status = 200, description = "The PictureID", content_type = "text/plain", body = i64),
        (status = 400, description = "A malformed body or a corrupt image (plain text)"),
        (status = 401, description = "Not logged in, or a missing CSRF token"),
        (status = 403, description = "The key lacks images:write"),
        (status = 413, description = "Larger than the upload limit"),
        (status = 415, description = "Not an accepted image format"),
        (status = 422, description = "Dimensions or frames over a limit"),
        (status = 503, description = "Busy, or storage unreachable; retry after Retry-After"),
        (status = 507, description = "Storage is full")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    Caller(principal, _): Caller<Akana>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AkanaError> {
    let incoming = read_upload(&headers, body, state.max_upload_bytes).await?;
    let image = state
        .service
        .upload_to_dropbox(
            &principal,
            principal.home()?,
            incoming.filename,
            incoming.body,
        )
        .await?;
    let id = image.number;
    let wrap = query
        .wrap_in_html
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(if wrap {
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\" status=\"200\" statusText=\"success\"><head>\
             <meta content=\"text/html; charset=UTF-8\" http-equiv=\"Content-Type\"></head>\
             <body status=\"200\" statusText=\"success\">{id}</body></html>"
        );
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
    } else {
        text_answer(id.to_string())
    })
}

/// The picture's bytes, while it is in the dropbox.
#[utoipa::path(get, path = "/api/dropbox/pictures/{pictureId}", tag = "akana",
    operation_id = "akana_get",
    params(("pictureId" = i64, Path, description = "The PictureID the upload answered")),
    responses((status = 200, description = "The image", content_type = "image/*"),
        (status = 206, description = "The requested byte range"),
        (status = 304, description = "Not modified"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "The key lacks images:read"),
        (status = 404, description = "No such picture in the dropbox (claimed, expired or never)"),
        (status = 416, description = "Range not satisfiable"),
        (status = 503, description = "Storage unreachable; retry after Retry-After")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(principal, _): Caller<Akana>,
    headers: HeaderMap,
) -> Result<Response, AkanaError> {
    let image = state
        .service
        .dropbox_item(&principal, principal.home()?, picture_id(&id)?)
        .await?;
    let mut response = crate::http::content::serve_original(&state, &image, &headers).await?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// A crop rectangle in the picture's displayed pixels.
#[derive(Deserialize)]
struct CropBody {
    #[serde(alias = "X")]
    x: u32,
    #[serde(alias = "Y")]
    y: u32,
    #[serde(alias = "Width", alias = "w")]
    width: u32,
    #[serde(alias = "Height", alias = "h")]
    height: u32,
}

/// Set the crop the claimed image's renditions will honour.
#[utoipa::path(put, path = "/api/dropbox/pictures/{pictureId}", tag = "akana",
    operation_id = "akana_crop",
    params(("pictureId" = i64, Path, description = "The PictureID the upload answered")),
    request_body(description = "{\"x\", \"y\", \"width\", \"height\"} as JSON, or the same as a form",
        content((CropRequest = "application/json"), (CropRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The PictureID", content_type = "text/plain"),
        (status = 400, description = "Not a crop rectangle, or one outside the picture"),
        (status = 401, description = "Not logged in, or a missing CSRF token"),
        (status = 403, description = "The key lacks images:write"),
        (status = 404, description = "No such picture in the dropbox"),
        (status = 503, description = "Storage unreachable; retry after Retry-After")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn crop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(principal, _): Caller<Akana>,
    body: Body,
) -> Result<Response, AkanaError> {
    let number = picture_id(&id)?;
    let bytes = axum::body::to_bytes(body, 4096)
        .await
        .map_err(|_| Error::InvalidInput {
            target: "crop",
            message: "the crop body is too large".into(),
        })?;
    let parsed: Option<CropBody> = serde_json::from_slice(&bytes)
        .ok()
        .or_else(|| serde_urlencoded::from_bytes(&bytes).ok());
    let crop = parsed.ok_or_else(|| Error::InvalidInput {
        target: "crop",
        message: "send {\"x\", \"y\", \"width\", \"height\"} in pixels, as JSON or a form".into(),
    })?;
    let crop = Crop {
        x: crop.x,
        y: crop.y,
        width: crop.width,
        height: crop.height,
    };
    state
        .service
        .crop_dropbox_item(&principal, principal.home()?, number, crop)
        .await?;
    Ok(text_answer(number.to_string()))
}
