//! Dropbox items: image rows with an expiry, invisible to every images query (which all
//! filter `expires_at IS NULL`) until a claim clears it in one UPDATE, so two claims
//! cannot both win.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::columns::{listed_row, readable_images};
use super::events::deliveries;
use super::statement::statement;
use super::usage::{quota_guard, quota_lock};
use super::{Catalog, crop_text, image_from_row};
use crate::domain::{Event, Image, Subject};
use crate::error::Result;
use crate::media::transform::Crop;

impl Catalog {
    /// An unexpired dropbox item by its PictureID.
    pub async fn upload(
        &self,
        environment_id: Uuid,
        number: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Image>> {
        let select = statement!(
            concat!(
                "SELECT ",
                image_columns!(),
                " FROM images WHERE environment_id = $1 AND number = $2 AND expires_at > $3"
            ),
            environment_id,
            number,
            now,
        );
        self.engine.row(select, image_from_row).await
    }

    /// Sets the crop of an unexpired dropbox item; false when there is none.
    pub async fn set_upload_crop(
        &self,
        environment_id: Uuid,
        number: i64,
        crop: Crop,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let update = statement!(
            "UPDATE images SET crop = $1, updated_at = $2 \
             WHERE environment_id = $3 AND number = $4 AND expires_at > $2",
            crop_text(crop),
            now,
            environment_id,
            number,
        );
        Ok(self.engine.execute_one(update).await? == 1)
    }

    /// Turns an unexpired dropbox item into a permanent image (one statement, so two claims
    /// of one item cannot both win), optionally about a subject, unless that would pass a
    /// quota. None when there is no such item or a quota refused it (the
    /// caller tells which); `events` are queued with the claim.
    pub async fn claim_upload(
        &self,
        environment_id: Uuid,
        number: i64,
        subject: Option<&Subject>,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Image>> {
        let claim = statement!(
            format!(
                concat!(
                    "UPDATE images SET expires_at = NULL, subject = COALESCE($1, subject), \
                     updated_at = $2 WHERE environment_id = $3 AND number = $4 \
                     AND expires_at > $2 AND {} RETURNING ",
                    image_columns!()
                ),
                quota_guard(
                    &self.engine,
                    "$3",
                    "COALESCE($1, images.subject)",
                    "images.byte_size"
                )
            ),
            subject.map(Subject::as_str),
            now,
            environment_id,
            number,
        );
        let lock = quota_lock(&self.engine, environment_id, true);
        let then = events.iter().map(deliveries).collect();
        // Read tolerantly, as `delete_image` does: the claim commits on either engine.
        let claimed = self
            .engine
            .write_rows_with(lock, claim, listed_row, then)
            .await?;
        claimed.into_iter().next().map(|row| row.image).transpose()
    }

    /// Removes dropbox items that expired and returns them, so their bytes can go too.
    pub async fn delete_expired_uploads(&self, now: DateTime<Utc>) -> Result<Vec<Image>> {
        let delete = statement!(
            concat!(
                "DELETE FROM images WHERE expires_at IS NOT NULL AND expires_at <= $1 \
                 RETURNING ",
                image_columns!()
            ),
            now,
        );
        let rows = self.engine.write_rows(delete, listed_row).await?;
        // A row that cannot be read is gone all the same; its bytes are left to the sweep.
        Ok(readable_images(rows))
    }
}
