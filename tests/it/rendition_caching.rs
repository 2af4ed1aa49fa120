//! How long a rendition may be cached, pinned against the bytes behind its URL: a preset
//! href (whose preset may be edited) revalidates and changes its ETag with the preset, and
//! a signed URL is never cached past its expiry. URLs whose bytes cannot change stay
//! immutable.

use serde_json::{Value, json};

use crate::harness::{TestServer, pixels};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn put_preset(server: &TestServer, name: &str, body: Value) {
    let url = server.url(&format!("/v1/environments/{}/presets/{name}", server.env));
    let response = server
        .client
        .put(url)
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// An anonymous GET: status, headers, bytes.
async fn get(
    server: &TestServer,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = server.client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

/// `max-age` of a Cache-Control value.
fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .find_map(|part| part.trim().strip_prefix("max-age="))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn editing_a_preset_never_changes_bytes_behind_an_immutable_href() {
    let server = TestServer::start().await;
    put_preset(&server, "thumb", json!({"width": 64})).await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let href = image["targets"]["thumb"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, before, bytes) = get(&server, &href, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).width(), 64);
    let old_etag = header(&before, "etag").to_string();
    let old_modified = before
        .get("last-modified")
        .map(|v| v.to_str().unwrap().to_string());

    put_preset(&server, "thumb", json!({"width": 32})).await;
    let described: Value = server
        .get_json(image["_links"]["self"]["href"].as_str().unwrap())
        .await;
    let new_href = described["targets"]["thumb"]["href"].as_str().unwrap();
    let (status, after, bytes) = get(&server, new_href, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).width(), 32);
    if new_href == href {
        // The same href now shows other bytes: it must never have been immutable, and a
        // cache revalidating with what it holds must be told the bytes changed.
        for headers in [&before, &after] {
            let cache = header(headers, "cache-control");
            assert!(!cache.contains("immutable"), "{cache}");
            assert!(
                cache.contains("no-cache") || max_age(cache).is_some_and(|age| age <= 300),
                "{cache}"
            );
        }
        assert_ne!(header(&after, "etag"), old_etag);
        let (status, _, bytes) = get(&server, &href, &[("If-None-Match", &old_etag)]).await;
        assert_eq!(status, 200, "the old ETag still validates");
        assert_eq!(pixels(&bytes).width(), 32);
        if let Some(old_modified) = &old_modified {
            let (status, _, _) = get(&server, &href, &[("If-Modified-Since", old_modified)]).await;
            assert_eq!(status, 200, "the old Last-Modified still validates");
        }
        let (status, _, _) =
            get(&server, &href, &[("If-None-Match", header(&after, "etag"))]).await;
        assert_eq!(status, 304);
    } else {
        let (status, _, bytes) = get(&server, &href, &[]).await;
        assert!(status == 404 || pixels(&bytes).width() == 64);
    }
    // The original's href still is immutable: its bytes never change.
    let original = image["targets"]["original"]["href"].as_str().unwrap();
    let (_, headers, _) = get(&server, original, &[]).await;
    assert_eq!(header(&headers, "cache-control"), IMMUTABLE);
}

#[tokio::test]
async fn a_signed_url_is_never_cached_past_its_expiry() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let sign = |body: Value| {
        let request = server
            .client
            .post(server.url(&format!("/v1/environments/{}/signed-urls", server.env)))
            .bearer_auth(&server.token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["href"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let expiring = sign(json!({"imageId": image["id"], "w": 50, "expiresIn": 3600})).await;
    let (status, headers, bytes) = get(&server, &expiring, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).width(), 50);
    let cache = header(&headers, "cache-control");
    assert!(!cache.contains("immutable"), "{cache}");
    let age = max_age(cache).unwrap_or_else(|| panic!("no max-age in {cache}"));
    assert!(age <= 3600, "{cache}");
    // A 304 says the same.
    let etag = header(&headers, "etag").to_string();
    let (status, headers, _) = get(&server, &expiring, &[("If-None-Match", &etag)]).await;
    assert_eq!(status, 304);
    let cache = header(&headers, "cache-control");
    assert!(!cache.contains("immutable") && max_age(cache).is_some_and(|a| a <= 3600));

    // A signature without expiry never stops verifying, so its bytes may be kept.
    let lasting = sign(json!({"imageId": image["id"], "w": 50})).await;
    let (status, headers, _) = get(&server, &lasting, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), IMMUTABLE);
}
