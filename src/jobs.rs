//! Background housekeeping: the orphan sweep. A blob no catalog row owns (an upload that
//! crashed between its blob write and its row commit, or a delete whose blob removal
//! failed) is removed once it is older than the grace period, never before, so that an
//! upload still between its two writes is never touched. Temp files of uploads cut short
//! by a crash are removed on the same schedule. `imagestore gc` runs one sweep by hand; a
//! server runs one every `--gc-interval` seconds. With many instances on one catalog,
//! each sweep first takes the catalog's sweep lock and skips its turn when another
//! instance is sweeping, so the same work is never done twice at once.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;

use crate::error::Result;
use crate::service::Service;
use crate::storage::BlobStore;

/// What one sweep did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub blobs_examined: u64,
    pub orphans_removed: u64,
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
            let owned = match BlobStore::image_of_key(&entry.key) {
                Some(image) => self.catalog.image_exists(image).await?,
                // Not a key this service writes: leave it to whoever did.
                None => true,
            };
            if !owned {
                self.blobs.delete(&entry.key).await?;
                report.orphans_removed += 1;
                tracing::info!(key = %entry.key, "removed orphan blob");
            }
        }
        report.temp_files_removed = remove_stale_files(&self.settings.temp_dir, grace);
        metrics::counter!("imagestore_orphans_removed_total").increment(report.orphans_removed);
        Ok(report)
    }
}

fn remove_stale_files(dir: &Path, grace: Duration) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .map(|modified| now.duration_since(modified).unwrap_or_default() > grace)
            .unwrap_or(false);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
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
