//! The catalog: environments, credentials and image rows, in SQLite (the embedded
//! default: WAL mode, `synchronous=FULL`, so that a committed row survives a power cut) or
//! PostgreSQL (the scale-out mode, shared by every instance). This module and its children
//! are the only code that writes SQL, and each method's statements commit together: an
//! image row is committed in one INSERT after its blob is durable.
//!
//! Each engine has one driver of its own (`engine`): SQLite is rusqlite only (`sqlite`: a
//! group-committing writer thread, a pool of read connections, the generation cache),
//! PostgreSQL is sqlx's `PgPool` (`postgres`). A method builds a `Statement` (one text
//! for both engines where the schema lets them agree, which is nearly always; see
//! `statement`) and reads the rows it gets back through `columns`. Nothing above storage
//! knows which engine it is talking to.

use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::memo::Memo;
use crate::domain::{Credential, Event, Image, NewImage, Page, Subject};
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Catalog {
    engine: Arc<Engine>,
    /// Credentials already read, each with the moment it was read. A key can be deleted
    /// or expired by any instance or process, so a remembered one is trusted for
    /// [`CREDENTIAL_FRESHNESS`] only and then read again: revocation reaches every
    /// instance on either engine within that time, without a notification channel, at
    /// the cost of one indexed point read per key and period. Only keys that exist are
    /// kept, so a key made elsewhere works at once.
    credentials: Arc<Memo<Uuid, (Credential, Instant)>>,
    /// When this process last wrote each key's `last_used_at` (see `note_use`).
    uses_noted: Arc<Memo<Uuid, Instant>>,
}

/// How many credentials are remembered at most.
const REMEMBERED_CREDENTIALS: usize = 10_000;

/// The columns of an image row, in the order `image_from_row` reads them; a macro so that
/// every statement stays a compile-time constant.
macro_rules! image_columns {
    () => {
        "number, id, environment_id, subject, filename, format, byte_size, width, height, \
         frames, content_hash, serve_key, blob_key, created_at, updated_at, thumbhash, \
         dominant_color, expires_at, crop"
    };
}

// After the macro, so that these modules can use it.
mod audit;
mod columns;
mod copy;
mod copy_tables;
mod credentials;
mod dropbox;
mod engine;
mod engine_errors;
mod erasure;
mod events;
mod external_images;
mod library;
mod locks;
mod postgres;
mod presets;
#[cfg(test)]
mod seeded;
mod sessions;
mod slots;
mod sqlite;
mod statement;
mod tenants;
mod upload_tokens;
mod usage;
mod webhooks;

use crate::domain::rendition_params::crop_text;
use columns::{image_from_row, listed_row, time_column, u32_column, uuid_column};
pub use copy::{CopiedRow, Kind, TABLES, TableCopy, Value};
pub use credentials::CREDENTIAL_FRESHNESS;
use engine::Engine;
pub use erasure::{ErasureRow, ReceiptKey};
pub use library::LibraryFilter;
pub use locks::JobLock;
use postgres::Postgres;
use sqlite::Sqlite;
use sqlite::stamped::{Lookup, Remembered};
use statement::statement;
pub use usage::SubjectRow;
pub use webhooks::Attempt;

impl Catalog {
    /// Opens the catalog at a `sqlite:` URL (creating the file if needed) or a
    /// `postgres://` URL, and applies that engine's migrations. Several instances may start
    /// at once: SQLite serializes migrations with its write lock, PostgreSQL with sqlx's
    /// advisory lock.
    pub async fn open(url: &str) -> Result<Catalog> {
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite(Sqlite::open(url)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres(Postgres::open(url).await?)
        } else {
            return Err(Error::InvalidInput {
                target: "database-url",
                message: format!("must be a sqlite: or postgres:// URL, got {url:?}"),
            });
        };
        Ok(Catalog::with_engine(engine))
    }

