//! The SuperOffice dialect: one current image per person at `/api/v1/Person/{personId}/Image`.
//! PUT (a raw image body or multipart) replaces it and answers the image blob id as a bare
//! int32, JSON by default or XML when `Accept` asks for it; GET serves the current bytes
//! with revalidating cache headers (the slot changes, unlike content hrefs); DELETE clears
//! it. Errors carry SuperOffice's message in JSON or XML.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::doc_schemas::{ImageBytes, MultipartImage};
use super::error::{classify, error_headers, log_error, public_message};
use super::principal::principal_from_request;
use super::upload::read_upload;
use crate::domain::{Principal, Subject};
use crate::error::Error;

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

/// An error in SuperOffice's shape, JSON or XML as the client accepts.
pub struct SuperOfficeError {
    error: Error,
    xml: bool,
}

impl SuperOfficeError {
    /// The error in the form the request's `Accept` asks for.
    pub(super) fn new(error: Error, headers: &HeaderMap) -> SuperOfficeError {
        SuperOfficeError {
            error,
            xml: wants_xml(headers),
        }
    }
}

impl IntoResponse for SuperOfficeError {
    fn into_response(self) -> Response {
        let classified = classify(&self.error);
        let id = super::error::current_request_id();
        log_error(&self.error, classified.status, id);
        // SuperOffice answers every bad input, including a non-image body, with 400.
        let status = match classified.status.as_u16() {
            413 | 415 | 422 => StatusCode::BAD_REQUEST,
            _ => classified.status,
        };
        let message = match &self.error {
            Error::UnsupportedMedia(_)
            | Error::MalformedImage(_)
            | Error::InvalidInput {
                target: "personId", ..
            } => {
                format!("{BAD_REQUEST} {}", public_message(&self.error, status))
            }
            other => public_message(other, status),
        };
        let kind = match status.as_u16() {
            400 => "ArgumentException",
            401 => "UnauthorizedAccessException",
            403 => "SecurityException",
            404 => "NotFoundException",
            503 => "ServiceUnavailableException",
            507 => "IOException",
            _ => "Exception",
        };
        let mut response = if self.xml {
            let body = format!(
                "<Error><Error>{}</Error><ErrorType>{kind}</ErrorType><ErrorId>{id}</ErrorId></Error>",
                quick_xml::escape::escape(message.as_str())
            );
            (
                status,
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                body,
            )
                .into_response()
        } else {
            let body = serde_json::json!({"Error": message, "ErrorType": kind, "ErrorId": id});
            (status, axum::Json(body)).into_response()
        };
        error_headers(&mut response, &classified);
        response
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

async fn caller(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Principal, Subject), Error> {
    let principal = principal_from_request(state, method, headers).await?;
    Ok((principal, person(id)?))
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
    headers: HeaderMap,
    body: Body,
) -> Result<Response, SuperOfficeError> {
    let xml = wants_xml(&headers);
    let wrap = |error: Error| SuperOfficeError { error, xml };
    let (principal, subject) = caller(&state, &Method::PUT, &headers, &id)
        .await
        .map_err(wrap)?;
    let incoming = read_upload(&headers, body, state.max_upload_bytes)
        .await
        .map_err(wrap)?;
    let image = state
        .service
        .replace_slot(
            &principal,
            principal.environment_id,
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
        .map_err(wrap)?;
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
    headers: HeaderMap,
) -> Result<Response, SuperOfficeError> {
    let xml = wants_xml(&headers);
    let wrap = |error: Error| SuperOfficeError { error, xml };
    let (principal, subject) = caller(&state, &Method::GET, &headers, &id)
        .await
        .map_err(wrap)?;
    let image = state
        .service
        .slot_image(&principal, principal.environment_id, &subject)
        .await
        .map_err(wrap)?;
    let mut response = super::content::serve_original(&state, &image, &headers)
        .await
        .map_err(|e| wrap(e.0))?;
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
    headers: HeaderMap,
) -> Result<StatusCode, SuperOfficeError> {
    let xml = wants_xml(&headers);
    let wrap = |error: Error| SuperOfficeError { error, xml };
    let (principal, subject) = caller(&state, &Method::DELETE, &headers, &id)
        .await
        .map_err(wrap)?;
    state
        .service
        .clear_slot(&principal, principal.environment_id, &subject)
        .await
        .map_err(wrap)?;
    Ok(StatusCode::NO_CONTENT)
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
