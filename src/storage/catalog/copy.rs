//! Row-by-row copying between two catalogs, for `imagestore migrate`. Every table is
//! described once here (its columns and their kinds), so the copy reads and writes plain
//! values and never depends on one engine's types; a unit test checks these descriptions
//! against the real schema, so a new column cannot be silently left behind.
//!
//! Inserts use `ON CONFLICT DO NOTHING`: a copy that was interrupted can run again and
//! only fills in what is missing.

use super::Catalog;
use super::columns::Columns;
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

use Kind::{Bytes, Int, Text};

/// Every table of the catalog, parents before children so that foreign keys hold at
/// each insert. `images` is copied image by image, after its blobs.
pub const TABLES: &[TableCopy] = &[
    TableCopy {
        name: "environments",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("created_at", Int),
            ("settings", Text),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "credentials",
        columns: &[
            ("id", Text),
            ("environment_id", Text),
            ("scopes", Text),
            ("secret_hash", Bytes),
            ("created_at", Int),
            ("expires_at", Int),
            ("name", Text),
            ("last_used_at", Int),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "operator_credentials",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("secret_hash", Bytes),
            ("created_at", Int),
            ("expires_at", Int),
            ("last_used_at", Int),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "upload_tokens",
        columns: &[
            ("id", Text),
            ("environment_id", Text),
            ("secret_hash", Bytes),
            ("subject", Text),
            ("slot", Int),
            ("max_bytes", Int),
            ("formats", Text),
            ("uploads_left", Int),
            ("created_by", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "audit_events",
        columns: &[
            ("number", Int),
            ("environment_id", Text),
            ("actor", Text),
            ("action", Text),
            ("target", Text),
            ("request_id", Text),
            ("created_at", Int),
        ],
        order_by: "number",
    },
    TableCopy {
        name: "presets",
        columns: &[
            ("environment_id", Text),
            ("name", Text),
            ("width", Int),
            ("height", Int),
            ("fit", Text),
            ("format", Text),
            ("quality", Int),
            ("eager", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order_by: "environment_id, name",
    },
    TableCopy {
        name: "signing_secrets",
        columns: &[
            ("id", Text),
            ("environment_id", Text),
            ("secret", Text),
            ("created_at", Int),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "images",
        columns: &[
            ("number", Int),
            ("id", Text),
            ("environment_id", Text),
            ("subject", Text),
            ("filename", Text),
            ("format", Text),
            ("byte_size", Int),
            ("width", Int),
            ("height", Int),
            ("frames", Int),
            ("content_hash", Text),
            ("serve_key", Text),
            ("blob_key", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("thumbhash", Text),
            ("dominant_color", Text),
            ("expires_at", Int),
            ("crop", Text),
            ("variant_bytes", Int),
        ],
        order_by: "number",
    },
    TableCopy {
        name: "slots",
        columns: &[
            ("environment_id", Text),
            ("subject", Text),
            ("image_id", Text),
            ("updated_at", Int),
        ],
        order_by: "environment_id, subject",
    },
    TableCopy {
        name: "sessions",
        columns: &[
            ("token_hash", Text),
            ("credential_id", Text),
            ("csrf_token", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        order_by: "token_hash",
    },
    TableCopy {
        name: "external_images",
        columns: &[("id", Text), ("environment_id", Text), ("created_at", Int)],
        order_by: "id",
    },
    TableCopy {
        name: "external_targets",
        columns: &[
            ("image_id", Text),
            ("position", Int),
            ("name", Text),
            ("target_id", Text),
            ("width", Int),
            ("height", Int),
            ("type", Text),
            ("href", Text),
        ],
        order_by: "image_id, name",
    },
    TableCopy {
        name: "subject_quotas",
        columns: &[
            ("environment_id", Text),
            ("subject", Text),
            ("max_images", Int),
            ("max_bytes", Int),
            ("updated_at", Int),
        ],
        order_by: "environment_id, subject",
    },
    TableCopy {
        name: "receipt_keys",
        columns: &[
            ("kid", Text),
            ("private_key", Bytes),
            ("public_key", Bytes),
            ("created_at", Int),
        ],
        order_by: "kid",
    },
    TableCopy {
        name: "erasure_receipts",
        columns: &[
            ("id", Text),
            ("environment_id", Text),
            ("subject", Text),
            ("started_at", Int),
            ("erased_at", Int),
            ("images", Int),
            ("bytes", Int),
            ("kid", Text),
            ("signature", Text),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "erased_hashes",
        columns: &[("receipt_id", Text), ("content_hash", Text)],
        order_by: "receipt_id, content_hash",
    },
    TableCopy {
        name: "webhooks",
        columns: &[
            ("id", Text),
            ("environment_id", Text),
            ("url", Text),
            ("events", Text),
            ("secret", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order_by: "id",
    },
    TableCopy {
        name: "webhook_deliveries",
        columns: &[
            ("number", Int),
            ("webhook_id", Text),
            ("environment_id", Text),
            ("event_id", Text),
            ("event_type", Text),
            ("payload", Text),
            ("created_at", Int),
            ("next_attempt_at", Int),
            ("lease_until", Int),
            ("attempts", Int),
            ("last_attempt_at", Int),
            ("last_status", Int),
            ("last_error", Text),
            ("delivered_at", Int),
            ("failed_at", Int),
        ],
        order_by: "number",
    },
];

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
