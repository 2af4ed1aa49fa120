//! Catalog rows for renditions: each environment's presets and its URL-signing secrets.

use sqlx::Row;
use uuid::Uuid;

use super::columns::Columns;
use super::{Catalog, Lookup, time_column, uuid_column};
use crate::domain::rendition_params::{fit_name, parse_fit};
use crate::domain::{FormatChoice, Preset, SigningSecret};
use crate::error::{Error, Result};

impl Catalog {
    /// Creates or replaces a preset; returns it as stored.
    pub async fn put_preset(&self, environment_id: Uuid, preset: &Preset) -> Result<Preset> {
        let row = sqlx::query(
            "INSERT INTO presets (environment_id, name, width, height, fit, format, quality, eager, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (environment_id, name) DO UPDATE SET width = excluded.width, \
             height = excluded.height, fit = excluded.fit, format = excluded.format, \
             quality = excluded.quality, eager = excluded.eager, updated_at = excluded.updated_at \
             RETURNING name, width, height, fit, format, quality, eager, created_at, updated_at",
        )
        .bind(environment_id.to_string())
        .bind(&preset.name)
        .bind(preset.width.map(i64::from))
        .bind(preset.height.map(i64::from))
        .bind(fit_name(preset.fit))
        .bind(preset.format.map(FormatChoice::as_str))
        .bind(i64::from(preset.quality))
        .bind(i64::from(preset.eager))
        .bind(preset.created_at.timestamp_millis())
        .bind(preset.updated_at.timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        preset_from_row(&row)
    }

    pub async fn preset(&self, environment_id: Uuid, name: &str) -> Result<Option<Preset>> {
        let row = sqlx::query(
            "SELECT name, width, height, fit, format, quality, eager, created_at, updated_at \
             FROM presets WHERE environment_id = $1 AND name = $2",
        )
        .bind(environment_id.to_string())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(preset_from_row).transpose()
    }

    /// All of an environment's presets, by name.
    pub async fn presets(&self, environment_id: Uuid) -> Result<Vec<Preset>> {
        const SQL: &str = "SELECT name, width, height, fit, format, quality, eager, created_at, \
                           updated_at FROM presets WHERE environment_id = $1 ORDER BY name";
        let remembered = self.remembered.as_deref();
        let lookup = remembered.map_or(Lookup::Miss(None), |r| {
            r.presets.get(&r.stamp, &environment_id)
        });
        let generation = match lookup {
            Lookup::Hit(presets) => return Ok(presets),
            Lookup::Miss(generation) => generation,
        };
        let key = environment_id.to_string();
        let direct = self
            .direct
            .as_ref()
            .and_then(|direct| direct.rows(SQL, [&key], |row| preset_from_row(row)));
        let presets = match direct {
            Some(presets) => presets?,
            None => {
                let rows = sqlx::query(SQL).bind(key).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(preset_from_row)
                    .collect::<Result<Vec<_>>>()?
            }
        };
        if let Some(remembered) = remembered {
            remembered
                .presets
                .keep(generation, environment_id, presets.clone());
        }
        Ok(presets)
    }

    /// True when a preset was removed.
    pub async fn delete_preset(&self, environment_id: Uuid, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM presets WHERE environment_id = $1 AND name = $2")
            .bind(environment_id.to_string())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_signing_secret(&self, secret: &SigningSecret) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_secrets (id, environment_id, secret, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(secret.id.to_string())
        .bind(secret.environment_id.to_string())
        .bind(&secret.secret)
        .bind(secret.created_at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An environment's signing secrets, newest first.
    pub async fn signing_secrets(&self, environment_id: Uuid) -> Result<Vec<SigningSecret>> {
        let rows = sqlx::query(
            "SELECT id, environment_id, secret, created_at FROM signing_secrets \
             WHERE environment_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(environment_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningSecret {
                    id: uuid_column(row, "id")?,
                    environment_id: uuid_column(row, "environment_id")?,
                    secret: row.try_get("secret")?,
                    created_at: time_column(row, "created_at")?,
                })
            })
            .collect()
    }

    /// True when a secret was removed.
    pub async fn delete_signing_secret(&self, environment_id: Uuid, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM signing_secrets WHERE environment_id = $1 AND id = $2")
            .bind(environment_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn preset_from_row(row: &impl Columns) -> Result<Preset> {
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
