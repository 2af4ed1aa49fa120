//! The memory and CPU a decode will cost, worked out from the header before it starts.
//!
//! The pixel limits bound an image's area, but not what decoding it holds in memory: a
//! 6000 x 6000 PNG of 16-bit RGBA is 288 MB of pixels from a 273 KB file, and a GIF of a
//! few bytes can declare a 6000 x 6000 screen that the decoder allocates in full. So every
//! decode is costed as the decoder will allocate it (width x height x channels x bytes per
//! sample, 16-bit and alpha counted, a GIF's or animated WebP's canvas as well as its
//! frames, a progressive JPEG's coefficients) and refused past `max_decode_bytes` before a
//! byte of pixels is allocated. `workers x max_decode_bytes` then bounds the memory of all
//! decodes at once. A JPEG's scans are costed too (see `jpeg_scans`), because their number,
//! not the size of the file, decides how long a progressive decode runs.

use super::jpeg_scans::JpegCost;
use super::sniff::limit;
use super::{ImageFormat, MediaError, MediaLimits};

/// How many samples the scans of a JPEG may read together per pixel of the largest
/// allowed image (`max_pixels`). A baseline JPEG reads each of its samples once (3 per
/// pixel at 4:4:4, 1.5 at 4:2:0); a standard progressive one reads 8 (4:2:0) to 14
/// (4:4:4) per pixel. The bound keeps the worst accepted decode within a few hundred
/// milliseconds of CPU.
pub(crate) const JPEG_SCAN_PASSES: u64 = 16;

/// A BMP run-length code describes at most 255 pixels in two bytes; an RLE bitmap that
/// declares more pixels than its file could describe this way leaves the rest to "skip"
/// codes, so a kilobyte can claim a screenful of pixels that still have to be allocated.
const BMP_RLE_PIXELS_PER_BYTE: u64 = 128;

/// Checks the decoded bytes of an image against `limits.max_decode_bytes`.
pub(crate) fn check_decode_bytes(
    format: ImageFormat,
    bytes: u64,
    limits: &MediaLimits,
) -> Result<(), MediaError> {
    if bytes > limits.max_decode_bytes {
        return Err(limit(
            "max_decode_bytes",
            format!(
                "decoding this {} image needs {bytes} bytes of memory, more than the limit of {} (--max-decode-bytes)",
                format.name(),
                limits.max_decode_bytes
            ),
        ));
    }
    Ok(())
}

/// Checks a JPEG's scans, their count and the samples they read together, and returns
/// what its full-size decode holds in memory: the output pixels and, for a progressive
/// JPEG, a 16-bit coefficient per sample of every component.
pub(crate) fn jpeg(cost: &JpegCost, limits: &MediaLimits) -> Result<u64, MediaError> {
    if cost.scans > limits.max_jpeg_scans {
        return Err(limit(
            "max_jpeg_scans",
            format!(
                "the JPEG has more than {} scans (--max-jpeg-scans); decoding it would take too long",
                limits.max_jpeg_scans
            ),
        ));
    }
    let budget = limits.max_pixels.saturating_mul(JPEG_SCAN_PASSES);
    if cost.scan_samples > budget {
        return Err(limit(
            "max_jpeg_scan_samples",
            format!(
                "the JPEG's {} scans read {} samples, more than {JPEG_SCAN_PASSES} per pixel of the largest allowed image ({budget}); decoding it would take too long",
                cost.scans, cost.scan_samples
            ),
        ));
    }
    Ok(jpeg_bytes(cost, 1))
}

/// The memory of a JPEG decode at 1/`shrink` scale (the DCT scaling that shrink-on-load
/// uses): the scaled output, plus the full-size coefficients of a progressive JPEG, which
/// are kept whatever the scale.
pub(crate) fn jpeg_bytes(cost: &JpegCost, shrink: u32) -> u64 {
    let shrink = shrink.max(1);
    let width = u64::from(cost.width.div_ceil(shrink));
    let height = u64::from(cost.height.div_ceil(shrink));
    let sample = if cost.precision > 8 { 2 } else { 1 };
    // Grey stays grey; colour comes out as RGB, CMYK as four channels at most.
    let channels = match cost.components {
        1 => 1,
        4 => 4,
        _ => 3,
    };
    let output = width
        .saturating_mul(height)
        .saturating_mul(channels)
        .saturating_mul(sample);
    let coefficients = if cost.progressive {
        cost.frame_samples.saturating_mul(2)
    } else {
        0
    };
    output.saturating_add(coefficients)
}

