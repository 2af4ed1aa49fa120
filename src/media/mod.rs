//! Image ingestion for imagestore: bytes in, facts and safe stored bytes out.
//!
//! An upload passes through [`ingest`], which detects the format from magic
//! bytes, reads the header to refuse oversized images before any pixel memory
//! is allocated, removes private metadata (GPS, camera, comments, XMP) while
//! keeping what is needed to display the image correctly, and decodes every
//! pixel of the result once to prove it is a real image. Everything here is
//! pure and in-memory: no files, no async, no logging and no global state.
//! Hostile input must never cause a panic, so all parsing uses checked
//! arithmetic and bounds-checked slice access.
//!
//! Stored originals are then served through [`transform`], which plans and
//! renders resized, cropped and re-encoded renditions, and summarised by
//! [`placeholder`] into a ThumbHash and a dominant colour at upload.

pub mod metadata;
pub mod placeholder;
pub mod sniff;
pub mod transform;

mod budget;
mod decode;
mod exif;
mod gif;
mod jpeg;
mod jpeg_scans;
mod source;
mod thumb_hash;
mod tiff_jpeg;
mod webp;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bombs;
#[cfg(test)]
mod tests_render;
#[cfg(test)]
mod tests_transform;

use bytes::Bytes;

/// The image formats the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Tiff,
    Bmp,
}

impl ImageFormat {
    /// Every accepted format, in the order they are listed to users.
    pub const ALL: [ImageFormat; 6] = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::Webp,
        ImageFormat::Tiff,
        ImageFormat::Bmp,
    ];

    /// The canonical file extension, without a dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Bmp => "bmp",
        }
    }

    /// The MIME type to serve the stored bytes with.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Bmp => "image/bmp",
        }
    }

    /// Parses an extension case-insensitively, accepting the common aliases
    /// `jpeg` and `tif`. A leading dot is not accepted, so callers must strip it.
    pub fn from_extension(ext: &str) -> Option<Self> {
        let lower = ext.to_ascii_lowercase();
        match lower.as_str() {
            "jpg" | "jpeg" => Some(ImageFormat::Jpeg),
            "png" => Some(ImageFormat::Png),
            "gif" => Some(ImageFormat::Gif),
            "webp" => Some(ImageFormat::Webp),
            "tif" | "tiff" => Some(ImageFormat::Tiff),
            "bmp" => Some(ImageFormat::Bmp),
            _ => None,
        }
    }

    /// The human name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Gif => "GIF",
            ImageFormat::Webp => "WebP",
            ImageFormat::Tiff => "TIFF",
            ImageFormat::Bmp => "BMP",
        }
    }

    /// The matching format of the `image` crate, used to pick its decoder.
    pub(crate) fn to_image_format(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Gif => image::ImageFormat::Gif,
            ImageFormat::Webp => image::ImageFormat::WebP,
            ImageFormat::Tiff => image::ImageFormat::Tiff,
            ImageFormat::Bmp => image::ImageFormat::Bmp,
        }
    }
}

/// Size limits applied before and during decoding.
#[derive(Debug, Clone)]
pub struct MediaLimits {
    pub max_width: u32,
    pub max_height: u32,
    /// Width times height of one frame. A JPEG's scans may together read at most
    /// 16 times this many samples.
    pub max_pixels: u64,
    pub max_frames: u32,
    /// Width times height times frames, which bounds the total decoding work
    /// of an animation.
    pub max_animation_pixels: u64,
    /// Bytes of pixels one decode may hold: width x height x channels x bytes
    /// per sample as the decoder allocates them, with a GIF's or an animation's
    /// canvas and a progressive JPEG's coefficients. Checked from the header
    /// before decoding, and given to the decoders as their allocation limit.
    pub max_decode_bytes: u64,
    /// Scans (SOS segments) of one JPEG; each costs a pass over its components.
    pub max_jpeg_scans: u32,
    /// The largest stored original: a TIFF is re-encoded, and refused when the
    /// result would be larger than this (the service sets it to its upload limit).
    pub max_stored_bytes: u64,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_width: 10_000,
            max_height: 10_000,
            max_pixels: 40_000_000,
            max_frames: 300,
            max_animation_pixels: 100_000_000,
            max_decode_bytes: 128 * 1024 * 1024,
            max_jpeg_scans: 100,
            max_stored_bytes: 20 * 1024 * 1024,
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    /// Not an image in an accepted format (SVG, HTML, text, PDF, unknown bytes, empty). Maps to HTTP 415.
    #[error("{0}")]
    Unsupported(String),
    /// Claims to be an accepted format but is truncated or corrupt. Maps to HTTP 400/422.
    #[error("{0}")]
    Malformed(String),
    /// Dimensions/area/frames/decoding cost exceed a limit. `limit` is a stable snake_case
    /// name such as "max_width", "max_height", "max_pixels", "max_frames",
    /// "max_animation_pixels", "max_decode_bytes", "max_jpeg_scans". Maps to HTTP 422.
    #[error("{message}")]
    LimitExceeded {
        limit: &'static str,
        message: String,
    },
}

