//! The arithmetic of a rendition: which part of the upright source is
//! resampled to which size, and where it lands on the output canvas.
//!
//! Everything here works on the displayed (EXIF-oriented) source size and
//! never looks at pixels, so [`super::plan`] can answer "how big will this
//! be?" without decoding, and [`super::render`] uses the very same numbers,
//! which is what guarantees that the two always agree. Spec validation lives
//! here too, because a bad crop or size is only detectable against the
//! source size.

use super::{Fit, OutputFormat, RenderLimits, RenderSpec};
use crate::media::MediaError;

/// A rectangle in source pixels. Fractional because Cover centres a region
/// whose size is rarely a whole number of source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Region {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The complete recipe for one rendition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    /// The part of the upright full-size source that is resampled.
    pub region: Region,
    /// The size the region is resampled to.
    pub scaled: (u32, u32),
    /// The output size; larger than `scaled` only for Contain, which pads.
    pub canvas: (u32, u32),
    /// Where the scaled image sits on the canvas.
    pub offset: (u32, u32),
}

impl Layout {
    /// The largest per-axis ratio of output pixels to source pixels, so a
    /// decoder may shrink the source by up to its inverse without the final
    /// resize having to enlarge anything.
    pub fn reduction(&self) -> f64 {
        let sx = f64::from(self.scaled.0) / self.region.width;
        let sy = f64::from(self.scaled.1) / self.region.height;
        sx.max(sy)
    }
}

/// A parameter error whose message starts with the query parameter's name,
/// so an HTTP layer can show it as is.
fn invalid(param: &str, detail: String) -> MediaError {
    MediaError::Malformed(format!("{param}: {detail}"))
}

/// Checks `spec` against the source and computes the rendition's layout.
pub(crate) fn layout(
    source_width: u32,
    source_height: u32,
    spec: &RenderSpec,
    limits: &RenderLimits,
) -> Result<Layout, MediaError> {
    if source_width == 0 || source_height == 0 {
        return Err(MediaError::malformed("the source image has no pixels"));
    }
    if !(1..=100).contains(&spec.quality) {
        return Err(invalid(
            "q",
            format!("quality must be 1 to 100, not {}", spec.quality),
        ));
    }
    if spec.width == Some(0) {
        return Err(invalid("w", "the width must be at least 1".to_owned()));
    }
    if spec.height == Some(0) {
        return Err(invalid("h", "the height must be at least 1".to_owned()));
    }
    let (cx, cy, cw, ch) = match spec.crop {
        None => (0, 0, source_width, source_height),
        Some(c) => {
            // u64 so that x + width cannot overflow.
            let right = u64::from(c.x) + u64::from(c.width);
            let bottom = u64::from(c.y) + u64::from(c.height);
            if c.width == 0 || c.height == 0 {
                return Err(invalid("crop", "the crop must not be empty".to_owned()));
            }
            if right > u64::from(source_width) || bottom > u64::from(source_height) {
                return Err(invalid(
                    "crop",
                    format!(
                        "{},{},{},{} reaches outside the {source_width}x{source_height} image",
                        c.x, c.y, c.width, c.height
                    ),
                ));
            }
            (c.x, c.y, c.width, c.height)
        }
    };
    let crop = Region {
        x: f64::from(cx),
        y: f64::from(cy),
        width: f64::from(cw),
        height: f64::from(ch),
    };
    let result = match (spec.width, spec.height) {
        (Some(bw), Some(bh)) => boxed(crop, (cw, ch), (bw, bh), spec),
        // With a single bound the box is unconstrained on the other axis, so
        // every fit degenerates to Inside.
        (w, h) => inside(crop, (cw, ch), w, h, spec.upscale),
    };
    check_size(result.canvas, spec.format, limits)?;
    Ok(result)
}

