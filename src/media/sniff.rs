//! Format detection from magic bytes and limit checks from headers alone.
//!
//! This is the cheap first line of defence: [`detect_format`] looks only at
//! the first bytes and explains what a refused body looks like, and
//! [`read_header`] reads just enough structure to learn the dimensions and
//! frame count, so that decompression bombs (a 65535x65535 PNG of a few
//! hundred bytes, a GIF with thousands of frames) are refused before any
//! pixel memory is allocated.

use std::io::Cursor;

use image::ImageDecoder;

use super::{
    Header, ImageFormat, MediaError, MediaLimits, budget, decode, gif, jpeg_scans, tiff_jpeg, webp,
};

const ACCEPTED: &str = "accepted formats: JPEG, PNG, GIF, WebP, TIFF, BMP";

/// How many leading bytes the text heuristics look at.
const TEXT_WINDOW: usize = 1024;

/// Identifies an accepted format from magic bytes only.
pub fn detect_format(prefix: &[u8]) -> Result<ImageFormat, MediaError> {
    if prefix.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if prefix.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if prefix.starts_with(b"GIF87a") || prefix.starts_with(b"GIF89a") {
        return Ok(ImageFormat::Gif);
    }
    if prefix.starts_with(b"RIFF") && prefix.get(8..12) == Some(b"WEBP") {
        return Ok(ImageFormat::Webp);
    }
    if prefix.starts_with(b"II*\0") || prefix.starts_with(b"MM\0*") {
        return Ok(ImageFormat::Tiff);
    }
    if looks_like_bmp(prefix) {
        return Ok(ImageFormat::Bmp);
    }
    Err(MediaError::Unsupported(format!(
        "{}; {ACCEPTED}",
        describe_unsupported(prefix)
    )))
}

/// "BM" alone is too weak (it starts ordinary words), so a known DIB header
/// size is required whenever enough bytes are present to hold one.
fn looks_like_bmp(prefix: &[u8]) -> bool {
    if !prefix.starts_with(b"BM") {
        return false;
    }
    match le32(prefix, 14) {
        Some(dib) => matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124),
        None => !looks_like_text(prefix),
    }
}

/// Says what a refused body appears to be, so the client learns why.
fn describe_unsupported(prefix: &[u8]) -> &'static str {
    if prefix.is_empty() {
        return "the body is empty";
    }
    let window = prefix.get(..TEXT_WINDOW).unwrap_or(prefix);
    let text = String::from_utf8_lossy(window).to_ascii_lowercase();
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("%pdf-") {
        return "PDF documents are not accepted";
    }
    if prefix.get(4..8) == Some(b"ftyp") {
        return "HEIC/AVIF and other ISO media files are not accepted";
    }
    if trimmed.starts_with('<') {
        if text.contains("<svg") {
            return "SVG images are not accepted (they can carry scripts)";
        }
        let html_tags = [
            "<!doctype html",
            "<html",
            "<head",
            "<body",
            "<script",
            "<iframe",
        ];
        if html_tags.iter().any(|tag| text.contains(tag)) {
            return "HTML documents are not accepted";
        }
        if trimmed.starts_with("<?xml") {
            return "XML documents are not accepted";
        }
    }
    if looks_like_text(window) {
        return "plain text is not accepted";
    }
    "the body is not a recognised image"
}

