//! Upload, in the order that makes it crash-safe:
//!
//! 1. the body is received, counted as it arrives (over the limit: 413): a small one in
//!    memory, a larger one streamed to a temp file in the data directory (gone afterwards);
//! 2. on the bounded processing pool, the format is sniffed and the header checked against
//!    the limits before any pixel is decoded, then the image is decoded once to prove it is
//!    real and its private metadata is stripped (`media::ingest`);
//! 3. the stored bytes are written durably to the blob store;
//! 4. the catalog row is committed;
//! 5. the blob is looked up in the store once more and written again if a sweep took it
//!    between 3 and 4 (see `sweeping`), and only then is the upload acknowledged.
//!
//! A crash before 4 leaves at most an orphan blob, which the sweeper removes after its
//! grace period; a row never exists without its blob, and a blob is never torn. Step 5
//! is what makes that hold for any grace, 0 included: a sweep that saw no row may remove
//! a blob at any moment until the row commits, and only a look after the commit can tell.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::Service;
use super::renditions::Described;
use crate::domain::{
    Event, EventType, Image, NewImage, Placeholder, Principal, Scope, Subject, random_hex,
};
use crate::error::{Error, Result};
use crate::media::{self, ImageFormat, placeholder};
use crate::storage::{BlobStore, capacity, staging};

/// What the client said about an upload besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    /// Already sanitized (see `domain::sanitize_filename`).
    pub filename: Option<String>,
    pub subject: Option<Subject>,
    /// Some: hold the image as a dropbox item until then, unless it is claimed.
    pub expires_at: Option<DateTime<Utc>>,
    /// A tighter byte limit than the server's (an upload token's).
    pub max_bytes: Option<u64>,
    /// Only these formats are accepted (an upload token's); `None`: any.
    pub formats: Option<Vec<ImageFormat>>,
}