    fn with_engine(engine: Engine) -> Catalog {
        Catalog {
            engine: Arc::new(engine),
            credentials: Arc::new(Memo::with_items(REMEMBERED_CREDENTIALS)),
            uses_noted: Arc::new(Memo::with_items(REMEMBERED_CREDENTIALS)),
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.engine.rows(statement!("SELECT 1"), |_| Ok(())).await?;
        Ok(())
    }

    /// The rows remembered across lookups; SQLite only.
    fn remembered(&self) -> Option<&Remembered> {
        match &*self.engine {
            Engine::Sqlite(sqlite) => sqlite.remembered.as_deref(),
            Engine::Postgres(_) => None,
        }
    }

    /// The generation of everything in the catalog: it changes with every commit of any
    /// connection or process. None where there is no witness (PostgreSQL).
    pub fn generation(&self) -> Option<u64> {
        self.remembered()?.stamp.generation()
    }

    /// Records an image whose blob is already durable, with `events` about it; returns it
    /// with its number once the row is committed, or None when that would pass a quota
    /// (then nothing is written). A dropbox item counts against no quota until it is
    /// claimed.
    pub async fn insert_image(&self, image: &NewImage, events: &[Event]) -> Result<Option<Image>> {
        let placeholder = image.placeholder.as_ref();
        let insert = statement!(
            format!(
                concat!(
                    "INSERT INTO images (id, environment_id, subject, filename, format, \
                     byte_size, width, height, frames, content_hash, serve_key, blob_key, \
                     created_at, updated_at, thumbhash, dominant_color, expires_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, \
                     $14, $15, $16 WHERE $16 IS NOT NULL OR ({}) RETURNING ",
                    image_columns!()
                ),
                usage::quota_guard(&self.engine, "$2", "$3", "$6")
            ),
            image.id,
            image.environment_id,
            image.subject.as_ref().map(Subject::as_str),
            image.filename.as_deref(),
            image.format.extension(),
            i64::try_from(image.byte_size).unwrap_or(i64::MAX),
            image.width,
            image.height,
            image.frames,
            &image.content_hash,
            &image.serve_key,
            &image.blob_key,
            image.created_at,
            placeholder.map(|p| p.thumbhash.as_str()),
            placeholder.map(|p| p.dominant_color.as_str()),
            image.expires_at,
        );
        let lock = if image.expires_at.is_none() {
            usage::quota_lock(&self.engine, image.environment_id, image.subject.is_some())
        } else {
            Vec::new()
        };
        let then = events.iter().map(events::deliveries).collect();
        let inserted = self
            .engine
            .write_rows_with(lock, insert, image_from_row, then)
            .await?;
        Ok(inserted.into_iter().next())
    }

    /// A permanent (not dropbox) image row.
    pub async fn image(&self, environment_id: Uuid, id: Uuid) -> Result<Option<Image>> {
        let remembered = self.remembered();
        let key = (environment_id, id);
        let lookup = remembered.map_or(Lookup::Miss(None), |r| r.images.get(&r.stamp, &key));
        let generation = match lookup {
            Lookup::Hit(image) => return Ok(Some(image)),
            Lookup::Miss(generation) => generation,
        };
        let select = statement!(
            concat!(
                "SELECT ",
                image_columns!(),
                " FROM images WHERE environment_id = $1 AND id = $2 AND expires_at IS NULL"
            ),
            environment_id,
            id,
        );
        let image = self.engine.row(select, image_from_row).await?;
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
        let select = statement!(
            concat!(
                "SELECT ",
                image_columns!(),
                " FROM images \
                 WHERE environment_id = $1 AND ($2 IS NULL OR subject = $2) AND number > $3 \
                 AND expires_at IS NULL \
                 ORDER BY number LIMIT $4"
            ),
            environment_id,
            subject.map(Subject::as_str),
            after.unwrap_or(0),
            i64::from(limit) + 1,
        );
        let rows = self.engine.rows(select, listed_row).await?;
        Ok(columns::images_page(rows, limit))
    }

    /// Removes the row and returns it, so the caller can remove its blob afterwards;
    /// `events` are queued with the removal, if there was one.
    pub async fn delete_image(
        &self,
        environment_id: Uuid,
        id: Uuid,
        events: &[Event],
    ) -> Result<Option<Image>> {
        let delete = statement!(
            concat!(
                "DELETE FROM images WHERE environment_id = $1 AND id = $2 \
                 AND expires_at IS NULL RETURNING ",
                image_columns!()
            ),
            environment_id,
            id,
        );
        // Read tolerantly: a row that cannot be read is deleted all the same (on either
        // engine), and only then reported.
        let then = events.iter().map(events::deliveries).collect();
        let deleted = self
            .engine
            .write_rows_with(Vec::new(), delete, listed_row, then)
            .await?;
        deleted.into_iter().next().map(|row| row.image).transpose()
    }

    /// Whether an image row with this id exists in any environment, claimed or not (the
    /// sweeper's question: every blob under `{env}/{image}/` belongs to that image's row;
    /// and the copy's resume point).
    pub async fn image_exists(&self, id: Uuid) -> Result<bool> {
        let select = statement!("SELECT 1 FROM images WHERE id = $1", id);
        Ok(self.engine.row(select, |_| Ok(())).await?.is_some())
    }
}
