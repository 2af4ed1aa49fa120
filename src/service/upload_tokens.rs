//! Upload tokens: direct uploads from a browser, with no API key in it. An application's
//! server (holding `images:write`) asks for a token that binds the environment, and
//! optionally a subject and its slot, with limits on bytes, formats, uses and time; the
//! browser then sends the image to the token's upload URL. The uploader can choose none
//! of what the token binds.
//!
//! A use is taken before the body is read, in one conditional UPDATE (see the catalog's
//! `upload_tokens`), so concurrent uploads on a token never make more images than it
//! allows; an upload that does not become an image gives its use back. Every failure to
//! present a usable token (unknown, wrong secret, used up, expired, revoked) is the same
//! `Unauthenticated`, so a probe learns nothing about which.

use bytes::Bytes;
use chrono::{Duration, Utc};
use futures_util::Stream;
use uuid::Uuid;

use super::Service;
use super::control::audit_entry;
use super::ingest::UploadRequest;
use super::renditions::Described;
use crate::auth;
use crate::domain::{Principal, Scope, Subject, UploadGrant};
use crate::error::{Error, Result};
use crate::media::ImageFormat;

/// How long a token lasts when its maker does not say, and at most.
const DEFAULT_EXPIRES_IN: u64 = 600;
const MAX_EXPIRES_IN: u64 = 86_400;

/// The most uses one token may have.
const MAX_UPLOADS: u32 = 1000;

/// What a token's maker asks for.
#[derive(Debug, Clone, Default)]
pub struct UploadTokenRequest {
    pub subject: Option<Subject>,
    pub slot: bool,
    pub max_bytes: Option<u64>,
    pub max_uploads: Option<u32>,
    /// File extensions, such as `jpg`, `png`.
    pub formats: Option<Vec<String>>,
    pub expires_in: Option<u64>,
}

/// A made token: the only moment it is visible.
#[derive(Debug, Clone)]
pub struct CreatedUploadToken {
    pub grant: UploadGrant,
    pub token: String,
}

fn invalid(target: &'static str, message: String) -> Error {
    Error::InvalidInput { target, message }
}

impl Service {
    pub async fn create_upload_token(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        request: UploadTokenRequest,
    ) -> Result<CreatedUploadToken> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        self.environment(principal, environment_id).await?;
        if request.slot && request.subject.is_none() {
            return Err(invalid("slot", "a slot needs a subject".into()));
        }
        let limit = self.settings.max_upload_bytes;
        if request.max_bytes.is_some_and(|b| b == 0 || b > limit) {
            return Err(invalid(
                "maxBytes",
                format!("maxBytes must be between 1 and the server's limit of {limit}"),
            ));
        }
        let uploads = request.max_uploads.unwrap_or(1);
        if !(1..=MAX_UPLOADS).contains(&uploads) {
            return Err(invalid(
                "maxUploads",
                format!("maxUploads must be between 1 and {MAX_UPLOADS}"),
            ));
        }
        let expires_in = request.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
        if !(1..=MAX_EXPIRES_IN).contains(&expires_in) {
            return Err(invalid(
                "expiresIn",
                format!("expiresIn must be between 1 and {MAX_EXPIRES_IN} seconds"),
            ));
        }
        let formats = request
            .formats
            .map(|names| parse_formats(&names))
            .transpose()?;
        let now = Utc::now();
        let id = Uuid::new_v4();
        let minted = auth::mint_upload_token(id)?;
        let grant = UploadGrant {
            id,
            environment_id,
            subject: request.subject,
            slot: request.slot,
            max_bytes: request.max_bytes,
            formats,
            uploads_left: uploads,
            created_by: principal.actor(),
            created_at: now,
            expires_at: now + Duration::seconds(expires_in as i64),
        };
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "upload_token.create",
            format!("upload-token/{id}"),
        );
        self.catalog
            .insert_upload_token(&grant, &minted.secret_hash, &audit)
            .await?;
        Ok(CreatedUploadToken {
            grant,
            token: minted.token,
        })
    }

    pub async fn revoke_upload_token(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<()> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "upload_token.revoke",
            format!("upload-token/{id}"),
        );
        if self
            .catalog
            .revoke_upload_token(environment_id, id, Utc::now(), &audit)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("upload token"))
        }
    }

    /// Takes one use of a presented upload token: the grant it stands for, with the use,
    /// or `Unauthenticated`. Asked before the body is read. The use goes back by itself
    /// unless an image is committed with it (see [`TakenUse`]).
    pub async fn take_upload_token(&self, token: &str) -> Result<(UploadGrant, TakenUse)> {
        let (id, secret_hash) = auth::upload_token_parts(token).ok_or(Error::Unauthenticated)?;
        let grant = self
            .catalog
            .take_upload_token(id, &secret_hash, Utc::now())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let taken = TakenUse {
            catalog: self.catalog.clone(),
            id,
            spent: false,
        };
        Ok((grant, taken))
    }

    /// Uploads with a use taken by [`Service::take_upload_token`]: into the grant's
    /// environment, about its subject (into its slot if it says so), within its limits.
    /// The use is spent once the image's row is committed; before that, any failure (or
    /// the request going away) gives it back.
    pub async fn upload_with_token<S>(
        &self,
        grant: &UploadGrant,
        mut taken: TakenUse,
        filename: Option<String>,
        body: S,
    ) -> Result<Described>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let request = UploadRequest {
            filename,
            subject: grant.subject.clone(),
            expires_at: None,
            max_bytes: grant.max_bytes,
            formats: grant.formats.clone(),
        };
        let image = match self
            .store_counted(grant.environment_id, request, body)
            .await
        {
            Ok(image) => image,
            Err(error) => {
                // Given back before the answer, so that a retry right after it finds it.
                taken.give_back().await;
                return Err(error);
            }
        };
        taken.spent = true;
        if let (true, Some(subject)) = (grant.slot, &grant.subject) {
            self.catalog
                .set_slot(grant.environment_id, subject, image.id, Utc::now())
                .await?;
        }
        self.finish_upload(image).await
    }
}

/// One use of an upload token, taken for an upload in progress. Dropped before the
/// upload's row is committed (an error, a body that could not be read, a client that went
/// away, a timeout), it gives the use back, so that a failed attempt never costs the
/// browser its token.
pub struct TakenUse {
    catalog: crate::storage::Catalog,
    id: Uuid,
    spent: bool,
}

impl TakenUse {
    /// Gives the use back now, before the caller answers (a failure it knows of); the
    /// drop guard is for the failures nobody returns from.
    pub async fn give_back(mut self) {
        self.spent = true;
        if let Err(error) = self.catalog.return_upload_token(self.id).await {
            tracing::warn!(token = %self.id, %error, "a use was not given back");
        }
    }
}

impl Drop for TakenUse {
    fn drop(&mut self) {
        if self.spent {
            return;
        }
        let (catalog, id) = (self.catalog.clone(), self.id);
        let give_back = async move {
            if let Err(error) = catalog.return_upload_token(id).await {
                tracing::warn!(token = %id, %error, "a use was not given back");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(give_back)),
            Err(_) => tracing::warn!(token = %id, "no runtime to give a use back on"),
        }
    }
}

fn parse_formats(names: &[String]) -> Result<Vec<ImageFormat>> {
    if names.is_empty() {
        return Err(invalid(
            "formats",
            "formats must name at least one format".into(),
        ));
    }
    names
        .iter()
        .map(|name| {
            let name = name.trim();
            ImageFormat::from_extension(name)
                .ok_or_else(|| invalid("formats", format!("unknown image format {name:?}")))
        })
        .collect()
}
