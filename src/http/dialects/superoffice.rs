//! The SuperOffice dialect: one current image per person at `/api/v1/Person/{personId}/Image`.
//! PUT (a raw image body or multipart) replaces it and answers the image blob id as a bare
//! int32, JSON by default or XML when `Accept` asks for it; GET serves the current bytes
//! with revalidating cache headers (the slot changes, unlike content hrefs); DELETE clears
//! it. Errors carry SuperOffice's message in JSON or XML; which status, message and
//! exception name each error gets is decided in one place, `SuperOffice`'s
//! [`Dialect::answer`] (see [`crate::http::dialect`]).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::domain::Subject;
use crate::error::Error;
use crate::http::dialect::{Answer, Dialect, DialectError, Message, in_dialect};
use crate::http::doc_schemas::{ImageBytes, MultipartImage};
use crate::http::error::Classified;
use crate::http::principal::Caller;
use crate::http::state::AppState;
use crate::http::upload::read_upload;

const BAD_REQUEST: &str = "Image bitmap is missing from body or person id is not valid.";

fn wants_xml(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let first = accept
        .split(',')
        .map(|part| part.split(';').next().unwrap_or_default().trim());
    first
        .take_while(|m| !m.contains("json"))
        .any(|m| m == "application/xml" || m == "text/xml")
}

/// The SuperOffice dialect, JSON or XML as the request's `Accept` asks.
#[derive(Debug)]
pub struct SuperOffice {
    xml: bool,
}

/// An error in SuperOffice's shape.
pub type SuperOfficeError = DialectError<SuperOffice>;

impl Dialect for SuperOffice {
    /// The .NET exception name of `ErrorType`.
    type Fields = &'static str;

    fn of_request(_uri: &Uri, headers: &HeaderMap) -> SuperOffice {
        SuperOffice {
            xml: wants_xml(headers),
        }
    }

    /// SuperOffice answers every bad input, a non-image body included, with 400; an
    /// image it cannot take, or a bad person id, with its own words first.
    fn answer(&self, error: &Error, _classified: &Classified) -> Answer<Self::Fields> {
        let (status, message, kind) = match error {
            Error::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                Message::Public,
                "UnauthorizedAccessException",
            ),
            Error::Forbidden(_) | Error::SignatureInvalid(_) => {
                (StatusCode::FORBIDDEN, Message::Public, "SecurityException")
            }
            Error::QuotaExceeded { .. } => (
                StatusCode::FORBIDDEN,
                Message::Public,
                "QuotaExceededException",
            ),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, Message::Public, "NotFoundException"),
            Error::Conflict(_) => (
                StatusCode::CONFLICT,
                Message::Public,
                "InvalidOperationException",
            ),
            Error::InvalidInput {
                target: "personId", ..
            }
            | Error::UnsupportedMedia(_)
            | Error::MalformedImage(_) => (
                StatusCode::BAD_REQUEST,
                Message::Before(BAD_REQUEST),
                "ArgumentException",
            ),
            Error::InvalidInput { .. }
            | Error::PayloadTooLarge { .. }
            | Error::ImageLimit { .. }
            | Error::BodyIncomplete(_) => (
                StatusCode::BAD_REQUEST,
                Message::Public,
                "ArgumentException",
            ),
            Error::Throttled { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, Message::Public, "Exception")
            }
            Error::Overloaded { .. } | Error::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Message::Public,
                "ServiceUnavailableException",
            ),
            Error::StorageFull { .. } => (
                StatusCode::INSUFFICIENT_STORAGE,
                Message::Public,
                "IOException",
            ),
            Error::Catalog(_) | Error::Blobs(_) | Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Message::Public,
                "Exception",
            ),
        };
        Answer::new(status, message, kind)
    }

    fn render(
        &self,
        _status: StatusCode,
        kind: &'static str,
        message: String,
        id: Uuid,
    ) -> Response {
        if self.xml {
            let body = format!(
                "<Error><Error>{}</Error><ErrorType>{kind}</ErrorType><ErrorId>{id}</ErrorId></Error>",
                quick_xml::escape::escape(message.as_str())
            );
            (
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                body,
            )
                .into_response()
        } else {
            let body = serde_json::json!({"Error": message, "ErrorType": kind, "ErrorId": id});
            axum::Json(body).into_response()
        }
    }
}

/// The person's subject; an id that is not a positive int32 is SuperOffice's 400.
fn person(text: &str) -> Result<Subject, Error> {
    match text.parse::<i32>() {
        Ok(id) if id > 0 => Subject::parse(&format!("person:{id}")),
        _ => Err(Error::InvalidInput {
            target: "personId",
            message: BAD_REQUEST.into(),
        }),
    }
}

