//! Background housekeeping: the orphan sweep. A blob no catalog row owns (an upload that
//! crashed between its blob write and its row commit, or a delete whose blob removal
//! failed) is removed once it is older than the grace period. Staging files of blob
//! writes and spooled upload bodies left by a crash or an abandoned request are removed on
//! the same schedule (`storage::staging`). `imagestore gc` runs one sweep by hand; a
//! server runs one every `--gc-interval` seconds. With many instances on one catalog,
//! each sweep first takes the catalog's sweep lock and skips its turn when another
//! instance is sweeping, so the same work is never done twice at once.
//!
//! No grace value, not even 0, can lose an acknowledged upload; the grace only spares the
//! work of racing uploads that are about to commit. An upload writes its blob, then its
//! row, then checks that the blob is still in the store and writes it again if not
//! (`service::ingest`); the sweep reads an orphan's bytes, deletes it, then looks for its
//! row once more and puts the bytes back if the row appeared meanwhile. Whichever of the
//! two looks last sees the other's write, so a row committed while its blob was being
//! swept always gets its bytes back (a read in that instant may see a 404). Staging and
//! spool files are held under a lock by their writer while in flight, and a locked file
//! is never removed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;

use crate::error::Result;
use crate::service::Service;
use crate::storage::{BlobStore, staging};
use uuid::Uuid;

/// What one sweep did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub blobs_examined: u64,
    pub orphans_removed: u64,
    /// Staging files of blob writes that a crash or an abandoned request left behind.
    pub staging_files_removed: u64,
    /// Spooled upload bodies that a crash left behind.
    pub temp_files_removed: u64,
    pub expired_uploads_removed: u64,
    /// True when another instance held the sweep lock, so this sweep did nothing.
    pub skipped: bool,
}

impl Service {
    /// Removes orphan blobs and stale temp files older than `grace`.
    pub async fn sweep(&self, grace: Duration) -> Result<SweepReport> {
        let Some(lock) = self.catalog.try_sweep_lock().await? else {
            return Ok(SweepReport {
                skipped: true,
                ..SweepReport::default()
            });
        };
        let report = self.sweep_under_lock(grace).await;
        lock.release().await;
        report
    }

    async fn sweep_under_lock(&self, grace: Duration) -> Result<SweepReport> {
        let mut report = SweepReport {
            expired_uploads_removed: self.expire_uploads().await?,
            ..SweepReport::default()
        };
        let cutoff =
            Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut listing = self.blobs.list_under(None);
        while let Some(entry) = listing.next().await {
            let entry = entry?;
            report.blobs_examined += 1;
            if entry.last_modified > cutoff {
                continue;
            }
            // Not a key this service writes: leave it to whoever did.
            let Some(image) = BlobStore::image_of_key(&entry.key) else {
                continue;
            };
            if !self.catalog.image_exists(image).await?
                && self.remove_orphan(&entry.key, image).await?
            {
                report.orphans_removed += 1;
                tracing::info!(key = %entry.key, "removed orphan blob");
            }
        }
        let staging_root = self.blobs.staging_root().map(Path::to_path_buf);
        let temp_dir = self.settings.temp_dir.clone();
        (report.staging_files_removed, report.temp_files_removed) =
            tokio::task::spawn_blocking(move || {
                let staged = staging_root.map_or(0, |root| {
                    staging::remove_stale(&root, staging::Kind::Staging, grace)
                });
                let spooled = staging::remove_stale(&temp_dir, staging::Kind::Spool, grace);
                (staged, spooled)
            })
            .await
            .map_err(|e| crate::error::Error::Internal(format!("the file sweep stopped: {e}")))?;
        metrics::counter!("imagestore_orphans_removed_total").increment(report.orphans_removed);
        Ok(report)
    }

    /// Removes a blob whose row was missing a moment ago; returns whether it is gone. The
    /// bytes are held while the blob is away, and put back if the row turns out to have
    /// been committed in the meantime (see the module's note).
    async fn remove_orphan(&self, key: &str, image: Uuid) -> Result<bool> {
        let bytes = match self.blobs.read_all(key).await {
            Ok(bytes) => bytes,
            // Removed by someone else since the listing.
            Err(crate::error::Error::NotFound(_)) => return Ok(false),
            Err(other) => return Err(other),
        };
        self.blobs.delete(key).await?;
        if self.catalog.image_exists(image).await? {
            self.blobs.put(key, bytes).await?;
            tracing::info!(%key, "a blob's row was committed while it was swept; put back");
            return Ok(false);
        }
        Ok(true)
    }
}

/// Runs the sweep forever at `interval`, logging each outcome.
pub fn spawn_sweeper(service: Arc<Service>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match service.sweep(service.settings.orphan_grace).await {
                Ok(report) => tracing::info!(?report, "orphan sweep finished"),
                Err(error) => tracing::warn!(%error, "orphan sweep failed; will retry"),
            }
        }
    })
}
