//! `imagestore verify`: reads every image row of a deployment and checks that its original
//! is in the blob store with the content hash (BLAKE3, as `service::ingest` computes it) and
//! the size the row recorded. It reports, and changes nothing: a missing or corrupt blob
//! needs an operator's decision (restore from a backup, or delete the image). Blobs without
//! a row are the orphan sweep's business (`imagestore gc`), not this command's.
//!
//! The blob is hashed as it streams, so a large original costs no more memory than a
//! chunk. Dropbox items (rows with an expiry) are checked too: they are served once
//! claimed.

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::storage::catalog::{TableCopy, Value};
use crate::storage::{BlobStore, Catalog};

/// What a run found; the command exits non-zero unless `missing` and `corrupt` are empty.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub images_checked: u64,
    pub blobs_verified: u64,
    pub bytes_verified: u64,
    /// Ids of images whose original is not in the blob store.
    pub missing: Vec<String>,
    /// Ids of images whose original's bytes differ from what the row recorded.
    pub corrupt: Vec<String>,
}

impl VerifyReport {
    /// Whether every image's original was found intact.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// How many rows are read from the catalog at a time.
const PAGE: i64 = 200;

/// Checks every image row's original; a failure of either engine stops the run.
pub async fn verify(catalog: &Catalog, blobs: &BlobStore) -> Result<VerifyReport> {
    let table = TableCopy::named("images")
        .ok_or_else(|| Error::Internal("the images table is not described".into()))?;
    let mut report = VerifyReport::default();
    let mut offset = 0;
    loop {
        let rows = catalog.read_rows(table, offset, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as i64;
        for row in rows {
            let text = |column: &str| match table.value(&row, column) {
                Some(Value::Text(text)) => Ok(text.clone()),
                _ => Err(Error::Catalog(format!("image row without {column}"))),
            };
            let (id, blob_key, content_hash) =
                (text("id")?, text("blob_key")?, text("content_hash")?);
            let byte_size = match table.value(&row, "byte_size") {
                Some(Value::Int(size)) => u64::try_from(*size).ok(),
                _ => None,
            };
            report.images_checked += 1;
            match hash_of(blobs, &blob_key).await? {
                None => {
                    tracing::error!(image = %id, key = %blob_key, "the original is missing");
                    report.missing.push(id);
                }
                Some((hash, size)) if hash != content_hash || byte_size != Some(size) => {
                    tracing::error!(image = %id, key = %blob_key, expected = %content_hash,
                        found = %hash, "the original does not match its row");
                    report.corrupt.push(id);
                }
                Some((_, size)) => {
                    report.blobs_verified += 1;
                    report.bytes_verified += size;
                }
            }
        }
    }
    Ok(report)
}

/// The BLAKE3 hash (hex) and size of a blob as the store has it, or None when it is not
/// there.
async fn hash_of(blobs: &BlobStore, key: &str) -> Result<Option<(String, u64)>> {
    let read = match blobs.get(key, None).await {
        Ok(read) => read,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    match read.body {
        crate::storage::blobs::BlobBody::Whole(bytes) => {
            hasher.update(&bytes);
            size += bytes.len() as u64;
        }
        crate::storage::blobs::BlobBody::Stream(mut stream) => {
            while let Some(chunk) = stream.try_next().await? {
                hasher.update(&chunk);
                size += chunk.len() as u64;
            }
        }
    }
    Ok(Some((hasher.finalize().to_hex().to_string(), size)))
}
