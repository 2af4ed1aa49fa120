//! The scale-out mode: several instances on one catalog and one blob store, each serving
//! any request; variants rendered by racing instances; background sweeps that never
//! overlap; and engine outages (staged through a cut proxy) that turn into quick 503s and
//! heal by themselves. These run on whatever engines the suite runs on; the fault tests
//! need the engine they cut (PostgreSQL or S3) and return early without it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::backends::TestStorage;
use crate::harness::{TestServer, corpus};
use crate::proxy::CutProxy;

/// The same href, asked of another instance.
fn on(server: &TestServer, href: &str) -> String {
    let path = href.splitn(4, '/').nth(3).unwrap();
    server.url(&format!("/{path}"))
}

#[tokio::test]
async fn any_instance_serves_what_another_stored() {
    let a = TestServer::start().await;
    let b = a.another_instance().await;

    // Uploaded through A; listed, described, served and transformed through B.
    let image = a.upload_ok("photo-1920x1280.jpg").await;
    let id = image["id"].as_str().unwrap();
    let original = image["targets"]["original"]["href"].as_str().unwrap();
    let listed: Value = b.get_json(&b.images_url()).await;
    assert_eq!(listed["_embedded"]["images"][0]["id"], id, "{listed}");
    let (status, bytes) = b.get_bytes(&on(&b, original)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, a.get_bytes(original).await.1);
    let thumb = b
        .client
        .get(format!("{}?w=64", on(&b, original)))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), 200);

    // A preset made on B shows on A's images; a URL signed by A is honoured by B.
    let preset = b.url(&format!("/v1/environments/{}/presets/tiny", b.env));
    let response = b
        .client
        .put(&preset)
        .bearer_auth(&b.token)
        .json(&json!({"width": 32}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let described: Value = a.get_json(&format!("{}/{id}", a.images_url())).await;
    assert_eq!(described["targets"]["tiny"]["width"], 32, "{described}");
    let signed: Value = a
        .client
        .post(a.url(&format!("/v1/environments/{}/signed-urls", a.env)))
        .bearer_auth(&a.token)
        .json(&json!({"imageId": id, "w": 48}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed = on(&b, signed["href"].as_str().unwrap());
    assert_eq!(b.client.get(&signed).send().await.unwrap().status(), 200);

    // A session opened on A works on B.
    let response = a
        .client
        .post(a.url("/v1/sessions"))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = response.json::<Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    let picture = b
        .client
        .post(b.url("/api/dropbox/pictures"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .multipart(reqwest::multipart::Form::new().part(
            "Profile",
            reqwest::multipart::Part::bytes(corpus("avatar-400.jpg")).file_name("a.jpg"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), 200);
    let picture = picture.text().await.unwrap();

    // The dropbox item posted to B is claimed through A.
    let claimed = a
        .client
        .post(a.images_url())
        .bearer_auth(&a.token)
        .json(&json!({"uploadId": picture.trim()}))
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 201);

    // Deleted through B: gone on A, bytes and variants too.
    let response = b
        .client
        .delete(format!("{}/{id}", b.images_url()))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(a.get_bytes(original).await.0, 404);
    let prefix = format!("{}/{id}/", a.env);
    assert!(
        !a.blob_keys()
            .await
            .iter()
            .any(|key| key.starts_with(&prefix)),
        "bytes of the deleted image remain"
    );
}

/// B answers an image's description from memory once it has built it (on SQLite); a
/// preset added and the image deleted through A must still show at B's next GET, and
/// B must still check each caller's access before answering from memory.
#[tokio::test]
async fn a_remembered_description_follows_changes_made_through_another_instance() {
    let a = TestServer::start().await;
    let b = a.another_instance().await;
    let image = a.upload_ok("avatar-400.jpg").await;
    let id = image["id"].as_str().unwrap();
    let url = format!("{}/{id}", b.images_url());
    let first: Value = b.get_json(&url).await;
    assert_eq!(b.get_json(&url).await, first, "the same description twice");
    assert!(first["targets"].get("small").is_none(), "{first}");

    let (_, intruder) = b.other_environment().await;
    let foreign = b
        .client
        .get(&url)
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404, "another environment's key");
    let unscoped = b
        .key(b.env, &[imagestore::domain::Scope::ImagesWrite])
        .await;
    let refused = b
        .client
        .get(&url)
        .bearer_auth(&unscoped)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "a key without images:read");
    let anonymous = b.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let preset = a.url(&format!("/v1/environments/{}/presets/small", a.env));
    let response = a
        .client
        .put(preset)
        .bearer_auth(&a.token)
        .json(&json!({"width": 64}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let described: Value = b.get_json(&url).await;
    assert_eq!(described["targets"]["small"]["width"], 64, "{described}");
    assert_eq!(described["id"], first["id"]);

    let response = a
        .client
        .delete(format!("{}/{id}", a.images_url()))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let gone = b
        .client
        .get(&url)
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status(),
        404,
        "deleted through A, still described by B"
    );
}

#[tokio::test]
async fn instances_racing_for_one_cold_variant_serve_one_variant() {
    let a = TestServer::start().await;
    let b = a.another_instance().await;
    let image = a.upload_ok("photo-1920x1280.jpg").await;
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    let requests = (0..8).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        let url = format!("{}?w=200&format=webp", on(server, href));
        let request = server.client.get(url).bearer_auth(&server.token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap()
        }
    });
    let bodies = futures_util::future::join_all(requests).await;
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]));
    let variants = a
        .blob_keys()
        .await
        .into_iter()
        .filter(|key| key.contains("/variants/"))
        .count();
    assert_eq!(variants, 1);
}

