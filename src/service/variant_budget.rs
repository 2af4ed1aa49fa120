//! What renditions may cost a deployment. A read key can ask for any number of distinct
//! parameter sets, and each used to be rendered and kept until its image was deleted; so
//! the cost is bounded here in two ways. The encode: an AVIF rendition above
//! `max_avif_pixels` is rendered as WebP when the format was negotiated and refused when
//! asked for by name (see `renditions::Service::resolve`). The storage: every time a new
//! variant is stored, its image keeps at most `max_variants_per_image` variants and its
//! environment at most `max_variant_bytes` bytes of them, the oldest removed first.
//!
//! "Oldest" means least recently used, as far as this process knows: a variant's time is
//! the later of when it was written (which the blob store's listing gives) and when this
//! process last served it (kept in memory, in a bounded cache, and refreshed at most once
//! per [`USE_RESOLUTION`], so the hot path pays one lock-free lookup per served variant
//! and no write to any store). A variant served by another instance only counts there,
//! and a restart forgets uses; both fall back to the write time. An evicted variant that
//! is still asked for is rendered again (the same bytes under the same name, so its ETag
//! still holds), and one that is not is gone for good.
//!
//! The per-image cap lists the image's variants, a small prefix, on every new variant. The
//! environment's bytes are kept in memory as an estimate that only grows with what this
//! process stores (and shrinks with what it evicts); the environment is listed, and trimmed
//! to 90% of its budget, only when that estimate passes the budget (or was never taken),
//! so a listing is paid once per tenth of the budget written, not per render. Several
//! instances each keep their own estimate, so together they may overshoot by what each
//! writes between two listings; any of them brings the total back down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use quick_cache::sync::Cache;
use uuid::Uuid;

use crate::error::Result;
use crate::storage::blobs::SizedBlob;
use crate::storage::{BlobStore, Catalog};

/// The bounds on what renditions may cost; flags of `serve`.
#[derive(Debug, Clone)]
pub struct RenditionBudget {
    /// Largest AVIF output, in pixels: AVIF encodes are the slowest by far (about a second
    /// per megapixel at the speed we use), so larger outputs are WebP or refused.
    pub max_avif_pixels: u64,
    /// Most variants one image keeps stored.
    pub max_variants_per_image: usize,
    /// Most bytes of variants one environment keeps stored.
    pub max_variant_bytes: u64,
}

impl Default for RenditionBudget {
    fn default() -> Self {
        RenditionBudget {
            max_avif_pixels: 1_000_000,
            max_variants_per_image: 32,
            max_variant_bytes: 1 << 30,
        }
    }
}

/// What this process believes an environment holds in variants.
#[derive(Debug, Default)]
struct Usage {
    /// Bytes: the last listing's total plus what was stored since, minus what was evicted.
    estimate: u64,
    /// Whether a listing has ever been taken here.
    listed: bool,
    /// A listing is under way; other stores only add to the estimate meanwhile.
    trimming: bool,
}

/// How finely a variant's last use is recorded: a use within this time of the recorded
/// one changes nothing, so a hot variant costs one insert a minute, not one per request.
const USE_RESOLUTION: Duration = Duration::from_secs(60);

/// How many variants' last uses are remembered; beyond it the least used are forgotten,
/// and their write time stands in.
const REMEMBERED_USES: usize = 100_000;

/// Enforces the storage half of [`RenditionBudget`] after each new variant.
#[derive(Clone)]
pub(crate) struct VariantBudget {
    blobs: BlobStore,
    /// Where each image's variant bytes are counted (`images.variant_bytes`, which the
    /// usage counts add up); None in unit tests of the eviction alone.
    catalog: Option<Catalog>,
    max_per_image: usize,
    max_bytes: u64,
    usage: Arc<Mutex<HashMap<Uuid, Usage>>>,
    /// When this process last served each variant, by blob key.
    last_used: Arc<Cache<String, DateTime<Utc>>>,
}

impl VariantBudget {
    /// Records that the variant stored at `key` was served.
    pub(crate) fn used(&self, key: &str) {
        let now = Utc::now();
        let recent = self
            .last_used
            .get(key)
            .is_some_and(|at| (now - at).to_std().is_ok_and(|age| age < USE_RESOLUTION));
        if !recent {
            self.last_used.insert(key.to_owned(), now);
        }
    }

