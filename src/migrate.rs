//! `imagestore migrate`: copies a whole deployment (environments, keys, presets, signing
//! secrets, images with their originals and variants, slots, sessions, images registered
//! by reference) from one catalog + blob store to another, typically from the embedded
//! default to PostgreSQL + S3, or back.
//!
//! The copy keeps the service's own rule: an image row is written only after its original
//! is found in the source and every blob under it is in the destination and verified (BLAKE3 of the bytes read back equals that
//! of the bytes read from the source, and an original's hash equals the one its row
//! recorded at upload). So the image row is the unit of progress: a run that is
//! interrupted leaves at worst unowned blobs (the orphan sweep's business, or overwritten
//! by the next run), and running the command again skips every image whose row is
//! already there. Every other row is inserted with ON CONFLICT DO NOTHING, so re-running
//! is always safe.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::storage::catalog::{TABLES, TableCopy, Value};
use crate::storage::{BlobStore, Catalog};

/// One side of a migration.
pub struct Deployment {
    pub catalog: Catalog,
    pub blobs: BlobStore,
}

/// What a run did, printed as the command's summary.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// Rows inserted per table (rows already present are not counted).
    pub rows_copied: BTreeMap<&'static str, u64>,
    pub images_copied: u64,
    /// Images whose row was already in the destination (an earlier, interrupted run).
    pub images_already_there: u64,
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    /// Images not copied because a blob was missing or failed verification; the run fails
    /// if any.
    pub failures: Vec<String>,
}

/// Where the copy is, for a progress display.
pub struct Progress<'a> {
    pub table: &'a str,
    pub done: u64,
    pub total: u64,
}

/// How many rows are read from the source at a time.
const PAGE: i64 = 200;

/// Copies everything from `from` into `to`, calling `progress` after every page.
pub async fn migrate(
    from: &Deployment,
    to: &Deployment,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    for table in TABLES {
        let total = from.catalog.count_rows(table).await?;
        let mut offset = 0;
        loop {
            let rows = from.catalog.read_rows(table, offset, PAGE).await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as i64;
            let copied = if table.name == "images" {
                copy_images(from, to, table, rows, &mut report).await?
            } else {
                to.catalog.insert_rows(table, &rows).await?
            };
            *report.rows_copied.entry(table.name).or_default() += copied;
            progress(Progress {
                table: table.name,
                done: offset as u64,
                total,
            });
        }
    }
    to.catalog.finish_copy().await?;
    Ok(report)
}

/// Copies a page of image rows, each after its blobs; returns how many rows were new.
async fn copy_images(
    from: &Deployment,
    to: &Deployment,
    table: &TableCopy,
    rows: Vec<Vec<Value>>,
    report: &mut MigrationReport,
) -> Result<u64> {
    let mut copied = 0;
    for row in rows {
        let text = |column: &str| match table.value(&row, column) {
            Some(Value::Text(text)) => Ok(text.clone()),
            _ => Err(Error::Catalog(format!("image row without {column}"))),
        };
        let (id, environment, blob_key, content_hash) = (
            text("id")?,
            text("environment_id")?,
            text("blob_key")?,
            text("content_hash")?,
        );
        let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
            report.failures.push(format!(
                "image row {id:?}: its id is not a UUID; not copied"
            ));
            continue;
        };
        if to.catalog.image_exists(uuid).await? {
            report.images_already_there += 1;
            continue;
        }
        let prefix = format!("{environment}/{id}");
        let keys: Vec<String> = from
            .blobs
            .list_under(Some(&prefix))
            .map_ok(|entry| entry.key)
            .try_collect()
            .await?;
        // A row whose original is gone would be copied as a row without bytes: an image
        // listed everywhere and served nowhere. It is a failure of the run, not a skip.
        if !keys.contains(&blob_key) {
            report.failures.push(format!(
                "image {id}: its original {blob_key} is missing from the source"
            ));
            continue;
        }
        let mut verified = true;
        for key in keys {
            let expected = (key == blob_key).then_some(content_hash.as_str());
            match copy_blob(from, to, &key, expected).await? {
                Ok(size) => {
                    report.blobs_copied += 1;
                    report.bytes_copied += size;
                }
                Err(problem) => {
                    report.failures.push(format!("image {id}: {problem}"));
                    verified = false;
                    break;
                }
            }
        }
        if verified {
            copied += to
                .catalog
                .insert_rows(table, std::slice::from_ref(&row))
                .await?;
            report.images_copied += 1;
        }
    }
    Ok(copied)
}

/// Copies one blob and verifies it; the inner result is a verification problem, which
/// skips the image, while the outer one is a store failure, which stops the run.
async fn copy_blob(
    from: &Deployment,
    to: &Deployment,
    key: &str,
    expected_hash: Option<&str>,
) -> Result<Result<u64, String>> {
    let bytes = from.blobs.read_all(key).await?;
    let source_hash = blake3::hash(&bytes).to_hex().to_string();
    if let Some(expected) = expected_hash
        && expected != source_hash
    {
        return Ok(Err(format!(
            "{key} in the source does not match its recorded hash (expected {expected}, found {source_hash})"
        )));
    }
    let size = bytes.len() as u64;
    to.blobs.put(key, bytes).await?;
    let copy_hash = blake3::hash(&to.blobs.read_all(key).await?)
        .to_hex()
        .to_string();
    if copy_hash != source_hash {
        return Ok(Err(format!(
            "{key} read back from the destination does not match the source"
        )));
    }
    Ok(Ok(size))
}
