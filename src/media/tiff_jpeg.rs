//! The cost of a JPEG-compressed TIFF, read from its strips or tiles before any decoder runs.
//!
//! A TIFF with compression 7 ("new-style" JPEG) holds one JPEG stream per strip or tile,
//! each decoded on its own (after the shared `JPEGTables`, when the file has them). Each
//! stream is as costly to decode as a JPEG upload of its own, progressive scans included,
//! so the scan limit and the scan-samples budget that `jpeg_scans` and `budget` apply to a
//! JPEG apply here to every stream, and the samples of all streams are summed against one
//! budget: a thousand tiles of a hundred scans each cost what a hundred scans over the
//! whole image cost. Old-style JPEG (compression 6) is obsolete, and neither the `tiff`
//! crate nor this walk reads it, so such a file is refused as unsupported.
//!
//! The `tiff` crate does not expose its chunk reader, so the streams are cut from the file
//! here by the offsets and byte counts of the first directory (the only one decoded).

use std::io::Cursor;

use tiff::decoder::Decoder;
use tiff::tags::Tag;

use super::budget;
use super::jpeg::{is_sof, next_marker};
use super::jpeg_scans;
use super::{MediaError, MediaLimits};

/// TIFF compression 6: JPEG as TIFF 6.0 first described it, since withdrawn.
const OLD_JPEG: u16 = 6;
/// TIFF compression 7: JPEG as Technical Note 2 describes it.
const JPEG: u16 = 7;
/// Start of scan.
const SOS: u8 = 0xDA;
/// How many times the file's size the shared tables may come to, read once per chunk
/// (real tables are well under a kilobyte).
const TABLE_READS_PER_FILE_BYTE: usize = 4;

/// Checks the JPEG streams of a JPEG-compressed TIFF against the limits a JPEG upload is
/// held to; any other compression passes untouched.
pub(crate) fn check(data: &[u8], limits: &MediaLimits) -> Result<(), MediaError> {
    let corrupt = |_| MediaError::malformed("the TIFF directory is corrupt");
    let mut decoder = Decoder::new(Cursor::new(data)).map_err(corrupt)?;
    match decoder
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(corrupt)?
    {
        Some(JPEG) => {}
        Some(OLD_JPEG) => {
            return Err(MediaError::Unsupported(
                "old-style JPEG compression in TIFF (compression 6) is not supported".to_owned(),
            ));
        }
        _ => return Ok(()),
    }
    let tables = decoder
        .find_tag(Tag::JPEGTables)
        .map_err(corrupt)?
        .map(|value| value.into_u8_vec().map_err(corrupt))
        .transpose()?;
    let (offsets, counts) = match decoder
        .find_tag_unsigned_vec::<u64>(Tag::TileOffsets)
        .map_err(corrupt)?
    {
        Some(offsets) => (offsets, Tag::TileByteCounts),
        None => (
            decoder
                .find_tag_unsigned_vec::<u64>(Tag::StripOffsets)
                .map_err(corrupt)?
                .unwrap_or_default(),
            Tag::StripByteCounts,
        ),
    };
    let counts = decoder
        .find_tag_unsigned_vec::<u64>(counts)
        .map_err(corrupt)?
        .unwrap_or_default();
    if let Some(tables) = &tables {
        check_tables(tables, offsets.len(), data.len())?;
    }
    // Chunks of a well-formed file never overlap, so together they fit in it; without
    // this bound a file could name its largest chunk a million times.
    let chunk_bytes = counts.iter().fold(0u64, |sum, &c| sum.saturating_add(c));
    if chunk_bytes > data.len() as u64 {
        return Err(MediaError::malformed(
            "the strips or tiles of the TIFF overlap or lie outside the file",
        ));
    }
    let mut samples = 0u64;
    for (&offset, &count) in offsets.iter().zip(&counts) {
        // The tables hold neither a frame nor a scan (checked above), so the stream
        // the decoder reads costs what the chunk alone costs.
        let chunk = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(offset.saturating_add(count)).ok())
            .and_then(|(start, end)| data.get(start..end))
            .ok_or_else(|| MediaError::malformed("a TIFF strip or tile lies outside the file"))?;
        let mut cost = jpeg_scans::inspect(chunk, limits.max_jpeg_scans)?;
        // Each chunk is held to the scan limit on its own, and the samples read by all
        // of them so far to the budget of one image.
        samples = samples.saturating_add(cost.scan_samples);
        cost.scan_samples = samples;
        budget::jpeg(&cost, limits)?;
    }
    Ok(())
}

/// The decoder reads the shared tables again before every chunk, so they must hold tables
/// only (no frame header, no scan, which would add their cost to every chunk) and, read
/// once per chunk, must not add up to more than a few times the file.
fn check_tables(tables: &[u8], chunks: usize, file_len: usize) -> Result<(), MediaError> {
    let mut pos = 2usize;
    while let Some((marker, next)) = next_marker(tables, pos) {
        if is_sof(marker) || marker == SOS {
            return Err(MediaError::malformed(
                "the JPEG tables of the TIFF hold a frame or a scan",
            ));
        }
        pos = next;
    }
    if tables.len().saturating_mul(chunks) > TABLE_READS_PER_FILE_BYTE.saturating_mul(file_len) {
        return Err(MediaError::malformed(
            "the JPEG tables of the TIFF, read again for each of its strips or tiles, come to more than four times the file",
        ));
    }
    Ok(())
}
