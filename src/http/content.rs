//! Serving image bytes at their public hrefs,
//! `/images/{envId}/{imageId}_{serveKey}_{target}.{ext}`. The serve key is random and
//! stored with the image, so an href is unguessable even to someone who knows the image
//! id; it needs no credential, as PingOne's upload URLs.
//!
//! Every answer is inert whatever the bytes are: our own `Content-Type` (from the
//! detected format, never the uploader's claim), `nosniff`, a sandboxing CSP. The bytes
//! under an href never change, so they are cached for a year as immutable, with a strong
//! ETag (the content hash), `Last-Modified`, conditional GETs (304) and single byte
//! ranges (206, 416).

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use super::error::{NativeError, NativeErrorBody};
use super::principal::principal_from_request;
use super::transform_query::{self, TransformQuery};
use crate::domain::{Image, Scope};
use crate::error::Error;
use crate::service::RenditionSource;
use crate::storage::blobs::{BlobBody, BlobRead};

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const SANDBOX_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

/// The public href of one of an image's targets:
/// `{public_url}/images/{envId}/{imageId}_{serveKey}_{target}.{ext}`. Written without
/// `format!`, which took about 4% of the CPU of a metadata GET (one href per target).
pub fn target_href(public_url: &str, image: &Image, target: &str, extension: &str) -> String {
    let mut href = String::with_capacity(
        public_url.len() + 80 + image.serve_key.len() + target.len() + extension.len(),
    );
    let mut uuid = Uuid::encode_buffer();
    href.push_str(public_url);
    href.push_str("/images/");
    href.push_str(image.environment_id.hyphenated().encode_lower(&mut uuid));
    href.push('/');
    href.push_str(image.id.hyphenated().encode_lower(&mut uuid));
    href.push('_');
    href.push_str(&image.serve_key);
    href.push('_');
    href.push_str(target);
    href.push('.');
    href.push_str(extension);
    href
}

/// `{imageId}_{serveKey}_{target}.{ext}` split into its parts.
fn parse_file_name(file: &str) -> Option<(Uuid, &str, &str, &str)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let mut parts = stem.splitn(3, '_');
    let id = Uuid::parse_str(parts.next()?).ok()?;
    Some((id, parts.next()?, parts.next()?, ext))
}

/// Serve an image's original bytes or one of its renditions. The original and preset
/// targets need no credential (the href is the capability); transform parameters on the
/// original need a credential of the image's environment or a valid signature.
#[utoipa::path(get, path = "/images/{envId}/{file}", tag = "content",
    params(("envId" = Uuid, Path, description = "Environment id"),
        ("file" = String, Path, description = "`{imageId}_{serveKey}_{target}.{ext}`, as given in a target's href"),
        ("w" = Option<u32>, Query, description = "Box width in pixels"),
        ("h" = Option<u32>, Query, description = "Box height in pixels"),
        ("fit" = Option<String>, Query, description = "inside (default), cover, contain or fill"),
        ("crop" = Option<String>, Query, description = "x,y,width,height of the displayed image, applied before resizing"),
        ("format" = Option<String>, Query, description = "jpg, png, webp, avif, gif or auto (from Accept)"),
        ("q" = Option<u8>, Query, description = "Quality 1-100"),
        ("dpr" = Option<f32>, Query, description = "Device pixel ratio 1-4, multiplies w and h"),
        ("animated" = Option<bool>, Query, description = "Keep animation (default true) or take the first frame"),
        ("upscale" = Option<bool>, Query, description = "Allow output larger than the source (default false)"),
        ("bg" = Option<String>, Query, description = "rrggbb colour behind transparency for formats without alpha"),
        ("exp" = Option<i64>, Query, description = "Signed URLs: expiry, Unix seconds"),
        ("sig" = Option<String>, Query, description = "Signed URLs: signature")),
    responses(
        (status = 200, description = "The image bytes", content_type = "image/*"),
        (status = 206, description = "The requested byte range"),
        (status = 304, description = "Not modified"),
        (status = 400, description = "A bad transform parameter", body = NativeErrorBody),
        (status = 401, description = "Transform parameters with an invalid Authorization header", body = NativeErrorBody),
        (status = 403, description = "Transform parameters without credential or valid signature", body = NativeErrorBody),
        (status = 404, description = "No such image or target", body = NativeErrorBody),
        (status = 416, description = "Range not satisfiable"),
        (status = 422, description = "The rendition is over a limit", body = NativeErrorBody),
        (status = 503, description = "Busy rendering, or storage unreachable; retry after Retry-After", body = NativeErrorBody),
    ))]
