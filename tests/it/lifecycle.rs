//! Listing, deleting, surviving restarts, concurrency and the orphan sweep.

use std::collections::HashSet;

use serde_json::Value;

use crate::harness::{TestServer, corpus};

#[tokio::test]
async fn listing_pages_with_next_links_and_filters_by_subject() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let subject = if i % 2 == 0 { "user:1" } else { "user:2" };
        let response = server
            .client
            .post(format!("{}?subject={subject}", server.images_url()))
            .bearer_auth(&server.token)
            .body(corpus("avatar.gif"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut url = format!("{}?limit=2", server.images_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page: Value = server.get_json(&url).await;
        pages += 1;
        for image in page["_embedded"]["images"].as_array().unwrap() {
            seen.push(image["id"].as_str().unwrap().to_string());
        }
        match page["_links"]["next"]["href"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);

    let page: Value = server
        .get_json(&format!("{}?subject=user:2", server.images_url()))
        .await;
    let subjects: Vec<&str> = page["_embedded"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["user:2", "user:2"]);

    for bad in [
        "limit=0",
        "limit=abc",
        "limit=5000",
        "after=x",
        "subject=bad",
    ] {
        let response = server
            .client
            .get(format!("{}?{bad}", server.images_url()))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn delete_removes_the_row_the_href_and_the_bytes() {
    let server = TestServer::start().await;
    let image = server.upload_ok("logo.png").await;
    let url = format!("{}/{}", server.images_url(), image["id"].as_str().unwrap());
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    assert_eq!(server.blob_keys().await.len(), 1);
    let response = server
        .client
        .delete(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        server
            .client
            .get(&url)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        server
            .client
            .delete(&url)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(server.client.get(href).send().await.unwrap().status(), 404);
    assert!(server.blob_keys().await.is_empty(), "bytes left behind");
    let page: Value = server.get_json(&server.images_url()).await;
    assert_eq!(page["count"], 0);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let mut server = TestServer::start().await;
    let image = server.upload_ok("wallpaper.webp").await;
    server.restart().await;
    let url = format!("{}/{}", server.images_url(), image["id"].as_str().unwrap());
    let described: Value = server.get_json(&url).await;
    assert_eq!(described["contentHash"], image["contentHash"]);
    let href = described["targets"]["original"]["href"].as_str().unwrap();
    let (status, bytes) = server.get_bytes(href).await;
    assert_eq!(status, 200);
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        image["contentHash"].as_str().unwrap()
    );
}

#[tokio::test]
async fn hundreds_of_concurrent_uploads_all_succeed_with_distinct_ids() {
    let server = TestServer::start().await;
    let bytes = corpus("avatar-400.jpg");
    let uploads = (0..200).map(|_| {
        let request = server
            .client
            .post(server.images_url())
            .bearer_auth(&server.token)
            .header("Content-Type", "image/jpeg")
            .body(bytes.clone());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let results = futures_util::future::join_all(uploads).await;
    let mut ids = HashSet::new();
    let mut numbers = HashSet::new();
    for (status, body) in &results {
        assert_eq!(*status, 201, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_string());
        numbers.insert(body["number"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 200);
    assert_eq!(numbers.len(), 200);
    assert_eq!(server.blob_keys().await.len(), 200);
}

#[tokio::test]
async fn the_sweeper_removes_old_orphans_only() {
    let server = TestServer::start().await;
    let kept = server.upload_ok("avatar.gif").await;
    // An orphan: a blob with our key shape and no row, as a crash between the blob write
    // and the row commit leaves.
    let orphan = format!("{}/{}/original", server.env, uuid::Uuid::new_v4());
    let store = imagestore::storage::BlobStore::open(&server.storage.blob_store_spec()).unwrap();
    store
        .put(&orphan, bytes::Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    let service = server_service(&server);
    let young = service
        .sweep(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        young.orphans_removed, 0,
        "an orphan younger than the grace period was removed"
    );
    let report = service.sweep(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(report.orphans_removed, 1);
    assert!(!server.blob_keys().await.contains(&orphan));
    let href = kept["targets"]["original"]["href"].as_str().unwrap();
    assert_eq!(
        server.get_bytes(href).await.0,
        200,
        "a referenced blob was swept"
    );
}

fn server_service(server: &TestServer) -> std::sync::Arc<imagestore::service::Service> {
    server.service()
}
