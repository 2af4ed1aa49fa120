//! The blob store: image bytes behind `Arc<dyn ObjectStore>`, so that the local directory
//! of the embedded default, an in-memory store in unit tests and an S3 bucket are used the
//! same way.
//!
//! An S3 store is bounded on purpose: a few quick retries and short timeouts, so that an
//! unreachable store turns into a 503 within seconds rather than a request that hangs for
//! object_store's default three minutes of retrying. Large blobs go up as multipart
//! uploads, in parts sliced from the bytes already in memory (no second copy).
//!
//! A local store keeps the durability rule (the bytes and the directory entries naming them
//! are on disk before `put` returns; a sync error fails the put) in one of two ways. On
//! Linux a put writes a staging file and waits for its group (the puts waiting beside it):
//! a sync of the file system, the renames into place, a second sync (`durable_directory`).
//! Elsewhere, and for multipart writes, object_store does it per blob with fsync on:
//! staging file, fsync, rename, fsync of the directory.
//!
//! Where each blob lives (the key layout) is `blob_keys`; how an opened blob's bytes come
//! back (from memory or a file, whole or in chunks) is `blob_reads`.

use std::ops::Range;
use std::sync::Arc;

pub use super::blob_reads::{BlobBody, BlobRead};
use super::blob_reads::{file_stream, in_memory_read};
use super::durable_directory::DurableDirectory;
use super::file_backed::FILE_BACKED_MIN;
use super::memo::Memo;
use crate::error::{Error, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Whole small blobs kept in memory (see [`BlobStore::remembering`]); None when off.
    hot: Option<Arc<Memo<String, Bytes, BlobWeight>>>,
    /// A local directory, whose reads come back as file-backed bytes.
    local: bool,
    /// Where a local store's puts go on Linux: its directory, synced in groups.
    grouped: Option<GroupedWrites>,
}

/// A local store's own view of its files (to map keys to paths) and the directory that
/// makes writes into it durable.
#[derive(Clone)]
struct GroupedWrites {
    /// The directory itself, where the sweeper looks for abandoned staging files.
    root: Arc<std::path::PathBuf>,
    files: Arc<LocalFileSystem>,
    directory: Arc<DurableDirectory>,
}

/// A blob larger than this is always streamed from the store, never kept in memory: the
/// memory is for the many small avatars and thumbnails, where a request's fixed cost
/// (a file open and a thread hop, or an S3 round trip) outweighs sending the bytes.
pub const HOT_BLOB_MAX: usize = 1 << 20;

/// What a remembered blob costs: its bytes, its key and the bookkeeping beside them.
#[derive(Clone)]
pub struct BlobWeight;

impl quick_cache::Weighter<String, Bytes> for BlobWeight {
    fn weight(&self, key: &String, bytes: &Bytes) -> u64 {
        (bytes.len() + key.len() + 96) as u64
    }
}

/// A blob seen by a listing, for the sweeper.
pub struct BlobEntry {
    pub key: String,
    pub last_modified: DateTime<Utc>,
}

/// A blob seen by a listing, with its size.
#[derive(Debug, Clone)]
pub struct SizedBlob {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// Blobs above this size are written as multipart uploads.
const MULTIPART_THRESHOLD: usize = 8 << 20;
/// S3's smallest allowed part (except the last).
const MULTIPART_PART_SIZE: usize = 5 << 20;

impl BlobStore {
    /// Opens the store a `--blob-store` value names: `s3://bucket[/prefix]`, or a local
    /// directory path.
    pub fn open(spec: &str) -> Result<BlobStore> {
        match spec.strip_prefix("s3://") {
            Some(rest) => BlobStore::open_s3(rest),
            None => BlobStore::open_directory(spec),
        }
    }

    /// Opens `bucket[/prefix]` on an S3-compatible store (see `s3`).
    fn open_s3(spec: &str) -> Result<BlobStore> {
        Ok(BlobStore {
            store: super::s3::open(spec)?,
            hot: None,
            local: false,
            grouped: None,
        })
    }

