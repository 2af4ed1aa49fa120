//! Environments (tenants) and their settings. Removing one removes every row that belongs
//! to it in the same transaction (its credentials, images, presets, secrets, sessions,
//! slots, external images and upload tokens by `ON DELETE CASCADE`, its audit events
//! explicitly); its blobs are the service's to remove afterwards.

use uuid::Uuid;

use super::audit::record;
use super::columns::Columns;
use super::engine::Engine;
use super::statement::statement;
use super::{Catalog, locks, time_column, uuid_column};
use crate::domain::{AuditEntry, Environment, EnvironmentSettings, Quota};
use crate::error::{Error, Result};

const ENVIRONMENT_COLUMNS: &str = "id, name, created_at, settings";

impl Catalog {
    /// Creates the environment only if the catalog has none yet; true when it did. On
    /// SQLite one statement is atomic; on PostgreSQL two instances starting together could
    /// both see an empty table, so the statement runs after a transaction-scoped advisory
    /// lock.
    pub async fn insert_first_environment(&self, env: &Environment) -> Result<bool> {
        let insert = statement!(
            "INSERT INTO environments (id, name, created_at, settings) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM environments)",
            env.id,
            &env.name,
            env.created_at,
            settings_json(&env.settings)?,
        );
        let statements = match &*self.engine {
            Engine::Sqlite(_) => vec![insert],
            Engine::Postgres(_) => vec![
                statement!("SELECT pg_advisory_xact_lock($1)", locks::BOOTSTRAP_LOCK),
                insert,
            ],
        };
        let changed = self.engine.execute(statements).await?;
        Ok(changed.last() == Some(&1))
    }

    /// Creates an environment, recording `audit` with it.
    pub async fn insert_environment(&self, env: &Environment, audit: &AuditEntry) -> Result<()> {
        let insert = statement!(
            "INSERT INTO environments (id, name, created_at, settings) VALUES ($1, $2, $3, $4)",
            env.id,
            &env.name,
            env.created_at,
            settings_json(&env.settings)?,
        );
        // Recorded in the deployment's log and in the environment's own.
        let own = AuditEntry {
            environment_id: Some(env.id),
            ..audit.clone()
        };
        self.engine
            .execute(vec![insert, record(audit), record(&own)])
            .await?;
        Ok(())
    }

    pub async fn environment(&self, id: Uuid) -> Result<Option<Environment>> {
        let select = statement!(
            format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE id = $1"),
            id
        );
        self.engine.row(select, environment_from_row).await
    }

    /// Up to `limit` environments in id order, after the id `after`; the second value is
    /// whether more follow.
    pub async fn environments(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<(Vec<Environment>, bool)> {
        let select = statement!(
            format!(
                "SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE id > $1 \
                 ORDER BY id LIMIT $2"
            ),
            after.map_or_else(String::new, |id| id.to_string()),
            i64::from(limit) + 1,
        );
        let mut items = self.engine.rows(select, environment_from_row).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok((items, more))
    }

    /// Replaces an environment's name and settings; false when there is none (and then
    /// nothing is recorded).
    pub async fn update_environment(&self, env: &Environment, audit: &AuditEntry) -> Result<bool> {
        let update = statement!(
            "UPDATE environments SET name = $1, settings = $2 WHERE id = $3",
            &env.name,
            settings_json(&env.settings)?,
            env.id,
        );
        let changed = self
            .engine
            .execute_if_changed(vec![update], vec![record(audit)])
            .await?;
        Ok(changed == 1)
    }

    /// Every environment that has a quota, with it (for the `/metrics` gauges).
    pub async fn environment_quotas(&self) -> Result<Vec<(Uuid, Quota)>> {
        let select = statement!(format!(
            "SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE settings LIKE '%\"quota\"%'"
        ));
        let environments = self.engine.rows(select, environment_from_row).await?;
        Ok(environments
            .into_iter()
            .filter_map(|env| Some((env.id, env.settings.quota?)))
            .collect())
    }

    /// How many images (claimed or not, stored or registered by reference) an environment
    /// holds.
    pub async fn image_count(&self, environment_id: Uuid) -> Result<u64> {
        let count = statement!(
            "SELECT (SELECT COUNT(*) FROM images WHERE environment_id = $1) \
             + (SELECT COUNT(*) FROM external_images WHERE environment_id = $1) AS n",
            environment_id
        );
        let counted = self.engine.row(count, |row| row.required_int("n")).await?;
        Ok(counted.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// Removes an environment and every row of it in one transaction; with `only_if_empty`
    /// nothing is removed while it holds an image. True when it was removed.
    pub async fn delete_environment(
        &self,
        id: Uuid,
        only_if_empty: bool,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let delete = if only_if_empty {
            statement!(
                "DELETE FROM environments WHERE id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM images WHERE environment_id = $1) \
                 AND NOT EXISTS (SELECT 1 FROM external_images WHERE environment_id = $1)",
                id
            )
        } else {
            statement!("DELETE FROM environments WHERE id = $1", id)
        };
        let first = match &*self.engine {
            // One writer: nothing can be inserted between the check and the delete.
            Engine::Sqlite(_) => vec![delete],
            // The row lock first waits for every insert that references the environment
            // (each holds a key-share lock on it) and keeps new ones waiting; the delete,
            // a statement of its own, then sees every image committed before it.
            Engine::Postgres(_) => vec![
                statement!("SELECT id FROM environments WHERE id = $1 FOR UPDATE", id),
                delete,
            ],
        };
        // The log's rows go, and the deletion is recorded, only if the environment did:
        // a delete refused for its images (one that arrived since the caller looked)
        // changes nothing.
        let then = vec![
            statement!("DELETE FROM audit_events WHERE environment_id = $1", id),
            statement!(
                "DELETE FROM webhook_deliveries WHERE environment_id = $1",
                id
            ),
            record(audit),
        ];
        Ok(self.engine.execute_if_changed(first, then).await? == 1)
    }
}

fn settings_json(settings: &EnvironmentSettings) -> Result<String> {
    serde_json::to_string(settings)
        .map_err(|e| Error::Internal(format!("environment settings as JSON: {e}")))
}

fn environment_from_row(row: &dyn Columns) -> Result<Environment> {
    let settings = match row.text("settings")? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| Error::Catalog(format!("stored environment settings: {e}")))?,
        None => EnvironmentSettings::default(),
    };
    Ok(Environment {
        id: uuid_column(row, "id")?,
        name: row.required_text("name")?,
        created_at: time_column(row, "created_at")?,
        settings,
    })
}
