//! Pixel work between decoding and encoding: resampling a region, padding
//! onto a canvas and flattening alpha.
//!
//! Resampling uses fast_image_resize's Lanczos3 convolution, whose kernel
//! widens with the reduction so downscaling does not alias, and which
//! premultiplies alpha while filtering so transparent pixels' (invisible,
//! often black) colour cannot bleed into visible edges.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, ResizeOptions, Resizer};

use super::geometry::Layout;
use crate::media::MediaError;
use crate::media::source::{Pixels, Upright};

/// What goes into the padding of a Contain canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// Fully transparent, for formats with alpha.
    Transparent,
    /// An opaque colour, for formats without alpha.
    Colour([u8; 3]),
}

fn resize_failed() -> MediaError {
    MediaError::malformed("the image could not be resized")
}

/// Resamples the layout's region of `upright` to the layout's scaled size
/// and places it on the layout's canvas.
///
/// The region is given in full-size coordinates; when the decoder shrank
/// the image it is scaled by the same factor here, per axis, because
/// rounding the decoded size up makes the two factors differ slightly.
pub(crate) fn compose(
    upright: &Upright,
    layout: &Layout,
    padding: Padding,
) -> Result<Pixels, MediaError> {
    let src = &upright.pixels;
    let fx = f64::from(src.width) / f64::from(upright.full.0.max(1));
    let fy = f64::from(src.height) / f64::from(upright.full.1.max(1));
    let (x, width) = clamp_span(layout.region.x * fx, layout.region.width * fx, src.width);
    let (y, height) = clamp_span(layout.region.y * fy, layout.region.height * fy, src.height);

    let pixel_type = if src.alpha {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let src_image =
        ImageRef::new(src.width, src.height, &src.data, pixel_type).map_err(|_| resize_failed())?;
    let (dw, dh) = layout.scaled;
    let mut dst = Image::new(dw, dh, pixel_type);
    let options = ResizeOptions::new().crop(x, y, width, height);
    Resizer::new()
        .resize(&src_image, &mut dst, &options)
        .map_err(|_| resize_failed())?;
    let scaled = Pixels {
        data: dst.into_vec(),
        width: dw,
        height: dh,
        alpha: src.alpha,
    };
    if layout.canvas == layout.scaled {
        Ok(scaled)
    } else {
        Ok(pad(scaled, layout.canvas, layout.offset, padding))
    }
}

/// Keeps a span inside `0..len`: float rounding in the region arithmetic
/// must not push the crop box past the image, which the resizer refuses.
fn clamp_span(start: f64, size: f64, len: u32) -> (f64, f64) {
    let len = f64::from(len);
    let start = start.clamp(0.0, (len - 1.0).max(0.0));
    // min then max rather than clamp, which panics when len - start < 0.
    let size = size.min(len - start).max(0.0);
    (start, size)
}

/// Places `image` at `offset` on a canvas filled with `padding`.
pub(crate) fn pad(
    image: Pixels,
    canvas: (u32, u32),
    offset: (u32, u32),
    padding: Padding,
) -> Pixels {
    let (image, fill) = match padding {
        Padding::Transparent => (with_alpha(image), vec![0u8; 4]),
        Padding::Colour([r, g, b]) if image.alpha => (image, vec![r, g, b, 255]),
        Padding::Colour(c) => (image, c.to_vec()),
    };
    let channels = image.channels();
    let (cw, ch) = (canvas.0 as usize, canvas.1 as usize);
    let mut data = fill.repeat(cw * ch);
    let row_len = image.width as usize * channels;
    let canvas_row = cw * channels;
    let left = offset.0 as usize * channels;
    for (i, row) in image.data.chunks_exact(row_len.max(1)).enumerate() {
        let start = (offset.1 as usize + i) * canvas_row + left;
        if let Some(dst) = data.get_mut(start..start + row.len()) {
            dst.copy_from_slice(row);
        }
    }
    Pixels {
        data,
        width: canvas.0,
        height: canvas.1,
        alpha: image.alpha,
    }
}

/// Adds an opaque alpha channel to RGB pixels; RGBA is returned as is.
pub(crate) fn with_alpha(image: Pixels) -> Pixels {
    if image.alpha {
        return image;
    }
    let data = image
        .data
        .chunks_exact(3)
        .flat_map(|p| p.iter().copied().chain([255]))
        .collect();
    Pixels {
        data,
        alpha: true,
        ..image
    }
}

/// Composites RGBA over an opaque `background`, giving RGB. Works on
/// straight (not premultiplied) alpha, which is what the resizer returns.
pub(crate) fn flatten(image: Pixels, background: [u8; 3]) -> Pixels {
    if !image.alpha {
        return image;
    }
    let data = image
        .data
        .chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p.get(3).copied().unwrap_or(255));
            p.iter().take(3).zip(background).map(move |(&c, b)| {
                let mixed = (u32::from(c) * a + u32::from(b) * (255 - a) + 127) / 255;
                mixed as u8
            })
        })
        .collect();
    Pixels {
        data,
        alpha: false,
        ..image
    }
}