impl Service {
    /// Validates, stores and records one image, returning it once it is durable.
    pub async fn upload<S>(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        request: UploadRequest,
        body: S,
    ) -> Result<Described>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        principal.require(environment_id, Scope::ImagesWrite)?;
        let image = self.store_counted(environment_id, request, body).await?;
        self.finish_upload(image).await
    }

    /// Stores an upload (its row committed when this returns Ok), counting it either way;
    /// access is decided by the caller (a principal's scope in [`Service::upload`], an
    /// upload token's grant in `upload_tokens`).
    pub(super) async fn store_counted<S>(
        &self,
        environment_id: Uuid,
        request: UploadRequest,
        body: S,
    ) -> Result<Image>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let stored = self.store_upload(environment_id, request, body).await;
        // An upload to no environment is not that environment's activity (and would let
        // any caller grow the counters with made-up ids).
        if !matches!(stored, Err(Error::NotFound(_))) {
            let now = chrono::Utc::now().timestamp();
            self.activity.record(environment_id, stored.is_ok(), now);
        }
        let image = match stored {
            Ok(image) => image,
            Err(error) => {
                metrics::counter!("imagestore_upload_rejections_total", "reason" => error.reason())
                    .increment(1);
                return Err(error);
            }
        };
        metrics::counter!("imagestore_uploads_total").increment(1);
        metrics::counter!("imagestore_upload_bytes_total").increment(image.byte_size);
        Ok(image)
    }

    /// After an upload's row is committed: its eager presets, and its description.
    pub(super) async fn finish_upload(&self, image: Image) -> Result<Described> {
        let environment_id = image.environment_id;
        let presets = self.catalog.presets(environment_id).await?;
        // A dropbox item may expire unclaimed or be cropped before its claim; its eager
        // presets are rendered when it is claimed instead.
        if image.expires_at.is_none() {
            self.render_eager(&image, &presets).await;
        }
        Ok(self.describe_with(image, &presets))
    }

    /// Spools, checks, decodes and strips the upload on the processing pool (making its
    /// placeholder while the bytes are at hand), then writes the blob and commits the row.
    async fn store_upload<S>(
        &self,
        environment_id: Uuid,
        request: UploadRequest,
        body: S,
    ) -> Result<Image>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let limit = request
            .max_bytes
            .map_or(self.settings.max_upload_bytes, |max| {
                max.min(self.settings.max_upload_bytes)
            });
        // Read first, so that a missing environment or one already full is refused before
        // the body is decoded; the catalog checks the limits again, atomically, when it
        // commits the row.
        let quotas = self.limits(environment_id).await?;
        let spooled = spool(&self.settings.temp_dir, limit, body).await?;
        if request.expires_at.is_none()
            && let Some(refusal) = self
                .quota_already_full(environment_id, request.subject.as_ref(), &quotas)
                .await?
        {
            return Err(refusal);
        }
        let limits = self.settings.media.clone();
        let formats = request.formats.clone();
        let (ingested, content_hash, placeholder) = self
            .processing
            .run(move || {
                let mut ingested = media::ingest(spooled.into_bytes()?, &limits)?;
                if let Some(formats) = formats
                    && !formats.contains(&ingested.format)
                {
                    let accepted: Vec<&str> = formats.iter().map(|f| f.name()).collect();
                    return Err(Error::UnsupportedMedia(format!(
                        "this upload accepts only {}; the image is {}",
                        accepted.join(", "),
                        ingested.format.name()
                    )));
                }
                let hash = blake3::hash(&ingested.bytes).to_hex().to_string();
                let placeholder = match placeholder::for_upload(&mut ingested) {
                    Ok(made) => Some(Placeholder {
                        thumbhash: made.thumbhash,
                        dominant_color: made.dominant_color,
                    }),
                    Err(error) => {
                        tracing::warn!(%error, "no placeholder for this image");
                        None
                    }
                };
                Ok((ingested, hash, placeholder))
            })
            .await?;

        let id = Uuid::new_v4();
        let blob_key = BlobStore::original_key(environment_id, id);
        let byte_size = ingested.bytes.len() as u64;
        let stored = ingested.bytes;
        self.blobs.put(&blob_key, stored.clone()).await?;
        let new = NewImage {
            id,
            environment_id,
            subject: request.subject,
            filename: request.filename,
            format: ingested.format,
            byte_size,
            width: ingested.width,
            height: ingested.height,
            frames: ingested.frames,
            content_hash,
            serve_key: random_hex(16)?,
            blob_key: blob_key.clone(),
            created_at: Utc::now(),
            placeholder,
            expires_at: request.expires_at,
        };
        let events = if new.expires_at.is_none() {
            vec![created_event(
                new.environment_id,
                new.id,
                new.subject.as_ref(),
                new.format,
                new.byte_size,
                &new.content_hash,
            )]
        } else {
            Vec::new()
        };
        let inserted = self.catalog.insert_image(&new, &events).await;
        let inserted = match inserted {
            Ok(None) => Err(self
                .quota_refusal(environment_id, new.subject.as_ref(), byte_size)
                .await),
            Ok(Some(image)) => Ok(image),
            Err(error) => Err(error),
        };
        match inserted {
            Ok(image) => {
                if !self.blobs.exists_in_store(&blob_key).await? {
                    tracing::info!(%blob_key, "a sweep took the blob before its row committed; written again");
                    self.blobs.put(&blob_key, stored).await?;
                }
                Ok(image)
            }
            Err(error) => {
                // The row is the commit point: without it the blob is an orphan. Remove it
                // now if we can; the sweeper gets it otherwise.
                if let Err(cleanup) = self.blobs.delete(&blob_key).await {
                    tracing::warn!(%blob_key, error = %cleanup, "orphan blob left for the sweeper");
                }
                Err(error)
            }
        }
    }
}

/// Bodies up to this size are kept in memory; a larger one goes to a temp file as it
/// arrives. An avatar then costs no file create, write, read and unlink (and no thread
/// hand-off for each), while memory stays bounded per upload.
const IN_MEMORY_BODY: usize = 256 << 10;

