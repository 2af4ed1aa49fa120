//! Placeholders shown while an image loads: a ThumbHash and a dominant colour.
//!
//! Both are computed once per upload, so this has to be cheap: the image is decoded as
//! small as the JPEG decoder allows (1/8 for a photo, or the pixels of the decode that
//! proved the upload), oriented, shrunk to fit 32x32 (`HASH_INPUT_SIDE`) and hashed by
//! our separable encoder (`thumb_hash`). The dominant colour is the hash's own average
//! colour, which is alpha-weighted, so a logo's transparent background does not drag it
//! towards black.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::source::{self, ScaledJpegPixels};
use super::transform::geometry::layout;
use super::transform::pixels::{Padding, compose, with_alpha};
use super::transform::{Fit, OutputFormat, RenderLimits, RenderSpec};
use super::{ImageFormat, Ingested, MediaError, MediaLimits, thumb_hash};

/// The largest side of the image that is hashed. ThumbHash accepts up to 100, but it
/// keeps at most 7 cosine terms per axis, which 32 samples per side already resolve
/// (more than twice the highest frequency); hashing 100x100 instead took a third of the
/// CPU of a small upload for a placeholder that looks the same (see the tests).
const HASH_INPUT_SIDE: u32 = 32;

/// What a client needs to paint something before the image arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The ThumbHash bytes in standard base64 (with padding).
    pub thumbhash: String,
    /// The average colour as "#rrggbb".
    pub dominant_color: String,
}

/// Computes the placeholder of a stored original.
pub fn placeholder(source: &[u8], source_format: ImageFormat) -> Result<Placeholder, MediaError> {
    placeholder_hashing(source, source_format, HASH_INPUT_SIDE)
}

/// Computes the placeholder of an upload just ingested. A JPEG wide enough to be hashed
/// from 1/8 scale (256 px and more) is hashed from the pixels of the decode that proved
/// it, which this takes out of `ingested` so that they are not held while the upload is
/// stored; the result is the same as [`placeholder`] of its bytes.
pub fn for_upload(ingested: &mut Ingested) -> Result<Placeholder, MediaError> {
    let eighth = ingested.eighth.take();
    let opened = source::open_ingested(ingested);
    hash_opened(&opened, HASH_INPUT_SIDE, eighth.as_ref())
}

/// The placeholder made from the image shrunk to fit `side` x `side`.
fn placeholder_hashing(
    source: &[u8],
    source_format: ImageFormat,
    side: u32,
) -> Result<Placeholder, MediaError> {
    let budget = MediaLimits::default().max_decode_bytes;
    hash_opened(&source::open(source, source_format, budget)?, side, None)
}

/// The placeholder of an opened image shrunk to fit `side` x `side`, reusing `earlier`
/// pixels when they are at the scale needed.
fn hash_opened(
    opened: &source::Opened<'_>,
    side: u32,
    earlier: Option<&ScaledJpegPixels>,
) -> Result<Placeholder, MediaError> {
    let (w, h) = opened.displayed();
    // The rendition machinery already knows how to fit, shrink-on-load and
    // resample; a PNG-like spec keeps alpha and never pads.
    let spec = RenderSpec {
        width: Some(side),
        height: Some(side),
        fit: Fit::Inside,
        format: OutputFormat::Png,
        ..RenderSpec::default()
    };
    let limits = RenderLimits {
        max_output_side: side,
    };
    let layout = layout(w, h, &spec, &limits)?;
    let upright = opened.decode_reusing(layout.reduction(), earlier)?;
    let pixels = with_alpha(compose(&upright, &layout, Padding::Transparent)?);

    let hash = thumb_hash::encode(pixels.width as usize, pixels.height as usize, &pixels.data)?;
    let (r, g, b, _) = thumbhash::thumb_hash_to_average_rgba(&hash)
        .map_err(|()| MediaError::malformed("the image could not be summarised"))?;
    Ok(Placeholder {
        thumbhash: STANDARD.encode(&hash),
        dominant_color: format!("#{:02x}{:02x}{:02x}", unit(r), unit(g), unit(b)),
    })
}

