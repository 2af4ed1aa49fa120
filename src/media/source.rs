//! Decoding a stored original upright and no larger than needed.
//!
//! Renditions and placeholders start here. The displayed size is known
//! before any pixel is decoded, so callers can validate and plan first. A
//! JPEG that is wanted much smaller than it is gets decoded by jpeg-decoder,
//! which skips most of the inverse DCT and produces the image at 1/2, 1/4 or
//! 1/8 of its size (shrink-on-load); at full size zune-jpeg (the `image`
//! crate's decoder) is faster and is used instead. Whatever jpeg-decoder
//! refuses (CMYK, 12-bit, arithmetic coding, damage the more lenient decoder
//! accepted at ingest) falls back to the `image` crate too. Still WebP goes
//! through libwebp, which is much faster than the pure-Rust decoder; other
//! formats and animations' first frames use the `image` crate. The EXIF
//! orientation is read with the same function ingest used, so the displayed
//! size seen here is the one ingest reported. Every decoder is held to the
//! caller's decode budget (`MediaLimits::max_decode_bytes`), which the header
//! was checked against before (`sniff::read_header`).

use std::io::Cursor;

use bytes::Bytes;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader};
use jpeg_decoder::{ImageInfo, PixelFormat};

use super::decode::image_error;
use super::{ImageFormat, Ingested, MediaError, displayed_dimensions, metadata};

/// A decoded image, the reduction it was decoded at and its ICC profile.
type Decoded = (DynamicImage, u32, Option<Vec<u8>>);

/// 8-bit RGB or RGBA pixels, row by row without padding.
#[derive(Debug, Clone)]
pub(crate) struct Pixels {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
}

impl Pixels {
    /// Bytes per pixel.
    pub fn channels(&self) -> usize {
        if self.alpha { 4 } else { 3 }
    }

    /// Converts any decoded image to 8-bit RGB, or RGBA when it has alpha,
    /// without copying when it already is one of the two.
    pub fn from_image(image: DynamicImage) -> Pixels {
        let (width, height) = (image.width(), image.height());
        match image {
            DynamicImage::ImageRgb8(b) => Pixels {
                data: b.into_raw(),
                width,
                height,
                alpha: false,
            },
            DynamicImage::ImageRgba8(b) => Pixels {
                data: b.into_raw(),
                width,
                height,
                alpha: true,
            },
            other if other.color().has_alpha() => Pixels {
                data: other.to_rgba8().into_raw(),
                width,
                height,
                alpha: true,
            },
            other => Pixels {
                data: other.to_rgb8().into_raw(),
                width,
                height,
                alpha: false,
            },
        }
    }

    /// Drops an alpha channel that is opaque everywhere, which makes PNG
    /// output smaller and lets every encoder take its opaque path.
    pub fn drop_opaque_alpha(&mut self) {
        if self.alpha && self.data.chunks_exact(4).all(|p| p.get(3) == Some(&255)) {
            self.data = self
                .data
                .chunks_exact(4)
                .flat_map(|p| p.iter().take(3).copied())
                .collect();
            self.alpha = false;
        }
    }
}

/// A decoded, upright image.
pub(crate) struct Upright {
    pub pixels: Pixels,
    /// The displayed size of the full image; `pixels` is smaller by `shrink`
    /// (up to rounding) when the JPEG decoder scaled it down.
    pub full: (u32, u32),
    /// 1, 2, 4 or 8: the JPEG decoder's reduction; 1 for other formats.
    /// Only tests look at it, to prove that shrink-on-load happens.
    #[cfg_attr(not(test), allow(dead_code))]
    pub shrink: u32,
    /// The embedded ICC profile, to carry over into outputs that take one.
    pub icc: Option<Vec<u8>>,
}

/// A source whose size and orientation are known but whose pixels are not
/// decoded yet.
pub(crate) struct Opened<'a> {
    data: &'a [u8],
    format: ImageFormat,
    stored: (u32, u32),
    pub orientation: u8,
    /// The bytes the decoders may allocate.
    budget: u64,
}

/// An upload just ingested, opened from what ingest learnt of it
/// ([`Ingested::stored_geometry`]) instead of by parsing its header and EXIF again.
/// Its decoders get the budget the upload was checked with.
pub(crate) fn open_ingested(ingested: &Ingested) -> Opened<'_> {
    let (stored, orientation) = ingested.stored_geometry();
    Opened {
        data: &ingested.bytes,
        format: ingested.format,
        stored,
        orientation,
        budget: ingested.max_decode_bytes,
    }
}

