//! The inputs the fuzz targets found (`fuzz/regressions/<target>/`), replayed through the
//! same calls and the same properties on every `cargo test`: a crash found once stays
//! fixed, and the inputs that reached new code under the fuzzer keep covering it here.
//! See fuzz/README.md for how the directories are filled.

use std::path::PathBuf;

use axum::body::Body;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, header};

use imagestore::domain::{is_hidden_character, sanitize_filename};
use imagestore::http::transform_query;
use imagestore::http::upload::{filename_from_disposition, read_upload};
use imagestore::media::{MediaLimits, ingest, sniff};

/// Every input kept for `target`; there must be some, or the replay proves nothing.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|n| n != "README.md"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no inputs in {}", dir.display());
    found
}

#[test]
fn ingest_inputs_never_panic() {
    // The limits of the `ingest` target.
    let limits = MediaLimits {
        max_width: 2048,
        max_height: 2048,
        max_pixels: 1_000_000,
        max_frames: 50,
        max_animation_pixels: 5_000_000,
        ..MediaLimits::default()
    };
    for (path, data) in inputs("ingest") {
        let outcome = std::panic::catch_unwind(|| {
            let _ = sniff::detect_format(&data);
            let _ = ingest(bytes::Bytes::from(data.clone()), &limits);
        });
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn filename_inputs_come_out_clean() {
    for (path, data) in inputs("filename") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        for clean in [sanitize_filename(text), filename_from_disposition(text)]
            .into_iter()
            .flatten()
        {
            let shown = path.display();
            assert!(!clean.is_empty() && clean.len() <= 255, "{shown}");
            assert!(!clean.contains(['/', '\\', '"', '<', '>']), "{shown}");
            assert!(!clean.chars().any(is_hidden_character), "{shown}");
            assert!(!clean.starts_with('.'), "{shown}");
        }
    }
}

#[test]
fn transform_query_inputs_parse_or_are_refused() {
    for (path, data) in inputs("transform_query") {
        if let Ok(query) = std::str::from_utf8(&data) {
            let outcome = std::panic::catch_unwind(|| transform_query::parse(Some(query)));
            assert!(outcome.is_ok(), "{} panicked", path.display());
        }
    }
}

#[tokio::test]
async fn multipart_inputs_are_read_or_refused() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
    );
    for (_path, data) in inputs("multipart") {
        if let Ok(mut upload) = read_upload(&headers, Body::from(data), 1 << 20).await {
            while let Some(chunk) = upload.body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        }
    }
}
