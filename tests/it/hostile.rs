//! Bad input: every refusal is a clear 4xx in the PingOne error shape, and nothing is
//! stored.

use serde_json::Value;

use crate::harness::{TestServer, assert_error_shape, corpus, png_claiming};

async fn assert_refused(
    server: &TestServer,
    bytes: Vec<u8>,
    content_type: &str,
    status: u16,
    detail: &str,
) {
    let (got, body) = server.upload(bytes, content_type).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(assert_error_shape(&body), "INVALID_DATA");
    assert_eq!(body["details"][0]["code"], detail, "{body}");
    assert_eq!(body["details"][0]["target"], "file");
}

#[tokio::test]
async fn non_images_are_refused_with_415_whatever_they_claim() {
    let server = TestServer::start().await;
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    assert_refused(&server, svg, "image/svg+xml", 415, "UNSUPPORTED_FORMAT").await;
    let html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>".to_vec();
    assert_refused(&server, html, "image/png", 415, "UNSUPPORTED_FORMAT").await;
    assert_refused(
        &server,
        b"hello".to_vec(),
        "image/jpeg",
        415,
        "UNSUPPORTED_FORMAT",
    )
    .await;
    assert_refused(
        &server,
        b"%PDF-1.7\n".to_vec(),
        "image/gif",
        415,
        "UNSUPPORTED_FORMAT",
    )
    .await;
    assert_refused(&server, Vec::new(), "image/jpeg", 415, "UNSUPPORTED_FORMAT").await;
    assert!(server.blob_keys().await.is_empty(), "something was stored");
}

#[tokio::test]
async fn truncated_and_corrupt_images_are_refused_with_400() {
    let server = TestServer::start().await;
    for name in [
        "photo-1920x1280.jpg",
        "logo.png",
        "animated.gif",
        "wallpaper.webp",
    ] {
        let mut bytes = corpus(name);
        bytes.truncate(bytes.len() / 2);
        assert_refused(
            &server,
            bytes,
            "application/octet-stream",
            400,
            "INVALID_IMAGE",
        )
        .await;
    }
    // A JPEG whose entropy-coded data is garbage.
    let mut bytes = corpus("avatar-400.jpg");
    let len = bytes.len();
    for byte in &mut bytes[len / 3..len - 2] {
        *byte = 0xff;
    }
    let (status, body) = server.upload(bytes, "image/jpeg").await;
    assert!(
        status == 400 || status == 201,
        "garbage scan data: {status} {body}"
    );
    assert!(server.blob_keys().await.len() <= 1);
}

#[tokio::test]
async fn pixel_bombs_are_refused_from_the_header() {
    let server = TestServer::start().await;
    assert_refused(
        &server,
        png_claiming(65535, 65535),
        "image/png",
        422,
        "IMAGE_LIMIT_EXCEEDED",
    )
    .await;
    assert_refused(
        &server,
        png_claiming(12000, 10),
        "image/png",
        422,
        "IMAGE_LIMIT_EXCEEDED",
    )
    .await;
    // 9000 × 9000 is within each side's limit but over the 40 MP area limit.
    assert_refused(
        &server,
        png_claiming(9000, 9000),
        "image/png",
        422,
        "IMAGE_LIMIT_EXCEEDED",
    )
    .await;
    assert!(server.blob_keys().await.is_empty());
}

#[tokio::test]
async fn limits_are_configurable() {
    let server = TestServer::start_with(&["--max-width", "1000", "--max-frames", "2"]).await;
    let (status, body) = server.upload(corpus("logo.png"), "image/png").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().unwrap().contains("1000"), "{body}");
    let (status, body) = server.upload(corpus("animated.gif"), "image/gif").await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn oversized_bodies_get_413_with_or_without_content_length() {
    // Above the 256 KiB kept in memory, so the refused body had reached a temp file.
    let server = TestServer::start_with(&["--max-upload-bytes", "300000"]).await;
    let (status, body) = server
        .upload(corpus("photo-2560x1600.jpg"), "image/jpeg")
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["details"][0]["code"], "SIZE_LIMIT_EXCEEDED");

    // Chunked, so the server only finds out while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = corpus("photo-2560x1600.jpg")
        .chunks(16 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = server
        .client
        .post(server.images_url())
        .bearer_auth(&server.token)
        .header("Content-Type", "image/jpeg")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_error_shape(&body);
    assert!(server.blob_keys().await.is_empty());
    // Nothing is left in the spool either.
    assert_eq!(
        std::fs::read_dir(server.data_dir().join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn malformed_multipart_is_a_clear_400() {
    let server = TestServer::start().await;
    for (content_type, body) in [
        ("multipart/form-data", b"--x\r\n".to_vec()),
        (
            "multipart/form-data; boundary=abc",
            b"garbage without parts".to_vec(),
        ),
        (
            "multipart/form-data; boundary=abc",
            b"--abc\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--abc--\r\n"
                .to_vec(),
        ),
    ] {
        let (status, answer) = server.upload(body, content_type).await;
        assert_eq!(status, 400, "{content_type}: {answer}");
        assert_error_shape(&answer);
    }
}

#[tokio::test]
async fn html_in_a_jpeg_comment_is_not_stored() {
    let mut bytes = corpus("avatar-400.jpg");
    let script = b"<script>alert(document.cookie)</script>";
    let mut segment = vec![0xff, 0xfe];
    segment.extend_from_slice(&((script.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(script);
    bytes.splice(2..2, segment);
    let server = TestServer::start().await;
    let (status, body) = server.upload(bytes, "image/jpeg").await;
    assert_eq!(status, 201, "{body}");
    let (_, served) = server
        .get_bytes(body["targets"]["original"]["href"].as_str().unwrap())
        .await;
    assert!(
        !served.windows(8).any(|w| w == b"<script>"),
        "script survived in the stored bytes"
    );
}
