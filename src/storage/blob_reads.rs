//! How an opened blob's bytes come back: whole from memory (a remembered blob, one buffer
//! that hyper writes with the headers), or streamed from a local file in large chunks that
//! remember the file they came from, so that the HTTP edge can `sendfile` them.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use super::blobs::HOT_BLOB_MAX;
use super::file_backed::file_backed;
use crate::error::{Error, Result};

/// An opened blob: its total size and the requested bytes.
pub struct BlobRead {
    pub total_size: u64,
    pub range: Range<u64>,
    pub body: BlobBody,
}

/// The bytes of an opened blob: already in memory (a remembered blob), or streamed from
/// the store. Keeping the first apart lets the HTTP layer answer with one buffer, which
/// hyper writes together with the headers.
pub enum BlobBody {
    Whole(Bytes),
    Stream(BoxStream<'static, Result<Bytes>>),
}

impl BlobBody {
    /// All the bytes in one buffer; a one-chunk body is handed over without a copy.
    pub async fn into_bytes(self) -> Result<Bytes> {
        let stream = match self {
            BlobBody::Whole(bytes) => return Ok(bytes),
            BlobBody::Stream(stream) => stream,
        };
        let mut chunks: Vec<Bytes> = stream.try_collect().await?;
        Ok(match chunks.len() {
            1 => chunks.swap_remove(0),
            _ => Bytes::from(chunks.concat()),
        })
    }
}

/// A remembered blob, or a range of it, as a whole body; the range was checked against
/// the size by the caller, and is clamped here all the same.
pub(super) fn in_memory_read(bytes: Bytes, range: Option<Range<u64>>) -> BlobRead {
    let total_size = bytes.len() as u64;
    let range = range.map_or(0..total_size, |r| {
        r.start.min(total_size)..r.end.min(total_size)
    });
    let part = bytes.slice(range.start as usize..range.end as usize);
    BlobRead {
        total_size,
        range,
        body: BlobBody::Whole(part),
    }
}

/// Local files are read in chunks this large, each one hop to the blocking pool:
/// object_store's own stream reads 8 KiB per hop, which made serving a 700 KB photo some
/// 84 thread handoffs (the profile of the GET benchmark was mostly context switches).
const FILE_CHUNK: u64 = 256 << 10;

/// A byte range of an open local file as a stream of chunks, which remember the file
/// they came from (see [`file_backed`]). A range small enough to be remembered whole is
/// read as one chunk, so that it stays one buffer in memory and one `sendfile` on the way
/// out.
pub(super) fn file_stream(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes>> {
    let file = Arc::new(file);
    let chunk = if range.end - range.start <= HOT_BLOB_MAX as u64 {
        HOT_BLOB_MAX as u64
    } else {
        FILE_CHUNK
    };
    futures_util::stream::try_unfold(range.start, move |position| {
        let file = file.clone();
        let end = range.end;
        async move {
            if position >= end {
                return Ok(None);
            }
            let length = usize::try_from((end - position).min(chunk)).unwrap_or(0);
            let chunk = tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let mut buffer = vec![0; length];
                file.read_exact_at(&mut buffer, position)
                    .map(|()| file_backed(buffer, file, position))
            })
            .await
            .map_err(|e| Error::Internal(format!("blob read task failed: {e}")))?
            .map_err(|e| Error::Blobs(format!("reading a blob file: {e}")))?;
            Ok(Some((chunk, position + length as u64)))
        }
    })
    .boxed()
}