    /// Least recently used first (written or served, whichever is later); equal times
    /// (stores with coarse clocks) in a fixed order.
    fn least_recently_used_first(&self, blobs: &mut [SizedBlob]) {
        let last_use = |blob: &SizedBlob| {
            self.last_used
                .get(blob.key.as_str())
                .map_or(blob.last_modified, |used| used.max(blob.last_modified))
        };
        blobs.sort_by_cached_key(|blob| (last_use(blob), blob.key.clone()));
    }
}

impl VariantBudget {
    pub(crate) fn new(blobs: BlobStore, budget: &RenditionBudget) -> VariantBudget {
        VariantBudget {
            blobs,
            catalog: None,
            max_per_image: budget.max_variants_per_image.max(1),
            max_bytes: budget.max_variant_bytes,
            usage: Arc::default(),
            last_used: Arc::new(Cache::new(REMEMBERED_USES)),
        }
    }

    /// The budget, counting variant bytes into the catalog's usage.
    pub(crate) fn counting_in(mut self, catalog: Catalog) -> VariantBudget {
        self.catalog = Some(catalog);
        self
    }

    /// Adds (or with a negative `delta`, removes) variant bytes to an image's count. A
    /// failure only makes `variantBytes` less exact; it is logged.
    async fn count(&self, image_id: Option<Uuid>, delta: i64) {
        if let (Some(catalog), Some(image_id)) = (&self.catalog, image_id)
            && let Err(error) = catalog.add_variant_bytes(image_id, delta).await
        {
            tracing::warn!(image = %image_id, %error, "variant bytes not counted");
        }
    }

    /// Called once a new variant (`key`, `size` bytes) of an image is stored: counts it,
    /// and evicts what goes beyond the image's and the environment's bounds, never the
    /// new variant itself. A failure is logged and not passed on: the rendition is there
    /// and can be served, and the next store tries again.
    pub(crate) async fn stored(&self, environment_id: Uuid, image_id: Uuid, key: &str, size: u64) {
        self.count(Some(image_id), i64::try_from(size).unwrap_or(i64::MAX))
            .await;
        if let Err(error) = self.cap_image(environment_id, image_id, key).await {
            tracing::warn!(image = %image_id, %error, "evicting an image's variants failed");
        }
        if let Err(error) = self.cap_environment(environment_id, key, size).await {
            tracing::warn!(environment = %environment_id, %error, "evicting variants failed");
        }
    }

    async fn cap_image(&self, environment_id: Uuid, image_id: Uuid, keep: &str) -> Result<()> {
        let prefix = BlobStore::variants_prefix(environment_id, image_id);
        let mut variants = self.blobs.list_sized(&prefix).await?;
        let Some(excess) = variants.len().checked_sub(self.max_per_image) else {
            return Ok(());
        };
        self.least_recently_used_first(&mut variants);
        let mut freed = 0;
        for blob in variants.iter().filter(|b| b.key != keep).take(excess) {
            self.blobs.delete(&blob.key).await?;
            self.count(BlobStore::image_of_key(&blob.key), -(blob.size as i64))
                .await;
            metrics::counter!("imagestore_variants_evicted_total", "bound" => "image").increment(1);
            freed += blob.size;
        }
        self.with_usage(environment_id, |usage| {
            usage.estimate = usage.estimate.saturating_sub(freed)
        });
        Ok(())
    }

    async fn cap_environment(&self, environment_id: Uuid, keep: &str, size: u64) -> Result<()> {
        let before = self.with_usage(environment_id, |usage| {
            usage.estimate = usage.estimate.saturating_add(size);
            let due = !usage.listed || usage.estimate > self.max_bytes;
            if usage.trimming || !due {
                return None;
            }
            usage.trimming = true;
            Some(usage.estimate)
        });
        let Some(before) = before else {
            return Ok(());
        };
        let trimmed = self.trim_environment(environment_id, keep).await;
        self.with_usage(environment_id, |usage| {
            usage.trimming = false;
            if let Ok(remaining) = trimmed {
                // What was stored while the listing ran may or may not be in it; counting
                // it again errs on the side of listing early.
                let since = usage.estimate.saturating_sub(before);
                usage.estimate = remaining.saturating_add(since);
                usage.listed = true;
            }
        });
        trimmed.map(|_| ())
    }

