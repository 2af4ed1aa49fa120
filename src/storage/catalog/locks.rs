//! Locks that keep background work single across instances. Every instance runs the
//! sweeper, but two sweeps at once would only race each other, so each sweep first takes
//! a PostgreSQL session-level advisory lock on a connection of its own and skips its turn
//! when another instance holds it. The lock lives exactly as long as that connection: if
//! the instance dies mid-sweep, PostgreSQL drops the session and the lock with it. On
//! SQLite there is one host and one file, and every step of a sweep is idempotent, so the
//! lock is granted at once.

use sqlx::Postgres as Pg;
use sqlx::pool::PoolConnection;

use super::Catalog;
use super::engine::Engine;
use crate::error::Result;

/// Advisory-lock keys: "imgs" in the high half, a job number in the low half, so that
/// they do not collide with locks other software takes in a shared database.
pub(super) const BOOTSTRAP_LOCK: i64 = 0x696d_6773_0000_0001;
const SWEEP_LOCK: i64 = 0x696d_6773_0000_0002;

/// Held while a sweep runs. `release` unlocks at once; merely dropping it (an error or a
/// panic mid-sweep) closes its connection, which releases the lock as soon as PostgreSQL
/// notices the session is gone.
pub struct JobLock {
    connection: Option<PoolConnection<Pg>>,
    key: i64,
}

impl JobLock {
    pub async fn release(mut self) {
        if let Some(mut connection) = self.connection.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *connection)
                .await;
            if unlocked.is_err() {
                drop(connection.detach());
            }
        }
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        // Closing the session is what releases a session-level advisory lock: the
        // connection is taken out of the pool and dropped rather than reused.
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}

impl Catalog {
    /// The sweep lock, or None when another instance is sweeping right now.
    pub async fn try_sweep_lock(&self) -> Result<Option<JobLock>> {
        match &*self.engine {
            Engine::Sqlite(_) => Ok(Some(JobLock {
                connection: None,
                key: SWEEP_LOCK,
            })),
            Engine::Postgres(postgres) => {
                let mut connection = postgres.pool.acquire().await?;
                let granted: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(SWEEP_LOCK)
                    .fetch_one(&mut *connection)
                    .await?;
                Ok(granted.then_some(JobLock {
                    connection: Some(connection),
                    key: SWEEP_LOCK,
                }))
            }
        }
    }
}