/// A received body, in memory or in a temp file (removed when this is dropped).
enum Spooled {
    Memory(Bytes),
    File(tempfile::NamedTempFile),
}

/// `image.created` about an image (about `subject`, which a claim may set), as its
/// webhooks are told.
pub(super) fn created_event(
    environment_id: Uuid,
    id: Uuid,
    subject: Option<&Subject>,
    format: ImageFormat,
    bytes: u64,
    content_hash: &str,
) -> Event {
    Event::new(
        environment_id,
        EventType::ImageCreated,
        serde_json::json!({
            "environmentId": environment_id,
            "imageId": id,
            "subject": subject.map(Subject::as_str),
            "format": format.name(),
            "bytes": bytes,
            "contentHash": content_hash,
        }),
    )
}

impl Spooled {
    /// The whole body; a temp file is read and removed (on the processing pool, where
    /// this is called, off the runtime).
    fn into_bytes(self) -> Result<Bytes> {
        match self {
            Spooled::Memory(bytes) => Ok(bytes),
            Spooled::File(file) => std::fs::read(file.path())
                .map(Bytes::from)
                .map_err(|e| Error::Internal(format!("reading the spooled upload: {e}"))),
        }
    }
}

/// Receives a body, refusing it as soon as it passes `limit` bytes: in memory while it is
/// small, then streamed into a new temp file.
async fn spool<S>(dir: &Path, limit: u64, mut body: S) -> Result<Spooled>
where
    S: Stream<Item = Result<Bytes>> + Unpin + Send,
{
    let mut head = BytesMut::new();
    let mut received: u64 = 0;
    let mut file = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        received = received.saturating_add(chunk.len() as u64);
        if received > limit {
            return Err(Error::PayloadTooLarge { limit });
        }
        if file.is_none() && head.len() + chunk.len() <= IN_MEMORY_BODY {
            head.extend_from_slice(&chunk);
            continue;
        }
        if file.is_none() {
            let (temp, mut writer) = temp_file(dir).await?;
            write(&mut writer, &head).await?;
            head.clear();
            file = Some((temp, writer));
        }
        if let Some((_, writer)) = file.as_mut() {
            write(writer, &chunk).await?;
        }
    }
    if received == 0 {
        return Err(Error::UnsupportedMedia(
            "the body is empty; send the image bytes (JPEG, PNG, GIF, WebP, TIFF or BMP)".into(),
        ));
    }
    match file {
        None => Ok(Spooled::Memory(head.freeze())),
        Some((temp, mut writer)) => {
            writer
                .flush()
                .await
                .map_err(|e| spool_error("writing the temp file", e))?;
            Ok(Spooled::File(temp))
        }
    }
}

type TempWriter = tokio::io::BufWriter<tokio::fs::File>;

/// A new temp file under `dir` and a buffered writer into it.
async fn temp_file(dir: &Path) -> Result<(tempfile::NamedTempFile, TempWriter)> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
    // Held while the upload is in flight, so that a sweep never removes it (see
    // `storage::staging`); one removed before the lock was taken is replaced.
    let temp = loop {
        let temp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(dir)
            .map_err(|e| spool_error("cannot create a temp file", e))?;
        if staging::hold(temp.as_file(), temp.path())
            .map_err(|e| spool_error("cannot lock the temp file", e))?
        {
            break temp;
        }
    };
    let std_file = temp
        .reopen()
        .map_err(|e| Error::Internal(format!("cannot open the temp file: {e}")))?;
    let writer =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(std_file));
    Ok((temp, writer))
}

async fn write(writer: &mut TempWriter, bytes: &[u8]) -> Result<()> {
    writer
        .write_all(bytes)
        .await
        .map_err(|e| spool_error("writing the temp file", e))
}

/// A spool failure: the disk is full (507), or something the operator must look at.
fn spool_error(context: &str, error: std::io::Error) -> Error {
    if capacity::is_full(&error) {
        Error::storage_full("upload spool", format!("{context}: {error}"))
    } else {
        Error::Internal(format!("{context}: {error}"))
    }
}
