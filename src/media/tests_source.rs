//! Opening a stored original for a rendition: what ingest already knows of an upload must
//! be what its stored bytes say when they are parsed again.

use image::{ImageFormat as Codec, Rgb, RgbImage};

use super::*;
use crate::media::tests::corpus;
use crate::media::tests_transform::CORPUS_FILES;
use crate::media::{MediaLimits, ingest};

fn agree(ingested: &Ingested, what: &str) {
    let parsed = open(&ingested.bytes, ingested.format, u64::MAX).unwrap();
    let known = open_ingested(ingested);
    assert_eq!(
        (known.stored, known.orientation),
        (parsed.stored, parsed.orientation),
        "{what}"
    );
}

/// What ingest knows of an upload is what its stored bytes say: for every corpus
/// file, and for each kind of storage of an orientation that swaps the axes.
#[test]
fn an_ingested_upload_opens_as_its_stored_bytes_do() {
    for name in CORPUS_FILES {
        let ingested = ingest(Bytes::from(corpus(name)), &MediaLimits::default()).unwrap();
        agree(&ingested, name);
    }
    let pixels = DynamicImage::ImageRgb8(RgbImage::from_fn(30, 20, |x, y| {
        Rgb([x as u8 * 8, y as u8 * 12, 90])
    }));
    for (codec, format) in [
        (Codec::Jpeg, ImageFormat::Jpeg),
        (Codec::Png, ImageFormat::Png),
    ] {
        let mut encoded = Cursor::new(Vec::new());
        pixels.write_to(&mut encoded, codec).unwrap();
        // Stripping with an orientation writes it as a minimal EXIF block.
        let turned = metadata::strip(format, Bytes::from(encoded.into_inner()), 6).unwrap();
        let ingested = ingest(turned, &MediaLimits::default()).unwrap();
        let seen = (ingested.width, ingested.height, ingested.orientation);
        assert_eq!(seen, (20, 30, 6), "{format:?}");
        agree(&ingested, &format!("{format:?}"));
    }
    // A TIFF is stored as ingest re-encodes it: turned upright, its orientation gone.
    let tiff = Ingested {
        format: ImageFormat::Tiff,
        width: 20,
        height: 30,
        frames: 1,
        orientation: 6,
        bytes: metadata::reencode_tiff(pixels, 6).unwrap(),
        eighth: None,
        max_decode_bytes: MediaLimits::default().max_decode_bytes,
    };
    agree(&tiff, "TIFF");
}
