//! Browser sessions: rows keyed by the hash of the cookie's token, read with the
//! credential they were made from, so a deleted or expired key ends its sessions. An
//! environment key's sessions live in `sessions`, an operator key's in
//! `operator_sessions` (each cascades from its own credentials table); a token is looked
//! up in both at once.

use chrono::{DateTime, Utc};

use super::audit::record;
use super::statement::statement;
use super::{Catalog, time_column, uuid_column};
use crate::domain::{AuditEntry, Principal, Scope, Session};
use crate::error::{Error, Result};

impl Catalog {
    /// Records a session of `principal`'s key: an environment key's, or an operator
    /// key's when the principal has no environment.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        principal: &Principal,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<()> {
        let insert = match principal.environment_id {
            Some(_) => statement!(
                "INSERT INTO sessions (token_hash, credential_id, csrf_token, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)",
                token_hash,
                principal.credential_id,
                csrf_token,
                Utc::now(),
                expires_at,
            ),
            None => statement!(
                "INSERT INTO operator_sessions (token_hash, operator_credential_id, \
                 csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                token_hash,
                principal.credential_id,
                csrf_token,
                Utc::now(),
                expires_at,
            ),
        };
        self.engine.execute(vec![insert, record(audit)]).await?;
        Ok(())
    }

    /// Ends a session of `principal`'s key (so the table is known: an operator's sessions
    /// are apart); true when there was one.
    pub async fn delete_session(
        &self,
        token_hash: &str,
        principal: &Principal,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let delete = match principal.environment_id {
            Some(_) => statement!("DELETE FROM sessions WHERE token_hash = $1", token_hash),
            None => statement!(
                "DELETE FROM operator_sessions WHERE token_hash = $1",
                token_hash
            ),
        };
        Ok(self
            .engine
            .execute_if_changed(vec![delete], vec![record(audit)])
            .await?
            == 1)
    }

    /// An unexpired session with the principal of its credential.
    pub async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let select = statement!(
            "SELECT s.csrf_token, s.expires_at, c.id, c.environment_id, c.scopes \
             FROM sessions s JOIN credentials c ON c.id = s.credential_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 \
             AND (c.expires_at IS NULL OR c.expires_at > $2) \
             UNION ALL \
             SELECT s.csrf_token, s.expires_at, o.id, NULL AS environment_id, \
             'operator' AS scopes \
             FROM operator_sessions s JOIN operator_credentials o \
             ON o.id = s.operator_credential_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 \
             AND (o.expires_at IS NULL OR o.expires_at > $2)",
            token_hash,
            now,
        );
        self.engine
            .row(select, |row| {
                Ok(Session {
                    principal: Principal {
                        environment_id: match row.text("environment_id")? {
                            Some(_) => Some(uuid_column(row, "environment_id")?),
                            None => None,
                        },
                        credential_id: uuid_column(row, "id")?,
                        scopes: Scope::parse_list(&row.required_text("scopes")?)
                            .map_err(|e| Error::Catalog(format!("stored scopes: {e}")))?,
                    },
                    csrf_token: row.required_text("csrf_token")?,
                    expires_at: time_column(row, "expires_at")?,
                })
            })
            .await
    }

    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let delete = statement!("DELETE FROM sessions WHERE expires_at <= $1", now);
        let delete_operator =
            statement!("DELETE FROM operator_sessions WHERE expires_at <= $1", now);
        let deleted = self.engine.execute(vec![delete, delete_operator]).await?;
        Ok(deleted.iter().sum())
    }
}
