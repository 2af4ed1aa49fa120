//! What a rendition may cost a deployment, asked for by anyone holding a read key: an AVIF
//! encode above `--max-avif-pixels` is never chosen by `format=auto` (WebP is) and is
//! refused when asked for by name; upscaling stays within `--max-output-side`; and the
//! variants kept are bounded per image (`--max-variants-per-image`) and per environment
//! (`--max-variant-bytes`), the oldest evicted, while every rendition is still served.

use serde_json::{Value, json};

use crate::harness::{TestServer, assert_error_shape, pixels};

const ACCEPT_MODERN: &str = "image/avif,image/webp,*/*";

fn href(image: &Value) -> String {
    image["targets"]["original"]["href"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GETs with the admin key and an `Accept` header; returns status and bytes.
async fn fetch(server: &TestServer, url: &str, accept: &str) -> (u16, Vec<u8>) {
    let response = server
        .client
        .get(url)
        .bearer_auth(&server.token)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn format_of(bytes: &[u8]) -> image::ImageFormat {
    image::guess_format(bytes).unwrap()
}

/// The keys of an image's stored variants.
async fn variant_keys(server: &TestServer, image: &Value) -> Vec<String> {
    let id = image["id"].as_str().unwrap();
    server
        .blob_keys()
        .await
        .into_iter()
        .filter(|key| key.contains(id) && key.contains("/variants/"))
        .collect()
}

#[tokio::test]
async fn format_auto_never_picks_avif_above_the_avif_pixel_budget() {
    // 10,000 pixels: a 100x100 AVIF is allowed, a 101x101 one is not.
    let server = TestServer::start_with(&["--max-avif-pixels", "10000"]).await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let base = href(&image);
    let (status, bytes) = fetch(&server, &format!("{base}?w=100&format=auto"), ACCEPT_MODERN).await;
    assert_eq!(status, 200);
    assert_eq!(format_of(&bytes), image::ImageFormat::Avif);
    for query in ["w=101&format=auto", "w=4096&upscale=true&q=100&format=auto"] {
        let (status, bytes) = fetch(&server, &format!("{base}?{query}"), ACCEPT_MODERN).await;
        assert_eq!(status, 200, "{query}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(format_of(&bytes), image::ImageFormat::WebP, "{query}");
    }
    // A preset with format auto follows the same rule.
    let presets = server.url(&format!("/v1/environments/{}/presets", server.env));
    let put = server
        .client
        .put(format!("{presets}/hero"))
        .bearer_auth(&server.token)
        .json(&json!({"width": 300, "format": "auto"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let described: Value = server
        .get_json(image["_links"]["self"]["href"].as_str().unwrap())
        .await;
    let hero = described["targets"]["hero"]["href"].as_str().unwrap();
    let response = server
        .client
        .get(hero)
        .header("Accept", ACCEPT_MODERN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(format_of(&bytes), image::ImageFormat::WebP);
    assert_eq!(pixels(&bytes).dimensions(), (300, 300));
}

#[tokio::test]
async fn explicit_avif_above_the_budget_is_a_400_naming_format() {
    let server = TestServer::start_with(&["--max-avif-pixels", "10000"]).await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let base = href(&image);
    let (status, bytes) = fetch(&server, &format!("{base}?w=100&format=avif"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(format_of(&bytes), image::ImageFormat::Avif);
    for query in [
        "w=101&format=avif",
        "format=avif",
        "format=avif&w=4096&upscale=true&q=100",
    ] {
        let (status, body) = fetch(&server, &format!("{base}?{query}"), "*/*").await;
        assert_eq!(status, 400, "{query}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(assert_error_shape(&body), "INVALID_DATA");
        assert_eq!(body["details"][0]["target"], "format", "{body}");
    }
    // Nothing was stored for the refused requests.
    assert_eq!(variant_keys(&server, &image).await.len(), 1);
    // Signing such a URL is refused up front.
    let signed = server
        .client
        .post(server.url(&format!("/v1/environments/{}/signed-urls", server.env)))
        .bearer_auth(&server.token)
        .json(&json!({"imageId": image["id"], "w": 200, "format": "avif"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 400);
}

#[tokio::test]
async fn upscaling_stays_within_the_output_side() {
    let server = TestServer::start_with(&["--max-output-side", "500"]).await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let base = href(&image);
    // Without upscale a rendition is never larger than the original.
    let (status, bytes) = fetch(&server, &format!("{base}?w=4096&q=100"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).dimensions(), (400, 400));
    let (status, bytes) = fetch(&server, &format!("{base}?w=500&upscale=true"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).dimensions(), (500, 500));
    for query in [
        "w=4096&upscale=true&q=100",
        "w=4096&upscale=true&q=100&format=png",
        "w=300&dpr=2&upscale=true",
    ] {
        let (status, body) = fetch(&server, &format!("{base}?{query}"), "*/*").await;
        assert_eq!(status, 400, "{query}");
        assert_error_shape(&serde_json::from_slice(&body).unwrap());
    }
}

#[tokio::test]
async fn variants_per_image_are_capped_and_evicted_renditions_still_served() {
    let server = TestServer::start_with(&["--max-variants-per-image", "3"]).await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let base = href(&image);
    for width in 20..28 {
        let (status, bytes) = fetch(&server, &format!("{base}?w={width}"), "*/*").await;
        assert_eq!(status, 200);
        assert_eq!(pixels(&bytes).width(), width);
        let kept = variant_keys(&server, &image).await;
        assert!(kept.len() <= 3, "{} variants kept: {kept:?}", kept.len());
    }
    // An evicted rendition is rendered again on request.
    let (status, bytes) = fetch(&server, &format!("{base}?w=20"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).width(), 20);
    assert!(variant_keys(&server, &image).await.len() <= 3);
    // The original is never counted or evicted.
    let (status, bytes) = fetch(&server, &base, "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).dimensions(), (400, 400));
}

#[tokio::test]
async fn variant_bytes_per_environment_are_capped() {
    // Each of these PNGs is 5-15 KB.
    let budget: u64 = 40_000;
    let server = TestServer::start_with(&["--max-variant-bytes", "40000"]).await;
    let images = [
        server.upload_ok("avatar-400.jpg").await,
        server.upload_ok("logo.png").await,
        server.upload_ok("exif-gps-rotated.jpg").await,
    ];
    let mut served = 0;
    for width in [100, 110, 120, 130] {
        for image in &images {
            let url = format!("{}?w={width}&format=png", href(image));
            let (status, bytes) = fetch(&server, &url, "*/*").await;
            assert_eq!(status, 200);
            assert_eq!(pixels(&bytes).width(), width);
            served += bytes.len() as u64;
        }
    }
    assert!(served > 2 * budget, "the test renders too little: {served}");
    let store = imagestore::storage::BlobStore::open(&server.storage.blob_store_spec()).unwrap();
    let mut kept = 0;
    for key in server.blob_keys().await {
        if key.contains("/variants/") {
            kept += store.size(&key).await.unwrap().unwrap();
        }
    }
    assert!(kept <= budget, "{kept} variant bytes kept, budget {budget}");
    assert!(kept > 0, "the newest variant is kept");
}