    /// Lists the environment's variants and, when they exceed the budget, removes the
    /// least recently used until they fill at most 90% of it. Returns the bytes left.
    async fn trim_environment(&self, environment_id: Uuid, keep: &str) -> Result<u64> {
        let prefix = BlobStore::environment_prefix(environment_id);
        let mut variants: Vec<SizedBlob> = self
            .blobs
            .list_sized(&prefix)
            .await?
            .into_iter()
            .filter(|blob| BlobStore::is_variant_key(&blob.key))
            .collect();
        let mut total: u64 = variants.iter().map(|b| b.size).sum();
        if total <= self.max_bytes {
            return Ok(total);
        }
        let low_water = self.max_bytes - self.max_bytes / 10;
        self.least_recently_used_first(&mut variants);
        for blob in variants.iter().filter(|b| b.key != keep) {
            if total <= low_water {
                break;
            }
            self.blobs.delete(&blob.key).await?;
            self.count(BlobStore::image_of_key(&blob.key), -(blob.size as i64))
                .await;
            metrics::counter!("imagestore_variants_evicted_total", "bound" => "environment")
                .increment(1);
            total = total.saturating_sub(blob.size);
        }
        Ok(total)
    }

    fn with_usage<T>(&self, environment_id: Uuid, f: impl FnOnce(&mut Usage) -> T) -> T {
        let mut usage = self
            .usage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(usage.entry(environment_id).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn budget(per_image: usize, bytes: u64) -> RenditionBudget {
        RenditionBudget {
            max_variants_per_image: per_image,
            max_variant_bytes: bytes,
            ..RenditionBudget::default()
        }
    }

    async fn store(blobs: &BlobStore, budget: &VariantBudget, env: Uuid, image: Uuid, n: u8) {
        let key = BlobStore::variant_key(env, image, &format!("{n:02}"), "png");
        blobs.put(&key, Bytes::from(vec![n; 100])).await.unwrap();
        budget.stored(env, image, &key, 100).await;
    }

    async fn keys(blobs: &BlobStore, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = blobs
            .list_sized(prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.key)
            .collect();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn an_image_keeps_its_newest_variants_and_its_original() {
        let blobs = BlobStore::in_memory();
        let budget = VariantBudget::new(blobs.clone(), &budget(3, u64::MAX));
        let (env, image) = (Uuid::new_v4(), Uuid::new_v4());
        let original = BlobStore::original_key(env, image);
        blobs
            .put(&original, Bytes::from_static(b"o"))
            .await
            .unwrap();
        for n in 0..6 {
            store(&blobs, &budget, env, image, n).await;
        }
        let prefix = BlobStore::variants_prefix(env, image);
        let kept = keys(&blobs, &prefix).await;
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(
            kept.contains(&BlobStore::variant_key(env, image, "05", "png")),
            "{kept:?}"
        );
        assert_eq!(blobs.size(&original).await.unwrap(), Some(1));
    }

    #[tokio::test]
    async fn an_environment_keeps_its_bytes_within_the_budget() {
        let blobs = BlobStore::in_memory();
        let budget = VariantBudget::new(blobs.clone(), &budget(32, 1000));
        let (env, other) = (Uuid::new_v4(), Uuid::new_v4());
        for n in 0..30 {
            store(&blobs, &budget, env, Uuid::new_v4(), n).await;
            let total: u64 = blobs
                .list_sized(&BlobStore::environment_prefix(env))
                .await
                .unwrap()
                .iter()
                .map(|b| b.size)
                .sum();
            assert!(total <= 1000, "{total} bytes after {n}");
        }
        // Another environment's variants are not touched.
        store(&blobs, &budget, other, Uuid::new_v4(), 99).await;
        let prefix = BlobStore::environment_prefix(other);
        assert_eq!(keys(&blobs, &prefix).await.len(), 1);
        assert!(
            keys(&blobs, &BlobStore::environment_prefix(env))
                .await
                .len()
                >= 9
        );
    }

    #[tokio::test]
    async fn a_variant_served_since_it_was_written_outlives_newer_unused_ones() {
        let blobs = BlobStore::in_memory();
        let budget = VariantBudget::new(blobs.clone(), &budget(3, u64::MAX));
        let (env, image) = (Uuid::new_v4(), Uuid::new_v4());
        for n in 0..3 {
            store(&blobs, &budget, env, image, n).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The first variant written is the one still asked for.
        budget.used(&BlobStore::variant_key(env, image, "00", "png"));
        tokio::time::sleep(Duration::from_millis(5)).await;
        store(&blobs, &budget, env, image, 3).await;
        let kept = keys(&blobs, &BlobStore::variants_prefix(env, image)).await;
        let names: Vec<&str> = kept.iter().map(|k| &k[k.len() - 6..]).collect();
        assert_eq!(names, ["00.png", "02.png", "03.png"], "{kept:?}");
    }
}
