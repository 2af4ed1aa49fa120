//! The blob store: image bytes behind `Arc<dyn ObjectStore>`, so that the local directory
//! of the embedded default, an in-memory store in unit tests and an S3 bucket are used the
//! same way.
//!
//! The local store is opened with fsync on: object_store then writes to a staging file,
//! syncs it, renames it into place and syncs the directory before `put` returns. That is
//! the durability rule (temp + fsync + rename + fsync dir); an fsync error fails the put.
//!
//! Keys are `{environment}/{image}/{name}`: the environment comes first so a tenant's
//! bytes can be listed or removed as a whole, and the sweeper can tell from a key alone
//! which image row should own it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use uuid::Uuid;

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
}

/// An opened blob: its total size and a stream of the requested bytes.
pub struct BlobRead {
    pub total_size: u64,
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes>>,
}

/// A blob seen by a listing, for the sweeper.
pub struct BlobEntry {
    pub key: String,
    pub last_modified: DateTime<Utc>,
}

impl BlobStore {
    /// Opens a local directory, creating it if needed.
    pub fn open_directory(dir: &str) -> Result<BlobStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Blobs(format!("cannot create {dir}: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(dir)?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(BlobStore {
            store: Arc::new(store),
        })
    }

    /// A store that lives in memory only, for unit tests.
    pub fn in_memory() -> BlobStore {
        BlobStore {
            store: Arc::new(InMemory::new()),
        }
    }

    pub fn key(environment_id: Uuid, image_id: Uuid, name: &str) -> String {
        format!("{environment_id}/{image_id}/{name}")
    }

    /// The prefix under which an image's original and all its variants live.
    pub fn image_prefix(environment_id: Uuid, image_id: Uuid) -> String {
        format!("{environment_id}/{image_id}")
    }

    /// The image id a key belongs to, if the key has our shape.
    pub fn image_of_key(key: &str) -> Option<Uuid> {
        let mut parts = key.split('/');
        let _environment = parts.next()?;
        Uuid::parse_str(parts.next()?).ok()
    }

    /// Writes the whole blob durably; when this returns Ok the bytes survive a crash.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&Path::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Opens a blob, or a byte range of it, as a stream.
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobRead> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&Path::from(key), options).await?;
        let total_size = result.meta.size;
        let range = result.range.clone();
        let body = result.into_stream().map_err(Error::from).boxed();
        Ok(BlobRead {
            total_size,
            range,
            body,
        })
    }

    /// The size of a blob, or None when it is not there.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Removes a blob; removing one that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Removes every blob whose key starts with `prefix/` (an image and its variants).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let prefix = Path::from(prefix);
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            self.delete(meta?.location.as_ref()).await?;
        }
        Ok(())
    }

    /// Every blob in the store, for the orphan sweeper.
    pub fn list(&self) -> BoxStream<'static, Result<BlobEntry>> {
        self.store
            .list(None)
            .map(|entry| {
                let meta = entry?;
                Ok(BlobEntry {
                    key: meta.location.to_string(),
                    last_modified: meta.last_modified,
                })
            })
            .boxed()
    }

    /// A cheap request that proves the store answers, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        match self.store.head(&Path::from("readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_range_delete_round_trip() {
        let store = BlobStore::in_memory();
        let key = BlobStore::key(Uuid::nil(), Uuid::max(), "original");
        assert_eq!(BlobStore::image_of_key(&key), Some(Uuid::max()));
        store
            .put(&key, Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        let read = store.get(&key, Some(2..5)).await.unwrap();
        assert_eq!(read.total_size, 10);
        let bytes: Vec<Bytes> = read.body.try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"234");
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert!(matches!(
            store.get(&key, None).await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn local_directory_writes_files_where_the_key_says() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_directory(dir.path().to_str().unwrap()).unwrap();
        store
            .put("e/i/original", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("e/i/original")).unwrap(),
            b"abc"
        );
        let listed: Vec<BlobEntry> = store.list().try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "e/i/original");
        store.ping().await.unwrap();
    }
}