/// Text means valid UTF-8 without control characters other than whitespace.
/// A multi-byte character cut at the window edge is tolerated.
fn looks_like_text(window: &[u8]) -> bool {
    let valid = match std::str::from_utf8(window) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(window.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// Reads dimensions and frame count from the headers and checks them
/// against `limits`, together with what decoding will cost: the bytes the
/// decoder will allocate and, for a JPEG, the number of its scans and the
/// samples they read (see [`budget`]). No pixel data is decoded.
pub fn read_header(data: &[u8], limits: &MediaLimits) -> Result<Header, MediaError> {
    let format = detect_format(data)?;
    let mut jpeg_cost = None;
    let (width, height, frames, decode_bytes) = match format {
        ImageFormat::Png => {
            let (w, h) = png_size(data)?;
            (w, h, 1, budget::png(data, w, h)?)
        }
        ImageFormat::Jpeg => {
            // The walk stops a scan past the limit, so a file of thousands of scans
            // costs no more to refuse than one at the limit.
            let cost = jpeg_scans::inspect(data, limits.max_jpeg_scans)?;
            let (w, h) = (cost.width, cost.height);
            jpeg_cost = Some(cost);
            (w, h, 1, 0)
        }
        ImageFormat::Gif => {
            // The screen is checked before the walk, so a huge screen is
            // refused without touching the rest of the file.
            let (w, h) = gif::screen_size(data)?;
            check_size(format, w, h, limits)?;
            let info = gif::inspect(data)?;
            if info.frames == 0 {
                return Err(MediaError::malformed("the GIF file has no frames"));
            }
            let frame = (info.max_frame_width, info.max_frame_height);
            check_size(format, frame.0, frame.1, limits).map_err(|e| frame_error(e, &info))?;
            (w, h, info.frames, budget::gif((w, h), frame, info.frames))
        }
        ImageFormat::Webp => {
            let (w, h, frames) = webp::inspect(data)?;
            (w, h, frames, budget::webp(w, h, frames))
        }
        ImageFormat::Bmp => {
            let (w, h) = bmp_size(data)?;
            (w, h, 1, budget::bmp(data, w, h))
        }
        ImageFormat::Tiff => {
            // The `image` crate reads the first directory to learn the size and the
            // sample layout, which decides the decoded bytes (16-bit, float, alpha).
            let decoder =
                image::ImageReader::with_format(Cursor::new(data), image::ImageFormat::Tiff)
                    .into_decoder()
                    .map_err(|e| decode::image_error(format, e))?;
            let (w, h) = decoder.dimensions();
            // JPEG tiles cost what JPEG uploads cost, so they meet the same limits.
            tiff_jpeg::check(data, limits)?;
            (w, h, 1, decoder.total_bytes())
        }
    };
    check_size(format, width, height, limits)?;
    check_frames(width, height, frames, limits)?;
    let decode_bytes = match &jpeg_cost {
        Some(cost) => budget::jpeg(cost, limits)?,
        None => decode_bytes,
    };
    budget::check_decode_bytes(format, decode_bytes, limits)?;
    if format == ImageFormat::Bmp {
        budget::bmp_rle(data, width, height)?;
    }
    Ok(Header {
        format,
        width,
        height,
        frames,
    })
}

/// Rewords a size error found on an individual GIF frame.
fn frame_error(err: MediaError, info: &gif::GifInfo) -> MediaError {
    match err {
        MediaError::LimitExceeded { limit, message } => MediaError::LimitExceeded {
            limit,
            message: format!(
                "a GIF frame of {}x{} exceeds the limits: {message}",
                info.max_frame_width, info.max_frame_height
            ),
        },
        other => other,
    }
}

/// Checks one frame's width, height and area, in that order.
pub(crate) fn check_size(
    format: ImageFormat,
    width: u32,
    height: u32,
    limits: &MediaLimits,
) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Malformed(format!(
            "the {} header declares an empty image ({width}x{height})",
            format.name()
        )));
    }
    if width > limits.max_width {
        return Err(limit(
            "max_width",
            format!(
                "image width {width} exceeds the limit of {}",
                limits.max_width
            ),
        ));
    }
    if height > limits.max_height {
        return Err(limit(
            "max_height",
            format!(
                "image height {height} exceeds the limit of {}",
                limits.max_height
            ),
        ));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(limit(
            "max_pixels",
            format!(
                "image area {pixels} pixels exceeds the limit of {}",
                limits.max_pixels
            ),
        ));
    }
    Ok(())
}

/// Checks the frame count and the total area of all frames.
pub(crate) fn check_frames(
    width: u32,
    height: u32,
    frames: u32,
    limits: &MediaLimits,
) -> Result<(), MediaError> {
    if frames > limits.max_frames {
        return Err(limit(
            "max_frames",
            format!("{frames} frames exceed the limit of {}", limits.max_frames),
        ));
    }
    let total = (u64::from(width) * u64::from(height)).saturating_mul(u64::from(frames));
    if total > limits.max_animation_pixels {
        return Err(limit(
            "max_animation_pixels",
            format!(
                "the animation's {total} total pixels exceed the limit of {}",
                limits.max_animation_pixels
            ),
        ));
    }
    Ok(())
}

pub(crate) fn limit(limit: &'static str, message: String) -> MediaError {
    MediaError::LimitExceeded { limit, message }
}

/// The IHDR chunk must come first: length 13, type, then width and height.
fn png_size(data: &[u8]) -> Result<(u32, u32), MediaError> {
    let bad = || MediaError::malformed("the PNG header (IHDR) is truncated or corrupt");
    if data.get(12..16) != Some(b"IHDR") || be32(data, 8) != Some(13) {
        return Err(bad());
    }
    let width = be32(data, 16).ok_or_else(bad)?;
    let height = be32(data, 20).ok_or_else(bad)?;
    Ok((width, height))
}

/// BITMAPCOREHEADER (12 bytes) stores 16-bit sizes; every later header
/// stores signed 32-bit sizes, where a negative height means top-down rows.
fn bmp_size(data: &[u8]) -> Result<(u32, u32), MediaError> {
    let bad = || MediaError::malformed("the BMP header is truncated or corrupt");
    let dib = le32(data, 14).ok_or_else(bad)?;
    if dib == 12 {
        let w = le16(data, 18).ok_or_else(bad)?;
        let h = le16(data, 20).ok_or_else(bad)?;
        return Ok((u32::from(w), u32::from(h)));
    }
    let w = i32::from_le_bytes(le32(data, 18).ok_or_else(bad)?.to_le_bytes());
    let h = i32::from_le_bytes(le32(data, 22).ok_or_else(bad)?.to_le_bytes());
    if w < 0 {
        return Err(bad());
    }
    Ok((w.unsigned_abs(), h.unsigned_abs()))
}

fn le16(data: &[u8], pos: usize) -> Option<u16> {
    let b = data.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn le32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn be32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}
