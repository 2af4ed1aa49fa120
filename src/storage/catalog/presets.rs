//! Catalog rows for renditions: each environment's presets and its URL-signing secrets.

use uuid::Uuid;

use super::audit::record;
use super::columns::Columns;
use super::statement::statement;
use super::{Catalog, Lookup, time_column, uuid_column};
use crate::domain::rendition_params::{fit_name, parse_fit};
use crate::domain::{AuditEntry, FormatChoice, Preset, SigningSecret};
use crate::error::{Error, Result};

impl Catalog {
    /// Creates or replaces a preset; returns it as stored.
    pub async fn put_preset(
        &self,
        environment_id: Uuid,
        preset: &Preset,
        audit: &AuditEntry,
    ) -> Result<Preset> {
        let upsert = statement!(
            "INSERT INTO presets (environment_id, name, width, height, fit, format, quality, \
             eager, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (environment_id, name) DO UPDATE SET width = excluded.width, \
             height = excluded.height, fit = excluded.fit, format = excluded.format, \
             quality = excluded.quality, eager = excluded.eager, updated_at = excluded.updated_at \
             RETURNING name, width, height, fit, format, quality, eager, created_at, updated_at",
            environment_id,
            &preset.name,
            preset.width,
            preset.height,
            fit_name(preset.fit),
            preset.format.map(FormatChoice::as_str),
            i64::from(preset.quality),
            preset.eager,
            preset.created_at,
            preset.updated_at,
        );
        let stored = self
            .engine
            .write_rows_with(Vec::new(), upsert, preset_from_row, vec![record(audit)])
            .await?;
        stored
            .into_iter()
            .next()
            .ok_or_else(|| Error::Catalog("the preset upsert returned no row".into()))
    }

    pub async fn preset(&self, environment_id: Uuid, name: &str) -> Result<Option<Preset>> {
        let select = statement!(
            "SELECT name, width, height, fit, format, quality, eager, created_at, updated_at \
             FROM presets WHERE environment_id = $1 AND name = $2",
            environment_id,
            name,
        );
        self.engine.row(select, preset_from_row).await
    }

    /// All of an environment's presets, by name.
    pub async fn presets(&self, environment_id: Uuid) -> Result<Vec<Preset>> {
        let remembered = self.remembered();
        let lookup = remembered.map_or(Lookup::Miss(None), |r| {
            r.presets.get(&r.stamp, &environment_id)
        });
        let generation = match lookup {
            Lookup::Hit(presets) => return Ok(presets),
            Lookup::Miss(generation) => generation,
        };
        let select = statement!(
            "SELECT name, width, height, fit, format, quality, eager, created_at, updated_at \
             FROM presets WHERE environment_id = $1 ORDER BY name",
            environment_id,
        );
        let presets = self.engine.rows(select, preset_from_row).await?;
        if let Some(remembered) = remembered {
            remembered
                .presets
                .keep(generation, environment_id, presets.clone());
        }
        Ok(presets)
    }

    /// True when a preset was removed.
    pub async fn delete_preset(
        &self,
        environment_id: Uuid,
        name: &str,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let delete = statement!(
            "DELETE FROM presets WHERE environment_id = $1 AND name = $2",
            environment_id,
            name,
        );
        Ok(self
            .engine
            .execute_if_changed(vec![delete], vec![record(audit)])
            .await?
            == 1)
    }

    pub async fn insert_signing_secret(
        &self,
        secret: &SigningSecret,
        audit: &AuditEntry,
    ) -> Result<()> {
        let insert = statement!(
            "INSERT INTO signing_secrets (id, environment_id, secret, created_at) \
             VALUES ($1, $2, $3, $4)",
            secret.id,
            secret.environment_id,
            &secret.secret,
            secret.created_at,
        );
        self.engine.execute(vec![insert, record(audit)]).await?;
        Ok(())
    }

    /// An environment's signing secrets, newest first.
    pub async fn signing_secrets(&self, environment_id: Uuid) -> Result<Vec<SigningSecret>> {
        let select = statement!(
            "SELECT id, environment_id, secret, created_at FROM signing_secrets \
             WHERE environment_id = $1 ORDER BY created_at DESC, id",
            environment_id,
        );
        self.engine
            .rows(select, |row| {
                Ok(SigningSecret {
                    id: uuid_column(row, "id")?,
                    environment_id: uuid_column(row, "environment_id")?,
                    secret: row.required_text("secret")?,
                    created_at: time_column(row, "created_at")?,
                })
            })
            .await
    }

    /// True when a secret was removed.
    pub async fn delete_signing_secret(
        &self,
        environment_id: Uuid,
        id: Uuid,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let delete = statement!(
            "DELETE FROM signing_secrets WHERE environment_id = $1 AND id = $2",
            environment_id,
            id,
        );
        Ok(self
            .engine
            .execute_if_changed(vec![delete], vec![record(audit)])
            .await?
            == 1)
    }
}

fn preset_from_row(row: &dyn Columns) -> Result<Preset> {
    let corrupt = |what: &str| Error::Catalog(format!("stored preset has a bad {what}"));
    let dimension = |column: &str| -> Result<Option<u32>> {
        row.int(column)?
            .map(|v| u32::try_from(v).map_err(|_| corrupt(column)))
            .transpose()
    };
    let fit = row.required_text("fit")?;
    let quality = row.required_int("quality")?;
    Ok(Preset {
        name: row.required_text("name")?,
        width: dimension("width")?,
        height: dimension("height")?,
        fit: parse_fit(&fit).ok_or_else(|| corrupt("fit"))?,
        format: row
            .text("format")?
            .map(|f| FormatChoice::parse(&f).ok_or_else(|| corrupt("format")))
            .transpose()?,
        quality: u8::try_from(quality).map_err(|_| corrupt("quality"))?,
        eager: row.required_int("eager")? != 0,
        created_at: time_column(row, "created_at")?,
        updated_at: time_column(row, "updated_at")?,
    })
}
