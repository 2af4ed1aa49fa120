//! Image rows and presets remembered on SQLite, and still exact across processes.
//!
//! Serving a small image is one primary-key read of its row, and under load that read
//! (a WAL read transaction, the b-tree probe, the row decode, sqlx's hand-off) was a
//! large part of the server's CPU. Caching the row is only safe if a change made by
//! *any* connection is noticed before the next read, because other instances and
//! processes (`imagestore key create`, a second `serve` on the same file) write the same
//! file, and a delete must take effect at once.
//!
//! SQLite answers that question through a documented interface: `PRAGMA data_version`
//! (<https://www.sqlite.org/pragma.html#pragma_data_version>) returns a number that
//! changes whenever another connection, in this process or any other, has committed
//! since the same connection last asked. The stamp keeps one read-only connection that
//! never writes, so every commit is "another connection's" to it. Each lookup asks it
//! once (a read transaction that reads the WAL-index header through SQLite's own mapping
//! and locks, no b-tree page); while the answer is unchanged, nothing was committed and
//! a remembered value is still the row. When it changes, the generation moves on and
//! everything remembered before is ignored.
//!
//! An earlier version read the WAL-index header from its own mapping of the `-shm` file.
//! Opening and closing a descriptor of that file dropped the POSIX locks SQLite held on
//! it in this process, so a second process (`imagestore key create`) could take itself
//! for the first, truncate the file, and kill the server with `SIGBUS`. Nothing here
//! touches SQLite's files except through SQLite.
//!
//! The order makes races harmless: the version is read *before* the row, and a value is
//! kept under the generation of that earlier read, so a row read after a commit it does
//! not show is kept only under a generation the next lookup has already left.
//!
//! PostgreSQL has no such cheap witness; there these reads stay uncached.

use std::hash::Hash;
use std::path::Path;
use std::sync::Mutex;

use uuid::Uuid;

use crate::domain::{Image, Preset};
use crate::storage::generational::Generational;

/// Witness of "nothing committed since": the generation of a SQLite WAL database.
pub(super) struct WalStamp {
    /// In a mutex because a connection may not be shared between threads.
    state: Mutex<StampState>,
}

struct StampState {
    /// Read-only and never used for anything but `PRAGMA data_version`.
    connection: rusqlite::Connection,
    data_version: i64,
    generation: u64,
}

impl WalStamp {
    /// The stamp of the WAL-mode database at `path`; None when it is not in WAL mode or
    /// cannot be opened (then nothing is cached).
    pub fn open(path: &Path) -> Option<WalStamp> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = rusqlite::Connection::open_with_flags(path, flags).ok()?;
        // Outside WAL mode a reader would block writers for the duration of its read
        // transaction; the catalog always opens in WAL mode, so this is a guard only.
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let data_version = data_version(&connection).ok()?;
        Some(WalStamp {
            state: Mutex::new(StampState {
                connection,
                data_version,
                generation: 0,
            }),
        })
    }

    /// The current generation: it changes whenever any connection has committed since
    /// the last call. None when SQLite could not answer (then nothing is cached).
    pub fn generation(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = match data_version(&state.connection) {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "PRAGMA data_version failed; this lookup is not cached");
                return None;
            }
        };
        if now != state.data_version {
            state.data_version = now;
            state.generation += 1;
        }
        Some(state.generation)
    }
}

