//! The dropbox: Akana's temporary upload area. An item is an image row with an expiry,
//! invisible to the images API until it is claimed (one UPDATE, so two claims cannot
//! both win); unclaimed items expire, row first, then bytes.

use bytes::Bytes;
use chrono::Utc;
use futures_util::Stream;
use uuid::Uuid;

use super::ingest::created_event;
use super::{Described, Service, UploadRequest};
use crate::domain::{Image, Principal, Scope, Subject};
use crate::error::{Error, Result};
use crate::media::transform::Crop;
use crate::storage::BlobStore;

impl Service {
    /// Validates and holds an image in the dropbox until it is claimed or expires.
    pub async fn upload_to_dropbox<S>(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        filename: Option<String>,
        body: S,
    ) -> Result<Image>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let ttl = chrono::Duration::from_std(self.settings.dropbox_ttl)
            .unwrap_or(chrono::Duration::hours(1));
        let request = UploadRequest {
            filename,
            subject: None,
            expires_at: Some(Utc::now() + ttl),
            ..Default::default()
        };
        Ok(self
            .upload(principal, environment_id, request, body)
            .await?
            .image)
    }

    /// An unexpired, unclaimed dropbox item.
    pub async fn dropbox_item(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        number: i64,
    ) -> Result<Image> {
        principal.require(environment_id, Scope::ImagesRead)?;
        self.catalog
            .upload(environment_id, number, Utc::now())
            .await?
            .ok_or(Error::NotFound("picture"))
    }

    /// Sets the rectangle the item's renditions will be cut from once it is claimed.
    pub async fn crop_dropbox_item(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        number: i64,
        crop: Crop,
    ) -> Result<()> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        let item = self.dropbox_item(principal, environment_id, number).await?;
        let fits = crop.width > 0
            && crop.height > 0
            && u64::from(crop.x) + u64::from(crop.width) <= u64::from(item.width)
            && u64::from(crop.y) + u64::from(crop.height) <= u64::from(item.height);
        if !fits {
            return Err(Error::InvalidInput {
                target: "crop",
                message: format!(
                    "the crop must lie inside the {}x{} picture",
                    item.width, item.height
                ),
            });
        }
        if self
            .catalog
            .set_upload_crop(environment_id, number, crop, Utc::now())
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("picture"))
        }
    }

    /// Claims a dropbox item into a permanent image, optionally about a subject, and with
    /// `into_slot` also makes it the subject's current image.
    pub async fn claim(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        number: i64,
        subject: Option<Subject>,
        into_slot: bool,
    ) -> Result<Described> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        if into_slot && subject.is_none() {
            return Err(Error::InvalidInput {
                target: "subject",
                message: "a slot claim needs a subject".into(),
            });
        }
        let now = Utc::now();
        // Read first: the claim's event names the image, and a refused claim must tell a
        // missing item from a quota.
        let item = self
            .catalog
            .upload(environment_id, number, now)
            .await?
            .ok_or(Error::NotFound("upload"))?;
        let claimed_subject = subject.clone().or_else(|| item.subject.clone());
        let event = created_event(
            environment_id,
            item.id,
            claimed_subject.as_ref(),
            item.format,
            item.byte_size,
            &item.content_hash,
        );
        let claimed = self
            .catalog
            .claim_upload(environment_id, number, subject.as_ref(), now, &[event])
            .await?;
        let Some(image) = claimed else {
            // Gone since (claimed, expired), or a quota refused it.
            return Err(
                match self.catalog.upload(environment_id, number, now).await? {
                    Some(item) => {
                        self.quota_refusal(environment_id, claimed_subject.as_ref(), item.byte_size)
                            .await
                    }
                    None => Error::NotFound("upload"),
                },
            );
        };
        if let (true, Some(subject)) = (into_slot, &subject) {
            self.catalog
                .set_slot(environment_id, subject, image.id, now)
                .await?;
        }
        let presets = self.catalog.presets(environment_id).await?;
        self.render_eager(&image, &presets).await;
        Ok(self.describe_with(image, &presets))
    }

    /// Removes expired dropbox items with their bytes, expired sessions, upload tokens
    /// an hour past their expiry (kept that long so that a late browser's refusal still
    /// carries its environment's CORS grant), and webhook deliveries that ended a week
    /// ago.
    pub async fn expire_uploads(&self) -> Result<u64> {
        let now = Utc::now();
        let expired = self.catalog.delete_expired_uploads(now).await?;
        for image in &expired {
            let prefix = BlobStore::image_prefix(image.environment_id, image.id);
            if let Err(error) = self.blobs.delete_prefix(&prefix).await {
                tracing::warn!(%prefix, %error, "expired upload's bytes left for the sweeper");
            }
        }
        self.catalog.delete_expired_sessions(now).await?;
        self.activity.prune(now.timestamp());
        self.catalog
            .delete_expired_upload_tokens(now - chrono::Duration::hours(1))
            .await?;
        self.catalog
            .delete_finished_deliveries(now - super::webhook_delivery::KEEP_FINISHED)
            .await?;
        Ok(expired.len() as u64)
    }
}