/// Reads the size and orientation of `data` without decoding pixels; its decoders
/// may allocate `budget` bytes.
pub(crate) fn open(
    data: &[u8],
    format: ImageFormat,
    budget: u64,
) -> Result<Opened<'_>, MediaError> {
    let stored = image_reader(data, format, budget)
        .into_dimensions()
        .map_err(|e| image_error(format, e))?;
    // Ingest wrote at most a minimal EXIF block; reading it with ingest's own
    // parser keeps the displayed size identical to what ingest reported.
    // The copy is cheap next to decoding.
    let orientation = metadata::orientation(format, &Bytes::copy_from_slice(data));
    Ok(Opened {
        data,
        format,
        stored,
        orientation,
        budget,
    })
}

impl Opened<'_> {
    /// The size as displayed, after the orientation is applied.
    pub fn displayed(&self) -> (u32, u32) {
        displayed_dimensions(self.stored.0, self.stored.1, self.orientation)
    }

    /// Decodes the first frame upright. `reduction` is the output-to-source
    /// ratio the caller will resample by: a JPEG is decoded at the smallest
    /// DCT scale that is still at least that large.
    pub fn decode(&self, reduction: f64) -> Result<Upright, MediaError> {
        self.decode_reusing(reduction, None)
    }

    /// As [`Opened::decode`], but a JPEG scale that `earlier` already holds (the
    /// decode that proved the upload at ingest) is taken from it instead of being
    /// decoded again; its pixels are the ones this decode would produce.
    pub fn decode_reusing(
        &self,
        reduction: f64,
        earlier: Option<&ScaledJpegPixels>,
    ) -> Result<Upright, MediaError> {
        let shrink = shrink_for(reduction);
        let fast = match self.format {
            ImageFormat::Jpeg if earlier.is_some_and(|e| e.requested == shrink) => {
                earlier.map(|e| (e.image.clone(), e.shrink, e.icc.clone()))
            }
            // At full size the `image` crate's decoder (zune-jpeg) is the
            // faster one, so jpeg-decoder is only used when it can shrink.
            ImageFormat::Jpeg if shrink > 1 => decode_jpeg_scaled(self.data, shrink, self.budget),
            ImageFormat::Webp => decode_webp(self.data, self.stored, self.budget),
            _ => None,
        };
        let (image, shrink, icc) = match fast {
            Some(decoded) => decoded,
            None => {
                let (image, icc) = decode_full(self.data, self.format, self.budget)?;
                (image, 1, icc)
            }
        };
        let mut image = image;
        if let Some(o) = Orientation::from_exif(self.orientation) {
            image.apply_orientation(o);
        }
        Ok(Upright {
            pixels: Pixels::from_image(image),
            full: self.displayed(),
            shrink,
            icc,
        })
    }
}

/// The largest JPEG reduction (8, 4, 2 or 1) that keeps the decoded image
/// at least `reduction` times the full size, so the final high-quality
/// resize only ever shrinks.
pub(crate) fn shrink_for(reduction: f64) -> u32 {
    [8u32, 4, 2]
        .into_iter()
        .find(|&d| 1.0 / f64::from(d) >= reduction)
        .unwrap_or(1)
}

/// A jpeg-decoder set up to decode `data` at 1/`shrink` size (8, 4, 2 or 1, or the
/// nearest larger scale jpeg-decoder allows), its decoding buffers bounded by `budget`
/// bytes; with the image's info and the scaled size. `None` when it declines the file.
/// Ingest proves JPEGs this way at 1/8, and renditions shrink-on-load.
pub(super) fn scaled_jpeg_decoder(data: &[u8], shrink: u32, budget: u64) -> Option<ScaledJpeg<'_>> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(data));
    decoder.set_max_decoding_buffer_size(usize::try_from(budget).unwrap_or(usize::MAX));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    // Requesting exactly the scaled size makes jpeg-decoder pick `shrink`
    // (it chooses the smallest scale reaching the request on either axis).
    let request = |len: u16| u16::try_from(u32::from(len).div_ceil(shrink)).ok();
    let scaled = decoder
        .scale(request(info.width)?, request(info.height)?)
        .ok()?;
    Some(ScaledJpeg {
        decoder,
        info,
        size: scaled,
        requested: shrink,
    })
}

/// A jpeg-decoder ready to decode at a reduced size, and what it read of the header.
pub(super) struct ScaledJpeg<'a> {
    pub decoder: jpeg_decoder::Decoder<Cursor<&'a [u8]>>,
    pub info: ImageInfo,
    /// Width and height of the reduced image.
    pub size: (u16, u16),
    /// The reduction asked of [`scaled_jpeg_decoder`].
    requested: u32,
}

