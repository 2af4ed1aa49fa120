//! Operations: health, readiness, metrics, the OpenAPI document, request ids.

use serde_json::Value;

use crate::harness::{TestServer, assert_error_shape};

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    if !server.storage.local_blobs() {
        // The scale-out engines are taken away in `scaleout`, through a cut proxy.
        return;
    }
    // Take the blob store away: readiness must say so.
    let blob_dir = server.data_dir().join("blobs");
    std::fs::remove_dir_all(&blob_dir).unwrap();
    std::fs::write(&blob_dir, b"not a directory").unwrap();
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn metrics_count_requests_uploads_and_rejections() {
    let server = TestServer::start().await;
    server.upload_ok("avatar.gif").await;
    let (status, _) = server.upload(b"not an image".to_vec(), "image/png").await;
    assert_eq!(status, 415);
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "imagestore_http_requests_total",
        "imagestore_http_request_duration_seconds_bucket",
        "imagestore_uploads_total",
        "imagestore_upload_bytes_total",
        "imagestore_upload_rejections_total{reason=\"unsupported_media\"}",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let server = TestServer::start().await;
    let doc: Value = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/environments/{envId}/images", &["post", "get"][..]),
        (
            "/v1/environments/{envId}/images/{imageId}",
            &["get", "delete"][..],
        ),
        ("/images/{envId}/{file}", &["get"][..]),
        ("/healthz", &["get"][..]),
        ("/readyz", &["get"][..]),
        ("/metrics", &["get"][..]),
        ("/openapi.json", &["get"][..]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} missing"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn error_ids_are_the_request_id() {
    let server = TestServer::start().await;
    let response = server.client.get(server.images_url()).send().await.unwrap();
    let header = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_error_shape(&body);
    assert_eq!(body["id"], header.as_str());
    // Unknown routes and methods answer in the same shape.
    let response = server.client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_error_shape(&response.json().await.unwrap());
    let response = server.client.put(server.images_url()).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_error_shape(&response.json().await.unwrap());
}
