//! Row-by-row copying between two catalogs, for `imagestore migrate`. Every table is
//! described once here (its columns and their kinds), so the copy reads and writes plain
//! values and never depends on one engine's types; a unit test checks these descriptions
//! against the real schema, so a new column cannot be silently left behind.
//!
//! Inserts use `ON CONFLICT DO NOTHING`: a copy that was interrupted can run again and
//! only fills in what is missing.

use super::Catalog;
use super::columns::Columns;
pub use super::copy_tables::TABLES;
use super::engine::Engine;
use super::statement::{Param, Statement, statement};
use crate::error::Result;

/// How a column's values are read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bytes,
}

/// A table as the copy sees it: its columns, the columns that order it (its primary key),
/// and the column that names the image a row belongs to, for tables copied per image.
pub struct TableCopy {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub order_by: &'static str,
}

/// One column value, whatever the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// One row, its values in the table's column order.
pub type CopiedRow = Vec<Value>;

impl TableCopy {
    /// The table named `name` (one of the constants above).
    pub fn named(name: &str) -> Option<&'static TableCopy> {
        TABLES.iter().find(|table| table.name == name)
    }

    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value of a named column in a row read by `read_rows`.
    pub fn value<'r>(&self, row: &'r CopiedRow, column: &str) -> Option<&'r Value> {
        let index = self.columns.iter().position(|(name, _)| *name == column)?;
        row.get(index)
    }
}

impl Catalog {
    /// Up to `limit` rows of a table from `offset` on, in its primary-key order.
    pub async fn read_rows(
        &self,
        table: &'static TableCopy,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<CopiedRow>> {
        // The table and column names are the constants above, never input.
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
            table.column_list(),
            table.name,
            table.order_by
        );
        let select = statement!(sql, limit, offset);
        self.engine
            .rows(select, move |row| row_values(table, row))
            .await
    }

    /// How many rows a table holds, for progress.
    pub async fn count_rows(&self, table: &TableCopy) -> Result<u64> {
        let count = statement!(format!("SELECT COUNT(*) AS n FROM {}", table.name));
        let counted = self.engine.row(count, |row| row.required_int("n")).await?;
        Ok(counted.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// Inserts rows that are not there yet, in one transaction; returns how many were new.
    pub async fn insert_rows(&self, table: &TableCopy, rows: &[CopiedRow]) -> Result<u64> {
        let placeholders = (1..=table.columns.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            table.name,
            table.column_list()
        );
        let statements = rows
            .iter()
            .map(|row| {
                let params = row
                    .iter()
                    .zip(table.columns)
                    .map(|(value, (_, kind))| value.param(*kind))
                    .collect();
                Statement::new(sql.clone(), params)
            })
            .collect();
        Ok(self.engine.execute(statements).await?.iter().sum())
    }

    /// After rows were inserted with their own numbers: moves PostgreSQL's identity
    /// sequences past them, so new images and audit events never reuse a copied number.
    /// (SQLite's AUTOINCREMENT follows explicit inserts by itself.)
    pub async fn finish_copy(&self) -> Result<()> {
        if let Engine::Postgres(_) = &*self.engine {
            for table in ["images", "audit_events", "webhook_deliveries"] {
                let follow = statement!(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'number'), \
                     GREATEST((SELECT MAX(number) FROM {table}), 1))"
                ));
                self.engine.rows(follow, |_| Ok(())).await?;
            }
        }
        Ok(())
    }
}

impl Value {
    /// The value as a parameter of a column of `kind` (which types a NULL).
    fn param(&self, kind: Kind) -> Param {
        match (self, kind) {
            (Value::Null, Kind::Text) => Param::Text(None),
            (Value::Null, Kind::Int) => Param::Int(None),
            (Value::Null, Kind::Bytes) => Param::Bytes(None),
            (Value::Text(text), _) => Param::Text(Some(text.clone())),
            (Value::Int(number), _) => Param::Int(Some(*number)),
            (Value::Bytes(bytes), _) => Param::Bytes(Some(bytes.clone())),
        }
    }
}

fn row_values(table: &TableCopy, row: &dyn Columns) -> Result<CopiedRow> {
    table
        .columns
        .iter()
        .map(|(name, kind)| {
            Ok(match kind {
                Kind::Text => row.text(name)?.map_or(Value::Null, Value::Text),
                Kind::Int => row.int(name)?.map_or(Value::Null, Value::Int),
                Kind::Bytes => row.bytes(name)?.map_or(Value::Null, Value::Bytes),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables the copy leaves out because the target's triggers rebuild them from the
    /// rows copied (migration 0006): copying them too would count every image twice.
    const DERIVED: &[&str] = &["environment_usage", "subject_usage"];

    /// The descriptions above must name every table and column the migrations create, in
    /// any order; otherwise `migrate` would drop data without a word.
    #[tokio::test]
    async fn descriptions_match_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("c.db").display());
        let catalog = Catalog::open(&url).await.unwrap();
        let names = |sql: String| {
            let catalog = catalog.clone();
            async move {
                let mut names = catalog
                    .engine
                    .rows(statement!(sql), |row| row.required_text("name"))
                    .await
                    .unwrap();
                names.sort();
                names
            }
        };
        let tables = names(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'"
                .to_string(),
        )
        .await;
        let mut described: Vec<String> = TABLES
            .iter()
            .map(|t| t.name)
            .chain(DERIVED.iter().copied())
            .map(str::to_string)
            .collect();
        described.sort();
        assert_eq!(tables, described);
        for table in TABLES {
            let columns = names(format!(
                "SELECT name FROM pragma_table_info('{}')",
                table.name
            ))
            .await;
            let mut expected: Vec<String> =
                table.columns.iter().map(|(c, _)| c.to_string()).collect();
            expected.sort();
            assert_eq!(columns, expected, "columns of {}", table.name);
        }
    }
}
