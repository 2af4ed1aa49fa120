//! Use cases the vendor dialects need on top of plain images: the dropbox (Akana's
//! temporary upload area, claimed later), subject slots (SuperOffice's one image per
//! person), browser sessions with CSRF tokens, and images registered by reference
//! (PingOne's JSON create). The dialect adapters in `http/` only translate to these.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Described, Service, UploadRequest};
use crate::domain::{
    ExternalImage, ExternalTarget, Image, Principal, Scope, Session, Subject, random_hex,
};
use crate::error::{Error, Result};
use crate::media::transform::Crop;
use crate::storage::BlobStore;

/// What an image id can name.
pub enum AnyImage {
    Stored(Box<Described>),
    External(ExternalImage),
}

/// A session as created: the cookie value is shown only here.
pub struct CreatedSession {
    pub cookie_token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

fn session_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

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
        let image = self
            .catalog
            .claim_upload(environment_id, number, subject.as_ref(), now)
            .await?
            .ok_or(Error::NotFound("upload"))?;
        if let (true, Some(subject)) = (into_slot, &subject) {
            self.catalog
                .set_slot(environment_id, subject, image.id, now)
                .await?;
        }
        let presets = self.catalog.presets(environment_id).await?;
        self.render_eager(&image, &presets).await;
        Ok(self.describe_with(image, &presets))
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

    /// Makes a browser session from an already authenticated principal.
    pub async fn create_session(&self, principal: &Principal) -> Result<CreatedSession> {
        let cookie_token = random_hex(32)?;
        let csrf_token = random_hex(16)?;
        let ttl = chrono::Duration::from_std(self.settings.session_ttl)
            .unwrap_or(chrono::Duration::hours(8));
        let expires_at = Utc::now() + ttl;
        self.catalog
            .insert_session(
                &session_hash(&cookie_token),
                principal.credential_id,
                &csrf_token,
                expires_at,
            )
            .await?;
        Ok(CreatedSession {
            cookie_token,
            csrf_token,
            expires_at,
        })
    }

    /// Resolves a session cookie; a state-changing request must also present the session's
    /// CSRF token (compared in constant time).
    pub async fn session_principal(
        &self,
        cookie_token: &str,
        csrf: Option<&str>,
        state_changing: bool,
    ) -> Result<Principal> {
        let session: Session = self
            .catalog
            .session(&session_hash(cookie_token), Utc::now())
            .await?
            .ok_or(Error::Unauthenticated)?;
        if state_changing {
            let presented = csrf.unwrap_or_default();
            if !bool::from(presented.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
                return Err(Error::Unauthenticated);
            }
        }
        Ok(session.principal)
    }

    /// Registers an image whose targets live elsewhere. Nothing is fetched from the hrefs.
    pub async fn register_external(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        targets: Vec<ExternalTarget>,
    ) -> Result<ExternalImage> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        if targets.is_empty() || targets.len() > 32 {
            return Err(Error::InvalidInput {
                target: "targets",
                message: "give 1 to 32 targets".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        for target in &targets {
            // A URL on the wire is printable ASCII (anything else is percent-encoded), so
            // that is all an href may hold: no controls, spaces, bidi overrides, or the
            // line separators U+2028/2029 that end a JavaScript string literal.
            let href_ok = (target.href.starts_with("https://")
                || target.href.starts_with("http://"))
                && target.href.len() <= 2048
                && target.href.bytes().all(|b| b.is_ascii_graphic());
            if !href_ok {
                return Err(Error::InvalidInput {
                    target: "href",
                    message: "each href must be an http(s) URL of printable ASCII characters \
                              (percent-encode anything else), at most 2048 bytes"
                        .into(),
                });
            }
            if !names.insert(target.name.clone()) {
                return Err(Error::InvalidInput {
                    target: "targets",
                    message: format!("target {:?} is given twice", target.name),
                });
            }
        }
        let image = ExternalImage {
            id: Uuid::new_v4(),
            environment_id,
            created_at: Utc::now(),
            targets,
        };
        self.catalog.insert_external_image(&image).await?;
        Ok(image)
    }

    /// A stored image or, failing that, one registered by reference.
    pub async fn any_image(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<AnyImage> {
        // The access check comes first and on its own: the fallback below must never be
        // reached by a principal that `image` refused (another environment's key answers
        // NotFound too, and must not go on to find an external image there).
        principal.require(environment_id, Scope::ImagesRead)?;
        match self.image(principal, environment_id, id).await {
            Err(Error::NotFound("image")) => {
                match self.catalog.external_image(environment_id, id).await? {
                    Some(external) => Ok(AnyImage::External(external)),
                    None => Err(Error::NotFound("image")),
                }
            }
            other => other.map(|described| AnyImage::Stored(Box::new(described))),
        }
    }

    /// Removes expired dropbox items with their bytes, and expired sessions.
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
        Ok(expired.len() as u64)
    }
}
