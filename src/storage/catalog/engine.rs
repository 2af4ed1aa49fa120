//! The two engines the catalog runs on, each through its own driver: SQLite through
//! rusqlite (reads on the calling thread, writes on one writer thread that commits them
//! in groups; see `sqlite`), PostgreSQL through sqlx's `PgPool` (see `postgres`). The
//! catalog's methods build a [`Statement`] and call one of the four verbs here; the match
//! below is the only place that chooses between the engines for a shared statement.
//!
//! Rows come back mapped by a function of [`Columns`], so that the same function reads a
//! rusqlite row and a `PgRow`; it owns what it captures, so that SQLite can map rows on
//! its writer thread, where a borrowing closure could not go.

use super::columns::Columns;
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use super::statement::Statement;
use crate::error::Result;

/// How a row becomes a value: a function of [`Columns`], sendable to SQLite's writer.
pub(super) trait MapRow<T>: Fn(&dyn Columns) -> Result<T> + Send + 'static {}

impl<T, F: Fn(&dyn Columns) -> Result<T> + Send + 'static> MapRow<T> for F {}

pub(super) enum Engine {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

impl Engine {
    /// The rows a reading statement returns, mapped.
    pub async fn rows<T: Send + 'static>(
        &self,
        statement: Statement,
        map: impl Fn(&dyn Columns) -> Result<T> + Send + 'static,
    ) -> Result<Vec<T>> {
        match self {
            Engine::Sqlite(sqlite) => sqlite.read(&statement, map),
            Engine::Postgres(postgres) => postgres.rows(&statement, map).await,
        }
    }

    /// The first row a reading statement returns, mapped.
    pub async fn row<T: Send + 'static>(
        &self,
        statement: Statement,
        map: impl Fn(&dyn Columns) -> Result<T> + Send + 'static,
    ) -> Result<Option<T>> {
        Ok(self.rows(statement, map).await?.into_iter().next())
    }

    /// The rows a writing statement (`… RETURNING`) returns, once it is committed.
    pub async fn write_rows<T: Send + 'static>(
        &self,
        statement: Statement,
        map: impl Fn(&dyn Columns) -> Result<T> + Send + 'static,
    ) -> Result<Vec<T>> {
        self.write_rows_with(Vec::new(), statement, map, Vec::new())
            .await
    }

    /// As [`Engine::write_rows`], after `before` (a lock, say) and with `then` run after
    /// it only if it returned a row (an audit or webhook event of the change), all in one
    /// transaction, so that all of it is committed or none.
    pub async fn write_rows_with<T: Send + 'static>(
        &self,
        before: Vec<Statement>,
        statement: Statement,
        map: impl Fn(&dyn Columns) -> Result<T> + Send + 'static,
        then: Vec<Statement>,
    ) -> Result<Vec<T>> {
        match self {
            Engine::Sqlite(sqlite) => sqlite.write_rows(before, statement, map, then).await,
            Engine::Postgres(postgres) => {
                postgres.write_rows(&before, &statement, map, &then).await
            }
        }
    }

    /// Runs writing statements in one transaction; returns how many rows each changed.
    pub async fn execute(&self, statements: Vec<Statement>) -> Result<Vec<u64>> {
        match self {
            Engine::Sqlite(sqlite) => sqlite.execute(statements).await,
            Engine::Postgres(postgres) => postgres.execute(&statements).await,
        }
    }

    /// Runs `first` (a change, after any statements it needs before it, such as a lock),
    /// and `then` only if the change (the last of `first`) changed a row, in one
    /// transaction; returns how many rows the change changed. For a change and its audit
    /// event, when the change may find nothing to change.
    pub async fn execute_if_changed(
        &self,
        first: Vec<Statement>,
        then: Vec<Statement>,
    ) -> Result<u64> {
        match self {
            Engine::Sqlite(sqlite) => sqlite.execute_if_changed(first, then).await,
            Engine::Postgres(postgres) => postgres.execute_if_changed(&first, &then).await,
        }
    }

    /// Runs one writing statement; returns how many rows it changed.
    pub async fn execute_one(&self, statement: Statement) -> Result<u64> {
        Ok(self.execute(vec![statement]).await?.pop().unwrap_or(0))
    }
}