/// A JPEG decoded at a reduced scale, not yet upright.
#[derive(Debug, Clone)]
pub(crate) struct ScaledJpegPixels {
    pub(super) image: DynamicImage,
    /// The reduction asked for (what [`shrink_for`] gave the caller).
    requested: u32,
    /// The reduction jpeg-decoder used, which differs from the request when one side
    /// is so small that a smaller scale already reaches it.
    shrink: u32,
    icc: Option<Vec<u8>>,
}

impl ScaledJpeg<'_> {
    /// Decodes every block. Err when the data is damaged; Ok(None) when the pixels are
    /// not 8-bit grey or RGB: CMYK needs Adobe's inversion quirks and 16-bit needs
    /// scaling, which the `image` decoder handles.
    pub fn decode(mut self) -> Result<Option<ScaledJpegPixels>, jpeg_decoder::Error> {
        let pixels = self.decoder.decode()?;
        let (sw, sh) = (u32::from(self.size.0), u32::from(self.size.1));
        let image = match self.info.pixel_format {
            PixelFormat::L8 => image::GrayImage::from_raw(sw, sh, pixels).map(DynamicImage::from),
            PixelFormat::RGB24 => image::RgbImage::from_raw(sw, sh, pixels).map(DynamicImage::from),
            _ => None,
        };
        let w = u32::from(self.info.width);
        let shrink = [8u32, 4, 2]
            .into_iter()
            .find(|&d| w.div_ceil(d) == sw)
            .unwrap_or(1);
        Ok(image.map(|image| ScaledJpegPixels {
            image,
            requested: self.requested,
            shrink,
            icc: self.decoder.icc_profile(),
        }))
    }
}

/// Decodes with jpeg-decoder at 1/`shrink` size; `None` means "use the
/// full decoder instead", for whatever reason jpeg-decoder declined.
fn decode_jpeg_scaled(data: &[u8], shrink: u32, budget: u64) -> Option<Decoded> {
    let scaled = scaled_jpeg_decoder(data, shrink, budget)?;
    // Declining CMYK and 16-bit before the decode rather than after it.
    if !matches!(
        scaled.info.pixel_format,
        PixelFormat::L8 | PixelFormat::RGB24
    ) {
        return None;
    }
    let pixels = scaled.decode().ok()??;
    Some((pixels.image, pixels.shrink, pixels.icc))
}

/// Decodes a still WebP with libwebp, about 2.5 times faster than the
/// `image` crate's pure-Rust decoder on large photos; `None` for animations
/// (the first frame then comes from the `image` decoder) and failures.
fn decode_webp(data: &[u8], (w, h): (u32, u32), budget: u64) -> Option<Decoded> {
    // libwebp allocates the whole canvas itself, so the cap is checked here; past it
    // the `image` decoder refuses the file under the same budget.
    if u64::from(w) * u64::from(h) * 4 > budget {
        return None;
    }
    let decoded = ::webp::Decoder::new(data).decode()?;
    let (dw, dh) = (decoded.width(), decoded.height());
    let image = if decoded.is_alpha() {
        DynamicImage::ImageRgba8(image::RgbaImage::from_raw(dw, dh, decoded.to_vec())?)
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(dw, dh, decoded.to_vec())?)
    };
    // The profile is a chunk of the container, which the `image` decoder
    // reads without decoding pixels.
    let icc = image::codecs::webp::WebPDecoder::new(Cursor::new(data))
        .ok()
        .and_then(|mut d| d.icc_profile().ok().flatten());
    Some((image, 1, icc))
}

/// The `image` crate's decoder for `format`, with `budget` as its allocation limit.
fn image_reader(data: &[u8], format: ImageFormat, budget: u64) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(data), format.to_image_format());
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(budget);
    reader.limits(limits);
    reader
}

/// Full-size decode of the first frame, with the ICC profile.
fn decode_full(
    data: &[u8],
    format: ImageFormat,
    budget: u64,
) -> Result<(DynamicImage, Option<Vec<u8>>), MediaError> {
    let mut decoder = image_reader(data, format, budget)
        .into_decoder()
        .map_err(|e| image_error(format, e))?;
    // A broken profile only costs colour accuracy, so it is not an error.
    let icc = decoder.icc_profile().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e))?;
    Ok((image, icc))
}

#[cfg(test)]
#[path = "tests_source.rs"]
mod tests;
