//! Image rows and presets remembered on SQLite, and still exact across processes.
//!
//! Serving a small image is one primary-key read of its row, and under load that read
//! (a WAL read transaction: two `fcntl` lock calls, a global mutex, the b-tree probe, the
//! row decode) was a fifth of the server's CPU. Caching the row is only safe if a change
//! made by *any* connection is noticed before the next read, because other instances and
//! processes (`imagestore key create`, a second `serve` on the same file) write the same
//! file, and a delete must take effect at once.
//!
//! SQLite itself answers that question cheaply: every commit in WAL mode rewrites the
//! WAL-index header at the start of the `-shm` file (its frame count, change counter,
//! salts and checksums) before the commit returns, and every reader decides from that
//! header whether its page cache is still good. The layout is part of SQLite's documented
//! file format (<https://www.sqlite.org/walformat.html>, "The WAL-Index Header"). So each
//! lookup reads those 48 bytes, from a shared mapping of the file as SQLite does (see
//! [`super::shm_header`]), with no system call; while they are unchanged, nothing was
//! committed and a remembered value is still the row. When they change, the generation
//! moves on and everything remembered before is ignored.
//!
//! The order makes races harmless: the header is read *before* the row, and a value is
//! kept under the generation of that earlier read, so a row read after a commit it does
//! not show is kept only under a generation the next lookup has already left.
//!
//! The `-shm` file must stay the one SQLite uses. SQLite removes or truncates it only
//! when no connection has the database open, so the stamp holds a read-only connection
//! open for its whole life; as a second guard, the file's identity is compared with the
//! path's every second, and a replaced file turns the caching off for good.
//!
//! PostgreSQL has no such cheap witness; there these reads stay uncached.

use std::fs::File;
use std::hash::Hash;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::shm_header::{HEADER, ShmHeader};
use crate::domain::{Image, Preset};
use crate::storage::generational::Generational;

/// `iVersion`, the first field of the header, for every WAL-index since SQLite 3.7.0.
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// How often the `-shm` file's identity is checked against its path.
const IDENTITY_CHECK: Duration = Duration::from_secs(1);

/// Witness of "nothing committed since": the generation of a SQLite WAL database.
pub(super) struct WalStamp {
    /// The WAL-index header: two copies of 48 bytes; the first is written last.
    shm: ShmHeader,
    shm_path: PathBuf,
    identity: (u64, u64),
    state: Mutex<StampState>,
    /// Keeps the database open, so that SQLite keeps this `-shm` file (see above); in a
    /// mutex only because a connection may not be shared between threads.
    _open: Mutex<rusqlite::Connection>,
}

struct StampState {
    header: [u8; HEADER],
    generation: u64,
    checked_at: Instant,
    /// False once the `-shm` file was found replaced: from then on nothing is cached.
    trusted: bool,
}

impl WalStamp {
    /// The stamp of the WAL-mode database at `path`; None when it is not in WAL mode or
    /// its WAL-index does not look like one (then nothing is cached).
    pub fn open(path: &Path) -> Option<WalStamp> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = rusqlite::Connection::open_with_flags(path, flags).ok()?;
        // Reading the mode opens the WAL and its index, which must exist for a header.
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        let shm_path = PathBuf::from(shm_path);
        let file = File::open(&shm_path).ok()?;
        let identity = identity(&file.metadata().ok()?);
        let shm = ShmHeader::map(&file)?;
        let header = shm.read();
        let version = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
        if version != WAL_INDEX_VERSION {
            tracing::warn!(
                version,
                "unknown SQLite WAL-index version; rows are not cached"
            );
            return None;
        }
        Some(WalStamp {
            shm,
            shm_path,
            identity,
            state: Mutex::new(StampState {
                header,
                generation: 0,
                checked_at: Instant::now(),
                trusted: true,
            }),
            _open: Mutex::new(connection),
        })
    }

    /// The current generation: it changes whenever any connection has committed since
    /// the last call. None when the header cannot be trusted (then nothing is cached).
    ///
    /// The header is read outside the lock. A thread gets a generation only when the
    /// header it read is the one recorded for that generation, so a slow reader holding
    /// an older header moves the generation on rather than joining a newer one.
    pub fn generation(&self) -> Option<u64> {
        let header = self.shm.read();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.trusted && state.checked_at.elapsed() >= IDENTITY_CHECK {
            state.checked_at = Instant::now();
            let live = std::fs::metadata(&self.shm_path).map(|m| identity(&m));
            if live.ok() != Some(self.identity) {
                tracing::error!(path = %self.shm_path.display(),
                    "the SQLite -shm file was replaced; catalog rows are no longer cached");
                state.trusted = false;
            }
        }
        if !state.trusted {
            return None;
        }
        if header != state.header {
            state.header = header;
            state.generation += 1;
        }
        Some(state.generation)
    }
}

fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    (metadata.dev(), metadata.ino())
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
/// (`None`: nothing may be kept, because the catalog is not remembered or its `-shm`
/// file was found replaced).
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