/// The decoded bytes of a PNG: the `image` crate expands palettes and low bit depths to
/// 8-bit samples, turns a `tRNS` chunk into an alpha channel and keeps 16-bit samples.
pub(crate) fn png(data: &[u8], width: u32, height: u32) -> Result<u64, MediaError> {
    let bad = || MediaError::malformed("the PNG header (IHDR) is truncated or corrupt");
    let depth = *data.get(24).ok_or_else(bad)?;
    let colour = *data.get(25).ok_or_else(bad)?;
    let alpha = u64::from(has_trns(data));
    let channels = match colour {
        0 => 1 + alpha,
        2 | 3 => 3 + alpha,
        4 => 2,
        6 => 4,
        _ => {
            return Err(MediaError::malformed(format!(
                "the PNG header declares an unknown colour type {colour}"
            )));
        }
    };
    let sample = if depth == 16 { 2 } else { 1 };
    Ok(pixels(width, height).saturating_mul(channels * sample))
}

/// Whether a `tRNS` chunk comes before the image data, walking chunk headers only.
fn has_trns(data: &[u8]) -> bool {
    let mut pos = 8usize;
    while let Some(header) = data.get(pos..pos.saturating_add(8)) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        match &header[4..8] {
            b"tRNS" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => {}
        }
        let Some(next) = usize::try_from(len)
            .ok()
            .and_then(|len| pos.checked_add(12)?.checked_add(len))
        else {
            return false;
        };
        pos = next;
    }
    false
}

/// The decoded bytes of a GIF: the `image` crate composes every frame onto an RGBA canvas
/// of the logical screen, decodes each frame into a buffer of its own first, and hands an
/// animation's frames out as copies of the canvas.
pub(crate) fn gif(screen: (u32, u32), largest_frame: (u32, u32), frames: u32) -> u64 {
    let canvases = if frames > 1 { 2 } else { 1 };
    let screen = pixels(screen.0, screen.1).saturating_mul(4 * canvases);
    screen.saturating_add(pixels(largest_frame.0, largest_frame.1).saturating_mul(4))
}

/// The decoded bytes of a WebP: RGBA pixels, and for an animation the canvas the frames
/// are composed on as well.
pub(crate) fn webp(width: u32, height: u32, frames: u32) -> u64 {
    let canvases = if frames > 1 { 2 } else { 1 };
    pixels(width, height).saturating_mul(4 * canvases)
}

/// The decoded bytes of a BMP: RGB, or RGBA when bit fields may carry alpha.
pub(crate) fn bmp(data: &[u8], width: u32, height: u32) -> u64 {
    let channels = if matches!(bmp_compression(data), 3 | 6) {
        4
    } else {
        3
    };
    pixels(width, height).saturating_mul(channels)
}

/// Refuses an RLE bitmap that declares more pixels than its run-length data could
/// describe: the rest would be "skipped", yet still allocated by the decoder.
pub(crate) fn bmp_rle(data: &[u8], width: u32, height: u32) -> Result<(), MediaError> {
    let area = pixels(width, height);
    let describable = (data.len() as u64).saturating_mul(BMP_RLE_PIXELS_PER_BYTE);
    if matches!(bmp_compression(data), 1 | 2) && area > describable {
        return Err(limit(
            "max_decode_bytes",
            format!(
                "the run-length BMP declares {width}x{height} pixels but its {} bytes can describe at most {describable}; decoding it would allocate memory for pixels it does not contain",
                data.len()
            ),
        ));
    }
    Ok(())
}

/// The compression field of a BMP's info header; BITMAPCOREHEADER (12 bytes) has none
/// and is always uncompressed.
fn bmp_compression(data: &[u8]) -> u32 {
    match le32(data, 14) {
        Some(dib) if dib >= 40 => le32(data, 30).unwrap_or(0),
        _ => 0,
    }
}

/// Width times height. Every product in this module saturates: a header is costed before
/// its dimensions are checked against the limits, so it may declare any size, and a
/// wrapped product would look small (the fuzzer found one: a PNG of 2^32 - 1 squared RGBA
/// pixels overflowed).
fn pixels(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

fn le32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}
