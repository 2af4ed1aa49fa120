//! Upload tokens: a browser's grant to upload into one environment. A use is taken in one
//! conditional UPDATE (`uploads_left > 0`, unexpired), so concurrent uploads on a token
//! can never take more uses than it has; an upload that then fails gives its use back.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Catalog;
use super::audit::record;
use super::columns::{Columns, time_column, uuid_column};
use super::statement::statement;
use crate::domain::{AuditEntry, Subject, UploadGrant};
use crate::error::{Error, Result};
use crate::media::ImageFormat;

const GRANT_COLUMNS: &str = "id, environment_id, subject, slot, max_bytes, formats, \
                             uploads_left, created_by, created_at, expires_at";

impl Catalog {
    pub async fn insert_upload_token(
        &self,
        grant: &UploadGrant,
        secret_hash: &[u8],
        audit: &AuditEntry,
    ) -> Result<()> {
        let insert = statement!(
            "INSERT INTO upload_tokens (id, environment_id, secret_hash, subject, slot, \
             max_bytes, formats, uploads_left, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            grant.id,
            grant.environment_id,
            secret_hash,
            grant.subject.as_ref().map(Subject::as_str),
            grant.slot,
            grant
                .max_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            grant.formats.as_deref().map(formats_text).as_deref(),
            grant.uploads_left,
            &grant.created_by,
            grant.created_at,
            grant.expires_at,
        );
        self.engine.execute(vec![insert, record(audit)]).await?;
        Ok(())
    }

    /// Takes one use of an unexpired token with uses left whose secret hashes to
    /// `secret_hash`, returning its grant; None when there is no such token (unknown,
    /// wrong secret, used up, expired, revoked). The secret is part of the condition, so
    /// a wrong guess never holds a use.
    pub async fn take_upload_token(
        &self,
        id: Uuid,
        secret_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<UploadGrant>> {
        let take = statement!(
            format!(
                "UPDATE upload_tokens SET uploads_left = uploads_left - 1 \
                 WHERE id = $1 AND secret_hash = $2 AND uploads_left > 0 AND expires_at > $3 \
                 RETURNING {GRANT_COLUMNS}"
            ),
            id,
            secret_hash,
            now,
        );
        let taken = self.engine.write_rows(take, grant_from_row).await?;
        Ok(taken.into_iter().next())
    }

    /// Gives back a use taken by an upload that did not become an image.
    pub async fn return_upload_token(&self, id: Uuid) -> Result<()> {
        let give_back = statement!(
            "UPDATE upload_tokens SET uploads_left = uploads_left + 1 WHERE id = $1",
            id
        );
        self.engine.execute_one(give_back).await?;
        Ok(())
    }

    /// The environment a token (used up or not) belongs to.
    pub async fn upload_token_environment(&self, id: Uuid) -> Result<Option<Uuid>> {
        let select = statement!("SELECT environment_id FROM upload_tokens WHERE id = $1", id);
        self.engine
            .row(select, |row| uuid_column(row, "environment_id"))
            .await
    }

    /// Revokes a live token: it ends now, with no uses left. The row stays until the
    /// sweeper removes it, so that a browser's refused upload still finds its
    /// environment's CORS grant. True when there was a live token.
    pub async fn revoke_upload_token(
        &self,
        environment_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let revoke = statement!(
            "UPDATE upload_tokens SET uploads_left = 0, expires_at = $1 \
             WHERE environment_id = $2 AND id = $3 AND expires_at > $1",
            now,
            environment_id,
            id,
        );
        let then = vec![record(audit)];
        Ok(self.engine.execute_if_changed(vec![revoke], then).await? == 1)
    }

    /// Removes tokens that ended before `before`, for the sweeper.
    pub async fn delete_expired_upload_tokens(&self, before: DateTime<Utc>) -> Result<u64> {
        let delete = statement!("DELETE FROM upload_tokens WHERE expires_at <= $1", before);
        self.engine.execute_one(delete).await
    }
}

fn formats_text(formats: &[ImageFormat]) -> String {
    formats
        .iter()
        .map(|format| format.extension())
        .collect::<Vec<_>>()
        .join(",")
}

fn grant_from_row(row: &dyn Columns) -> Result<UploadGrant> {
    let corrupt = |what: &str| Error::Catalog(format!("stored upload token has a bad {what}"));
    let formats = row
        .text("formats")?
        .map(|text| {
            text.split(',')
                .map(|ext| ImageFormat::from_extension(ext).ok_or_else(|| corrupt("format")))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    Ok(UploadGrant {
        id: uuid_column(row, "id")?,
        environment_id: uuid_column(row, "environment_id")?,
        subject: row
            .text("subject")?
            .map(|s| Subject::parse(&s).map_err(|_| corrupt("subject")))
            .transpose()?,
        slot: row.required_int("slot")? != 0,
        max_bytes: row
            .int("max_bytes")?
            .map(|b| u64::try_from(b).map_err(|_| corrupt("max_bytes")))
            .transpose()?,
        formats,
        uploads_left: u32::try_from(row.required_int("uploads_left")?)
            .map_err(|_| corrupt("uploads_left"))?,
        created_by: row.required_text("created_by")?,
        created_at: time_column(row, "created_at")?,
        expires_at: time_column(row, "expires_at")?,
    })
}
