//! The full decode that proves an upload's pixels are real.
//!
//! A header can claim anything, so every accepted image is decoded once,
//! with the `image` crate's own limits set from [`MediaLimits`] as a second
//! line of defence behind the header check. Animations are decoded frame by
//! frame and each frame is dropped as soon as it has been produced, so the
//! memory held at once is one canvas rather than the whole animation.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::error::ImageError;
use image::{AnimationDecoder, DynamicImage, Frames, ImageDecoder};

use super::sniff::limit;
use super::source::{ScaledJpegPixels, scaled_jpeg_decoder};
use super::{Header, ImageFormat, MediaError, MediaLimits};

/// What the decode produced.
pub(crate) struct Decoded {
    /// The pixels of a still TIFF, which is re-encoded from them; `None` for
    /// every other format, whose pixels are dropped straight away.
    pub pixels: Option<DynamicImage>,
    /// A JPEG's pixels at 1/8 scale, when the proof was the scaled decode and they
    /// are 8-bit grey or RGB: the placeholder is made from them.
    pub eighth: Option<ScaledJpegPixels>,
}

/// Decodes every pixel of `data` once, failing with Malformed on any
/// decoding error and with LimitExceeded past the frame limit.
pub(crate) fn decode(
    data: &[u8],
    header: &Header,
    limits: &MediaLimits,
) -> Result<Decoded, MediaError> {
    let format = header.format;
    let image_limits = image_limits(limits);
    match format {
        ImageFormat::Gif => {
            let mut decoder =
                GifDecoder::new(Cursor::new(data)).map_err(|e| image_error(format, e))?;
            prepare(&mut decoder, header, image_limits)?;
            count_frames(decoder.into_frames(), header, limits)?;
            Ok(Decoded {
                pixels: None,
                eighth: None,
            })
        }
        ImageFormat::Webp => {
            let mut decoder =
                WebPDecoder::new(Cursor::new(data)).map_err(|e| image_error(format, e))?;
            prepare(&mut decoder, header, image_limits)?;
            // An animation is decoded frame by frame, even with a single
            // frame, so that every frame's data is proven and limited.
            if decoder.has_animation() {
                count_frames(decoder.into_frames(), header, limits)?;
            } else {
                let pixels =
                    DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e))?;
                drop(pixels);
            }
            Ok(Decoded {
                pixels: None,
                eighth: None,
            })
        }
        ImageFormat::Jpeg => match validate_jpeg_scaled(data, header, &image_limits) {
            Some(eighth) => Ok(Decoded {
                pixels: None,
                eighth,
            }),
            None => decode_whole(data, header, image_limits),
        },
        _ => decode_whole(data, header, image_limits),
    }
}

/// The `image` crate's decode of the whole first frame, for the formats (and the JPEGs)
/// that have no cheaper proof.
fn decode_whole(
    data: &[u8],
    header: &Header,
    image_limits: image::Limits,
) -> Result<Decoded, MediaError> {
    let format = header.format;
    let mut reader = image::ImageReader::with_format(Cursor::new(data), format.to_image_format());
    reader.limits(image_limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| image_error(format, e))?;
    prepare(&mut decoder, header, image_limits)?;
    let pixels = DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e))?;
    let keep = format == ImageFormat::Tiff;
    Ok(Decoded {
        pixels: keep.then_some(pixels),
        eighth: None,
    })
}

/// Proves a JPEG by decoding it at 1/8 scale, as libvips' shrink-on-load does: every
/// entropy-coded block is still read and checked, but the inverse DCT produces one pixel
/// per block, so a 33 MP photo needs about 1.5 MB of pixels instead of 100 MB (and the
/// decode is faster). Proven, it gives the pixels back when they are 8-bit grey or RGB.
/// None means "not proven this way" (a feature jpeg-decoder lacks, or an error): the
/// caller then runs the full decode, which gives the precise verdict.
fn validate_jpeg_scaled(
    data: &[u8],
    header: &Header,
    image_limits: &image::Limits,
) -> Option<Option<ScaledJpegPixels>> {
    // Progressive JPEGs keep every coefficient until the last scan; bound that by the
    // same allocation budget as the full decode.
    let budget = image_limits.max_alloc.unwrap_or(u64::MAX);
    let scaled = scaled_jpeg_decoder(data, 8, budget)?;
    let declared = (u32::from(scaled.info.width), u32::from(scaled.info.height));
    if declared != (header.width, header.height) {
        return None;
    }
    scaled.decode().ok()
}

