//! Serving bytes at hrefs: headers that make them inert and cacheable, conditional
//! requests, ranges, and unguessable URLs.

use crate::harness::{TestServer, corpus};

#[tokio::test]
async fn hrefs_serve_inert_immutable_bytes() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    let response = server.client.get(href).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        format!("\"{}\"", image["contentHash"].as_str().unwrap())
    );
    assert!(headers.contains_key("last-modified"));
    assert_eq!(headers["accept-ranges"], "bytes");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        image["contentHash"].as_str().unwrap()
    );

    // HEAD answers the same headers without a body.
    let head = server.client.head(href).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let server = TestServer::start().await;
    let image = server.upload_ok("logo.png").await;
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    let first = server.client.get(href).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let modified = first.headers()["last-modified"].clone();
    let again = server
        .client
        .get(href)
        .header("If-None-Match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let weak = server
        .client
        .get(href)
        .header(
            "If-None-Match",
            format!("\"x\", W/{}", etag.to_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 304);
    let since = server
        .client
        .get(href)
        .header("If-Modified-Since", modified)
        .send()
        .await
        .unwrap();
    assert_eq!(since.status(), 304);
    let other = server
        .client
        .get(href)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn byte_ranges() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar.gif").await;
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    let (_, whole) = server.get_bytes(href).await;
    let size = whole.len();

    let part = server
        .client
        .get(href)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{size}").as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &whole[10..20]);

    let tail = server
        .client
        .get(href)
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &whole[size - 5..]);

    let beyond = server
        .client
        .get(href)
        .header("Range", format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );

    let stale = server
        .client
        .get(href)
        .header("Range", "bytes=0-1")
        .header("If-Range", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn hrefs_cannot_be_guessed_or_bent() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let href = image["targets"]["original"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let id = image["id"].as_str().unwrap();
    let key = href
        .rsplit('/')
        .next()
        .unwrap()
        .split('_')
        .nth(1)
        .unwrap()
        .to_string();
    let (other_env, _) = server.other_environment().await;
    let wrong_key = href.replace(&key, &"0".repeat(key.len()));
    let wrong_env = href.replace(&server.env.to_string(), &other_env.to_string());
    let wrong_ext = href.replace(".jpg", ".png");
    let wrong_target = href.replace("_original.", "_thumbnail.");
    let no_key = server.url(&format!("/images/{}/{id}_original.jpg", server.env));
    for url in [wrong_key, wrong_env, wrong_ext, wrong_target, no_key] {
        assert_eq!(
            server.client.get(&url).send().await.unwrap().status(),
            404,
            "{url}"
        );
    }
    // The real one needs no credential.
    assert_eq!(server.client.get(&href).send().await.unwrap().status(), 200);
    let _ = corpus;
}

/// A large original is sent from its blob file once it has been read (`sendfile`, see
/// `http::edge::served_stream`). The bytes must be the original's whichever way they leave:
/// over HTTP/1.1 and HTTP/2 (where they go out in frames, each a slice of the body),
/// whole and as a range, and after the file was cut short behind the server's back,
/// when the copy in memory makes up the rest.
#[tokio::test]
async fn large_originals_are_the_same_bytes_from_their_file_or_from_memory() {
    let server = TestServer::start().await;
    let image = server.upload_ok("photo-1920x1280.jpg").await;
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    let hash = image["contentHash"].as_str().unwrap();
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut whole = Vec::new();
    for client in [&server.client, &http2] {
        // The first read comes from the store, the next from memory.
        for _ in 0..2 {
            let response = client.get(href).send().await.unwrap();
            assert_eq!(response.status(), 200);
            whole = response.bytes().await.unwrap().to_vec();
            assert_eq!(blake3::hash(&whole).to_hex().as_str(), hash);
        }
        let part = client
            .get(href)
            .header("Range", "bytes=100000-400000")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(
            part.bytes().await.unwrap().as_ref(),
            &whole[100_000..=400_000]
        );
    }

    if !server.storage.local_blobs() {
        return;
    }
    let store = std::path::PathBuf::from(server.storage.blob_store_spec());
    let file = server
        .blob_keys()
        .await
        .into_iter()
        .map(|key| store.join(key))
        .find(|path| std::fs::metadata(path).unwrap().len() == whole.len() as u64)
        .expect("the original's file");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(whole.len() as u64 / 2)
        .unwrap();
    let (status, again) = server.get_bytes(href).await;
    assert_eq!(status, 200);
    assert!(again == whole, "the rest came from memory");
}
