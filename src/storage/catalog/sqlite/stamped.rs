//! Image rows and presets remembered on SQLite, and still exact across processes.
//!
//! Serving a small image is one primary-key read of its row, and under load that read
//! (a WAL read transaction, the b-tree probe, the row decode) was a large part of the
//! server's CPU. Caching the row is only safe if a change made by
//! *any* connection is noticed before the next read, because other instances and
//! processes (`imagestore key create`, a second `serve` on the same file) write the same
//! file, and a delete must take effect at once.
//!
//! Two witnesses answer that question, neither of which touches SQLite's files except
//! through SQLite or the kernel's own notifications:
//!
//! - **File events (Linux).** Every commit, by any connection of any process, writes its
//!   frames into the `-wal` file with `write`/`pwrite` before it becomes visible to
//!   readers (the WAL-index header is updated after the frames). The kernel queues an
//!   inotify event for that write on a watch of the database's directory before the write
//!   returns, so once a commit is visible, its event is already in our queue. Each lookup
//!   drains the queue with one non-blocking `read` (about half a microsecond): an empty
//!   queue means nothing was written since the last lookup. A watch holds no descriptor of
//!   the database's files, so it cannot disturb SQLite's POSIX locks. Any event naming the
//!   database or its `-wal`/`-shm` files, a queue overflow, or the loss of the watch
//!   counts as a change; a lost watch also switches to the other witness for good.
//! - **`PRAGMA data_version`** (<https://www.sqlite.org/pragma.html#pragma_data_version>),
//!   elsewhere and as the fallback: a number that changes whenever another connection has
//!   committed since the same connection last asked, read on a read-only connection the
//!   stamp keeps for itself, so every commit is "another connection's" to it. It is exact
//!   too, but each call opens a read transaction, whose WAL read lock costs two `fcntl`
//!   calls: about 4 µs, a fifth of a small image's whole request, which is why the file
//!   events come first.
//!
//! An earlier version read the WAL-index header from its own mapping of the `-shm` file.
//! Opening and closing a descriptor of that file dropped the POSIX locks SQLite held on
//! it in this process, so a second process (`imagestore key create`) could take itself
//! for the first, truncate the file, and kill the server with `SIGBUS`. Nothing here
//! opens SQLite's files except SQLite.
//!
//! The order makes races harmless: the witness is asked *before* the row is read, and a
//! value is kept under the generation of that earlier answer, so a row read after a
//! commit it does not show is kept only under a generation the next lookup has already
//! left.
//!
//! PostgreSQL has no such cheap witness; there these reads stay uncached.

use std::hash::Hash;
use std::path::Path;
use std::sync::Mutex;

use uuid::Uuid;

#[cfg(target_os = "linux")]
use super::file_events;
use crate::domain::{Image, Preset};
use crate::storage::generational::Generational;

/// Witness of "nothing committed since": the generation of a SQLite WAL database.
pub(in crate::storage::catalog) struct WalStamp {
    /// In a mutex because a connection may not be shared between threads, and because
    /// draining the event queue and moving the generation must be one step: a lookup that
    /// finds the queue empty must also find the generation another lookup moved for the
    /// events it drained.
    state: Mutex<StampState>,
}

struct StampState {
    /// Read-only and never used for anything but `PRAGMA data_version`.
    connection: rusqlite::Connection,
    data_version: i64,
    #[cfg(target_os = "linux")]
    events: Option<file_events::FileEvents>,
    generation: u64,
}

impl WalStamp {
    /// The stamp of the WAL-mode database at `path`; None when it is not in WAL mode or
    /// cannot be opened (then nothing is cached).
    pub fn open(path: &Path) -> Option<WalStamp> {
        WalStamp::open_with(path, true)
    }

    /// As [`WalStamp::open`]; without `file_events`, only `PRAGMA data_version` is asked.
    fn open_with(path: &Path, file_events: bool) -> Option<WalStamp> {
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
        // The watch first: a commit after it is seen either way.
        #[cfg(target_os = "linux")]
        let events = file_events
            .then(|| file_events::FileEvents::watch(path))
            .flatten();
        #[cfg(not(target_os = "linux"))]
        let _ = file_events;
        let data_version = data_version(&connection).ok()?;
        Some(WalStamp {
            state: Mutex::new(StampState {
                connection,
                data_version,
                #[cfg(target_os = "linux")]
                events,
                generation: 0,
            }),
        })
    }

