//! The catalog: environments, credentials and image rows, in SQLite (the embedded
//! default: WAL mode, `synchronous=FULL`, so that a committed row survives a power cut) or
//! PostgreSQL (the scale-out mode, shared by every instance). This module and its children
//! are the only code that writes SQL. Each method is one statement, so each is its own
//! transaction: an image row is committed in one INSERT after its blob is durable.
//!
//! Both engines are driven through sqlx's `Any` driver with the same statements: ids are
//! UUID text, times UTC milliseconds and flags integers, so one SQL text fits both, and the
//! schema differences live in the two migration directories. On a SQLite file, the
//! hottest statements skip sqlx for plain rusqlite connections running the same SQL: the
//! point reads in `direct`, and new image rows, written in groups by `group_commit`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool};
use uuid::Uuid;

use super::memo::Memo;
use crate::domain::{Credential, Image, NewImage, Page, Subject};
use crate::error::{Error, Result};

/// Which engine holds the catalog; a few statements (locks, sequences) differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine a catalog URL names, or a clear error for any other scheme.
    pub fn of_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::InvalidInput {
                target: "database-url",
                message: format!("must be a sqlite: or postgres:// URL, got {url:?}"),
            })
        }
    }
}

#[derive(Clone)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
    /// Credentials already read, each with the moment it was read. A key can be deleted
    /// or expired by any instance or process, so a remembered one is trusted for
    /// [`CREDENTIAL_FRESHNESS`] only and then read again: revocation reaches every
    /// instance on either engine within that time, without a notification channel, at
    /// the cost of one indexed point read per key and period. Only keys that exist are
    /// kept, so a key made elsewhere works at once.
    credentials: Arc<Memo<Uuid, (Credential, Instant)>>,
    /// The hottest reads made on the calling thread; SQLite only (see `direct`).
    direct: Option<Arc<DirectReads>>,
    /// Image rows and presets kept while no connection commits; SQLite only (see
    /// `stamped`).
    remembered: Option<Arc<Remembered>>,
    /// New image rows committed together by a writer thread; a SQLite file only (see
    /// `group_commit`).
    group_commit: Option<Arc<GroupCommit>>,
}

/// How many credentials are remembered at most.
const REMEMBERED_CREDENTIALS: usize = 10_000;

/// How long a request waits for a catalog connection before it answers 503: bounded, so
/// that an unreachable database turns into a quick refusal rather than a hung request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The columns of an image row, in the order `image_from_row` reads them; a macro so that
/// every statement stays a compile-time constant (sqlx refuses runtime-built SQL).
macro_rules! image_columns {
    () => {
        "number, id, environment_id, subject, filename, format, byte_size, width, height, \
         frames, content_hash, serve_key, blob_key, created_at, updated_at, thumbhash, \
         dominant_color, expires_at, crop"
    };
}

// After the macro, so that these modules can use it.
mod columns;
mod copy;
mod direct;
mod dropbox;
mod engine_errors;
mod external_images;
#[cfg(target_os = "linux")]
mod file_events;
mod group_commit;
mod locks;
mod presets;
#[cfg(test)]
mod seeded;
mod sessions;
mod slots;
mod stamped;
mod tenants;

use crate::domain::rendition_params::crop_text;
use columns::{image_from_row, time_column, u32_column, uuid_column};
pub use copy::{CopiedRow, Kind, TABLES, TableCopy, Value};
use direct::DirectReads;
use group_commit::GroupCommit;
pub use locks::JobLock;
use stamped::{Lookup, Remembered};
pub use tenants::CREDENTIAL_FRESHNESS;

