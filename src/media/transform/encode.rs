//! Encoding finished pixels into each output format.
//!
//! None of these encoders writes EXIF, XMP or any other metadata unless
//! asked, and we never ask: outputs carry pixels plus, for JPEG and PNG, the
//! source's ICC profile so colours stay right. WebP (simple libwebp API),
//! AVIF (ravif) and GIF cannot embed a profile, so those outputs are
//! untagged and viewers treat them as sRGB; a wide-gamut source then looks
//! slightly less saturated in them. Encoder failures have no variant of
//! their own in [`MediaError`] and are reported as Malformed.

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{Delay, ExtendedColorType, Frame, ImageEncoder, RgbaImage};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType};
use ravif::{Img, RGB8, RGBA8};

use super::pixels::flatten;
use super::{OutputFormat, RenderSpec};
use crate::media::MediaError;
use crate::media::source::Pixels;

/// rav1e speed, 1 (slowest) to 10. Measured on a 512 px rendition (built
/// without rav1e's assembly, which would need nasm): 8 took ~0.7 s, 9 ~0.4 s
/// for files 1.5% larger, 10 ~0.17 s but 16% larger. A cold rendition is on
/// a visitor's critical path, so latency wins: 10, and outputs above the
/// service's AVIF pixel budget are WebP instead (a cold full-size AVIF of a
/// 3840x2160 photo took 14.7 s at 9). Changing this changes AVIF output, so
/// `service::variant_name`'s AVIF version must be bumped with it.
pub(crate) const AVIF_SPEED: u8 = 10;

/// NeuQuant sampling step for GIF palettes, 1 (best) to 30 (fastest). 10 is
/// gif's own recommendation and keeps animations quick to encode.
const GIF_SPEED: i32 = 10;

pub(crate) fn failed(format: OutputFormat) -> MediaError {
    MediaError::Malformed(format!(
        "the image could not be encoded as {}",
        format.extension()
    ))
}

/// Encodes a still image in `spec.format` at `spec.quality`.
pub(crate) fn encode_still(
    pixels: Pixels,
    spec: &RenderSpec,
    icc: Option<&[u8]>,
) -> Result<Bytes, MediaError> {
    let format = spec.format;
    let quality = spec.quality;
    let bytes = match format {
        OutputFormat::Jpeg => jpeg(&flatten(pixels, spec.background), quality, icc),
        OutputFormat::Png => png(&pixels, icc),
        OutputFormat::Webp => webp(&pixels, quality),
        OutputFormat::Avif => avif(&pixels, quality),
        OutputFormat::Gif => gif(&pixels),
    };
    bytes.map(Bytes::from).ok_or_else(|| failed(format))
}

/// Progressive JPEG with optimised Huffman tables: typically 5-10% smaller
/// than baseline, and it renders early on slow connections.
fn jpeg(pixels: &Pixels, quality: u8, icc: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_progressive(true);
    encoder.set_optimized_huffman_tables(true);
    // Averaging each 2x2 block for 4:2:0 chroma avoids the jagged colour
    // edges of the default top-left sampling, at negligible cost.
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    if let Some(icc) = icc {
        // An oversized profile is dropped rather than failing the render.
        let _ = encoder.add_icc_profile(icc);
    }
    let width = u16::try_from(pixels.width).ok()?;
    let height = u16::try_from(pixels.height).ok()?;
    encoder
        .encode(&pixels.data, width, height, ColorType::Rgb)
        .ok()?;
    Some(out)
}

/// PNG with fast compression: renditions are cached, but a render sits on a
/// request's critical path, and "best" costs several times the CPU.
fn png(pixels: &Pixels, icc: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    encoder
        .write_image(
            &pixels.data,
            pixels.width,
            pixels.height,
            colour_type(pixels),
        )
        .ok()?;
    Some(out)
}

fn colour_type(pixels: &Pixels) -> ExtendedColorType {
    if pixels.alpha {
        ExtendedColorType::Rgba8
    } else {
        ExtendedColorType::Rgb8
    }
}

