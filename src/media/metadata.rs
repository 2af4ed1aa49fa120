//! Lossless metadata removal per format, and the EXIF orientation it keeps.
//!
//! Uploaded photos routinely carry GPS coordinates, camera serial numbers,
//! timestamps, editing history and free-form comments, and comments can also
//! smuggle HTML or script into a file served from our origin. This module
//! removes all of that while leaving the compressed pixel data untouched, so
//! there is no generation loss. The one piece of metadata that changes how a
//! picture looks, the EXIF Orientation, is read first and written back as a
//! minimal EXIF block. TIFF is the exception: its metadata shares the IFD
//! with the pixel layout, so it is re-encoded losslessly from decoded pixels,
//! deflate-compressed so that a small compressed upload is not stored as
//! hundreds of megabytes of raw samples.

use std::io::Cursor;

use bytes::Bytes;
use image::DynamicImage;
use image::metadata::Orientation;
use img_parts::ImageEXIF;
use img_parts::jpeg::Jpeg;
use img_parts::png::Png;
use img_parts::webp::WebP;

use super::{ImageFormat, MediaError, exif, gif, jpeg, webp};

/// PNG chunks that survive: the critical ones, and the colour and transparency
/// information needed to render correctly. The APNG chunks (acTL, fcTL, fdAT) do
/// not: only the default image is decoded to prove the upload, so the frames after
/// it would be bytes nobody checked (an HTML payload in an fdAT chunk would be
/// served back), and a PNG is stored and described as the one image it proved.
const PNG_KEEP: [&[u8; 4]; 13] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"bKGD", b"pHYs", b"cICP",
];

/// Reads the EXIF orientation (1..=8) of an upload; 1 when the format has
/// none or the value is absent, unparsable or out of range.
pub fn orientation(format: ImageFormat, data: &Bytes) -> u8 {
    let tiff = match format {
        ImageFormat::Jpeg => Jpeg::from_bytes(data.clone()).ok().and_then(|j| j.exif()),
        ImageFormat::Png => Png::from_bytes(data.clone()).ok().and_then(|p| p.exif()),
        ImageFormat::Webp => WebP::from_bytes(data.clone()).ok().and_then(|w| w.exif()),
        // A TIFF file is itself the structure EXIF borrows, so its IFD0
        // holds the Orientation tag directly.
        ImageFormat::Tiff => Some(data.clone()),
        ImageFormat::Gif | ImageFormat::Bmp => None,
    };
    tiff.map_or(1, |t| exif::orientation_from_tiff(&t))
}

/// Removes private metadata from a JPEG, PNG, WebP or GIF without touching
/// its pixel data, re-adding a minimal EXIF Orientation when `orientation`
/// is not 1. BMP has no metadata and is returned unchanged.
///
/// TIFF cannot be edited in place; use [`reencode_tiff`] on its decoded
/// pixels instead (as [`super::ingest`] does). Passing a TIFF here is a
/// caller error and is reported as Unsupported.
pub fn strip(format: ImageFormat, data: Bytes, orientation: u8) -> Result<Bytes, MediaError> {
    let orientation = if (1..=8).contains(&orientation) {
        orientation
    } else {
        1
    };
    match format {
        ImageFormat::Jpeg => jpeg::strip(data, orientation),
        ImageFormat::Png => strip_png(data, orientation),
        ImageFormat::Webp => webp::strip(data, orientation),
        ImageFormat::Gif => gif::strip(&data).map(Bytes::from),
        ImageFormat::Bmp => Ok(data),
        ImageFormat::Tiff => Err(MediaError::Unsupported(
            "TIFF metadata can only be removed by re-encoding its pixels".to_owned(),
        )),
    }
}

/// Keeps the chunks in [`PNG_KEEP`] and drops text, eXIf, tIME and private
/// chunks. The file must end with IEND, since the decoder does not insist.
fn strip_png(data: Bytes, orientation: u8) -> Result<Bytes, MediaError> {
    let mut png = Png::from_bytes(data)
        .map_err(|_| MediaError::malformed("the PNG file is truncated or corrupt"))?;
    if png.chunks().last().map(|c| c.kind()) != Some(*b"IEND") {
        return Err(MediaError::malformed(
            "the PNG file is truncated (it ends before its IEND chunk)",
        ));
    }
    png.chunks_mut()
        .retain(|chunk| PNG_KEEP.contains(&&chunk.kind()));
    if orientation != 1 {
        // PNG's eXIf holds the bare TIFF structure, without the JPEG
        // "Exif\0\0" prefix; img-parts inserts it right after IHDR.
        png.set_exif(Some(Bytes::from(exif::minimal_orientation_tiff(
            orientation,
        ))));
    }
    Ok(png.encoder().bytes())
}

