//! The use cases: upload, describe, list, delete and serve images; create environments
//! and keys. This is the only place that orders blob writes against catalog commits, and
//! the only place that checks a principal against what it asks for. It knows nothing of
//! HTTP: the edge parses a request, calls one method here, and renders the result.

mod activity;
mod console;
mod control;
mod dropbox;
mod erasure;
mod export;
mod external_images;
mod ingest;
mod origins;
mod presets;
mod processing;
mod remembered_answers;
mod rendition_request;
pub mod renditions;
mod serving;
mod sessions;
mod signing;
mod single_flight;
mod slots;
mod upload_tokens;
mod usage;
mod variant_budget;
mod variant_name;
mod webhook_delivery;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use activity::RecentUploads;
pub use console::Overview;
pub use control::{CreatedKey, EnvironmentChanges};
pub use external_images::AnyImage;
pub use ingest::UploadRequest;
pub use origins::OriginScope;
pub use presets::PresetInput;
pub use processing::Processing;
pub use renditions::{Described, RenditionSource, Target, Transform, Variant};
pub use serving::{Caching, HrefCaller, HrefRequest, RenditionQuery, ServedHref};
pub use sessions::CreatedSession;
use single_flight::SingleFlight;
pub use upload_tokens::{CreatedUploadToken, TakenUse, UploadTokenRequest};
pub use variant_budget::RenditionBudget;
use variant_budget::VariantBudget;

use crate::auth;
use crate::domain::{Environment, Event, EventType, Image, Page, Principal, Scope, Subject};
use crate::error::{Error, Result};
use crate::media::MediaLimits;
use crate::storage::blobs::BlobRead;
use crate::storage::{BlobStore, Catalog};

/// The knobs the use cases need, taken from `Config`.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub temp_dir: PathBuf,
    pub max_upload_bytes: u64,
    pub media: MediaLimits,
    pub workers: usize,
    pub queue: usize,
    pub orphan_grace: Duration,
    /// Largest width or height a rendition may have.
    pub max_output_side: u32,
    /// What renditions may cost: AVIF size, variants kept per image and environment.
    pub renditions: RenditionBudget,
    /// How long an unclaimed dropbox item is kept.
    pub dropbox_ttl: Duration,
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// Memory for small hot blobs (see `BlobStore::remembering`); 0 for none.
    pub memory_cache_bytes: u64,
    /// Whether webhooks may reach private, loopback and link-local addresses.
    pub webhook_allow_private: bool,
}

pub struct Service {
    pub(crate) catalog: Catalog,
    pub(crate) blobs: BlobStore,
    pub(crate) settings: ServiceSettings,
    processing: Arc<Processing>,
    flights: SingleFlight,
    variant_budget: VariantBudget,
    /// Metadata answers, as the edge rendered them (see `remembered_answers`).
    answers: remembered_answers::RememberedAnswers,
    /// Every environment's allowed origins, briefly (see `origins`).
    known_origins: origins::KnownOrigins,
    /// `imagestore_renditions_total{cache="hit"}`, registered once: a variant served warm
    /// would otherwise look its series up in the registry on every request.
    rendition_hits: metrics::Counter,
    /// When `quota.exceeded` was last raised for each quota (see `usage`).
    quota_events: quick_cache::sync::Cache<String, std::time::Instant>,
    /// The deployment's receipt key, read (or made) once.
    receipt_signer: tokio::sync::OnceCell<erasure::ReceiptSigner>,
    /// Each environment's uploads and rejections by the minute (see `activity`).
    activity: activity::UploadActivity,
}

/// What `bootstrap` made on an empty catalog.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub environment: Environment,
    /// The environment's admin key.
    pub key: CreatedKey,
    /// The deployment's first operator key.
    pub operator: CreatedKey,
}

/// Largest page a listing returns.
pub const MAX_PAGE: u32 = 1000;

impl Service {
    pub fn new(catalog: Catalog, blobs: BlobStore, settings: ServiceSettings) -> Arc<Service> {
        let processing = Arc::new(Processing::new(settings.workers, settings.queue));
        let variant_budget =
            VariantBudget::new(blobs.clone(), &settings.renditions).counting_in(catalog.clone());
        Arc::new(Service {
            catalog,
            blobs,
            settings,
            processing,
            flights: SingleFlight::default(),
            variant_budget,
            answers: remembered_answers::RememberedAnswers::new(
                remembered_answers::REMEMBERED_ANSWERS,
            ),
            known_origins: Default::default(),
            rendition_hits: metrics::counter!("imagestore_renditions_total", "cache" => "hit"),
            receipt_signer: tokio::sync::OnceCell::new(),
            quota_events: quick_cache::sync::Cache::new(usage::REMEMBERED_QUOTA_EVENTS),
            activity: Default::default(),
        })
    }