#[tokio::test]
async fn a_sweep_is_skipped_while_another_instance_sweeps() {
    let a = TestServer::start().await;
    let b = a.another_instance().await;
    let service = a.service();
    let catalog = service.catalog();
    if !a.storage.on_postgres() {
        return; // One host, one file: the embedded default has nothing to exclude.
    }
    let held = catalog
        .try_sweep_lock()
        .await
        .unwrap()
        .expect("lock is free");
    let report = b.service().sweep(Duration::ZERO).await.unwrap();
    assert!(report.skipped, "{report:?}");
    held.release().await;
    let report = b.service().sweep(Duration::ZERO).await.unwrap();
    assert!(!report.skipped, "{report:?}");
}

/// Starts a server whose catalog and/or blob store are reached through cut proxies.
async fn behind_proxies(catalog: bool, blobs: bool) -> Option<(TestServer, CutProxy)> {
    let mut storage = TestStorage::new().await;
    let proxy;
    if catalog {
        let url = storage.database_url.clone()?;
        let (head, rest) = url.split_once('@').unwrap();
        let (authority, database) = rest.split_once('/').unwrap();
        proxy = CutProxy::start(authority.parse().unwrap()).await;
        storage.database_url = Some(format!("{head}@{}/{database}", proxy.addr));
    } else if blobs {
        let spec = storage.blob_store.clone()?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
        let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
        proxy = CutProxy::start(authority.parse().unwrap()).await;
        storage.blob_store = Some(format!(
            "{spec}?endpoint=http://{}&allow_http=true",
            proxy.addr
        ));
    } else {
        return None;
    }
    Some((TestServer::start_on(storage, &[]).await, proxy))
}

/// Cuts the engine, checks every kind of request refuses quickly with 503 and leaves no
/// trace, then restores it and checks the same server heals by itself.
async fn outage_and_recovery(server: TestServer, proxy: CutProxy) {
    let kept = server.upload_ok("avatar.gif").await;
    let kept_url = format!("{}/{}", server.images_url(), kept["id"].as_str().unwrap());
    let original = kept["targets"]["original"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    proxy.cut().await;

    let bounded = Duration::from_secs(20);
    let ready = tokio::time::timeout(bounded, server.client.get(server.url("/readyz")).send())
        .await
        .expect("readiness answered in bounded time")
        .unwrap();
    assert_eq!(ready.status(), 503);
    let upload = tokio::time::timeout(bounded, server.upload(corpus("logo.png"), "image/png"))
        .await
        .expect("an upload answered in bounded time");
    assert_eq!(upload.0, 503, "{}", upload.1);
    let read = tokio::time::timeout(
        bounded,
        server
            .client
            .get(format!("{original}?w=20"))
            .bearer_auth(&server.token)
            .send(),
    )
    .await
    .expect("a rendition answered in bounded time")
    .unwrap();
    assert_eq!(read.status(), 503);
    assert!(read.headers().contains_key("retry-after"));

    proxy.restore();
    let mut healed = false;
    for _ in 0..50 {
        let status = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        healed,
        "the instance did not recover after the engine returned"
    );
    let listed: Value = server.get_json(&server.images_url()).await;
    assert_eq!(
        listed["count"], 1,
        "a refused upload became visible: {listed}"
    );
    let response = server
        .client
        .get(&kept_url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.get_bytes(&original).await.0, 200);
    server.upload_ok("logo.png").await;
}

#[tokio::test]
async fn a_lost_catalog_answers_503_and_heals() {
    if let Some((server, proxy)) = behind_proxies(true, false).await {
        outage_and_recovery(server, proxy).await;
    }
}

#[tokio::test]
async fn a_lost_object_store_answers_503_and_heals() {
    if let Some((server, proxy)) = behind_proxies(false, true).await {
        outage_and_recovery(server, proxy).await;
    }
}
