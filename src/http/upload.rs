//! Turning an HTTP upload into a stream of image bytes plus what the client said about
//! them, for every dialect: a raw body (any `Content-Type`, optional
//! `Content-Disposition: attachment; filename=…`) or `multipart/form-data` whose file part
//! may have any field name. Nothing is buffered whole: the file's bytes stream on to the
//! service, which spools them to disk.
//!
//! The client's `Content-Type` only chooses between raw and multipart; what the bytes are
//! is decided later, from the bytes.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use multer::{Constraints, Multipart, SizeLimit};
use percent_encoding::percent_decode_str;

use crate::domain::sanitize_filename;
use crate::error::{Error, Result};

/// Text fields allowed before the file part, and the size of each.
const MAX_TEXT_FIELDS: usize = 16;
const MAX_TEXT_FIELD_BYTES: u64 = 4096;
/// Room for multipart boundaries and part headers on top of the file limit.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// An upload whose bytes have not been read yet.
pub struct IncomingUpload {
    pub filename: Option<String>,
    /// Text fields that preceded the file part (multipart only).
    pub fields: HashMap<String, String>,
    pub body: BoxStream<'static, Result<Bytes>>,
}

pub fn is_multipart(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
    })
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Refuses a body whose declared length is already over the limit, before reading it.
pub fn check_declared_length(headers: &HeaderMap, max_upload_bytes: u64) -> Result<()> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_upload_bytes.saturating_add(MULTIPART_OVERHEAD) => {
            Err(Error::PayloadTooLarge {
                limit: max_upload_bytes,
            })
        }
        _ => Ok(()),
    }
}

/// Reads the upload's framing: a raw body as is, or a multipart body up to its file part.
pub async fn read_upload(
    headers: &HeaderMap,
    body: Body,
    max_upload_bytes: u64,
) -> Result<IncomingUpload> {
    check_declared_length(headers, max_upload_bytes)?;
    if is_multipart(headers) {
        return read_multipart(headers, body, max_upload_bytes).await;
    }
    let filename = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(filename_from_disposition);
    let body = body
        .into_data_stream()
        .map_err(|e| Error::BodyIncomplete(format!("the request body could not be read: {e}")))
        .boxed();
    Ok(IncomingUpload {
        filename,
        fields: HashMap::new(),
        body,
    })
}

async fn read_multipart(
    headers: &HeaderMap,
    body: Body,
    max_upload_bytes: u64,
) -> Result<IncomingUpload> {
    let boundary = content_type(headers)
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| Error::InvalidInput {
            target: "Content-Type",
            message: "multipart/form-data needs a boundary parameter; let the HTTP client set \
                      the Content-Type header itself"
                .into(),
        })?;
    let constraints = Constraints::new().size_limit(
        SizeLimit::new()
            .whole_stream(max_upload_bytes.saturating_add(MULTIPART_OVERHEAD))
            .per_field(max_upload_bytes),
    );
    let mut multipart = Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut fields = HashMap::new();
    loop {
        let field = multipart.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else {
            return Err(Error::InvalidInput {
                target: "file",
                message: "the multipart body has no file part".into(),
            });
        };
        let name = field.name().unwrap_or_default().to_string();
        let is_file = field.file_name().is_some()
            || name == "file"
            || field.content_type().is_some_and(|m| m.type_() != "text");
        if is_file {
            let filename = field.file_name().and_then(sanitize_filename);
            return Ok(IncomingUpload {
                filename,
                fields,
                body: file_then_end(multipart, field),
            });
        }
        if fields.len() >= MAX_TEXT_FIELDS {
            return Err(Error::InvalidInput {
                target: "file",
                message: format!("more than {MAX_TEXT_FIELDS} form fields before the file part"),
            });
        }
        let value = read_text_field(field).await?;
        if fields.insert(name.clone(), value).is_some() {
            return Err(Error::InvalidInput {
                target: "body",
                message: format!("the form field {name:?} is given twice"),
            });
        }
    }
}

/// The file part's bytes, then a check that the multipart body ends there. A text field
/// after the file (a `subject` the client meant to apply) or a second file would
/// otherwise be dropped without a word; instead the stream ends in an error, which fails
/// the upload before anything is committed (the service commits only after the last
/// chunk).
fn file_then_end(
    multipart: Multipart<'static>,
    file: multer::Field<'static>,
) -> BoxStream<'static, Result<Bytes>> {
    futures_util::stream::try_unfold(
        (multipart, Some(file)),
        |(mut multipart, file)| async move {
            if let Some(mut file) = file
                && let Some(chunk) = file.chunk().await.map_err(multipart_error)?
            {
                return Ok(Some((chunk, (multipart, Some(file)))));
            }
            match multipart.next_field().await.map_err(multipart_error)? {
                None => Ok(None),
                Some(extra) => Err(Error::InvalidInput {
                    target: "body",
                    message: format!(
                        "the multipart body has a part ({:?}) after the file part: send text \
                         fields such as subject before the file, and one file per request",
                        extra.name().unwrap_or_default()
                    ),
                }),
            }
        },
    )
    .boxed()
}

async fn read_text_field(mut field: multer::Field<'static>) -> Result<String> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        value.extend_from_slice(&chunk);
        if value.len() as u64 > MAX_TEXT_FIELD_BYTES {
            return Err(Error::InvalidInput {
                target: "body",
                message: format!("a form field is longer than {MAX_TEXT_FIELD_BYTES} bytes"),
            });
        }
    }
    String::from_utf8(value).map_err(|_| Error::InvalidInput {
        target: "body",
        message: "a form field is not UTF-8 text".into(),
    })
}

fn multipart_error(error: multer::Error) -> Error {
    match error {
        multer::Error::FieldSizeExceeded { limit, .. }
        | multer::Error::StreamSizeExceeded { limit } => Error::PayloadTooLarge { limit },
        multer::Error::StreamReadFailed(cause) => {
            Error::BodyIncomplete(format!("the request body could not be read: {cause}"))
        }
        other => Error::InvalidInput {
            target: "body",
            message: format!("malformed multipart body: {other}"),
        },
    }
}

/// The filename of a `Content-Disposition` value, preferring RFC 5987 `filename*`.
pub fn filename_from_disposition(value: &str) -> Option<String> {
    let mut plain = None;
    for param in value.split(';').skip(1) {
        let Some((key, raw)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let raw = raw.trim();
        if key == "filename*" {
            // charset'language'percent-encoded
            let encoded = raw.splitn(3, '\'').nth(2).unwrap_or(raw);
            let decoded = percent_decode_str(encoded).decode_utf8().ok()?;
            return sanitize_filename(&decoded);
        }
        if key == "filename" {
            plain = sanitize_filename(raw.trim_matches('"'));
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_filenames() {
        let f = filename_from_disposition;
        assert_eq!(
            f("attachment; filename=userimg.jpg").as_deref(),
            Some("userimg.jpg")
        );
        assert_eq!(
            f("attachment; filename=\"a b.png\"").as_deref(),
            Some("a b.png")
        );
        assert_eq!(
            f("attachment; filename*=UTF-8''%C3%A9t%C3%A9.gif").as_deref(),
            Some("été.gif")
        );
        assert_eq!(
            f("attachment; filename=../../x.jpg").as_deref(),
            Some("x.jpg")
        );
        assert_eq!(f("attachment"), None);
    }
}
