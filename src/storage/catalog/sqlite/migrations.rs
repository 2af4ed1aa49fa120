//! The SQLite catalog's schema migrations, applied by the writer's connection at start.
//!
//! Written here rather than taken from a crate because the record of what was applied
//! must stay the one earlier versions kept through sqlx: the table `_sqlx_migrations`,
//! one row per version with a SHA-384 checksum of the file's text. A catalog created by
//! any earlier version therefore opens as it is, and sqlx's checks are kept: a migration
//! that was changed after it was applied, one that failed half way, or one this binary
//! does not know (a newer version ran here) stops the start with a clear error rather
//! than running on a schema nobody tested. `tests` checks the list below against the
//! files, so a new migration cannot be left out.
//!
//! Everything runs in one `BEGIN IMMEDIATE` transaction, so two processes starting on
//! one file at once apply each migration exactly once: the second waits for the write
//! lock and then finds nothing left to do.

use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha384};

use crate::error::{Error, Result};

macro_rules! migration {
    ($version:expr, $file:literal) => {
        (
            $version,
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $file
            )),
        )
    };
}

/// Each migration: its version, its file name and its text.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    migration!(1, "0001_initial.sql"),
    migration!(2, "0002_renditions.sql"),
    migration!(3, "0003_dialects.sql"),
    migration!(4, "0004_credential_expiry.sql"),
    migration!(5, "0005_control_plane.sql"),
    migration!(6, "0006_governance.sql"),
    migration!(7, "0007_console.sql"),
];

/// Applies every migration not yet applied, in order.
pub(super) fn run(connection: &mut Connection) -> Result<()> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )?;
    let applied: Vec<(i64, bool, Vec<u8>)> = {
        let mut statement = transaction
            .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")?;
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (version, success, checksum) in &applied {
        let Some((_, file, sql)) = MIGRATIONS.iter().find(|(known, ..)| known == version) else {
            return Err(failed(format!(
                "migration {version} was applied by a newer version of imagestore"
            )));
        };
        if !success {
            return Err(failed(format!("migration {file} failed part way earlier")));
        }
        if *checksum != Sha384::digest(sql).to_vec() {
            return Err(failed(format!(
                "migration {file} was changed after it was applied"
            )));
        }
    }
    for (version, file, sql) in MIGRATIONS {
        let done: Option<i64> = transaction
            .query_row(
                "SELECT version FROM _sqlx_migrations WHERE version = ?1",
                [version],
                |row| row.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        let started = Instant::now();
        transaction
            .execute_batch(sql)
            .map_err(|e| failed(format!("{file}: {e}")))?;
        transaction.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                version,
                description(file),
                Sha384::digest(sql).to_vec(),
                i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX),
            ],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

/// The description sqlx records: the file name without its version and extension, with
/// spaces for underscores.
fn description(file: &str) -> String {
    let name = file.trim_end_matches(".sql");
    let name = name.split_once('_').map_or(name, |(_, rest)| rest);
    name.replace('_', " ")
}

fn failed(message: String) -> Error {
    Error::Catalog(format!("catalog migration: {message}"))
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file in `migrations/sqlite` is listed, in order, with its own version.
    #[test]
    fn every_migration_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|(_, f, _)| f.to_string()).collect();
        assert_eq!(files, listed);
        for (version, file, _) in MIGRATIONS {
            let number: i64 = file.split('_').next().unwrap().parse().unwrap();
            assert_eq!(*version, number, "{file}");
        }
    }
}
