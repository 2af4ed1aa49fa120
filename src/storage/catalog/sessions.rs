//! Browser sessions: rows keyed by the hash of the cookie's token, read with the
//! credential they were made from, so a deleted or expired key ends its sessions.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{Catalog, time_column, uuid_column};
use crate::domain::{Principal, Scope, Session};
use crate::error::{Error, Result};

impl Catalog {
    pub async fn insert_session(
        &self,
        token_hash: &str,
        credential_id: Uuid,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, credential_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(credential_id.to_string())
        .bind(csrf_token)
        .bind(Utc::now().timestamp_millis())
        .bind(expires_at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An unexpired session with the principal of its credential.
    pub async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT s.csrf_token, s.expires_at, c.id, c.environment_id, c.scopes \
             FROM sessions s JOIN credentials c ON c.id = s.credential_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 \
             AND (c.expires_at IS NULL OR c.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now.timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let scopes: String = row.try_get("scopes")?;
            Ok(Session {
                principal: Principal {
                    environment_id: uuid_column(&row, "environment_id")?,
                    credential_id: uuid_column(&row, "id")?,
                    scopes: Scope::parse_list(&scopes)
                        .map_err(|e| Error::Catalog(format!("stored scopes: {e}")))?,
                },
                csrf_token: row.try_get("csrf_token")?,
                expires_at: time_column(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
