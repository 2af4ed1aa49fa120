//! Catalog rows the vendor dialects need: dropbox items (image rows not claimed yet),
//! subject slots, browser sessions, and images registered by reference.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{Catalog, crop_text, image_from_row, time_column, u32_column, uuid_column};
use crate::domain::{ExternalImage, ExternalTarget, Image, Principal, Scope, Session, Subject};
use crate::error::{Error, Result};
use crate::media::transform::Crop;

impl Catalog {
    /// A claimed image by its deployment-wide number.
    pub async fn image_by_number(
        &self,
        environment_id: Uuid,
        number: i64,
    ) -> Result<Option<Image>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            image_columns!(),
            " FROM images WHERE environment_id = $1 AND number = $2 AND expires_at IS NULL"
        ))
        .bind(environment_id.to_string())
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(image_from_row).transpose()
    }

    /// An unexpired dropbox item by its PictureID.
    pub async fn upload(
        &self,
        environment_id: Uuid,
        number: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Image>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            image_columns!(),
            " FROM images WHERE environment_id = $1 AND number = $2 AND expires_at > $3"
        ))
        .bind(environment_id.to_string())
        .bind(number)
        .bind(now.timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(image_from_row).transpose()
    }

    /// Sets the crop of an unexpired dropbox item; false when there is none.
    pub async fn set_upload_crop(
        &self,
        environment_id: Uuid,
        number: i64,
        crop: Crop,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE images SET crop = $1, updated_at = $2 \
             WHERE environment_id = $3 AND number = $4 AND expires_at > $2",
        )
        .bind(crop_text(crop))
        .bind(now.timestamp_millis())
        .bind(environment_id.to_string())
        .bind(number)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Turns an unexpired dropbox item into a permanent image (one statement, so two claims
    /// of one item cannot both win), optionally about a subject.
    pub async fn claim_upload(
        &self,
        environment_id: Uuid,
        number: i64,
        subject: Option<&Subject>,
        now: DateTime<Utc>,
    ) -> Result<Option<Image>> {
        let row = sqlx::query(concat!(
            "UPDATE images SET expires_at = NULL, subject = COALESCE($1, subject), updated_at = $2 \
             WHERE environment_id = $3 AND number = $4 AND expires_at > $2 RETURNING ",
            image_columns!()
        ))
        .bind(subject.map(Subject::as_str))
        .bind(now.timestamp_millis())
        .bind(environment_id.to_string())
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(image_from_row).transpose()
    }

    /// Removes dropbox items that expired and returns them, so their bytes can go too.
    pub async fn delete_expired_uploads(&self, now: DateTime<Utc>) -> Result<Vec<Image>> {
        let rows = sqlx::query(concat!(
            "DELETE FROM images WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING ",
            image_columns!()
        ))
        .bind(now.timestamp_millis())
        .fetch_all(&self.pool)
        .await?;
        // A row that cannot be read is gone all the same; its bytes are left to the sweep.
        Ok(super::columns::readable_images(&rows))
    }

    /// Points a subject's slot at an image.
    pub async fn set_slot(
        &self,
        environment_id: Uuid,
        subject: &Subject,
        image_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO slots (environment_id, subject, image_id, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (environment_id, subject) DO UPDATE SET image_id = excluded.image_id, \
             updated_at = excluded.updated_at",
        )
        .bind(environment_id.to_string())
        .bind(subject.as_str())
        .bind(image_id.to_string())
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The image a subject's slot shows, if any.
    pub async fn slot_image(
        &self,
        environment_id: Uuid,
        subject: &Subject,
    ) -> Result<Option<Image>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            image_columns!(),
            " FROM images WHERE id = (SELECT image_id FROM slots WHERE environment_id = $1 AND subject = $2)"
        ))
        .bind(environment_id.to_string())
        .bind(subject.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(image_from_row).transpose()
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        credential_id: Uuid,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, credential_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(credential_id.to_string())
        .bind(csrf_token)
        .bind(Utc::now().timestamp_millis())
        .bind(expires_at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An unexpired session with the principal of its credential.
    pub async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT s.csrf_token, s.expires_at, c.id, c.environment_id, c.scopes \
             FROM sessions s JOIN credentials c ON c.id = s.credential_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 \
             AND (c.expires_at IS NULL OR c.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now.timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let scopes: String = row.try_get("scopes")?;
            Ok(Session {
                principal: Principal {
                    environment_id: uuid_column(&row, "environment_id")?,
                    credential_id: uuid_column(&row, "id")?,
                    scopes: Scope::parse_list(&scopes)
                        .map_err(|e| Error::Catalog(format!("stored scopes: {e}")))?,
                },
                csrf_token: row.try_get("csrf_token")?,
                expires_at: time_column(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records an image registered by reference, with its targets, in one transaction.
    pub async fn insert_external_image(&self, image: &ExternalImage) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO external_images (id, environment_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(image.id.to_string())
        .bind(image.environment_id.to_string())
        .bind(image.created_at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        for (position, target) in image.targets.iter().enumerate() {
            sqlx::query(
                "INSERT INTO external_targets (image_id, position, name, target_id, width, height, type, href) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(image.id.to_string())
            .bind(position as i64)
            .bind(&target.name)
            .bind(&target.id)
            .bind(i64::from(target.width))
            .bind(i64::from(target.height))
            .bind(&target.kind)
            .bind(&target.href)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn external_image(
        &self,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ExternalImage>> {
        let Some(row) = sqlx::query(
            "SELECT created_at FROM external_images WHERE environment_id = $1 AND id = $2",
        )
        .bind(environment_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let created_at = time_column(&row, "created_at")?;
        let rows = sqlx::query(
            "SELECT name, target_id, width, height, type, href FROM external_targets \
             WHERE image_id = $1 ORDER BY position",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let targets = rows
            .iter()
            .map(|row| {
                Ok(ExternalTarget {
                    name: row.try_get("name")?,
                    id: row.try_get("target_id")?,
                    width: u32_column(row, "width")?,
                    height: u32_column(row, "height")?,
                    kind: row.try_get("type")?,
                    href: row.try_get("href")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ExternalImage {
            id,
            environment_id,
            created_at,
            targets,
        }))
    }

    pub async fn delete_external_image(&self, environment_id: Uuid, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM external_images WHERE environment_id = $1 AND id = $2")
            .bind(environment_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