/// Lossy WebP; its alpha plane is compressed losslessly by libwebp.
fn webp(pixels: &Pixels, quality: u8) -> Option<Vec<u8>> {
    let encoder = if pixels.alpha {
        ::webp::Encoder::from_rgba(&pixels.data, pixels.width, pixels.height)
    } else {
        ::webp::Encoder::from_rgb(&pixels.data, pixels.width, pixels.height)
    };
    let memory = encoder.encode_simple(false, f32::from(quality)).ok()?;
    Some(memory.to_vec())
}

/// AVIF via ravif (rav1e), 10-bit 4:4:4, alpha only when some pixel needs it.
fn avif(pixels: &Pixels, quality: u8) -> Option<Vec<u8>> {
    let encoder = ravif::Encoder::new()
        .with_quality(f32::from(quality))
        .with_speed(AVIF_SPEED);
    let (w, h) = (pixels.width as usize, pixels.height as usize);
    let encoded = if pixels.alpha {
        let rgba: Vec<RGBA8> = pixels
            .data
            .chunks_exact(4)
            .filter_map(|p| match *p {
                [r, g, b, a] => Some(RGBA8::new(r, g, b, a)),
                _ => None,
            })
            .collect();
        encoder.encode_rgba(Img::new(&rgba[..], w, h))
    } else {
        let rgb: Vec<RGB8> = pixels
            .data
            .chunks_exact(3)
            .filter_map(|p| match *p {
                [r, g, b] => Some(RGB8::new(r, g, b)),
                _ => None,
            })
            .collect();
        encoder.encode_rgb(Img::new(&rgb[..], w, h))
    };
    encoded.ok().map(|e| e.avif_file)
}

/// A single-frame GIF; alpha becomes GIF's one transparent palette entry.
fn gif(pixels: &Pixels) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    {
        // The trailer is written when the encoder is dropped.
        let mut encoder = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
        encoder
            .encode(
                &pixels.data,
                pixels.width,
                pixels.height,
                colour_type(pixels),
            )
            .ok()?;
    }
    Some(out)
}

/// One frame of an animation: RGBA pixels and how long they show.
pub(crate) struct AnimFrame {
    pub pixels: Pixels,
    pub delay_ms: u32,
}

/// An animated GIF; `repeat` of `None` loops forever.
pub(crate) fn animated_gif(frames: Vec<AnimFrame>, repeat: Option<u16>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(Cursor::new(&mut out), GIF_SPEED);
        let repeat = repeat.map_or(Repeat::Infinite, Repeat::Finite);
        encoder.set_repeat(repeat).ok()?;
        for frame in frames {
            let p = frame.pixels;
            let buffer = RgbaImage::from_raw(p.width, p.height, p.data)?;
            let delay = Delay::from_numer_denom_ms(frame.delay_ms, 1);
            encoder
                .encode_frame(Frame::from_parts(buffer, 0, 0, delay))
                .ok()?;
        }
    }
    Some(out)
}

/// An animated lossy WebP. libwebp takes frame start times, so the delays
/// are accumulated; `repeat` of `None` loops forever.
pub(crate) fn animated_webp(
    frames: &[AnimFrame],
    repeat: Option<u16>,
    quality: u8,
) -> Option<Vec<u8>> {
    let first = frames.first()?;
    let (w, h) = (first.pixels.width, first.pixels.height);
    let mut config = ::webp::WebPConfig::new().ok()?;
    config.quality = f32::from(quality);
    config.lossless = 0;
    let mut encoder = ::webp::AnimEncoder::new(w, h, &config);
    encoder.set_loop_count(repeat.map_or(0, i32::from));
    // The webp crate closes the animation with an end timestamp of 0, and
    // libwebp derives the last frame's duration from it (it accepts
    // wrapping timestamps). Starting at minus the total length makes that
    // 0 the true end instead of falling back to the average delay.
    let total: i64 = frames.iter().map(|f| i64::from(f.delay_ms)).sum();
    let mut start = i32::try_from(-total).ok()?;
    for frame in frames {
        encoder.add_frame(::webp::AnimFrame::from_rgba(
            &frame.pixels.data,
            w,
            h,
            start,
        ));
        start = start.saturating_add(i32::try_from(frame.delay_ms).unwrap_or(i32::MAX));
    }
    encoder.try_encode().ok().map(|m| m.to_vec())
}