fn data_version(connection: &rusqlite::Connection) -> rusqlite::Result<i64> {
    connection
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

/// How many image rows and environments' presets are remembered at most.
const REMEMBERED_IMAGES: usize = 20_000;
const REMEMBERED_PRESET_LISTS: usize = 1_000;

/// The catalog's remembered reads on SQLite.
pub(super) struct Remembered {
    pub stamp: WalStamp,
    /// By (environment, image id); live images only, never an absence.
    pub images: Stamped<(Uuid, Uuid), Image>,
    /// An environment's presets, by name.
    pub presets: Stamped<Uuid, Vec<Preset>>,
}

impl Remembered {
    /// For the WAL-mode database at `path`; None when it has no usable stamp.
    pub fn open(path: &Path) -> Option<Remembered> {
        Some(Remembered {
            stamp: WalStamp::open(path)?,
            images: Stamped::new(REMEMBERED_IMAGES, "images"),
            presets: Stamped::new(REMEMBERED_PRESET_LISTS, "presets"),
        })
    }
}

/// Values read from the catalog, each kept with the generation it was read in and
/// returned only while the generation is unchanged; hits and misses are counted.
pub(super) struct Stamped<K, V> {
    values: Generational<K, V>,
    /// Registered once: a labelled `counter!` per lookup costs a registry search.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

/// The outcome of a lookup: the remembered value, or the generation to read under
/// (`None`: nothing may be kept, because the catalog is not remembered or SQLite could
/// not tell its data version).
pub(super) enum Lookup<V> {
    Hit(V),
    Miss(Option<u64>),
}

impl<K: Eq + Hash + Clone, V: Clone> Stamped<K, V> {
    /// At most `items` values; hits and misses are counted with the label `rows`.
    pub fn new(items: usize, rows: &'static str) -> Self {
        const NAME: &str = "imagestore_catalog_cache_total";
        let counter =
            |result: &'static str| metrics::counter!(NAME, "rows" => rows, "result" => result);
        Stamped {
            values: Generational::new(items),
            hits: counter("hit"),
            misses: counter("miss"),
        }
    }

    pub fn get(&self, stamp: &WalStamp, key: &K) -> Lookup<V> {
        let Some(generation) = stamp.generation() else {
            return Lookup::Miss(None);
        };
        match self.values.get(Some(generation), key) {
            Some(value) => {
                self.hits.increment(1);
                Lookup::Hit(value)
            }
            None => {
                self.misses.increment(1);
                Lookup::Miss(Some(generation))
            }
        }
    }

    /// Keeps a value read after [`Stamped::get`] answered `Miss(generation)`.
    pub fn keep(&self, generation: Option<u64>, key: K, value: V) {
        self.values.keep(generation, key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::WalStamp;
    use crate::storage::catalog::Catalog;
    use crate::storage::catalog::seeded::Seeded;

    /// A remembered row is really answered from memory: a copy of the catalog that can
    /// reach neither SQLite path (its pool closed, no direct reads) still finds it.
    /// And it stays exact: a delete and a new preset committed by another instance on
    /// the same file are seen by the next read.
    #[tokio::test]
    async fn rows_are_remembered_until_any_instance_commits() {
        let dir = tempfile::tempdir().unwrap();
        let seeded = Seeded::open(dir.path()).await;
        let (a, env, id) = (&seeded.catalog, seeded.environment.id, seeded.image.id);
        assert!(a.remembered.is_some(), "a file catalog remembers");
        let read = a.image(env, id).await.unwrap().expect("the image");
        assert_eq!(a.presets(env).await.unwrap(), vec![seeded.preset.clone()]);

        let cut_off = Catalog {
            pool: sqlx::AnyPool::connect_lazy("sqlite::memory:").unwrap(),
            direct: None,
            ..a.clone()
        };
        cut_off.pool.close().await;
        let remembered = cut_off.image(env, id).await.unwrap().expect("remembered");
        assert_eq!(format!("{remembered:?}"), format!("{read:?}"));
        assert_eq!(cut_off.presets(env).await.unwrap().len(), 1);

        let b = Catalog::open(&seeded.url).await.unwrap();
        let mut wider = seeded.preset.clone();
        wider.name = "wide".into();
        b.put_preset(env, &wider).await.unwrap();
        assert_eq!(a.presets(env).await.unwrap().len(), 2);
        assert!(b.delete_image(env, id).await.unwrap().is_some());
        assert!(a.image(env, id).await.unwrap().is_none());
        assert!(
            cut_off.image(env, id).await.is_err(),
            "a stale row was kept"
        );
    }

    /// The generation stays while nothing is committed, and moves on with a commit made
    /// through another connection, including one that changes nothing visible to us.
    #[test]
    fn the_generation_moves_with_every_commit_of_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        writer.execute("CREATE TABLE t (v INTEGER)", []).unwrap();
        let stamp = WalStamp::open(&path).expect("a WAL database has a stamp");
        let first = stamp.generation().unwrap();
        assert_eq!(stamp.generation(), Some(first));
        for round in 0..3 {
            writer
                .execute("INSERT INTO t VALUES (?1)", [round])
                .unwrap();
            let now = stamp.generation().unwrap();
            assert_ne!(now, first, "commit {round} went unnoticed");
            assert_eq!(stamp.generation(), Some(now));
        }
        // A checkpoint that restarts the WAL is a change too, and stays noticed after.
        let before = stamp.generation().unwrap();
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        writer.execute("DELETE FROM t", []).unwrap();
        assert_ne!(stamp.generation(), Some(before));
    }

    #[test]
    fn a_database_not_in_wal_mode_has_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer.execute("CREATE TABLE t (v INTEGER)", []).unwrap();
        assert!(WalStamp::open(&path).is_none());
    }
}