    /// The catalog, for operations that are about the deployment rather than a request
    /// (locks, migrations, tests of several instances).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A number that changes whenever anything is committed to the catalog, by any
    /// process; None where the catalog has no cheap witness of that (PostgreSQL).
    pub fn catalog_generation(&self) -> Option<u64> {
        self.catalog.generation()
    }

    /// Whether `principal` may upload to the environment: asked before a byte of the body
    /// is read, and asked again by the upload itself.
    pub fn may_upload(&self, principal: &Principal, environment_id: Uuid) -> Result<()> {
        principal.require(environment_id, Scope::ImagesWrite)
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        auth::authenticate(&self.catalog, token).await
    }

    /// On an empty catalog, creates the `default` environment with an admin key, and an
    /// operator key, so that a newcomer can upload at once and provision more tenants.
    /// Returns None when the catalog already had data.
    pub async fn bootstrap(&self) -> Result<Option<Bootstrap>> {
        let environment = control::new_environment("default", Default::default())?;
        if !self.catalog.insert_first_environment(&environment).await? {
            return Ok(None);
        }
        let shell = Principal::shell();
        let key = self
            .create_key(&shell, environment.id, None, vec![Scope::Admin], None)
            .await?;
        let operator = self.create_operator_key(&shell, None).await?;
        Ok(Some(Bootstrap {
            environment,
            key,
            operator,
        }))
    }

    pub async fn image(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Described> {
        principal.require(environment_id, Scope::ImagesRead)?;
        let image = self
            .catalog
            .image(environment_id, id)
            .await?
            .ok_or(Error::NotFound("image"))?;
        self.describe(image).await
    }

    pub async fn list(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: Option<&Subject>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<Described>> {
        principal.require(environment_id, Scope::ImagesRead)?;
        check_page_limit(limit)?;
        let page = self
            .catalog
            .list_images(environment_id, subject, after, limit)
            .await?;
        let presets = self.catalog.presets(environment_id).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|image| self.describe_with(image, &presets))
                .collect(),
            next: page.next,
        })
    }

    /// Removes the row first (the commit point), then the original and its variants; bytes
    /// a failure leaves behind are orphans for the sweeper.
    pub async fn delete(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<()> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        let deleted = Event::new(
            environment_id,
            EventType::ImageDeleted,
            serde_json::json!({ "environmentId": environment_id, "imageId": id }),
        );
        let removed = self
            .catalog
            .delete_image(environment_id, id, &[deleted])
            .await?;
        let Some(image) = removed else {
            return if self
                .catalog
                .delete_external_image(environment_id, id)
                .await?
            {
                Ok(())
            } else {
                Err(Error::NotFound("image"))
            };
        };
        let prefix = BlobStore::image_prefix(image.environment_id, image.id);
        if let Err(error) = self.blobs.delete_prefix(&prefix).await {
            tracing::warn!(%prefix, %error, "blobs left for the sweeper");
        }
        Ok(())
    }

    /// Looks up an image by its public href parts. The serve key is compared in constant
    /// time; any mismatch is indistinguishable from a missing image.
    pub async fn published_image(
        &self,
        environment_id: Uuid,
        id: Uuid,
        serve_key: &str,
    ) -> Result<Image> {
        let image = self
            .catalog
            .image(environment_id, id)
            .await?
            .ok_or(Error::NotFound("image"))?;
        if bool::from(image.serve_key.as_bytes().ct_eq(serve_key.as_bytes())) {
            Ok(image)
        } else {
            Err(Error::NotFound("image"))
        }
    }

    /// Opens an image's stored bytes, or a range of them. What is served must be what was
    /// stored: a blob whose size differs from its row's is refused here, whatever its size,
    /// and a small one is hashed when read from the store (`BlobStore::get_original`).
    pub async fn open_original(
        &self,
        image: &Image,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobRead> {
        let read = self
            .blobs
            .get_original(&image.blob_key, range, &image.content_hash)
            .await?;
        if read.total_size != image.byte_size {
            tracing::error!(key = %image.blob_key, stored = read.total_size, recorded = image.byte_size,
                "a stored blob's size differs from its row's; not served");
            return Err(Error::Blobs(format!(
                "{} is {} bytes, its row says {}",
                image.blob_key, read.total_size, image.byte_size
            )));
        }
        Ok(read)
    }

    /// Readiness: both engines answer, and neither reported a full disk lately.
    pub async fn check_ready(&self) -> Result<()> {
        if crate::storage::capacity::recently_full() {
            // Built directly rather than by `Error::storage_full`, which would note it
            // again and keep the instance unready for good.
            return Err(Error::StorageFull {
                engine: "storage",
                message: "a write failed for lack of space in the last 30 seconds".into(),
            });
        }
        self.catalog.ping().await?;
        self.blobs.ping().await
    }
}

/// Refuses a page size outside 1..=[`MAX_PAGE`].
fn check_page_limit(limit: u32) -> Result<()> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            target: "limit",
            message: format!("limit must be between 1 and {MAX_PAGE}"),
        })
    }
}