/// Inside with one or both bounds (`None` is unbounded): the largest
/// aspect-preserving size within the box, never above 1:1 without upscale.
fn inside(
    crop: Region,
    (cw, ch): (u32, u32),
    bw: Option<u32>,
    bh: Option<u32>,
    upscale: bool,
) -> Layout {
    let fx = bw.map_or(f64::INFINITY, |w| f64::from(w) / crop.width);
    let fy = bh.map_or(f64::INFINITY, |h| f64::from(h) / crop.height);
    let mut factor = fx.min(fy);
    if !factor.is_finite() || (!upscale && factor > 1.0) {
        // No bound at all, or a box larger than the image: keep its size.
        factor = 1.0;
    }
    let scaled = (
        scale(cw, factor, bw.unwrap_or(u32::MAX)),
        scale(ch, factor, bh.unwrap_or(u32::MAX)),
    );
    Layout {
        region: crop,
        scaled,
        canvas: scaled,
        offset: (0, 0),
    }
}

/// Cover, Contain and Fill, which need both bounds (Inside is delegated).
fn boxed(crop: Region, (cw, ch): (u32, u32), (bw, bh): (u32, u32), spec: &RenderSpec) -> Layout {
    if spec.fit == Fit::Inside {
        return inside(crop, (cw, ch), Some(bw), Some(bh), spec.upscale);
    }
    // Without upscale the box keeps its aspect ratio but shrinks until it
    // fits inside the source, so the output is never larger than the source
    // on either axis (and Cover then resamples at exactly 1:1).
    let (bw, bh) = if spec.upscale {
        (bw, bh)
    } else {
        let f = (crop.width / f64::from(bw))
            .min(crop.height / f64::from(bh))
            .min(1.0);
        (scale(bw, f, cw.min(bw)), scale(bh, f, ch.min(bh)))
    };
    let fx = f64::from(bw) / crop.width;
    let fy = f64::from(bh) / crop.height;
    match spec.fit {
        Fit::Cover => {
            // Sample the centred part of the crop that has the box's aspect
            // ratio, straight to the box size: no oversized intermediate.
            let f = fx.max(fy);
            let width = (f64::from(bw) / f).min(crop.width);
            let height = (f64::from(bh) / f).min(crop.height);
            let region = Region {
                x: crop.x + (crop.width - width) / 2.0,
                y: crop.y + (crop.height - height) / 2.0,
                width,
                height,
            };
            Layout {
                region,
                scaled: (bw, bh),
                canvas: (bw, bh),
                offset: (0, 0),
            }
        }
        Fit::Contain => {
            let f = fx.min(fy);
            let scaled = (scale(cw, f, bw), scale(ch, f, bh));
            Layout {
                region: crop,
                scaled,
                canvas: (bw, bh),
                offset: ((bw - scaled.0) / 2, (bh - scaled.1) / 2),
            }
        }
        Fit::Fill | Fit::Inside => Layout {
            region: crop,
            scaled: (bw, bh),
            canvas: (bw, bh),
            offset: (0, 0),
        },
    }
}

/// `len * factor`, rounded, at least 1 and at most `max`. Rounding (not
/// flooring) matters: 1920 * (256 / 1920) can come out as 255.999...
fn scale(len: u32, factor: f64, max: u32) -> u32 {
    let v = (f64::from(len) * factor).round();
    // `as` saturates for out-of-range floats, and the clamp handles 0.
    (v as u32).clamp(1, max.max(1))
}

/// The largest side each encoder can write.
fn format_max_side(format: OutputFormat) -> u32 {
    match format {
        OutputFormat::Webp => 16_383,
        OutputFormat::Jpeg | OutputFormat::Gif | OutputFormat::Avif => 65_535,
        OutputFormat::Png => i32::MAX as u32,
    }
}

/// Refuses outputs above the configured side limit or the format's own.
fn check_size(
    (w, h): (u32, u32),
    format: OutputFormat,
    limits: &RenderLimits,
) -> Result<(), MediaError> {
    let max = limits.max_output_side.min(format_max_side(format));
    if w > max || h > max {
        return Err(MediaError::LimitExceeded {
            limit: "max_output_side",
            message: format!(
                "the output would be {w}x{h} pixels; at most {max} pixels per side are allowed"
            ),
        });
    }
    Ok(())
}