/// Rewrites a decoded TIFF upright and without any metadata: the pixels are
/// rotated by `orientation` and encoded losslessly with deflate compression
/// and horizontal prediction, converting to a colour type the TIFF encoder
/// supports where necessary.
pub fn reencode_tiff(pixels: DynamicImage, orientation: u8) -> Result<Bytes, MediaError> {
    use tiff::encoder::colortype::{Gray8, Gray16, RGB8, RGB16, RGBA8, RGBA16};
    use tiff::encoder::{Compression, DeflateLevel, Predictor, TiffEncoder};

    let mut pixels = pixels;
    if let Some(o) = Orientation::from_exif(orientation) {
        pixels.apply_orientation(o);
    }
    let pixels = match pixels {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba8(_)
        | DynamicImage::ImageRgba16(_) => pixels,
        // 16-bit grey with alpha widens losslessly to 16-bit RGBA.
        DynamicImage::ImageLumaA16(_) => DynamicImage::ImageRgba16(pixels.to_rgba16()),
        other => DynamicImage::ImageRgba8(other.to_rgba8()),
    };
    let failed = |_| MediaError::malformed("the TIFF image could not be re-encoded");
    let (width, height) = (pixels.width(), pixels.height());
    let mut out = Cursor::new(Vec::new());
    let mut encoder = TiffEncoder::new(&mut out)
        .map_err(failed)?
        .with_compression(Compression::Deflate(DeflateLevel::Balanced))
        .with_predictor(Predictor::Horizontal);
    match &pixels {
        DynamicImage::ImageLuma8(b) => encoder.write_image::<Gray8>(width, height, b),
        DynamicImage::ImageLuma16(b) => encoder.write_image::<Gray16>(width, height, b),
        DynamicImage::ImageRgb8(b) => encoder.write_image::<RGB8>(width, height, b),
        DynamicImage::ImageRgb16(b) => encoder.write_image::<RGB16>(width, height, b),
        DynamicImage::ImageRgba8(b) => encoder.write_image::<RGBA8>(width, height, b),
        DynamicImage::ImageRgba16(b) => encoder.write_image::<RGBA16>(width, height, b),
        // Not reached: every other type was converted to RGBA above.
        other => encoder.write_image::<RGBA8>(width, height, &other.to_rgba8()),
    }
    .map_err(failed)?;
    Ok(Bytes::from(out.into_inner()))
}

/// The cheap sanity check after stripping: the cleaned bytes must still
/// parse to the expected stored dimensions with the `image` crate's own
/// header reader, independent of our parsers.
pub fn verify_dimensions(
    format: ImageFormat,
    bytes: &[u8],
    expected: (u32, u32),
) -> Result<(), MediaError> {
    let found = image::ImageReader::with_format(Cursor::new(bytes), format.to_image_format())
        .into_dimensions()
        .map_err(|_| {
            MediaError::Malformed(format!(
                "the {} file no longer parses after metadata removal",
                format.name()
            ))
        })?;
    if found != expected {
        return Err(MediaError::Malformed(format!(
            "the {} file changed size during metadata removal",
            format.name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use image::ImageEncoder;

    use super::*;

    /// A valid 2x1 RGB PNG, optionally with extra chunks after IHDR.
    pub(crate) fn tiny_png(extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut buf);
        encoder
            .write_image(
                &[255, 0, 0, 0, 0, 255],
                2,
                1,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let mut png = Png::from_bytes(Bytes::from(buf)).unwrap();
        for (i, (kind, body)) in extra.iter().enumerate() {
            let chunk = img_parts::png::PngChunk::new(**kind, Bytes::copy_from_slice(body));
            png.chunks_mut().insert(1 + i, chunk);
        }
        png.encoder().bytes().to_vec()
    }

    #[test]
    fn png_keeps_only_rendering_chunks_and_writes_minimal_exif() {
        let exif = exif::minimal_orientation_tiff(6);
        let data = tiny_png(&[
            (b"tEXt", b"Comment\0secret"),
            (b"eXIf", &exif),
            (b"gAMA", &[0, 0, 0xB1, 0x8F]),
            (b"prVt", b"private"),
        ]);
        let data = Bytes::from(data);
        assert_eq!(orientation(ImageFormat::Png, &data), 6);
        let out = strip(ImageFormat::Png, data, 6).unwrap();
        let png = Png::from_bytes(out).unwrap();
        let kinds: Vec<[u8; 4]> = png.chunks().iter().map(|c| c.kind()).collect();
        assert_eq!(kinds, [*b"IHDR", *b"eXIf", *b"gAMA", *b"IDAT", *b"IEND"]);
        assert_eq!(png.exif().unwrap().as_ref(), exif.as_slice());
    }

    #[test]
    fn png_without_iend_is_malformed() {
        let data = tiny_png(&[]);
        let cut = Bytes::copy_from_slice(&data[..data.len() - 12]);
        assert!(matches!(
            strip(ImageFormat::Png, cut, 1),
            Err(MediaError::Malformed(_))
        ));
    }

    #[test]
    fn tiff_reencode_applies_orientation() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(3, 2, |x, y| {
            image::Rgb([x as u8, y as u8, 0])
        }));
        let out = reencode_tiff(img, 6).unwrap();
        verify_dimensions(ImageFormat::Tiff, &out, (2, 3)).unwrap();
        assert_eq!(orientation(ImageFormat::Tiff, &out), 1);
        let back = image::load_from_memory_with_format(&out, image::ImageFormat::Tiff).unwrap();
        // Rotating 90 degrees clockwise moves the bottom-left pixel (0,1)
        // to the top-left corner.
        assert_eq!(back.to_rgb8().get_pixel(0, 0).0, [0, 1, 0]);
    }
}
