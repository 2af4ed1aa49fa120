//! The embedded catalog: one SQLite file, driven through rusqlite only.
//!
//! - **Writes** go to one writer thread that commits whatever is waiting in one
//!   transaction (`writer`): SQLite takes one writer at a time anyway, and with
//!   `synchronous=FULL` a group shares one fsync.
//! - **Reads** run on the calling thread through a pool of read-only connections
//!   (`reads`); in WAL mode they never wait for the writer.
//! - **The generation cache** (`stamped`, witnessed by `file_events` on Linux) remembers
//!   the hottest rows for as long as no connection of any process has committed.
//! - **Migrations** (`migrations`) run on the writer's connection before anything else.
//!
//! Every connection is rusqlite's; nothing else opens the database's files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::Connection;

use super::engine::MapRow;
use super::statement::Statement;
use crate::error::{Error, Result};

#[cfg(target_os = "linux")]
mod file_events;
mod migrations;
mod reads;
pub(super) mod stamped;
mod writer;

use reads::{Reads, run_query};
use stamped::Remembered;
use writer::Writer;

pub(in crate::storage::catalog) struct Sqlite {
    reads: Reads,
    writer: Writer,
    /// Rows kept while no connection commits; None when the file gives no witness.
    pub remembered: Option<Arc<Remembered>>,
}

impl Sqlite {
    /// Opens (creating it, and its directory, if missing) the catalog at a `sqlite:` URL
    /// and brings its schema up to date.
    pub fn open(url: &str) -> Result<Sqlite> {
        let path = sqlite_path(url)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Catalog(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut connection = writer::open_writer(&path)?;
        migrations::run(&mut connection)?;
        Ok(Sqlite {
            writer: Writer::start(connection)?,
            remembered: Remembered::open(&path).map(Arc::new),
            reads: Reads::new(path),
        })
    }

    pub fn read<T>(&self, statement: &Statement, map: impl MapRow<T>) -> Result<Vec<T>> {
        self.reads.rows(statement, map)
    }

    pub async fn write_rows<T: Send + 'static>(
        &self,
        before: Vec<Statement>,
        statement: Statement,
        map: impl MapRow<T>,
        then: Vec<Statement>,
    ) -> Result<Vec<T>> {
        self.writer
            .write(move |connection| {
                for statement in &before {
                    execute(connection, statement)?;
                }
                let rows = run_query(connection, &statement, &map)?;
                if !rows.is_empty() {
                    for statement in &then {
                        execute(connection, statement)?;
                    }
                }
                Ok(rows)
            })
            .await
    }

    pub async fn execute(&self, statements: Vec<Statement>) -> Result<Vec<u64>> {
        self.writer
            .write(move |connection| {
                statements
                    .iter()
                    .map(|statement| execute(connection, statement))
                    .collect()
            })
            .await
    }

    pub async fn execute_if_changed(
        &self,
        first: Vec<Statement>,
        then: Vec<Statement>,
    ) -> Result<u64> {
        self.writer
            .write(move |connection| {
                let mut changed = 0;
                for statement in &first {
                    changed = execute(connection, statement)?;
                }
                if changed > 0 {
                    for statement in &then {
                        execute(connection, statement)?;
                    }
                }
                Ok(changed)
            })
            .await
    }

    /// The catalog at `url` sharing `remembered`, with reads that always fail: what it
    /// answers came from memory.
    #[cfg(test)]
    pub fn cut_off(url: &str, remembered: Option<Arc<Remembered>>) -> Result<Sqlite> {
        let mut sqlite = Sqlite::open(url)?;
        sqlite.reads = Reads::new(PathBuf::from("/nonexistent/imagestore-catalog.db"));
        sqlite.remembered = remembered;
        Ok(sqlite)
    }
}

fn execute(connection: &Connection, statement: &Statement) -> Result<u64> {
    let mut prepared = connection.prepare_cached(&statement.sql)?;
    reads::debug_assert_numbered(&prepared);
    let changed = prepared.execute(rusqlite::params_from_iter(&statement.params))?;
    Ok(changed as u64)
}

/// The file a `sqlite:` URL names: `sqlite:PATH`, `sqlite://PATH` or `sqlite:///ABSOLUTE`,
/// optionally with `?mode=rwc` (which is what happens anyway). An in-memory database is
/// refused: the writer and the readers are separate connections and would each see
/// their own empty database.
pub(super) fn sqlite_path(url: &str) -> Result<PathBuf> {
    let bad = |why: &str| Error::InvalidInput {
        target: "database-url",
        message: format!("{url:?} {why}"),
    };
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| bad("is not a sqlite: URL"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !query.is_empty() && query != "mode=rwc" {
        return Err(bad("has options; only ?mode=rwc is understood"));
    }
    let path = path.strip_prefix("//").unwrap_or(path);
    // Percent-escapes are decoded, as sqlx did for the URLs earlier versions took.
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad("has a percent-escape that is not UTF-8"))?;
    if path.is_empty() || path == ":memory:" {
        return Err(bad("names no file; the catalog must be a file"));
    }
    // Every connection opens the path as a plain file name; a SQLite URI (`file:…`)
    // would name another file to some of them.
    if path.starts_with("file:") {
        return Err(bad(
            "is a SQLite URI; give the file's path: sqlite:/path/to/file.db",
        ));
    }
    Ok(Path::new(path.as_ref()).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn urls_name_files() {
        for (url, path) in [
            ("sqlite:data/c.db", "data/c.db"),
            ("sqlite://data/c.db", "data/c.db"),
            ("sqlite:///tmp/c.db", "/tmp/c.db"),
            ("sqlite:/tmp/c.db?mode=rwc", "/tmp/c.db"),
            ("sqlite:/srv/my%20cat.db", "/srv/my cat.db"),
        ] {
            assert_eq!(sqlite_path(url).unwrap().to_str(), Some(path), "{url}");
        }
        for url in [
            "sqlite::memory:",
            "sqlite:",
            "sqlite:c.db?cache=shared",
            "sqlite:file:/data/c.db",
            "sqlite:file::memory:",
            "c.db",
        ] {
            assert!(sqlite_path(url).is_err(), "{url}");
        }
    }
}