pub async fn serve_image(
    State(state): State<AppState>,
    Path((env, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    // The request itself rather than a `HeaderMap` extractor, which clones every header.
    incoming: Request,
) -> Result<Response, NativeError> {
    let headers = incoming.headers();
    let not_found = || NativeError(Error::NotFound("image"));
    let env = Uuid::parse_str(&env).map_err(|_| not_found())?;
    let (id, serve_key, target, ext) = parse_file_name(&file).ok_or_else(not_found)?;
    let image = state.service.published_image(env, id, serve_key).await?;
    let request = transform_query::parse(query.as_deref())?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let variant = if target == "original" {
        if !ext.eq_ignore_ascii_case(image.format.extension()) {
            return Err(not_found());
        }
        if request.transform.is_empty() && request.signature.is_none() {
            return serve_original(&state, &image, headers).await;
        }
        authorize_transform(&state, headers, env, &file, &request).await?;
        state
            .service
            .variant(&image, RenditionSource::Adhoc(&request.transform), accept)
            .await?
    } else {
        if !request.transform.is_empty() || request.signature.is_some() {
            return Err(NativeError(Error::InvalidInput {
                target: "query",
                message: "preset hrefs take no parameters".into(),
            }));
        }
        let preset = state.service.published_preset(env, target).await?;
        let variant = state
            .service
            .variant(&image, RenditionSource::Preset(&preset), accept)
            .await?;
        let expected = if variant.negotiated {
            image.format.extension()
        } else {
            variant.format.extension()
        };
        if !ext.eq_ignore_ascii_case(expected) {
            return Err(not_found());
        }
        variant
    };
    let blob = Blob {
        etag: variant.etag.clone(),
        mime: variant.format.mime_type(),
        size: variant.size,
        vary_accept: variant.negotiated,
    };
    respond(&blob, &image, headers, |range| {
        state.service.open_variant(&variant, range)
    })
    .await
}

/// Answers with an image's stored original bytes (and every header they carry).
pub async fn serve_original(
    state: &AppState,
    image: &Image,
    headers: &HeaderMap,
) -> Result<Response, NativeError> {
    let blob = Blob {
        etag: format!("\"{}\"", image.content_hash),
        mime: image.format.mime_type(),
        size: image.byte_size,
        vary_accept: false,
    };
    // The bytes are opened while this request is being answered, so borrowing the
    // image (rather than cloning its row for a 'static future) is enough.
    respond(&blob, image, headers, |range| {
        state.service.open_original(image, range)
    })
    .await
}

/// Transform parameters on an href: a credential of the image's environment allows any;
/// without one, only a valid signature of the href's path (`/images/{env}/{file}`) does.
async fn authorize_transform(
    state: &AppState,
    headers: &HeaderMap,
    env: Uuid,
    file: &str,
    request: &TransformQuery,
) -> Result<(), Error> {
    match principal_from_request(state, &Method::GET, headers).await {
        Ok(principal) => return principal.require(env, Scope::ImagesRead),
        // No credential at all: the signature decides.
        Err(Error::Unauthenticated) if !headers.contains_key(header::AUTHORIZATION) => {}
        Err(other) => return Err(other),
    }
    state
        .service
        .verify_rendition_signature(
            env,
            &format!("/images/{env}/{file}"),
            &request.transform,
            request.expires,
            request.signature.as_deref(),
        )
        .await
}

/// What is about to be served, for the headers.
struct Blob {
    etag: String,
    mime: &'static str,
    size: u64,
    vary_accept: bool,
}

/// Answers a GET for stored bytes: 304, 416, 206 or 200 with every header originals and
/// variants share.
async fn respond<F, Fut>(
    blob: &Blob,
    image: &Image,
    headers: &HeaderMap,
    open: F,
) -> Result<Response, NativeError>
where
    F: FnOnce(Option<std::ops::Range<u64>>) -> Fut,
    Fut: std::future::Future<Output = Result<BlobRead, Error>>,
{
    let mut response = if not_modified(headers, &blob.etag, image) {
        with_headers(Body::empty(), StatusCode::NOT_MODIFIED)
    } else {
        match requested_range(headers, &blob.etag, blob.size) {
            RangeAnswer::Unsatisfiable => {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                insert(
                    &mut r,
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", blob.size),
                );
                return Ok(r);
            }
            RangeAnswer::Whole => {
                let read = open(None).await?;
                let mut r = with_headers(http_body(read.body), StatusCode::OK);
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(read.total_size));
                r
            }
            RangeAnswer::Part(start, end) => {
                let read = open(Some(start..end + 1)).await?;
                let mut r = with_headers(http_body(read.body), StatusCode::PARTIAL_CONTENT);
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(end + 1 - start));
                insert(
                    &mut r,
                    header::CONTENT_RANGE,
                    &format!("bytes {start}-{end}/{}", read.total_size),
                );
                r
            }
        }
    };
    fixed(&mut response, header::CONTENT_TYPE, blob.mime);
    insert(&mut response, header::ETAG, &blob.etag);
    insert(
        &mut response,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(image.created_at.into()),
    );
    fixed(&mut response, header::CACHE_CONTROL, IMMUTABLE);
    fixed(&mut response, header::ACCEPT_RANGES, "bytes");
    if blob.vary_accept {
        fixed(&mut response, header::VARY, "Accept");
    }
    inert_headers(&mut response);
    Ok(response)
}

