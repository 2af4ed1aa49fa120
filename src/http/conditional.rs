//! Conditional and partial GETs of stored bytes: whether a cache's copy is still good
//! (`If-None-Match`, `If-Modified-Since`: 304) and which single byte range is asked for
//! (`Range`, `If-Range`: 206 or 416). Pure header logic, shared by originals and variants.

use std::time::SystemTime;

use axum::http::{HeaderMap, header};

/// `If-None-Match` wins over `If-Modified-Since`, as RFC 9110 says.
///
/// Without a modification time (bytes that may change within a second), only the ETag can
/// validate.
pub(super) fn not_modified(
    headers: &HeaderMap,
    etag: &str,
    last_modified: Option<SystemTime>,
) -> bool {
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
        .zip(last_modified)
        .is_some_and(|(since, modified)| {
            // HTTP dates have whole seconds; compare at that precision.
            modified
                .duration_since(since)
                .map_or(true, |d| d.as_secs() == 0)
        })
}

pub(super) enum RangeAnswer {
    Whole,
    /// Inclusive first and last byte.
    Part(u64, u64),
    Unsatisfiable,
}

/// A single `bytes=` range; several ranges, other units or a stale `If-Range` get the
/// whole body, which RFC 9110 allows.
pub(super) fn requested_range(headers: &HeaderMap, etag: &str, size: u64) -> RangeAnswer {
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
    use axum::http::HeaderValue;

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
    fn only_the_etag_validates_bytes_without_a_time() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Tue, 01 Jan 2030 00:00:00 GMT"),
        );
        assert!(not_modified(
            &headers,
            "\"e\"",
            Some(SystemTime::UNIX_EPOCH)
        ));
        assert!(!not_modified(&headers, "\"e\"", None));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"e\""));
        assert!(not_modified(&headers, "\"e\"", None));
    }
}
