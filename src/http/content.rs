//! Serving image bytes at their public hrefs,
//! `/images/{envId}/{imageId}_{serveKey}_{target}.{ext}`. The serve key is random and
//! stored with the image, so an href is unguessable even to someone who knows the image
//! id; it needs no credential, as PingOne's upload URLs.
//!
//! Every answer is inert whatever the bytes are: our own `Content-Type` (from the
//! detected format, never the uploader's claim), `nosniff`, a sandboxing CSP, a strong
//! ETag (the content hash, or the variant's name), conditional GETs (304) and single byte
//! ranges (206, 416).
//!
//! How long an answer may be cached follows from whether its URL's bytes can change. An
//! original's and an ad hoc rendition's cannot (the ETag names the content and the spec),
//! so they are immutable for a year. A preset href's can: editing the preset changes what
//! it renders under the same URL, so it is served `no-cache` (kept, but revalidated on
//! each use) with the variant's name as ETag, which changes with the spec, and without
//! `Last-Modified`, whose whole seconds could not tell an edit from the version before
//! it. A signed URL with an expiry is never cached past it: `max-age` is the seconds left.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::conditional::{RangeAnswer, not_modified, requested_range};
use super::error::{NativeError, NativeErrorBody};
use super::principal::principal_from_request;
use super::state::AppState;
use super::transform_query;
use crate::domain::Image;
use crate::error::Error;
use crate::service::{Caching, HrefCaller, HrefRequest, ServedHref};
use crate::storage::blobs::BlobBody;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For URLs whose bytes may change: caches keep them but ask (with the ETag) before use.
pub const REVALIDATE: &str = "public, no-cache";
/// A year, the longest lifetime an answer gets.
const YEAR_SECS: i64 = 31_536_000;
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
        ("format" = Option<String>, Query, description = "jpg, png, webp, avif, gif or auto (from Accept; WebP rather than AVIF above --max-avif-pixels, where an explicit avif is a 400)"),
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
    let not_found = || NativeError::from(Error::NotFound("image"));
    let environment_id = Uuid::parse_str(&env).map_err(|_| not_found())?;
    let (image_id, serve_key, target, extension) = parse_file_name(&file).ok_or_else(not_found)?;
    let signed_path = format!("/images/{env}/{file}");
    let request = HrefRequest {
        environment_id,
        image_id,
        serve_key,
        target,
        extension,
        signed_path: &signed_path,
        query: transform_query::parse(query.as_deref()),
        accept: headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    };
    let served = state
        .service
        .resolve_href(request, || caller(&state, headers))
        .await?;
    Ok(respond(&state, &served, headers).await?)
}

/// Answers with an image's stored original bytes (and every header they carry); its
/// error is answered in the caller's dialect.
pub async fn serve_original(
    state: &AppState,
    image: &Image,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    respond(state, &ServedHref::original(image.clone()), headers).await
}

/// The caller's credential, for rendition parameters: a request with no credential at all
/// is anonymous (its signature decides); one whose credential fails is refused as such.
async fn caller(state: &AppState, headers: &HeaderMap) -> HrefCaller {
    match principal_from_request(state, &Method::GET, headers).await {
        Ok(principal) => HrefCaller::Principal(principal),
        Err(Error::Unauthenticated) if !headers.contains_key(header::AUTHORIZATION) => {
            HrefCaller::Anonymous
        }
        Err(other) => HrefCaller::Refused(other),
    }
}

/// Sets `Cache-Control` as `caching` says.
fn cache_control(response: &mut Response, caching: Caching) {
    match caching {
        Caching::Immutable => fixed(response, header::CACHE_CONTROL, IMMUTABLE),
        Caching::Revalidate => fixed(response, header::CACHE_CONTROL, REVALIDATE),
        Caching::Until(expires) => {
            let left = expires
                .saturating_sub(chrono::Utc::now().timestamp())
                .clamp(0, YEAR_SECS);
            insert(
                response,
                header::CACHE_CONTROL,
                &format!("public, max-age={left}"),
            );
        }
    }
}

/// Answers a GET for stored bytes: 304, 416, 206 or 200 with every header originals and
/// variants share.
async fn respond(
    state: &AppState,
    blob: &ServedHref,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let open = |range| state.service.open_href(blob, range);
    let mut response = if not_modified(headers, &blob.etag, blob.last_modified) {
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
    if let Some(modified) = blob.last_modified {
        insert(
            &mut response,
            header::LAST_MODIFIED,
            &httpdate::fmt_http_date(modified),
        );
    }
    cache_control(&mut response, blob.caching);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let id = Uuid::new_v4();
        let name = format!("{id}_abc_original.png");
        assert_eq!(parse_file_name(&name), Some((id, "abc", "original", "png")));
        assert_eq!(parse_file_name("nope.png"), None);
    }
}