    /// The current generation: it changes whenever any connection has committed since
    /// the last call. None when neither witness could answer (then nothing is cached).
    pub fn generation(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(target_os = "linux")]
        if let Some(events) = &mut state.events {
            match events.changed() {
                Some(changed) => {
                    if changed {
                        state.generation += 1;
                    }
                    return Some(state.generation);
                }
                None => {
                    // The watch is gone (its directory moved or deleted, or the queue
                    // failed): nothing more can be learnt from it.
                    tracing::warn!("the catalog's file watch ended; asking SQLite instead");
                    state.events = None;
                    state.generation += 1;
                }
            }
        }
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
pub(in crate::storage::catalog) struct Remembered {
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
pub(in crate::storage::catalog) struct Stamped<K, V> {
    values: Generational<K, V>,
    /// Registered once: a labelled `counter!` per lookup costs a registry search.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

/// The outcome of a lookup: the remembered value, or the generation to read under
/// (`None`: nothing may be kept, because the catalog is not remembered or SQLite could
/// not tell its data version).
pub(in crate::storage::catalog) enum Lookup<V> {
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
    use crate::storage::catalog::engine::Engine;
    use crate::storage::catalog::seeded::{Seeded, operator_change};
    use crate::storage::catalog::sqlite::Sqlite;
    use crate::storage::catalog::{Catalog, Remembered};

    /// A remembered row is really answered from memory: a catalog sharing the memory
    /// whose reads all fail still finds it.
    /// And it stays exact: a delete and a new preset committed by another instance on
    /// the same file are seen by the next read.
    #[tokio::test]
    async fn rows_are_remembered_until_any_instance_commits() {
        let dir = tempfile::tempdir().unwrap();
        let seeded = Seeded::open(dir.path()).await;
        let (a, env, id) = (&seeded.catalog, seeded.environment.id, seeded.image.id);
        let Engine::Sqlite(sqlite) = &*a.engine else {
            unreachable!("a sqlite: URL")
        };
        let memory: Option<std::sync::Arc<Remembered>> = sqlite.remembered.clone();
        assert!(memory.is_some(), "a file catalog remembers");
        let read = a.image(env, id).await.unwrap().expect("the image");
        assert_eq!(a.presets(env).await.unwrap(), vec![seeded.preset.clone()]);

        let cut_off = Catalog::with_engine(Engine::Sqlite(
            Sqlite::cut_off(&seeded.url, memory).unwrap(),
        ));
        assert!(
            cut_off.environment(env).await.is_err(),
            "the reads still work"
        );
        let remembered = cut_off.image(env, id).await.unwrap().expect("remembered");
        assert_eq!(format!("{remembered:?}"), format!("{read:?}"));
        assert_eq!(cut_off.presets(env).await.unwrap().len(), 1);

        let b = Catalog::open(&seeded.url).await.unwrap();
        let mut wider = seeded.preset.clone();
        wider.name = "wide".into();
        b.put_preset(env, &wider, &operator_change()).await.unwrap();
        assert_eq!(a.presets(env).await.unwrap().len(), 2);
        assert!(b.delete_image(env, id, &[]).await.unwrap().is_some());
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
        for file_events in [true, false] {
            generation_moves_with_every_commit(file_events);
        }
    }

    /// On Linux the file events are the witness in use, and a stamp whose watch ends (its
    /// directory renamed) still notices commits, through SQLite.
    #[cfg(target_os = "linux")]
    #[test]
    fn file_events_witness_commits_and_a_lost_watch_falls_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("before");
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("catalog.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        writer.execute("CREATE TABLE t (v INTEGER)", []).unwrap();
        let stamp = WalStamp::open(&path).unwrap();
        assert!(stamp.state.lock().unwrap().events.is_some());
        let first = stamp.generation().unwrap();
        std::fs::rename(&dir, root.path().join("after")).unwrap();
        assert_ne!(stamp.generation(), Some(first), "a lost watch is a change");
        assert!(stamp.state.lock().unwrap().events.is_none());
        let settled = stamp.generation().unwrap();
        assert_eq!(stamp.generation(), Some(settled));
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert_ne!(stamp.generation(), Some(settled), "a commit went unnoticed");
    }

    fn generation_moves_with_every_commit(file_events: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        writer.execute("CREATE TABLE t (v INTEGER)", []).unwrap();
        let stamp = WalStamp::open_with(&path, file_events).expect("a WAL database has a stamp");
        // Files of other names in the directory are not the database's.
        std::fs::write(dir.path().join("other"), b"x").unwrap();
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