impl MediaError {
    /// Shorthand for a [`MediaError::Malformed`] with a message.
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        MediaError::Malformed(message.into())
    }
}

/// What the header says, before any pixel is decoded. width/height are as stored (not oriented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// The result of a successful ingest.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub format: ImageFormat,
    /// As displayed: EXIF orientation 5..=8 swaps width and height.
    pub width: u32,
    pub height: u32,
    /// 1 for still images.
    pub frames: u32,
    /// EXIF orientation 1..=8 of the original (1 when absent or invalid).
    pub orientation: u8,
    /// What to store: the original with private metadata removed.
    pub bytes: Bytes,
    /// A JPEG's pixels at 1/8 scale from the decode that proved it, for its placeholder
    /// (`placeholder::for_upload` takes them).
    pub(crate) eighth: Option<source::ScaledJpegPixels>,
    /// The decode budget the upload was checked with, for the placeholder's decode.
    pub(crate) max_decode_bytes: u64,
}

/// Runs the whole pipeline: detect, check the header against `limits`,
/// strip metadata, decode every pixel once and verify the result.
///
/// The header check comes first so that a decompression bomb is refused
/// before the decoder allocates anything. Stripping comes before the full
/// decode because it is cheap and already refuses truncated files, and
/// because decoding the stripped bytes proves that what we store, not just
/// what we received, is a real image. TIFF is the exception: it is decoded
/// first and re-encoded from its pixels, compressed, and refused when even
/// so it would be larger than `limits.max_stored_bytes`.
pub fn ingest(data: Bytes, limits: &MediaLimits) -> Result<Ingested, MediaError> {
    let format = sniff::detect_format(&data)?;
    let header = sniff::read_header(&data, limits)?;
    let orientation = metadata::orientation(format, &data);

    let (bytes, eighth) = if format == ImageFormat::Tiff {
        // TIFF keeps its metadata in the same IFD as the pixel layout, so it
        // is rewritten from the decoded pixels rather than edited in place.
        let pixels = decode::decode(&data, &header, limits)?
            .pixels
            .ok_or_else(|| MediaError::malformed("the TIFF image has no pixels"))?;
        let bytes = metadata::reencode_tiff(pixels, orientation)?;
        if bytes.len() as u64 > limits.max_stored_bytes {
            return Err(sniff::limit(
                "max_stored_bytes",
                format!(
                    "re-encoded without its metadata this TIFF would be {} bytes, more than the upload limit of {}",
                    bytes.len(),
                    limits.max_stored_bytes
                ),
            ));
        }
        (bytes, None)
    } else {
        let stripped = metadata::strip(format, data, orientation)?;
        let decoded = decode::decode(&stripped, &header, limits)?;
        (stripped, decoded.eighth)
    };

    let (width, height) = displayed_dimensions(header.width, header.height, orientation);
    let ingested = Ingested {
        format,
        width,
        height,
        frames: header.frames,
        orientation,
        bytes,
        eighth,
        max_decode_bytes: limits.max_decode_bytes,
    };
    let (stored_size, _) = ingested.stored_geometry();
    metadata::verify_dimensions(format, &ingested.bytes, stored_size)?;
    Ok(ingested)
}

impl Ingested {
    /// The stored bytes' own pixel size and EXIF orientation. A JPEG, PNG or WebP is
    /// stored unrotated with the original's orientation kept (a minimal EXIF block), so
    /// its stored size is the displayed one turned back; a TIFF is re-encoded from pixels
    /// already turned upright, with no orientation, so its stored size is the displayed
    /// one.
    pub(crate) fn stored_geometry(&self) -> ((u32, u32), u8) {
        if self.format == ImageFormat::Tiff {
            ((self.width, self.height), 1)
        } else {
            let size = displayed_dimensions(self.width, self.height, self.orientation);
            (size, self.orientation)
        }
    }
}

/// Orientations 5 to 8 include a quarter turn, which swaps the axes.
fn displayed_dimensions(width: u32, height: u32, orientation: u8) -> (u32, u32) {
    if (5..=8).contains(&orientation) {
        (height, width)
    } else {
        (width, height)
    }
}