    /// Opens a local directory, creating it if needed.
    pub fn open_directory(dir: &str) -> Result<BlobStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Blobs(format!("cannot create {dir}: {e}")))?;
        let store = Arc::new(
            LocalFileSystem::new_with_prefix(dir)?
                .with_fsync(true)
                .with_automatic_cleanup(true),
        );
        let grouped = if cfg!(target_os = "linux") {
            Some(GroupedWrites {
                root: Arc::new(std::path::PathBuf::from(dir)),
                files: store.clone(),
                directory: Arc::new(DurableDirectory::open(std::path::Path::new(dir))?),
            })
        } else {
            None
        };
        Ok(BlobStore {
            store,
            hot: None,
            local: true,
            grouped,
        })
    }

    /// A store that lives in memory only, for unit tests.
    pub fn in_memory() -> BlobStore {
        BlobStore {
            store: Arc::new(InMemory::new()),
            hot: None,
            local: false,
            grouped: None,
        }
    }

    /// Keeps blobs of up to [`HOT_BLOB_MAX`] bytes in memory, `capacity` bytes in all (0
    /// keeps none), once written or read. A key's bytes never change (originals and
    /// variants are written once under fresh or content-derived keys), so a remembered
    /// blob is exact until it is deleted through this store, which forgets it. A blob
    /// deleted by another instance can stay here, but is never served: every read of an
    /// image's bytes first finds its catalog row.
    pub fn remembering(mut self, capacity: u64) -> BlobStore {
        self.hot = (capacity > 0).then(|| {
            let items = usize::try_from(capacity / 16_384).unwrap_or(usize::MAX);
            Arc::new(Memo::with_weighter(items, capacity, BlobWeight))
        });
        self
    }

    /// Writes the whole blob durably; when this returns Ok the bytes survive a crash. A
    /// large blob goes up in parts; the object appears only when the last part is done.
    /// A local directory on Linux takes every size through `durable_directory`, whose
    /// staging files are held while in flight (object_store's multipart staging files are
    /// not, and a sweep could not tell them from leftovers).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = Path::from(key);
        if bytes.len() <= MULTIPART_THRESHOLD || self.grouped.is_some() {
            let ticket = self.hot.as_ref().map(|hot| hot.ticket());
            // A large blob of a local store is remembered at its first read instead,
            // from its file, so that it can be sent from the file (see `file_backed`).
            let from_file = self.local && bytes.len() >= FILE_BACKED_MIN;
            let kept = (bytes.len() <= HOT_BLOB_MAX && !from_file).then(|| bytes.clone());
            match &self.grouped {
                Some(grouped) => {
                    let file = grouped.files.path_to_filesystem(&path)?;
                    grouped.directory.put(file, bytes).await?;
                }
                None => {
                    self.store.put(&path, PutPayload::from(bytes)).await?;
                }
            }
            if let (Some(hot), Some(ticket), Some(kept)) = (&self.hot, ticket, kept) {
                hot.offer(ticket, key.to_string(), kept);
            }
            return Ok(());
        }
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART_SIZE);
        // `put` slices the Bytes into parts without copying them.
        writer.put(bytes);
        // finish() aborts the upload when a part fails, so no parts are left behind.
        writer.finish().await?;
        Ok(())
    }

    /// Opens a blob, or a byte range of it, as a stream.
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobRead> {
        self.get_checked(key, range, None).await
    }

    /// Opens an original, whose BLAKE3 content hash its row recorded at upload (see
    /// `service::ingest`). A small blob read whole from the store (at most
    /// [`HOT_BLOB_MAX`], which a local store reads as one buffer anyway) is hashed before
    /// it is served or remembered, so bytes flipped or lost on disk answer an error, never
    /// a 200 under the strong ETag that stands for that hash; remembered bytes were checked
    /// (or written by this process) and are not hashed again.
    pub async fn get_original(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        content_hash: &str,
    ) -> Result<BlobRead> {
        self.get_checked(key, range, Some(content_hash)).await
    }

    async fn get_checked(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        content_hash: Option<&str>,
    ) -> Result<BlobRead> {
        if let Some(bytes) = self.hot.as_ref().and_then(|hot| hot.get(key)) {
            return Ok(in_memory_read(bytes, range));
        }
        let ticket = self.hot.as_ref().map(|hot| hot.ticket());
        let read = self.get_from_store(key, range.clone()).await?;
        // Only a whole read of a small blob is checked and kept; ranges and large blobs
        // stream.
        let whole_and_small = range.is_none() && read.total_size <= HOT_BLOB_MAX as u64;
        if !whole_and_small || (ticket.is_none() && content_hash.is_none()) {
            return Ok(read);
        }
        let bytes = read.body.into_bytes().await?;
        if let Some(expected) = content_hash {
            check_hash(key, &bytes, expected)?;
        }
        if let (Some(hot), Some(ticket)) = (&self.hot, ticket) {
            hot.offer(ticket, key.to_string(), bytes.clone());
        }
        Ok(in_memory_read(bytes, None))
    }

    async fn get_from_store(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobRead> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&Path::from(key), options).await?;
        let total_size = result.meta.size;
        let range = result.range.clone();
        let body = match result.payload {
            GetResultPayload::File(file, _) => file_stream(file, range.clone()),
            GetResultPayload::Stream(stream) => stream.map_err(Error::from).boxed(),
        };
        let body = BlobBody::Stream(body);
        Ok(BlobRead {
            total_size,
            range,
            body,
        })
    }

    /// A whole blob in memory (a render's source, a migration's copy). Remembered bytes
    /// are used, but bytes read here are not remembered: they were not checked against a
    /// content hash, and only checked bytes may be served from memory (`get_original`).
    pub async fn read_all(&self, key: &str) -> Result<Bytes> {
        if let Some(bytes) = self.hot.as_ref().and_then(|hot| hot.get(key)) {
            return Ok(bytes);
        }
        self.get_from_store(key, None)
            .await?
            .body
            .into_bytes()
            .await
    }

    /// Whether the store itself (not this process's memory) has the blob.
    pub async fn exists_in_store(&self, key: &str) -> Result<bool> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// The local directory of a local store on Linux, where `durable_directory` leaves
    /// its staging files (for the sweeper).
    pub fn staging_root(&self) -> Option<&std::path::Path> {
        self.grouped.as_ref().map(|grouped| grouped.root.as_path())
    }

    /// The size of a blob, or None when it is not there.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        if let Some(bytes) = self.hot.as_ref().and_then(|hot| hot.get(key)) {
            return Ok(Some(bytes.len() as u64));
        }
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Removes a blob; removing one that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let deleted = match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        };
        if let Some(hot) = &self.hot {
            hot.forget(key);
        }
        deleted
    }

    /// Removes every blob whose key starts with `prefix/` (an image and its variants).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let mut listing = self.list_under(Some(prefix));
        while let Some(entry) = listing.next().await {
            self.delete(&entry?.key).await?;
        }
        Ok(())
    }

    /// Every blob in the store (the orphan sweeper), or under `prefix/` (the migration).
    pub fn list_under(&self, prefix: Option<&str>) -> BoxStream<'static, Result<BlobEntry>> {
        self.store
            .list(prefix.map(Path::from).as_ref())
            .map(|entry| {
                let meta = entry?;
                Ok(BlobEntry {
                    key: meta.location.to_string(),
                    last_modified: meta.last_modified,
                })
            })
            .boxed()
    }

    /// Every blob under `prefix/` with its size and time of writing: what a variant
    /// budget counts and evicts by.
    pub async fn list_sized(&self, prefix: &str) -> Result<Vec<SizedBlob>> {
        self.store
            .list(Some(&Path::from(prefix)))
            .map(|entry| {
                let meta = entry?;
                Ok(SizedBlob {
                    key: meta.location.to_string(),
                    size: meta.size,
                    last_modified: meta.last_modified,
                })
            })
            .try_collect()
            .await
    }

    /// A cheap request that proves the store answers, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        match self.store.head(&Path::from("readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}

/// Fails, and logs, when bytes read from the store are not those their row recorded.
fn check_hash(key: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let found = blake3::hash(bytes);
    if found.to_hex().as_str() == expected {
        return Ok(());
    }
    metrics::counter!("imagestore_blob_verification_failures_total").increment(1);
    tracing::error!(%key, %expected, found = %found.to_hex(), "a stored blob does not match its content hash; not served");
    Err(Error::Blobs(format!(
        "{key} does not match its recorded content hash"
    )))
}

#[cfg(test)]
#[path = "blobs_tests.rs"]
mod tests;