/// Save an image to a person; answers the image blob id.
#[utoipa::path(put, path = "/api/v1/Person/{personId}/Image", tag = "superoffice",
    operation_id = "superoffice_put_image",
    params(("personId" = i32, Path, description = "The person; a positive int32")),
    request_body(description = "Image bitmap (PNG, GIF, JPEG or TIFF), or multipart/form-data",
        content((ImageBytes = "image/*"), (ImageBytes = "application/octet-stream"),
            (MultipartImage = "multipart/form-data"))),
    responses((status = 200, description = "The image blob id (int32), JSON or XML", body = i32),
        (status = 400, description = "Image bitmap is missing from body or person id is not valid \
            (an image refused for its format, size or limits included)."),
        (status = 401, description = "UnauthorizedAccessException: no valid credential"),
        (status = 403, description = "SecurityException: the key lacks images:write"),
        (status = 503, description = "ServiceUnavailableException: busy, or storage unreachable; retry after Retry-After"),
        (status = 507, description = "Storage is full")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(principal, dialect): Caller<SuperOffice>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, SuperOfficeError> {
    let xml = dialect.xml;
    let image = in_dialect(dialect, async {
        let subject = person(&id)?;
        let incoming = read_upload(&headers, body, state.max_upload_bytes).await?;
        state
            .service
            .replace_slot(
                &principal,
                principal.home()?,
                subject,
                incoming.filename,
                incoming.body,
            )
            .await
            .map_err(|error| match error {
                Error::UnsupportedMedia(m) if m.contains("empty") => Error::InvalidInput {
                    target: "body",
                    message: BAD_REQUEST.into(),
                },
                other => other,
            })
    })
    .await?;
    let blob_id = image.number.to_string();
    Ok(if xml {
        let body = format!(
            "<int xmlns=\"http://schemas.microsoft.com/2003/10/Serialization/\">{blob_id}</int>"
        );
        (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            body,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            blob_id,
        )
            .into_response()
    })
}

/// The person's current image bytes.
#[utoipa::path(get, path = "/api/v1/Person/{personId}/Image", tag = "superoffice",
    operation_id = "superoffice_get_image",
    params(("personId" = i32, Path, description = "The person; a positive int32")),
    responses((status = 200, description = "The image bytes", content_type = "image/*"),
        (status = 206, description = "The requested byte range"),
        (status = 304, description = "Not modified"),
        (status = 400, description = "ArgumentException: the person id is not valid"),
        (status = 401, description = "UnauthorizedAccessException: no valid credential"),
        (status = 403, description = "SecurityException: the key lacks images:read"),
        (status = 404, description = "NotFoundException: the person has no image"),
        (status = 416, description = "Range not satisfiable"),
        (status = 503, description = "ServiceUnavailableException: storage unreachable; retry after Retry-After")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(principal, dialect): Caller<SuperOffice>,
    headers: HeaderMap,
) -> Result<Response, SuperOfficeError> {
    let mut response = in_dialect(dialect, async {
        let subject = person(&id)?;
        let image = state
            .service
            .slot_image(&principal, principal.home()?, &subject)
            .await?;
        crate::http::content::serve_original(&state, &image, &headers).await
    })
    .await?;
    // The slot shows whatever is current: caches must ask again every time.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// Clear the person's image.
#[utoipa::path(delete, path = "/api/v1/Person/{personId}/Image", tag = "superoffice",
    operation_id = "superoffice_delete_image",
    params(("personId" = i32, Path, description = "The person; a positive int32")),
    responses((status = 204, description = "Cleared"),
        (status = 400, description = "ArgumentException: the person id is not valid"),
        (status = 401, description = "UnauthorizedAccessException: no valid credential"),
        (status = 403, description = "SecurityException: the key lacks images:read or images:write"),
        (status = 404, description = "NotFoundException: the person has no image"),
        (status = 503, description = "ServiceUnavailableException: storage unreachable; retry after Retry-After")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn delete_image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(principal, dialect): Caller<SuperOffice>,
) -> Result<StatusCode, SuperOfficeError> {
    in_dialect(dialect, async {
        let subject = person(&id)?;
        state
            .service
            .clear_slot(&principal, principal.home()?, &subject)
            .await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_chooses_xml_only_when_asked() {
        let with = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            wants_xml(&headers)
        };
        assert!(with("application/xml"));
        assert!(with("text/xml, application/json"));
        assert!(!with("application/json; charset=utf-8"));
        assert!(!with("application/json, application/xml"));
        assert!(!wants_xml(&HeaderMap::new()));
        assert!(person("0").is_err() && person("-4").is_err() && person("2147483648").is_err());
        assert_eq!(person("7").unwrap().as_str(), "person:7");
    }
}
