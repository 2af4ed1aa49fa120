//! Environments and their credentials. A credential may be deleted or expired by any
//! instance or process, so a remembered one is trusted only for [`CREDENTIAL_FRESHNESS`]
//! and then read again (see `Catalog::credentials`).

use std::time::{Duration, Instant};

use sqlx::Row;
use uuid::Uuid;

use super::columns::{optional_time_column, time_column, uuid_column};
use super::{Backend, Catalog, locks};
use crate::domain::{Credential, Environment, Scope};
use crate::error::{Error, Result};

/// How long a remembered credential is trusted before it is read again: a key deleted or
/// expired anywhere is refused everywhere within this time (the promise is one second).
pub const CREDENTIAL_FRESHNESS: Duration = Duration::from_millis(500);

impl Catalog {
    /// Creates the environment only if the catalog has none yet; true when it did. On
    /// SQLite one statement is atomic; on PostgreSQL two instances starting together could
    /// both see an empty table, so the statement runs under a transaction-scoped advisory
    /// lock.
    pub async fn insert_first_environment(&self, env: &Environment) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(locks::BOOTSTRAP_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(
            "INSERT INTO environments (id, name, created_at) \
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM environments)",
        )
        .bind(env.id.to_string())
        .bind(&env.name)
        .bind(env.created_at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_environment(&self, env: &Environment) -> Result<()> {
        sqlx::query("INSERT INTO environments (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(env.id.to_string())
            .bind(&env.name)
            .bind(env.created_at.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn environment(&self, id: Uuid) -> Result<Option<Environment>> {
        let row = sqlx::query("SELECT id, name, created_at FROM environments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Environment {
                id: uuid_column(&row, "id")?,
                name: row.try_get("name")?,
                created_at: time_column(&row, "created_at")?,
            })
        })
        .transpose()
    }

    pub async fn insert_credential(&self, credential: &Credential) -> Result<()> {
        sqlx::query(
            "INSERT INTO credentials (id, environment_id, scopes, secret_hash, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(credential.id.to_string())
        .bind(credential.environment_id.to_string())
        .bind(Scope::join(&credential.scopes))
        .bind(&credential.secret_hash)
        .bind(credential.created_at.timestamp_millis())
        .bind(credential.expires_at.map(|t| t.timestamp_millis()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A credential by id, as the catalog held it at most [`CREDENTIAL_FRESHNESS`] ago.
    pub async fn credential(&self, id: Uuid) -> Result<Option<Credential>> {
        if let Some((credential, read_at)) = self.credentials.get(&id)
            && read_at.elapsed() < CREDENTIAL_FRESHNESS
        {
            return Ok(Some(credential));
        }
        let ticket = self.credentials.ticket();
        let read_at = Instant::now();
        match self.read_credential(id).await? {
            Some(credential) => {
                self.credentials
                    .offer(ticket, id, (credential.clone(), read_at));
                Ok(Some(credential))
            }
            None => {
                self.credentials.forget(&id);
                Ok(None)
            }
        }
    }

    async fn read_credential(&self, id: Uuid) -> Result<Option<Credential>> {
        let row = sqlx::query(
            "SELECT id, environment_id, scopes, secret_hash, created_at, expires_at \
             FROM credentials WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let scopes: String = row.try_get("scopes")?;
            Ok(Credential {
                id: uuid_column(&row, "id")?,
                environment_id: uuid_column(&row, "environment_id")?,
                scopes: Scope::parse_list(&scopes)
                    .map_err(|e| Error::Catalog(format!("stored scopes: {e}")))?,
                secret_hash: row.try_get("secret_hash")?,
                created_at: time_column(&row, "created_at")?,
                expires_at: optional_time_column(&row, "expires_at")?,
            })
        })
        .transpose()
    }
}
