//! Subject slots (a subject's one current image) and images by their deployment-wide
//! number.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::statement::statement;
use super::{Catalog, image_from_row};
use crate::domain::{Image, Subject};
use crate::error::Result;

impl Catalog {
    /// A claimed image by its deployment-wide number.
    pub async fn image_by_number(
        &self,
        environment_id: Uuid,
        number: i64,
    ) -> Result<Option<Image>> {
        let select = statement!(
            concat!(
                "SELECT ",
                image_columns!(),
                " FROM images WHERE environment_id = $1 AND number = $2 AND expires_at IS NULL"
            ),
            environment_id,
            number,
        );
        self.engine.row(select, image_from_row).await
    }

    /// Points a subject's slot at an image.
    pub async fn set_slot(
        &self,
        environment_id: Uuid,
        subject: &Subject,
        image_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let upsert = statement!(
            "INSERT INTO slots (environment_id, subject, image_id, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (environment_id, subject) \
             DO UPDATE SET image_id = excluded.image_id, updated_at = excluded.updated_at",
            environment_id,
            subject.as_str(),
            image_id,
            now,
        );
        self.engine.execute_one(upsert).await?;
        Ok(())
    }

    /// The image a subject's slot shows, if any.
    pub async fn slot_image(
        &self,
        environment_id: Uuid,
        subject: &Subject,
    ) -> Result<Option<Image>> {
        let select = statement!(
            concat!(
                "SELECT ",
                image_columns!(),
                " FROM images WHERE id = \
                 (SELECT image_id FROM slots WHERE environment_id = $1 AND subject = $2)"
            ),
            environment_id,
            subject.as_str(),
        );
        self.engine.row(select, image_from_row).await
    }
}
