//! The scale-out catalog: PostgreSQL, shared by every instance, driven through sqlx's
//! `PgPool`. Statements are bound from plain [`Param`]s; the engine's own statements
//! (advisory locks, the identity sequence) live with the methods that need them, and its
//! migrations are sqlx's, from `migrations/postgres`, serialized across instances by
//! sqlx's advisory lock.

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres as Pg};

use super::engine::MapRow;
use super::statement::{Param, Statement};
use crate::error::{Error, Result};

/// How a request waits for a catalog connection before it answers 503: bounded, so that
/// an unreachable database turns into a quick refusal rather than a hung request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections per instance, at most.
const CONNECTIONS: u32 = 16;

pub(in crate::storage::catalog) struct Postgres {
    pub pool: PgPool,
}

impl Postgres {
    /// Connects to the database at a `postgres://` URL and applies its migrations.
    pub async fn open(url: &str) -> Result<Postgres> {
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(inner) => Error::from(inner),
                other => Error::Catalog(format!("migration failed: {other}")),
            })?;
        Ok(Postgres { pool })
    }

    pub async fn rows<T>(&self, statement: &Statement, map: impl MapRow<T>) -> Result<Vec<T>> {
        let rows = query(statement).fetch_all(&self.pool).await?;
        rows.iter().map(|row| map(row)).collect()
    }

    /// Runs `before`, a statement that returns rows, then `then` if it returned any, in
    /// one transaction.
    pub async fn write_rows<T>(
        &self,
        before: &[Statement],
        statement: &Statement,
        map: impl MapRow<T>,
        then: &[Statement],
    ) -> Result<Vec<T>> {
        let mut transaction = self.pool.begin().await?;
        for statement in before {
            query(statement).execute(&mut *transaction).await?;
        }
        let rows = query(statement).fetch_all(&mut *transaction).await?;
        let mapped = rows
            .iter()
            .map(|row| map(row))
            .collect::<Result<Vec<T>>>()?;
        if !mapped.is_empty() {
            for statement in then {
                query(statement).execute(&mut *transaction).await?;
            }
        }
        transaction.commit().await?;
        Ok(mapped)
    }

    /// Runs `first`, and `then` only if the last of `first` changed a row, in one
    /// transaction.
    pub async fn execute_if_changed(&self, first: &[Statement], then: &[Statement]) -> Result<u64> {
        let mut transaction = self.pool.begin().await?;
        let mut changed = 0;
        for statement in first {
            changed = query(statement)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
        }
        if changed > 0 {
            for statement in then {
                query(statement).execute(&mut *transaction).await?;
            }
        }
        transaction.commit().await?;
        Ok(changed)
    }

    /// Runs statements in one transaction; how many rows each changed.
    pub async fn execute(&self, statements: &[Statement]) -> Result<Vec<u64>> {
        // One statement is its own transaction: no BEGIN and COMMIT round trips.
        if let [statement] = statements {
            let done = query(statement).execute(&self.pool).await?;
            return Ok(vec![done.rows_affected()]);
        }
        let mut transaction = self.pool.begin().await?;
        let mut changed = Vec::with_capacity(statements.len());
        for statement in statements {
            let done = query(statement).execute(&mut *transaction).await?;
            changed.push(done.rows_affected());
        }
        transaction.commit().await?;
        Ok(changed)
    }
}

/// A sqlx query of a statement, with its parameters bound by type.
pub(super) fn query(statement: &Statement) -> sqlx::query::Query<'_, Pg, PgArguments> {
    let mut query = sqlx::query(AssertSqlSafe(statement.sql.clone()));
    for param in &statement.params {
        query = match param {
            Param::Text(value) => query.bind(value.as_deref()),
            Param::Int(value) => query.bind(*value),
            Param::Bytes(value) => query.bind(value.as_deref()),
        };
    }
    query
}