impl Catalog {
    /// Opens the catalog at a `sqlite:` URL (creating the file if needed) or a
    /// `postgres://` URL, and applies that engine's migrations. Several instances may start
    /// at once: on PostgreSQL, sqlx serializes migrations with an advisory lock.
    pub async fn open(url: &str) -> Result<Catalog> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let file = match backend {
            Backend::Sqlite => sqlite_file(&url)?,
            Backend::Postgres => None,
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Per connection: WAL lets readers run beside the writer, and
                        // synchronous=FULL makes every commit durable on return.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => Error::from(inner),
            other => Error::Catalog(format!("migration failed: {other}")),
        })?;
        // After the migrations: the file exists and is in WAL mode by now.
        Ok(Catalog {
            backend,
            credentials: Arc::new(Memo::with_items(REMEMBERED_CREDENTIALS)),
            group_commit: file
                .as_deref()
                .map(GroupCommit::start)
                .transpose()?
                .map(Arc::new),
            direct: file.clone().map(|path| Arc::new(DirectReads::new(path))),
            remembered: file.and_then(|path| Remembered::open(&path)).map(Arc::new),
            pool,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn connection(&self) -> Result<PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The generation of everything in the catalog: it changes with every commit of any
    /// connection or process. None where there is no witness (PostgreSQL, memory).
    pub fn generation(&self) -> Option<u64> {
        self.remembered.as_ref()?.stamp.generation()
    }

    /// Records an image whose blob is already durable; returns it with its number once
    /// the row is committed.
    pub async fn insert_image(&self, image: &NewImage) -> Result<Image> {
        match &self.group_commit {
            Some(group) => group.insert(image).await,
            None => insert_row(&self.pool, image).await,
        }
    }

    /// A permanent (not dropbox) image row.
    pub async fn image(&self, environment_id: Uuid, id: Uuid) -> Result<Option<Image>> {
        const SQL: &str = concat!(
            "SELECT ",
            image_columns!(),
            " FROM images WHERE environment_id = $1 AND id = $2 AND expires_at IS NULL"
        );
        let remembered = self.remembered.as_deref();
        let key = (environment_id, id);
        let lookup = remembered.map_or(Lookup::Miss(None), |r| r.images.get(&r.stamp, &key));
        let generation = match lookup {
            Lookup::Hit(image) => return Ok(Some(image)),
            Lookup::Miss(generation) => generation,
        };
        let (environment_id, id) = (environment_id.to_string(), id.to_string());
        let direct = self
            .direct
            .as_ref()
            .and_then(|direct| direct.rows(SQL, [&environment_id, &id], |row| image_from_row(row)));
        let image = match direct {
            Some(rows) => rows?.pop(),
            None => {
                let row = sqlx::query(SQL)
                    .bind(environment_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(image_from_row).transpose()?
            }
        };
        if let (Some(remembered), Some(image)) = (remembered, &image) {
            remembered.images.keep(generation, key, image.clone());
        }
        Ok(image)
    }

    /// One page of an environment's images in upload order, optionally of one subject.
    pub async fn list_images(
        &self,
        environment_id: Uuid,
        subject: Option<&Subject>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<Image>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            image_columns!(),
            " FROM images \
             WHERE environment_id = $1 AND ($2 IS NULL OR subject = $2) AND number > $3 \
             AND expires_at IS NULL \
             ORDER BY number LIMIT $4"
        ))
        .bind(environment_id.to_string())
        .bind(subject.map(Subject::as_str))
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(columns::images_from_rows(&rows, limit))
    }

    /// Removes the row and returns it, so the caller can remove its blob afterwards.
    pub async fn delete_image(&self, environment_id: Uuid, id: Uuid) -> Result<Option<Image>> {
        let row = sqlx::query(concat!(
            "DELETE FROM images WHERE environment_id = $1 AND id = $2 AND expires_at IS NULL \
             RETURNING ",
            image_columns!()
        ))
        .bind(environment_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(image_from_row).transpose()
    }

    /// Whether an image row with this id exists in any environment (the sweeper's
    /// question: every blob under `{env}/{image}/` belongs to that image's row).
    pub async fn image_exists(&self, id: Uuid) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM images WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}

/// A `sqlite:` URL that creates the file when missing (after making its directory), as
/// the embedded default must on first start.
fn sqlite_url(url: &str) -> Result<String> {
    let options = SqliteConnectOptions::from_str(url)?;
    if let Some(parent) = options.get_filename().parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Catalog(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// The file of a SQLite catalog, for the direct reads and the stamp; none for an
/// in-memory one, which only sqlx's own connections can see.
fn sqlite_file(url: &str) -> Result<Option<PathBuf>> {
    let options = SqliteConnectOptions::from_str(url)?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    Ok((!in_memory).then(|| options.get_filename().to_path_buf()))
}

/// A new image row, returned whole; shared by sqlx (PostgreSQL) and SQLite's writer
/// thread (`group_commit`), which bind the same values in the same order.
const INSERT_IMAGE: &str = concat!(
    "INSERT INTO images (id, environment_id, subject, filename, format, byte_size, \
     width, height, frames, content_hash, serve_key, blob_key, created_at, updated_at, \
     thumbhash, dominant_color, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
     RETURNING ",
    image_columns!()
);

/// Inserts one image row through sqlx, where no writer thread commits groups.
async fn insert_row(pool: &AnyPool, image: &NewImage) -> Result<Image> {
    let created = image.created_at.timestamp_millis();
    let row = sqlx::query(INSERT_IMAGE)
        .bind(image.id.to_string())
        .bind(image.environment_id.to_string())
        .bind(image.subject.as_ref().map(Subject::as_str))
        .bind(image.filename.as_deref())
        .bind(image.format.extension())
        .bind(i64::try_from(image.byte_size).unwrap_or(i64::MAX))
        .bind(i64::from(image.width))
        .bind(i64::from(image.height))
        .bind(i64::from(image.frames))
        .bind(&image.content_hash)
        .bind(&image.serve_key)
        .bind(&image.blob_key)
        .bind(created)
        .bind(created)
        .bind(image.placeholder.as_ref().map(|p| p.thumbhash.as_str()))
        .bind(
            image
                .placeholder
                .as_ref()
                .map(|p| p.dominant_color.as_str()),
        )
        .bind(image.expires_at.map(|t| t.timestamp_millis()))
        .fetch_one(pool)
        .await?;
    image_from_row(&row)
}
