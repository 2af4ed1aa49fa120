//! Subject slots: SuperOffice's one current image per person, and a subject's images by
//! their numbers (QuestionPro's imageID). Another subject's image is as absent as a
//! missing one.

use bytes::Bytes;
use chrono::Utc;
use futures_util::Stream;
use uuid::Uuid;

use super::{Service, UploadRequest};
use crate::domain::{Image, Principal, Scope, Subject};
use crate::error::{Error, Result};

impl Service {
    /// A subject's image by its number (QuestionPro's imageID): another subject's image is
    /// as absent as a missing one.
    pub async fn subject_image(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: &Subject,
        number: i64,
    ) -> Result<Image> {
        principal.require(environment_id, Scope::ImagesRead)?;
        self.catalog
            .image_by_number(environment_id, number)
            .await?
            .filter(|image| image.subject.as_ref() == Some(subject))
            .ok_or(Error::NotFound("image"))
    }

    /// Uploads an image and makes it the subject's current one. The previous image stays
    /// (its URLs keep working) until it is deleted.
    pub async fn replace_slot<S>(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: Subject,
        filename: Option<String>,
        body: S,
    ) -> Result<Image>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let request = UploadRequest {
            filename,
            subject: Some(subject.clone()),
            expires_at: None,
            ..Default::default()
        };
        let image = self
            .upload(principal, environment_id, request, body)
            .await?
            .image;
        self.catalog
            .set_slot(environment_id, &subject, image.id, Utc::now())
            .await?;
        Ok(image)
    }

    /// The subject's current image.
    pub async fn slot_image(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: &Subject,
    ) -> Result<Image> {
        principal.require(environment_id, Scope::ImagesRead)?;
        self.catalog
            .slot_image(environment_id, subject)
            .await?
            .ok_or(Error::NotFound("image"))
    }

    /// Clears the slot by deleting its current image (and with it the slot row).
    pub async fn clear_slot(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: &Subject,
    ) -> Result<()> {
        let image = self.slot_image(principal, environment_id, subject).await?;
        self.delete(principal, environment_id, image.id).await
    }
}
