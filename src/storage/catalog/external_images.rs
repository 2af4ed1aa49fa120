//! Images registered by reference: their targets, stored as given.

use sqlx::Row;
use uuid::Uuid;

use super::{Catalog, time_column, u32_column};
use crate::domain::{ExternalImage, ExternalTarget};
use crate::error::Result;

impl Catalog {
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
