//! A SQLite catalog written by an earlier version (through sqlx's SQLite driver and
//! migrator) opens unchanged with today's rusqlite-only catalog: the migrations it
//! recorded are recognised by their checksums, its key still signs in, its image, subject
//! and preset read back, and new images are numbered after the old ones. The file is
//! rebuilt from `tests/fixtures/catalog-sqlx-1654a3c.sql`.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::backends::TestStorage;
use crate::harness::{TestServer, get_json_as};

const DUMP: &str = include_str!("../fixtures/catalog-sqlx-1654a3c.sql");
const ENVIRONMENT: &str = "1d0450a0-56be-46d9-b5d0-b3f583a94cfe";
const IMAGE: &str = "32858df5-65d2-4d48-b295-e64b78569f41";
const TOKEN: &str = "isk_711ef465312d4235ab2019057fd4d3f6_\
                     4ebe02b8a2207e39df503d6e273f5e848a6f66910424e8b7de1e3789666de716";

/// A deployment whose catalog is the fixture (always SQLite: this is about its file).
fn storage_with_old_catalog() -> TestStorage {
    let storage = TestStorage::embedded();
    let file = storage.dir.path().join("imagestore.db");
    let db = rusqlite::Connection::open(&file).unwrap();
    // The dump lists tables by name, children before parents.
    db.pragma_update(None, "foreign_keys", "OFF").unwrap();
    db.execute_batch(DUMP).unwrap();
    storage
}

#[tokio::test]
async fn a_catalog_an_earlier_version_wrote_opens_as_it_was() {
    let env = Uuid::parse_str(ENVIRONMENT).unwrap();
    let server = TestServer::resume_on(storage_with_old_catalog(), env, TOKEN).await;
    let client = &server.client;
    let image = get_json_as(
        client,
        &server.url(&format!("/v1/environments/{env}/images/{IMAGE}")),
        TOKEN,
    )
    .await;
    assert_eq!(image["id"], IMAGE);
    assert_eq!(image["targets"]["original"]["width"], 1600);
    let listed = get_json_as(
        client,
        &server.url(&format!("/v1/environments/{env}/images?subject=user:42")),
        TOKEN,
    )
    .await;
    assert_eq!(listed["_embedded"]["images"][0]["id"], IMAGE, "{listed}");
    let preset = get_json_as(
        client,
        &server.url(&format!("/v1/environments/{env}/presets/small")),
        TOKEN,
    )
    .await;
    assert_eq!(preset["width"], 64);

    let (status, uploaded) = server
        .upload(crate::harness::corpus("avatar-400.jpg"), "image/jpeg")
        .await;
    assert_eq!(status, StatusCode::CREATED.as_u16(), "{uploaded}");
    let id = uploaded["id"].as_str().unwrap();
    let numbers = server
        .service()
        .catalog()
        .list_images(env, None, None, 10)
        .await
        .unwrap();
    let new = numbers
        .items
        .iter()
        .find(|i| i.id.to_string() == id)
        .unwrap();
    assert_eq!(new.number, 2, "the new image reused or skipped a number");
}

/// A migration file changed after a catalog recorded it is refused at start, as sqlx
/// refused it: the schema that file describes is not the one the catalog has.
#[tokio::test]
async fn a_catalog_whose_recorded_migration_differs_is_refused() {
    let storage = storage_with_old_catalog();
    let file = storage.dir.path().join("imagestore.db");
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2",
            [],
        )
        .unwrap();
    let url = storage.database_url_spec();
    let refused = imagestore::storage::catalog::Catalog::open(&url)
        .await
        .err();
    let message = refused
        .expect("a changed migration was accepted")
        .to_string();
    assert!(
        message.contains("0002_renditions.sql was changed"),
        "{message}"
    );
}
