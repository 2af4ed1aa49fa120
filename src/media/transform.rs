//! Renditions: resized, cropped and re-encoded variants of a stored original.
//!
//! A rendition is described by a [`RenderSpec`] (box, fit, crop, format,
//! quality). [`plan`] computes its size from the displayed source size
//! alone, so a URL can be validated and a cache key sized without decoding;
//! [`render`] decodes upright (shrinking JPEGs while decoding), crops,
//! resamples with Lanczos3 on premultiplied alpha, pads or flattens as the
//! format requires and encodes. Both go through the same layout arithmetic,
//! so the rendered size always equals the planned one. Like the rest of the
//! module this is pure: bytes in, bytes out.

mod animation;
mod encode;
pub(super) mod geometry;
pub(super) mod pixels;

use bytes::Bytes;

use self::pixels::{Padding, compose};
use super::{ImageFormat, MediaError, MediaLimits, sniff, source};

/// How the image is fitted into a box of width x height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Scale to fit within the box, keeping the aspect ratio; the output can
    /// be smaller than the box on one axis.
    Inside,
    /// Scale to cover the box, then centre-crop to exactly the box.
    Cover,
    /// Scale to fit within the box, then pad to exactly the box.
    Contain,
    /// Stretch to exactly the box.
    Fill,
}

/// The formats a rendition can be encoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Jpeg,
    Png,
    Webp,
    Avif,
    Gif,
}

impl OutputFormat {
    /// The canonical file extension, without a dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
            OutputFormat::Avif => "avif",
            OutputFormat::Gif => "gif",
        }
    }

    /// The MIME type to serve the rendition with.
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp => "image/webp",
            OutputFormat::Avif => "image/avif",
            OutputFormat::Gif => "image/gif",
        }
    }

    /// Parses a format name case-insensitively: jpg, jpeg, png, webp, avif
    /// or gif, without a leading dot.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(OutputFormat::Jpeg),
            "png" => Some(OutputFormat::Png),
            "webp" => Some(OutputFormat::Webp),
            "avif" => Some(OutputFormat::Avif),
            "gif" => Some(OutputFormat::Gif),
            _ => None,
        }
    }

    /// Whether the format can store transparency (GIF: one palette entry).
    pub fn has_alpha(self) -> bool {
        !matches!(self, OutputFormat::Jpeg)
    }

    /// The natural output for a source format: itself where we can encode
    /// it, PNG for TIFF and BMP, which browsers do not all display.
    pub fn of(format: ImageFormat) -> OutputFormat {
        match format {
            ImageFormat::Jpeg => OutputFormat::Jpeg,
            ImageFormat::Png | ImageFormat::Tiff | ImageFormat::Bmp => OutputFormat::Png,
            ImageFormat::Gif => OutputFormat::Gif,
            ImageFormat::Webp => OutputFormat::Webp,
        }
    }
}

/// A rectangle of the source in displayed coordinates, that is after the
/// EXIF orientation has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Everything that defines a rendition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderSpec {
    /// The box; `None` leaves that axis unconstrained, and with both `None`
    /// the output has the source's (cropped) size.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub crop: Option<Crop>,
    pub format: OutputFormat,
    /// 1..=100.
    pub quality: u8,
    /// When false the output is never larger than the (cropped) source: the
    /// box shrinks proportionally instead (for Inside: until the image fits
    /// at its own size).
    pub upscale: bool,
    /// Keep the animation of an animated source when the output is GIF or
    /// WebP; otherwise the first frame is rendered.
    pub animated: bool,
    /// Flattening colour when alpha meets JPEG, and JPEG's Contain padding.
    pub background: [u8; 3],
}

impl Default for RenderSpec {
    /// The source as a JPEG at quality 80, white behind any transparency.
    fn default() -> Self {
        RenderSpec {
            width: None,
            height: None,
            fit: Fit::Inside,
            crop: None,
            format: OutputFormat::Jpeg,
            quality: 80,
            upscale: false,
            animated: true,
            background: [255, 255, 255],
        }
    }
}

