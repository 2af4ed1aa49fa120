//! Images registered by reference: their targets, stored as given.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::statement::statement;
use super::{Catalog, time_column, u32_column};
use crate::domain::{ExternalImage, ExternalTarget};
use crate::error::Result;

impl Catalog {
    /// Records an image registered by reference, with its targets, in one transaction.
    pub async fn insert_external_image(&self, image: &ExternalImage) -> Result<()> {
        let mut statements = vec![statement!(
            "INSERT INTO external_images (id, environment_id, created_at) VALUES ($1, $2, $3)",
            image.id,
            image.environment_id,
            image.created_at,
        )];
        for (position, target) in image.targets.iter().enumerate() {
            statements.push(statement!(
                "INSERT INTO external_targets (image_id, position, name, target_id, width, \
                 height, type, href) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                image.id,
                i64::try_from(position).unwrap_or(i64::MAX),
                &target.name,
                &target.id,
                target.width,
                target.height,
                &target.kind,
                &target.href,
            ));
        }
        self.engine.execute(statements).await?;
        Ok(())
    }

    pub async fn external_image(
        &self,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ExternalImage>> {
        let select = statement!(
            "SELECT created_at FROM external_images WHERE environment_id = $1 AND id = $2",
            environment_id,
            id,
        );
        let created: Option<DateTime<Utc>> = self
            .engine
            .row(select, |row| time_column(row, "created_at"))
            .await?;
        let Some(created_at) = created else {
            return Ok(None);
        };
        let select = statement!(
            "SELECT name, target_id, width, height, type, href FROM external_targets \
             WHERE image_id = $1 ORDER BY position",
            id,
        );
        let targets = self
            .engine
            .rows(select, |row| {
                Ok(ExternalTarget {
                    name: row.required_text("name")?,
                    id: row.required_text("target_id")?,
                    width: u32_column(row, "width")?,
                    height: u32_column(row, "height")?,
                    kind: row.required_text("type")?,
                    href: row.required_text("href")?,
                })
            })
            .await?;
        Ok(Some(ExternalImage {
            id,
            environment_id,
            created_at,
            targets,
        }))
    }

    pub async fn delete_external_image(&self, environment_id: Uuid, id: Uuid) -> Result<bool> {
        let delete = statement!(
            "DELETE FROM external_images WHERE environment_id = $1 AND id = $2",
            environment_id,
            id,
        );
        Ok(self.engine.execute_one(delete).await? == 1)
    }
}