/// A 0.0..=1.0 channel as a byte.
fn unit(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::media::{MediaLimits, ingest};

    fn stored(name: &str) -> crate::media::Ingested {
        let data = crate::media::tests::corpus(name);
        ingest(Bytes::from(data), &MediaLimits::default()).unwrap()
    }

    #[test]
    fn every_corpus_file_has_a_placeholder() {
        for name in crate::media::tests_transform::CORPUS_FILES {
            let img = stored(name);
            let p = placeholder(&img.bytes, img.format).unwrap_or_else(|e| panic!("{name}: {e}"));
            let hash = STANDARD.decode(&p.thumbhash).unwrap();
            assert!(hash.len() >= 5, "{name}: {} hash bytes", hash.len());
            let c = p.dominant_color.as_bytes();
            assert_eq!(c.len(), 7, "{name}: {}", p.dominant_color);
            assert_eq!(c.first(), Some(&b'#'));
            assert!(c.iter().skip(1).all(u8::is_ascii_hexdigit), "{name}");
            // The hash's aspect ratio follows the displayed image.
            let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
            let expected = img.width as f32 / img.height as f32;
            assert!(
                (ratio - expected).abs() / expected < 0.25,
                "{name}: {ratio}"
            );
        }
    }

    #[test]
    fn logo_hash_records_alpha_and_photo_hash_does_not() {
        let has_alpha = |name: &str| {
            let img = stored(name);
            let p = placeholder(&img.bytes, img.format).unwrap();
            let hash = STANDARD.decode(&p.thumbhash).unwrap();
            // ThumbHash's header: bit 7 of the third byte is "has alpha".
            let flag = hash.get(2).is_some_and(|b| b & 0x80 != 0);
            let (_, _, rgba) = thumbhash::thumb_hash_to_rgba(&hash).unwrap();
            let transparent = rgba.chunks_exact(4).any(|p| p[3] < 200);
            (flag, transparent)
        };
        assert_eq!(has_alpha("logo.png"), (true, true));
        assert_eq!(has_alpha("photo-1920x1280.jpg"), (false, false));
    }

    /// Hashing the image at 32 px paints the same placeholder as at ThumbHash's 100 px
    /// limit: the painted placeholders differ by a few levels (of 255) per channel.
    #[test]
    fn a_32_pixel_input_paints_what_100_pixels_would() {
        let painted = |p: &Placeholder| {
            let hash = STANDARD.decode(&p.thumbhash).unwrap();
            thumbhash::thumb_hash_to_rgba(&hash).unwrap()
        };
        for name in crate::media::tests_transform::CORPUS_FILES {
            let img = stored(name);
            let small = placeholder_hashing(&img.bytes, img.format, 32).unwrap();
            let large = placeholder_hashing(&img.bytes, img.format, 100).unwrap();
            let ((w1, h1, a), (w2, h2, b)) = (painted(&small), painted(&large));
            assert_eq!((w1, h1), (w2, h2), "{name}: the painted size differs");
            let mean = a
                .iter()
                .zip(&b)
                .map(|(x, y)| x.abs_diff(*y) as f64)
                .sum::<f64>()
                / a.len() as f64;
            let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max();
            // Measured: photos hash identically; the small avatars differ by 3 levels on
            // average and 10 at worst (resampling noise, invisible in a blur).
            assert!(mean < 4.0, "{name}: mean difference {mean:.2} levels");
            assert!(
                worst < Some(16),
                "{name}: worst difference {worst:?} levels"
            );
        }
    }

    /// An upload's placeholder is its stored bytes' placeholder, whether or not the
    /// pixels of the decode that proved it were reused.
    #[test]
    fn an_uploads_placeholder_is_the_one_of_its_stored_bytes() {
        for name in crate::media::tests_transform::CORPUS_FILES {
            let mut img = stored(name);
            let kept = img.eighth.is_some();
            let expected = placeholder(&img.bytes, img.format).unwrap();
            assert_eq!(for_upload(&mut img).unwrap(), expected, "{name}");
            assert!(img.eighth.is_none(), "{name}: the pixels were not let go");
            if img.format == ImageFormat::Jpeg {
                assert!(kept, "{name}: no pixels kept from the proving decode");
            }
        }
    }

    /// The reuse is real: at the scale the placeholder wants, the pixels handed over are
    /// the ones hashed (here made black, so the hash turns black).
    #[test]
    fn the_proving_decodes_pixels_are_the_ones_hashed() {
        let mut img = stored("photo-1920x1280.jpg");
        let before = placeholder(&img.bytes, img.format).unwrap();
        if let Some(eighth) = img.eighth.as_mut() {
            eighth.image =
                image::DynamicImage::new_rgb8(eighth.image.width(), eighth.image.height());
        }
        let black = for_upload(&mut img).unwrap();
        assert_ne!(black, before);
        // ThumbHash's quantized average of black is a few levels off zero.
        let level = |at: usize| u8::from_str_radix(&black.dominant_color[at..at + 2], 16).unwrap();
        assert!(
            [1, 3, 5].into_iter().all(|at| level(at) < 8),
            "{}",
            black.dominant_color
        );
    }

    #[test]
    fn placeholder_of_a_large_jpeg_is_fast() {
        let img = stored("photo-2560x1600.jpg");
        placeholder(&img.bytes, img.format).unwrap();
        let start = Instant::now();
        placeholder(&img.bytes, img.format).unwrap();
        let took = start.elapsed();
        // Generous for debug builds of this crate; release takes a few ms.
        assert!(took.as_millis() < 500, "{took:?}");
    }
}
