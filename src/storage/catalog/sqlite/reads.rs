//! Reads of a SQLite catalog, run on the calling thread through a small pool of
//! read-only rusqlite connections.
//!
//! A read is a WAL read transaction and a few b-tree probes on a warm page cache: a few
//! microseconds, less than handing it to another thread and back (sqlx's SQLite driver
//! did that, and in the GET benchmark's profile its futex waits and wake-ups were about
//! 40% of the server's CPU). So reads are made in place. Each one reads the database, so
//! a row changed by another instance or process is seen at once.
//!
//! The cost of reading in place: a read whose pages are not in the OS page cache reads
//! them from disk on a runtime thread, and in the rare moments a WAL reader must wait
//! (another process recovering the WAL after a crash) it waits there too, for at most
//! [`BUSY_TIMEOUT`]. Both are short next to a request, and listings are bounded pages.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::super::engine::MapRow;
use super::super::statement::Statement;
use crate::error::Result;

/// How many idle connections are kept; more are opened when needed, and dropped after.
const IDLE: usize = 8;

/// How long a read waits in the rare moments a WAL reader must (see the module doc).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Reads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reads {
    /// Reads of the SQLite database at `path`.
    pub fn new(path: PathBuf) -> Reads {
        Reads {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs a read-only statement (prepared once per connection) and maps every row.
    pub fn rows<T>(&self, statement: &Statement, map: impl MapRow<T>) -> Result<Vec<T>> {
        let connection = self.take()?;
        let mapped = run_query(&connection, statement, &map)?;
        self.give_back(connection);
        Ok(mapped)
    }

    fn take(&self) -> Result<Connection> {
        if let Some(connection) = self.lock().pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.lock();
        if idle.len() < IDLE {
            idle.push(connection);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The list stays consistent even if a holder panicked: push and pop are atomic.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs a statement that returns rows and maps each; shared by the reads and the
/// writer's `RETURNING` statements. The rows are stepped to their end, so the statement
/// is finished before a commit.
pub(super) fn run_query<T>(
    connection: &Connection,
    statement: &Statement,
    map: &impl MapRow<T>,
) -> Result<Vec<T>> {
    let mut prepared = connection.prepare_cached(&statement.sql)?;
    debug_assert_numbered(&prepared);
    let mut rows = prepared.query(rusqlite::params_from_iter(&statement.params))?;
    let mut mapped = Vec::new();
    while let Some(row) = rows.next()? {
        mapped.push(map(row)?);
    }
    Ok(mapped)
}

/// Parameters are bound by position, and SQLite numbers `$n` names in order of first use:
/// a statement must first use `$1`, then `$2`, and so on, or values would be swapped.
pub(super) fn debug_assert_numbered(prepared: &rusqlite::Statement<'_>) {
    for index in 1..=prepared.parameter_count() {
        debug_assert_eq!(
            prepared.parameter_name(index),
            Some(format!("${index}").as_str()),
            "a statement's parameters must first appear in the order $1, $2, …"
        );
    }
}
