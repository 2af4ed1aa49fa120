//! API keys: an environment's keys and the deployment's operator keys. A key may be
//! revoked or expire on any instance or process, so a remembered one is trusted only for
//! [`CREDENTIAL_FRESHNESS`] and then read again (see `Catalog::credentials`). Both kinds
//! are found by one statement, so authenticating costs one point read whatever the key.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Catalog;
use super::audit::record;
use super::columns::{Columns, optional_time_column, time_column, uuid_column};
use super::statement::Statement;
use super::statement::statement;
use crate::domain::{AuditEntry, Credential, Scope};
use crate::error::{Error, Result};

/// How long a remembered credential is trusted before it is read again: a key deleted or
/// expired anywhere is refused everywhere within this time (the promise is one second).
pub const CREDENTIAL_FRESHNESS: Duration = Duration::from_millis(500);

/// How exact a key's `last_used_at` is.
const USE_RESOLUTION: Duration = Duration::from_secs(60);

const CREDENTIAL_COLUMNS: &str =
    "id, environment_id, name, scopes, secret_hash, created_at, expires_at, last_used_at";

impl Catalog {
    /// Records a key (an operator key when it has no environment), with `audit` when the
    /// key was made through the API.
    pub async fn insert_credential(
        &self,
        credential: &Credential,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        let insert = match credential.environment_id {
            Some(environment_id) => statement!(
                "INSERT INTO credentials (id, environment_id, name, scopes, secret_hash, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                credential.id,
                environment_id,
                credential.name.as_deref(),
                Scope::join(&credential.scopes),
                credential.secret_hash.as_slice(),
                credential.created_at,
                credential.expires_at,
            ),
            None => statement!(
                "INSERT INTO operator_credentials (id, name, secret_hash, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)",
                credential.id,
                credential.name.as_deref(),
                credential.secret_hash.as_slice(),
                credential.created_at,
                credential.expires_at,
            ),
        };
        let mut statements = vec![insert];
        statements.extend(audit.map(record));
        self.engine.execute(statements).await?;
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
            format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1 UNION ALL \
                 SELECT id, NULL, name, 'operator', secret_hash, created_at, expires_at, \
                 last_used_at FROM operator_credentials WHERE id = $1"
            ),
            id
        );
        self.engine.row(select, credential_from_row).await
    }

    /// An environment's keys, oldest first.
    pub async fn credentials_of(&self, environment_id: Uuid) -> Result<Vec<Credential>> {
        let select = statement!(
            format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE environment_id = $1 \
                 ORDER BY created_at, id"
            ),
            environment_id
        );
        self.engine.rows(select, credential_from_row).await
    }

    /// Deletes a key (an environment's, or an operator key for `None`); its sessions end
    /// with it. True when there was one.
    pub async fn revoke_credential(
        &self,
        environment_id: Option<Uuid>,
        id: Uuid,
        audit: Option<&AuditEntry>,
    ) -> Result<bool> {
        let delete: Statement = match environment_id {
            Some(environment_id) => statement!(
                "DELETE FROM credentials WHERE environment_id = $1 AND id = $2",
                environment_id,
                id
            ),
            None => statement!("DELETE FROM operator_credentials WHERE id = $1", id),
        };
        // The audit event is written only with a deletion: revoking nothing changes nothing.
        let then = audit.map(record).into_iter().collect();
        let revoked = self.engine.execute_if_changed(vec![delete], then).await? == 1;
        if revoked {
            self.credentials.forget(&id);
        }
        Ok(revoked)
    }

    /// Notes that a key was just accepted. Its `last_used_at` is kept to the minute: it is
    /// written in the background, at most once a minute per key and process, so that a
    /// busy key costs no write per request.
    pub fn note_use(&self, credential: &Credential) {
        let now = Utc::now();
        let recent = |at: DateTime<Utc>| (now - at).to_std().is_ok_and(|age| age < USE_RESOLUTION);
        if credential.last_used_at.is_some_and(recent) {
            return;
        }
        if self
            .uses_noted
            .get(&credential.id)
            .is_some_and(|noted| noted.elapsed() < USE_RESOLUTION)
        {
            return;
        }
        let ticket = self.uses_noted.ticket();
        self.uses_noted.offer(ticket, credential.id, Instant::now());
        let (catalog, id) = (self.clone(), credential.id);
        tokio::spawn(async move {
            if let Err(error) = catalog.touch_credential(id, now).await {
                tracing::warn!(key = %id, %error, "could not note a key's last use");
            }
        });
    }

    async fn touch_credential(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        let statements = vec![
            statement!(
                "UPDATE credentials SET last_used_at = $1 WHERE id = $2",
                now,
                id
            ),
            statement!(
                "UPDATE operator_credentials SET last_used_at = $1 WHERE id = $2",
                now,
                id
            ),
        ];
        self.engine.execute(statements).await?;
        Ok(())
    }
}

fn credential_from_row(row: &dyn Columns) -> Result<Credential> {
    let environment_id = match row.text("environment_id")? {
        Some(_) => Some(uuid_column(row, "environment_id")?),
        None => None,
    };
    Ok(Credential {
        id: uuid_column(row, "id")?,
        environment_id,
        name: row.text("name")?,
        scopes: Scope::parse_list(&row.required_text("scopes")?)
            .map_err(|e| Error::Catalog(format!("stored scopes: {e}")))?,
        secret_hash: row
            .bytes("secret_hash")?
            .ok_or_else(|| Error::Catalog("secret_hash is unexpectedly NULL".into()))?,
        created_at: time_column(row, "created_at")?,
        expires_at: optional_time_column(row, "expires_at")?,
        last_used_at: optional_time_column(row, "last_used_at")?,
    })
}
