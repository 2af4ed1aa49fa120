//! Environments and their credentials. A credential may be deleted or expired by any
//! instance or process, so a remembered one is trusted only for [`CREDENTIAL_FRESHNESS`]
//! and then read again (see `Catalog::credentials`).

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::columns::{Columns, optional_time_column, time_column, uuid_column};
use super::engine::Engine;
use super::statement::statement;
use super::{Catalog, locks};
use crate::domain::{Credential, Environment, Scope};
use crate::error::{Error, Result};

/// How long a remembered credential is trusted before it is read again: a key deleted or
/// expired anywhere is refused everywhere within this time (the promise is one second).
pub const CREDENTIAL_FRESHNESS: Duration = Duration::from_millis(500);

impl Catalog {
    /// Creates the environment only if the catalog has none yet; true when it did. On
    /// SQLite one statement is atomic; on PostgreSQL two instances starting together could
    /// both see an empty table, so the statement runs after a transaction-scoped advisory
    /// lock.
    pub async fn insert_first_environment(&self, env: &Environment) -> Result<bool> {
        let insert = statement!(
            "INSERT INTO environments (id, name, created_at) \
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM environments)",
            env.id,
            &env.name,
            env.created_at,
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

    pub async fn insert_environment(&self, env: &Environment) -> Result<()> {
        self.engine
            .execute_one(statement!(
                "INSERT INTO environments (id, name, created_at) VALUES ($1, $2, $3)",
                env.id,
                &env.name,
                env.created_at,
            ))
            .await?;
        Ok(())
    }

    pub async fn environment(&self, id: Uuid) -> Result<Option<Environment>> {
        let select = statement!(
            "SELECT id, name, created_at FROM environments WHERE id = $1",
            id
        );
        self.engine
            .row(select, |row| {
                Ok(Environment {
                    id: uuid_column(row, "id")?,
                    name: row.required_text("name")?,
                    created_at: time_column(row, "created_at")?,
                })
            })
            .await
    }

    pub async fn insert_credential(&self, credential: &Credential) -> Result<()> {
        self.engine
            .execute_one(statement!(
                "INSERT INTO credentials (id, environment_id, scopes, secret_hash, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                credential.id,
                credential.environment_id,
                Scope::join(&credential.scopes),
                credential.secret_hash.as_slice(),
                credential.created_at,
                credential.expires_at,
            ))
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
        let select = statement!(
            "SELECT id, environment_id, scopes, secret_hash, created_at, expires_at \
             FROM credentials WHERE id = $1",
            id
        );
        self.engine.row(select, credential_from_row).await
    }
}

fn credential_from_row(row: &dyn Columns) -> Result<Credential> {
    Ok(Credential {
        id: uuid_column(row, "id")?,
        environment_id: uuid_column(row, "environment_id")?,
        scopes: Scope::parse_list(&row.required_text("scopes")?)
            .map_err(|e| Error::Catalog(format!("stored scopes: {e}")))?,
        secret_hash: row
            .bytes("secret_hash")?
            .ok_or_else(|| Error::Catalog("secret_hash is unexpectedly NULL".into()))?,
        created_at: time_column(row, "created_at")?,
        expires_at: optional_time_column(row, "expires_at")?,
    })
}