/// A response with room for every header this module and the outer layers set (about a
/// dozen): an empty header map grows twice while they are inserted, which took 1.4% of
/// the server's CPU on a warm variant GET.
fn with_headers(body: Body, status: StatusCode) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = HeaderMap::with_capacity(16);
    response
}

/// A blob's bytes as a response body: one buffer when they are in memory, so that hyper
/// knows the body's end and writes it with the headers; a stream otherwise.
fn http_body(body: BlobBody) -> Body {
    match body {
        BlobBody::Whole(bytes) => Body::from(bytes),
        BlobBody::Stream(stream) => Body::from_stream(stream),
    }
}

/// The headers that keep served bytes from ever being run as a page or script.
pub fn inert_headers(response: &mut Response) {
    fixed(response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    fixed(response, header::CONTENT_SECURITY_POLICY, SANDBOX_CSP);
    fixed(
        response,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "cross-origin",
    );
}

/// A header whose value is one of our constants: no copy, no check at run time beyond
/// `from_static`'s (the constants are visible ASCII).
fn fixed(response: &mut Response, name: header::HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn insert(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// `If-None-Match` wins over `If-Modified-Since`, as RFC 9110 says.
fn not_modified(headers: &HeaderMap, etag: &str, image: &Image) -> bool {
    if let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| {
            let created: std::time::SystemTime = image.created_at.into();
            // HTTP dates have whole seconds; compare at that precision.
            created
                .duration_since(since)
                .map_or(true, |d| d.as_secs() == 0)
        })
}

enum RangeAnswer {
    Whole,
    /// Inclusive first and last byte.
    Part(u64, u64),
    Unsatisfiable,
}

/// A single `bytes=` range; several ranges, other units or a stale `If-Range` get the
/// whole body, which RFC 9110 allows.
fn requested_range(headers: &HeaderMap, etag: &str, size: u64) -> RangeAnswer {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeAnswer::Whole;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return RangeAnswer::Whole;
    }
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (true, true) => return RangeAnswer::Whole,
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return RangeAnswer::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            Err(_) => return RangeAnswer::Whole,
        },
        (false, _) => {
            let Ok(start) = first.parse::<u64>() else {
                return RangeAnswer::Whole;
            };
            let end = if last.is_empty() {
                Ok(u64::MAX)
            } else {
                last.parse::<u64>()
            };
            match end {
                Ok(end) if end >= start => (start, end.min(size.saturating_sub(1))),
                _ => return RangeAnswer::Whole,
            }
        }
    };
    if size == 0 || parsed.0 >= size {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Part(parsed.0, parsed.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Option<(u64, u64)> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        match requested_range(&headers, "\"e\"", size) {
            RangeAnswer::Part(a, b) => Some((a, b)),
            RangeAnswer::Whole => None,
            RangeAnswer::Unsatisfiable => Some((u64::MAX, u64::MAX)),
        }
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(range("bytes=100-", 100), Some((u64::MAX, u64::MAX)));
        assert_eq!(range("bytes=0-1,5-6", 100), None);
        assert_eq!(range("items=0-1", 100), None);
        assert_eq!(range("bytes=9-2", 100), None);
    }

    #[test]
    fn file_names() {
        let id = Uuid::new_v4();
        let name = format!("{id}_abc_original.png");
        assert_eq!(parse_file_name(&name), Some((id, "abc", "original", "png")));
        assert_eq!(parse_file_name("nope.png"), None);
    }
}