/// Limits on what a rendition may cost.
#[derive(Debug, Clone)]
pub struct RenderLimits {
    /// The largest output width or height.
    pub max_output_side: u32,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            max_output_side: 4096,
        }
    }
}

/// A finished rendition.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub format: OutputFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: Bytes,
}

/// The output size of `spec` for a source displayed at `source_width` x
/// `source_height`, computed without decoding.
///
/// Invalid parameters are Malformed with a message starting with the
/// parameter's name ("crop", "w", "h" or "q"); an output larger than
/// `limits.max_output_side` (or than the format allows, 16383 for WebP) is
/// LimitExceeded with limit "max_output_side".
pub fn plan(
    source_width: u32,
    source_height: u32,
    spec: &RenderSpec,
    limits: &RenderLimits,
) -> Result<(u32, u32), MediaError> {
    geometry::layout(source_width, source_height, spec, limits).map(|l| l.canvas)
}

/// Renders `source`, a stored original in `source_format`, as `spec` says,
/// under the default [`MediaLimits`]; see [`render_within`].
pub fn render(
    source: &[u8],
    source_format: ImageFormat,
    spec: &RenderSpec,
    limits: &RenderLimits,
) -> Result<Rendered, MediaError> {
    render_within(source, source_format, spec, limits, &MediaLimits::default())
}

/// Renders `source`, a stored original in `source_format`, as `spec` says.
///
/// The source's header is checked against `media` as an upload's is (size,
/// frames, the bytes its decode will hold, a JPEG's scans) and the spec is
/// validated against its size before any pixel is decoded; the decoders are
/// then held to `media.max_decode_bytes`. A service should pass the limits
/// its uploads were checked with, so that what it accepted it can render and
/// an original stored before a limit existed costs no more than a new one.
/// The output has exactly the size [`plan`] returns, carries no EXIF, XMP or
/// other metadata, and keeps the source's ICC profile in JPEG and PNG.
/// Animated sources keep their animation for GIF and WebP output when
/// `spec.animated` is set, up to 300 frames (LimitExceeded "max_frames"
/// beyond).
pub fn render_within(
    source: &[u8],
    source_format: ImageFormat,
    spec: &RenderSpec,
    limits: &RenderLimits,
    media: &MediaLimits,
) -> Result<Rendered, MediaError> {
    sniff::read_header(source, media)?;
    let budget = media.max_decode_bytes;
    let opened = source::open(source, source_format, budget)?;
    let displayed = opened.displayed();
    let layout = geometry::layout(displayed.0, displayed.1, spec, limits)?;
    let animate = spec.animated
        && matches!(spec.format, OutputFormat::Gif | OutputFormat::Webp)
        && animation::frame_count(source, source_format)? > 1;
    let bytes = if animate {
        Bytes::from(animation::render(
            source,
            source_format,
            opened.orientation,
            displayed,
            &layout,
            spec,
            budget,
        )?)
    } else {
        let upright = opened.decode(layout.reduction())?;
        let padding = if spec.format.has_alpha() {
            Padding::Transparent
        } else {
            Padding::Colour(spec.background)
        };
        let mut pixels = compose(&upright, &layout, padding)?;
        pixels.drop_opaque_alpha();
        encode::encode_still(pixels, spec, upright.icc.as_deref())?
    };
    Ok(Rendered {
        format: spec.format,
        width: layout.canvas.0,
        height: layout.canvas.1,
        bytes,
    })
}

/// The decode step of [`render`] for a still image, exposed so tests can
/// see how much the JPEG decoder shrank (`Upright::shrink`).
#[cfg(test)]
pub(crate) fn decode_for(
    source: &[u8],
    source_format: ImageFormat,
    spec: &RenderSpec,
    limits: &RenderLimits,
) -> Result<(source::Upright, geometry::Layout), MediaError> {
    let budget = MediaLimits::default().max_decode_bytes;
    let opened = source::open(source, source_format, budget)?;
    let (w, h) = opened.displayed();
    let layout = geometry::layout(w, h, spec, limits)?;
    Ok((opened.decode(layout.reduction())?, layout))
}
