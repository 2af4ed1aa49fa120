//! On SQLite, the hottest reads (an image by id, an environment's presets) run on the
//! calling thread through plain read-only rusqlite connections instead of sqlx's.
//!
//! Every sqlx SQLite statement is a hand-off to that connection's worker thread and back.
//! Serving a small image is one such read, and under load those hand-offs (futex waits
//! and wake-ups on both sides) were about 40% of the server's CPU in the GET benchmark's
//! profile, while the lookup itself, a primary-key probe on a warm page cache, takes a
//! few microseconds: less than the hand-off. So these reads are made in place. They stay
//! exact: each one reads the database, so a row changed by another instance or process
//! is seen at once (nothing is cached here).
//!
//! The cost of reading in place: a lookup whose pages are not in the OS page cache reads
//! them from disk on a runtime thread. For point lookups that is a few page reads, the
//! same order as the hand-off it replaces on a warm cache; listings, which read many rows,
//! stay on sqlx.
//!
//! In WAL mode a reader never waits for the writer. A short busy timeout covers the rare
//! moments (recovery, a checkpoint restart) when it could; any error at all makes the
//! caller run the same statement through sqlx, which waits and reports as usual, so this
//! path can only be faster, never different.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Params};

use crate::error::Result;

/// How many idle connections are kept; more are opened when needed, and dropped after.
const IDLE: usize = 8;

/// Longer than this, a read is handed back to sqlx rather than holding a runtime thread.
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

pub(super) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    /// Direct reads of the SQLite database at `path`.
    pub fn new(path: PathBuf) -> DirectReads {
        DirectReads {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs a read-only statement (cached per connection) and maps every row. `None`
    /// means the direct path could not run it; the caller then uses sqlx.
    pub fn rows<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Option<Result<Vec<T>>> {
        let connection = self.take()?;
        let rows = (|| {
            let mut statement = connection.prepare_cached(sql)?;
            let mut rows = statement.query(params)?;
            let mut mapped = Vec::new();
            while let Some(row) = rows.next()? {
                mapped.push(map(row));
            }
            Ok::<_, rusqlite::Error>(mapped)
        })();
        match rows {
            Ok(mapped) => {
                self.give_back(connection);
                Some(mapped.into_iter().collect())
            }
            Err(error) => {
                tracing::debug!(%error, "direct SQLite read failed; reading through sqlx");
                None
            }
        }
    }

    fn take(&self) -> Option<Connection> {
        if let Some(connection) = self.lock().pop() {
            return Some(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags).ok()?;
        connection.busy_timeout(BUSY_TIMEOUT).ok()?;
        Some(connection)
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

#[cfg(test)]
mod tests {
    use super::super::columns::image_from_row;
    use super::super::seeded::Seeded;

    /// The direct path really answers (rather than always falling back to sqlx), agrees
    /// with sqlx row for row, and sees a delete at once.
    #[tokio::test]
    async fn direct_reads_answer_and_agree_with_sqlx() {
        let dir = tempfile::tempdir().unwrap();
        let Seeded {
            catalog,
            environment,
            image: inserted,
            preset,
            ..
        } = Seeded::open(dir.path()).await;

        let direct = catalog
            .direct
            .as_ref()
            .expect("a file database reads directly");
        let sql = concat!("SELECT ", image_columns!(), " FROM images WHERE id = $1");
        let id = inserted.id.to_string();
        let read = direct
            .rows(sql, [&id], |row| image_from_row(row))
            .expect("the direct path ran")
            .unwrap();
        assert_eq!(
            format!("{:?}", read),
            format!("{:?}", vec![inserted.clone()])
        );
        assert_eq!(catalog.presets(environment.id).await.unwrap(), vec![preset]);

        catalog
            .delete_image(environment.id, inserted.id)
            .await
            .unwrap();
        assert!(
            catalog
                .image(environment.id, inserted.id)
                .await
                .unwrap()
                .is_none()
        );
    }
}
