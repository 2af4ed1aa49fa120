//! A subject's export: a ZIP of every original it holds, byte for byte as served, and
//! `manifest.json` describing each (its metadata and targets, as the native API renders
//! them). The ZIP is written as it is sent: entries of unknown size with data
//! descriptors (no seeking), originals streamed from the blob store chunk by chunk, the
//! images listed a page at a time and the manifest spooled to a temp file on the way.
//! Memory therefore stays at a page of rows and a few chunks, whatever the export's size.
//! A failure midway ends the download early (the client sees a truncated archive, and
//! the log says why); nothing is retried behind its back.

use std::sync::Arc;

use async_zip::tokio::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use bytes::{Bytes, BytesMut};
use futures_util::{AsyncWriteExt as _, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, DuplexStream};
use uuid::Uuid;

use super::{Described, Service};
use crate::domain::{Principal, Scope, Subject};
use crate::error::{Error, Result};
use crate::storage::blobs::BlobBody;

/// Images listed per catalog read.
const PAGE: u32 = 200;

/// Bytes buffered between the writer and the response, and read per chunk of it.
const PIPE: usize = 256 << 10;

/// How an image is described in the manifest (the HTTP edge renders its own view).
pub type ManifestEntry = Box<dyn Fn(&Described) -> serde_json::Value + Send + Sync>;

impl Service {
    /// The export of a subject as a stream of ZIP bytes (admin). Access and the
    /// environment are checked before the first byte, so a refusal is a plain error.
    pub async fn export_subject(
        self: Arc<Self>,
        principal: &Principal,
        environment_id: Uuid,
        subject: Subject,
        describe: ManifestEntry,
    ) -> Result<impl Stream<Item = Result<Bytes>> + Send + 'static> {
        principal.require(environment_id, Scope::Admin)?;
        self.limits(environment_id).await?;
        let (writer, reader) = tokio::io::duplex(PIPE);
        let (ended, outcome) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let written = self
                .write_export(environment_id, &subject, describe, writer)
                .await;
            if let Err(error) = &written {
                tracing::warn!(%error, subject = subject.as_str(), "export ended early");
            }
            let _ = ended.send(written);
        });
        Ok(read_chunks(reader, outcome))
    }

    async fn write_export(
        &self,
        environment_id: Uuid,
        subject: &Subject,
        describe: ManifestEntry,
        writer: DuplexStream,
    ) -> Result<()> {
        let mut zip = ZipFileWriter::with_tokio(writer);
        let mut manifest = Spool::new(&self.settings.temp_dir).await?;
        manifest
            .write(
                format!(
                    "{{\"subject\":{},\"images\":[",
                    json_string(subject.as_str())
                )
                .as_bytes(),
            )
            .await?;
        let presets = self.catalog.presets(environment_id).await?;
        let mut after = None;
        let mut first = true;
        loop {
            let page = self
                .catalog
                .list_images(environment_id, Some(subject), after, PAGE)
                .await?;
            for image in page.items {
                let read = match self.open_original(&image, None).await {
                    Ok(read) => read,
                    // Deleted since the page was read: not exported, not listed.
                    Err(Error::NotFound(_)) => continue,
                    Err(error) => return Err(error),
                };
                let path = format!("images/{}.{}", image.id, image.format.extension());
                let entry = ZipEntryBuilder::new(path.clone().into(), Compression::Stored);
                let mut file = zip.write_entry_stream(entry).await.map_err(zip_error)?;
                match read.body {
                    BlobBody::Whole(bytes) => file.write_all(&bytes).await.map_err(io_error)?,
                    BlobBody::Stream(mut chunks) => {
                        while let Some(chunk) = chunks.next().await {
                            file.write_all(&chunk?).await.map_err(io_error)?;
                        }
                    }
                }
                file.close().await.map_err(zip_error)?;
                let described = self.describe_with(image, &presets);
                let mut entry = describe(&described);
                entry["file"] = serde_json::Value::String(path);
                if !first {
                    manifest.write(b",").await?;
                }
                first = false;
                manifest.write(entry.to_string().as_bytes()).await?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        manifest.write(b"]}").await?;
        let entry = ZipEntryBuilder::new("manifest.json".to_string().into(), Compression::Stored);
        let mut file = zip.write_entry_stream(entry).await.map_err(zip_error)?;
        manifest.copy_into(&mut file).await?;
        file.close().await.map_err(zip_error)?;
        let mut writer = zip.close().await.map_err(zip_error)?;
        writer.get_mut().shutdown().await.map_err(io_error)?;
        Ok(())
    }
}

/// The manifest on its way: written to a temp file (gone when dropped) as the images
/// are, copied into the archive last.
struct Spool {
    file: tokio::fs::File,
}

impl Spool {
    async fn new(dir: &std::path::Path) -> Result<Spool> {
        tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
        let file = tempfile::tempfile_in(dir).map_err(io_error)?;
        Ok(Spool {
            file: tokio::fs::File::from_std(file),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).await.map_err(io_error)
    }

    async fn copy_into<W: futures_util::AsyncWrite + Unpin>(mut self, into: &mut W) -> Result<()> {
        self.file.flush().await.map_err(io_error)?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(io_error)?;
        let mut buffer = vec![0; PIPE];
        loop {
            let read = self.file.read(&mut buffer).await.map_err(io_error)?;
            if read == 0 {
                return Ok(());
            }
            into.write_all(&buffer[..read]).await.map_err(io_error)?;
        }
    }
}

/// The reading end of the pipe as a stream of chunks. At its end, the writer's outcome:
/// an export that failed midway ends the stream with an error, so that the response is
/// cut off (the client sees a broken download) rather than ended as if it were whole.
fn read_chunks(
    reader: DuplexStream,
    outcome: tokio::sync::oneshot::Receiver<Result<()>>,
) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(
        (reader, Some(outcome)),
        |(mut reader, outcome)| async move {
            let mut chunk = BytesMut::with_capacity(PIPE);
            let read = reader.read_buf(&mut chunk).await.map_err(io_error)?;
            if read > 0 {
                return Ok(Some((chunk.freeze(), (reader, outcome))));
            }
            match outcome {
                Some(outcome) => match outcome.await {
                    Ok(Ok(())) => Ok(None),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(Error::Internal("the export's writer vanished".into())),
                },
                None => Ok(None),
            }
        },
    )
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn zip_error(error: async_zip::error::ZipError) -> Error {
    Error::Internal(format!("writing the export: {error}"))
}

fn io_error(error: std::io::Error) -> Error {
    Error::Internal(format!("writing the export: {error}"))
}
