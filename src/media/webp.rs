//! WebP structure: canvas size, frame count and metadata-chunk removal.
//!
//! A WebP file is a RIFF container of chunks. The header reader walks the
//! chunk headers (never the payloads) to find the canvas size in VP8X, VP8
//! or VP8L and to count ANMF frames. Stripping keeps only the chunks that
//! affect the picture and rewrites the VP8X flags to match, because the
//! decoder refuses a file whose flags announce an EXIF or XMP chunk that is
//! not there.

use bytes::Bytes;
use img_parts::ImageEXIF;
use img_parts::riff::{RiffChunk, RiffContent};
use img_parts::webp::{self, WebP};

use super::MediaError;
use super::exif;

/// VP8X flag bits (first byte of the VP8X payload).
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;
const FLAG_ANIMATION: u8 = 0x02;

/// Canvas size and frame count, from chunk headers only.
pub(crate) fn inspect(data: &[u8]) -> Result<(u32, u32, u32), MediaError> {
    let riff_len = le32(data, 4).ok_or_else(truncated)?;
    let end = usize::try_from(riff_len)
        .ok()
        .and_then(|n| n.checked_add(8))
        .ok_or_else(truncated)?;
    if end > data.len() {
        return Err(MediaError::malformed(
            "the WebP file is truncated (its RIFF length exceeds the data)",
        ));
    }
    let body = data.get(..end).ok_or_else(truncated)?;

    let mut pos = 12usize;
    let mut size = None;
    let mut animated = false;
    let mut anmf = 0u32;
    while pos < body.len() {
        let id = body.get(pos..pos.saturating_add(4)).ok_or_else(truncated)?;
        let len = le32(body, pos.saturating_add(4)).ok_or_else(truncated)?;
        let payload_start = pos.checked_add(8).ok_or_else(truncated)?;
        let payload_end = usize::try_from(len)
            .ok()
            .and_then(|n| payload_start.checked_add(n))
            .filter(|&e| e <= body.len())
            .ok_or_else(truncated)?;
        let payload = body.get(payload_start..payload_end).ok_or_else(truncated)?;
        let first = pos == 12;
        match id {
            b"VP8X" if first => {
                let flags = *payload.first().ok_or_else(truncated)?;
                animated = flags & FLAG_ANIMATION != 0;
                let w = le24(payload, 4).ok_or_else(truncated)?.saturating_add(1);
                let h = le24(payload, 7).ok_or_else(truncated)?.saturating_add(1);
                size = Some((w, h));
            }
            b"VP8 " if first => size = Some(vp8_size(payload)?),
            b"VP8L" if first => size = Some(vp8l_size(payload)?),
            b"ANMF" => anmf = anmf.saturating_add(1),
            _ if first => return Err(MediaError::malformed("the WebP file has no image chunk")),
            _ => {}
        }
        // Payloads are padded to an even length.
        pos = payload_end.saturating_add(usize::from(len % 2 == 1));
    }
    let (width, height) = size.ok_or_else(truncated)?;
    let frames = if animated {
        if anmf == 0 {
            return Err(MediaError::malformed(
                "the animated WebP file has no frames",
            ));
        }
        anmf
    } else {
        1
    };
    Ok((width, height, frames))
}

/// Lossy bitstream: a 3-byte frame tag, the start code 9D 01 2A, then
/// 14-bit width and height (the top two bits are scaling hints).
fn vp8_size(payload: &[u8]) -> Result<(u32, u32), MediaError> {
    if payload.get(3..6) != Some(&[0x9D, 0x01, 0x2A][..]) {
        return Err(MediaError::malformed("the WebP VP8 chunk is corrupt"));
    }
    let w = le16(payload, 6).ok_or_else(truncated)? & 0x3FFF;
    let h = le16(payload, 8).ok_or_else(truncated)? & 0x3FFF;
    Ok((u32::from(w), u32::from(h)))
}

/// Lossless bitstream: signature 0x2F, then 14 bits of width-1 and 14 bits
/// of height-1, least significant first.
fn vp8l_size(payload: &[u8]) -> Result<(u32, u32), MediaError> {
    if payload.first() != Some(&0x2F) {
        return Err(MediaError::malformed("the WebP VP8L chunk is corrupt"));
    }
    let bits = le32(payload, 1).ok_or_else(truncated)?;
    Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
}

/// Keeps only picture chunks, fixes the VP8X flags, and adds a minimal EXIF
/// chunk when `orientation` is not 1. Bytes after the RIFF end are dropped.
pub(crate) fn strip(data: Bytes, orientation: u8) -> Result<Bytes, MediaError> {
    let mut image = WebP::from_bytes(data)
        .map_err(|_| MediaError::malformed("the WebP file is truncated or corrupt"))?;
    image.chunks_mut().retain(|chunk| {
        matches!(
            chunk.id(),
            webp::CHUNK_VP8X
                | webp::CHUNK_VP8
                | webp::CHUNK_VP8L
                | webp::CHUNK_ALPH
                | webp::CHUNK_ANIM
                | webp::CHUNK_ANMF
                | webp::CHUNK_ICCP
        )
    });
    clear_metadata_flags(&mut image);
    if orientation != 1 {
        // set_exif also adds a VP8X chunk to a simple file and sets its
        // EXIF flag, since EXIF is only allowed in the extended format.
        image.set_exif(Some(Bytes::from(exif::minimal_orientation_tiff(
            orientation,
        ))));
    }
    Ok(image.encoder().bytes())
}

/// img-parts only maintains the ICC and EXIF flags, so the EXIF and XMP
/// bits are cleared here after their chunks are gone.
fn clear_metadata_flags(image: &mut WebP) {
    let vp8x = image
        .chunks_mut()
        .iter_mut()
        .find(|chunk| chunk.id() == webp::CHUNK_VP8X);
    if let Some(chunk) = vp8x
        && let RiffContent::Data(payload) = chunk.content()
        && let Some((&flags, rest)) = payload.split_first()
    {
        let mut updated = Vec::with_capacity(payload.len());
        updated.push(flags & !(FLAG_EXIF | FLAG_XMP));
        updated.extend_from_slice(rest);
        *chunk = RiffChunk::new(webp::CHUNK_VP8X, RiffContent::Data(Bytes::from(updated)));
    }
}

fn le16(data: &[u8], pos: usize) -> Option<u16> {
    let b = data.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn le24(data: &[u8], pos: usize) -> Option<u32> {
    let [a, b, c]: [u8; 3] = data.get(pos..pos.checked_add(3)?)?.try_into().ok()?;
    Some(u32::from_le_bytes([a, b, c, 0]))
}

fn le32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn truncated() -> MediaError {
    MediaError::malformed("the WebP file is truncated or corrupt")
}