/// The decoder's own limits: the same width and height, and the decode budget
/// (`max_decode_bytes`) as its allocation limit, which the header check has
/// already held the image to.
pub(crate) fn image_limits(limits: &MediaLimits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_decode_bytes);
    l
}

/// Applies limits and cross-checks the decoder's idea of the size against
/// our header parser, so a file cannot show one size to the limit check and
/// another to the decoder.
fn prepare(
    decoder: &mut impl ImageDecoder,
    header: &Header,
    image_limits: image::Limits,
) -> Result<(), MediaError> {
    let format = header.format;
    let budget = image_limits.max_alloc.unwrap_or(u64::MAX);
    decoder
        .set_limits(image_limits)
        .map_err(|e| image_error(format, e))?;
    if decoder.dimensions() != (header.width, header.height) {
        return Err(MediaError::Malformed(format!(
            "the {} file declares inconsistent dimensions",
            format.name()
        )));
    }
    if decoder.total_bytes() > budget {
        return Err(limit(
            "max_decode_bytes",
            format!(
                "decoding this {} image needs {} bytes of memory, more than the limit of {budget} (--max-decode-bytes)",
                format.name(),
                decoder.total_bytes()
            ),
        ));
    }
    Ok(())
}

/// Pulls every frame through the decoder, dropping each one at once, and
/// requires the count to match what the header walk found.
fn count_frames(
    frames: Frames<'_>,
    header: &Header,
    limits: &MediaLimits,
) -> Result<(), MediaError> {
    let format = header.format;
    let mut count = 0u32;
    for frame in frames {
        let frame = frame.map_err(|e| image_error(format, e))?;
        drop(frame);
        count = count.saturating_add(1);
        if count > limits.max_frames {
            return Err(limit(
                "max_frames",
                format!("more than {} frames", limits.max_frames),
            ));
        }
    }
    if count != header.frames {
        return Err(MediaError::Malformed(format!(
            "the {} file has {count} decodable frames but declares {}",
            format.name(),
            header.frames
        )));
    }
    Ok(())
}

/// Turns a decoder error into a short message without internal details.
pub(crate) fn image_error(format: ImageFormat, err: ImageError) -> MediaError {
    let name = format.name();
    match err {
        ImageError::Limits(_) => limit(
            "max_decode_bytes",
            format!(
                "decoding this {name} image needs more memory than the decode limit allows (--max-decode-bytes)"
            ),
        ),
        ImageError::Unsupported(_) => MediaError::Malformed(format!(
            "the {name} file uses a feature that is not supported"
        )),
        _ => MediaError::Malformed(format!("the {name} image data is truncated or corrupt")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sniff::read_header;

    /// The corpus JPEGs are proven by the 1/8-scale decode itself, not by falling back to
    /// the full one (which would allocate the whole frame again).
    #[test]
    fn corpus_jpegs_are_proven_at_one_eighth_scale() {
        let limits = MediaLimits::default();
        for name in [
            "photo-1920x1280.jpg",
            "photo-3840x2160.jpg",
            "avatar-400.jpg",
        ] {
            let data = crate::media::tests::corpus(name);
            let header = read_header(&data, &limits).unwrap();
            let proven = validate_jpeg_scaled(&data, &header, &image_limits(&limits));
            assert!(
                matches!(proven, Some(Some(_))),
                "{name}: proven at 1/8, with its pixels kept"
            );
        }
    }

    /// A JPEG whose entropy-coded data is damaged fails both ways: the scaled decode
    /// declines it and the full decode names it malformed.
    #[test]
    fn damaged_scan_data_is_refused() {
        let limits = MediaLimits::default();
        let mut data = crate::media::tests::corpus("photo-1920x1280.jpg");
        let header = read_header(&data, &limits).unwrap();
        // Overwrite the middle of the scan with markers that may not appear there.
        let middle = data.len() / 2;
        for byte in &mut data[middle..middle + 64] {
            *byte = 0xFF;
        }
        for pair in data[middle..middle + 64].chunks_mut(2) {
            pair[1] = 0xC4;
        }
        assert!(validate_jpeg_scaled(&data, &header, &image_limits(&limits)).is_none());
        assert!(matches!(
            decode(&data, &header, &limits),
            Err(MediaError::Malformed(_))
        ));
    }
}
