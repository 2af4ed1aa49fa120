//! `imagestore migrate`, as an operator runs it: a deployment on the embedded default is
//! copied to the engines the suite runs on (PostgreSQL + S3 in CI's second pass, another
//! SQLite + directory otherwise), served from there with the same keys, hrefs, presets
//! and variants, copied again without duplicating anything, and a corrupt source blob is
//! caught rather than copied.

use std::process::Command;

use serde_json::{Value, json};

use crate::backends::TestStorage;
use crate::harness::TestServer;

const BIN: &str = env!("CARGO_BIN_EXE_imagestore");

/// Runs `imagestore migrate` from `from` to `to`; returns success and the summary.
fn migrate(from: &TestStorage, to: &TestStorage) -> (bool, Value) {
    let out = Command::new(BIN)
        .arg("migrate")
        .args(from.args())
        .args(["--to-database-url", &to.database_url_spec()])
        .args(["--to-blob-store", &to.blob_store_spec()])
        .output()
        .unwrap();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), summary)
}

async fn describe(server: &TestServer, id: &str) -> Value {
    let response = server
        .client
        .get(format!("{}/{id}", server.images_url()))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// An href's path, which is the same on any instance of a deployment.
fn path_of(href: &str) -> String {
    format!("/{}", href.splitn(4, '/').nth(3).unwrap())
}

#[tokio::test]
async fn a_deployment_moves_to_other_engines_with_everything_it_had() {
    let mut source = TestServer::start_on(TestStorage::embedded(), &[]).await;
    let preset = source.url(&format!("/v1/environments/{}/presets/thumb", source.env));
    let response = source
        .client
        .put(&preset)
        .bearer_auth(&source.token)
        .json(&json!({"width": 48, "format": "webp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let photo = source.upload_ok("photo-1920x1280.jpg").await;
    let logo = source.upload_ok("logo.png").await;
    let photo_id = photo["id"].as_str().unwrap().to_string();
    let original = path_of(photo["targets"]["original"]["href"].as_str().unwrap());
    let thumb = path_of(photo["targets"]["thumb"]["href"].as_str().unwrap());
    let (status, thumb_bytes) = source.get_bytes(&source.url(&thumb)).await;
    assert_eq!(status, 200);
    let before = describe(&source, &photo_id).await;
    let original_bytes = source.get_bytes(&source.url(&original)).await.1;
    let source_keys = source.blob_keys().await;
    assert_eq!(source_keys.len(), 3, "two originals and one variant");
    source.stop().await;

    let destination = TestStorage::new().await;
    let (ok, summary) = migrate(&source.storage, &destination);
    assert!(ok, "{summary}");
    assert_eq!(summary["imagesCopied"], 2, "{summary}");
    assert_eq!(summary["blobsCopied"], 3, "{summary}");
    assert_eq!(summary["rowsCopied"]["presets"], 1, "{summary}");
    assert_eq!(summary["rowsCopied"]["credentials"], 1, "{summary}");

    // Running it again copies nothing and fails nothing: it is resumable.
    let (ok, again) = migrate(&source.storage, &destination);
    assert!(ok, "{again}");
    assert_eq!(again["imagesCopied"], 0, "{again}");
    assert_eq!(again["imagesAlreadyThere"], 2, "{again}");

    let moved = TestServer::resume_on(destination, source.env, &source.token).await;
    assert_eq!(moved.blob_keys().await, source_keys);
    let after = describe(&moved, &photo_id).await;
    for field in ["id", "number", "width", "height", "size", "createdAt"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(
        path_of(after["targets"]["original"]["href"].as_str().unwrap()),
        original
    );
    assert_eq!(
        moved.get_bytes(&moved.url(&original)).await.1,
        original_bytes
    );
    assert_eq!(moved.get_bytes(&moved.url(&thumb)).await.1, thumb_bytes);
    // New images get numbers after the copied ones.
    let newer = moved.upload_ok("avatar.gif").await;
    assert!(
        newer["number"].as_i64() > logo["number"].as_i64(),
        "{newer}"
    );
}

#[tokio::test]
async fn a_corrupt_source_blob_is_reported_and_not_copied() {
    let mut source = TestServer::start_on(TestStorage::embedded(), &[]).await;
    let good = source.upload_ok("logo.png").await;
    let bad = source.upload_ok("avatar.gif").await;
    source.stop().await;
    let bad_file = source
        .data_dir()
        .join("blobs")
        .join(source.env.to_string())
        .join(bad["id"].as_str().unwrap())
        .join("original");
    let mut bytes = std::fs::read(&bad_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&bad_file, bytes).unwrap();

    let destination = TestStorage::new().await;
    let (ok, summary) = migrate(&source.storage, &destination);
    assert!(!ok, "a corrupt blob went unnoticed: {summary}");
    assert_eq!(summary["imagesCopied"], 1, "{summary}");
    let failures = summary["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{summary}");
    assert!(
        failures[0]
            .as_str()
            .unwrap()
            .contains(bad["id"].as_str().unwrap())
    );

    let moved = TestServer::resume_on(destination, source.env, &source.token).await;
    let listed: Value = moved.get_json(&moved.images_url()).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["_embedded"]["images"][0]["id"], good["id"]);
}

/// A row whose original is gone from the source (swept, deleted by hand) fails the run
/// with the row named, instead of being copied as an image without bytes.
#[tokio::test]
async fn a_missing_source_blob_fails_the_migration_and_names_the_row() {
    let mut source = TestServer::start_on(TestStorage::embedded(), &[]).await;
    let good = source.upload_ok("logo.png").await;
    let gone = source.upload_ok("avatar.gif").await;
    source.stop().await;
    let gone_id = gone["id"].as_str().unwrap();
    std::fs::remove_file(
        source
            .data_dir()
            .join("blobs")
            .join(source.env.to_string())
            .join(gone_id)
            .join("original"),
    )
    .unwrap();

    let destination = TestStorage::new().await;
    let out = Command::new(BIN)
        .arg("migrate")
        .args(source.storage.args())
        .args(["--to-database-url", &destination.database_url_spec()])
        .args(["--to-blob-store", &destination.blob_store_spec()])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !out.status.success(),
        "a missing blob went unnoticed: {summary}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(gone_id),
        "the failure does not name the row"
    );
    assert_eq!(summary["imagesCopied"], 1, "{summary}");
    let failures = summary["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{summary}");
    assert!(failures[0].as_str().unwrap().contains(gone_id), "{summary}");

    let moved = TestServer::resume_on(destination, source.env, &source.token).await;
    let listed: Value = moved.get_json(&moved.images_url()).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["_embedded"]["images"][0]["id"], good["id"]);
}
