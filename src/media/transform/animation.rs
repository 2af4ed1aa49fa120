//! Animated renditions: every frame of an animated GIF or WebP is resampled
//! with the still-image layout and re-encoded as an animated GIF or WebP,
//! keeping each frame's delay and the loop count.
//!
//! The decoders hand out frames already composited onto the full canvas,
//! so each one is an ordinary still image here. The frame count and the
//! total output pixels are capped before and during decoding, because an
//! animation multiplies every cost of a still.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::{LoopCount, Orientation};
use image::{AnimationDecoder, DynamicImage, Frames, ImageDecoder};

use super::encode::{self, AnimFrame};
use super::geometry::Layout;
use super::pixels::{Padding, compose, with_alpha};
use super::{OutputFormat, RenderSpec};
use crate::media::decode::image_error;
use crate::media::source::{Pixels, Upright};
use crate::media::{ImageFormat, MediaError, gif, webp};

/// The most frames an animated rendition may have.
pub(crate) const MAX_FRAMES: u32 = 300;

/// Output width x height x frames; the same budget ingest allows for
/// decoding an animation.
const MAX_OUTPUT_PIXELS: u64 = 100_000_000;

/// The frame count from the container structure, without decoding; 1 for
/// formats that cannot animate.
pub(crate) fn frame_count(data: &[u8], format: ImageFormat) -> Result<u32, MediaError> {
    match format {
        ImageFormat::Gif => Ok(gif::inspect(data)?.frames),
        ImageFormat::Webp => Ok(webp::inspect(data)?.2),
        _ => Ok(1),
    }
}

fn too_many_frames() -> MediaError {
    MediaError::LimitExceeded {
        limit: "max_frames",
        message: format!("an animated rendition can have at most {MAX_FRAMES} frames"),
    }
}

/// Renders every frame of an animated GIF or WebP to `spec.format` (GIF or
/// WebP). `displayed` is the upright canvas size `layout` was planned for; the
/// decoder may allocate `budget` bytes.
pub(crate) fn render(
    data: &[u8],
    format: ImageFormat,
    orientation: u8,
    displayed: (u32, u32),
    layout: &Layout,
    spec: &RenderSpec,
    budget: u64,
) -> Result<Vec<u8>, MediaError> {
    let count = frame_count(data, format)?;
    if count > MAX_FRAMES {
        return Err(too_many_frames());
    }
    let canvas_pixels = u64::from(layout.canvas.0) * u64::from(layout.canvas.1);
    if canvas_pixels.saturating_mul(u64::from(count)) > MAX_OUTPUT_PIXELS {
        return Err(MediaError::LimitExceeded {
            limit: "max_animation_pixels",
            message: format!(
                "{count} frames of {}x{} pixels are more than an animated rendition may have",
                layout.canvas.0, layout.canvas.1
            ),
        });
    }

    let (frames, repeat) = decode_frames(data, format, budget)?;
    let orientation = Orientation::from_exif(orientation);
    let mut out = Vec::new();
    for frame in frames {
        if out.len() >= MAX_FRAMES as usize {
            return Err(too_many_frames());
        }
        let frame = frame.map_err(|e| image_error(format, e))?;
        let (numer, denom) = frame.delay().numer_denom_ms();
        let mut image = DynamicImage::ImageRgba8(frame.into_buffer());
        if let Some(o) = orientation {
            image.apply_orientation(o);
        }
        let upright = Upright {
            pixels: Pixels::from_image(image),
            full: displayed,
            shrink: 1,
            icc: None,
        };
        let pixels = compose(&upright, layout, Padding::Transparent)?;
        out.push(AnimFrame {
            pixels: with_alpha(pixels),
            delay_ms: numer.checked_div(denom).unwrap_or(0),
        });
    }

    let bytes = match spec.format {
        OutputFormat::Webp => encode::animated_webp(&out, repeat, spec.quality),
        _ => encode::animated_gif(out, repeat),
    };
    bytes.ok_or_else(|| encode::failed(spec.format))
}

/// The frame iterator and loop count (`None` = forever) of an animation, its
/// decoder allowed to allocate `budget` bytes.
fn decode_frames(
    data: &[u8],
    format: ImageFormat,
    budget: u64,
) -> Result<(Frames<'_>, Option<u16>), MediaError> {
    let err = |e| image_error(format, e);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(budget);
    let (frames, loops) = if format == ImageFormat::Webp {
        let mut decoder = WebPDecoder::new(Cursor::new(data)).map_err(err)?;
        decoder.set_limits(limits).map_err(err)?;
        let loops = decoder.loop_count();
        (decoder.into_frames(), loops)
    } else {
        let mut decoder = GifDecoder::new(Cursor::new(data)).map_err(err)?;
        decoder.set_limits(limits).map_err(err)?;
        let loops = decoder.loop_count();
        (decoder.into_frames(), loops)
    };
    let repeat = match loops {
        LoopCount::Infinite => None,
        LoopCount::Finite(n) => Some(u16::try_from(n.get()).unwrap_or(u16::MAX)),
    };
    Ok((frames, repeat))
}
