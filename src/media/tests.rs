//! End-to-end tests of [`ingest`] against the image corpus and crafted files.
//!
//! The corpus is carried in the repository (`tests/corpus/`), so a plain clone tests
//! itself. Crafted files cover what the corpus cannot: decompression bombs,
//! script-carrying comments and secrets in text chunks.

use std::time::{Duration, Instant};

use bytes::Bytes;
use img_parts::ImageEXIF;
use img_parts::jpeg::Jpeg;

use super::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/");

pub(super) fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ingest_vec(data: Vec<u8>) -> Result<Ingested, MediaError> {
    ingest(Bytes::from(data), &MediaLimits::default())
}

fn is_limit(result: &Result<Ingested, MediaError>, name: &str) -> bool {
    matches!(result, Err(MediaError::LimitExceeded { limit, .. }) if *limit == name)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_corpus_file_ingests() {
    use ImageFormat::*;
    let cases = [
        ("animated.gif", Gif, 128, 128),
        ("avatar-400.jpg", Jpeg, 400, 400),
        ("avatar.gif", Gif, 200, 200),
        ("avatar.tiff", Tiff, 400, 400),
        ("exif-gps-rotated.jpg", Jpeg, 400, 400),
        ("logo.png", Png, 1600, 1200),
        ("photo-1920x1280.jpg", Jpeg, 1920, 1280),
        ("photo-2560x1600.jpg", Jpeg, 2560, 1600),
        ("photo-3840x2160.jpg", Jpeg, 3840, 2160),
        ("wallpaper.webp", Webp, 4096, 4096),
    ];
    for (name, format, width, height) in cases {
        let data = corpus(name);
        let header = sniff::read_header(&data, &MediaLimits::default()).unwrap();
        let out = ingest_vec(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.format, format, "{name}");
        assert_eq!((out.width, out.height), (width, height), "{name}");
        assert_eq!(out.frames, header.frames, "{name}");
        if name == "animated.gif" {
            assert!(out.frames > 1, "animated.gif has {} frames", out.frames);
        } else if format != Gif {
            assert_eq!(out.frames, 1, "{name}");
        }
        // The stored bytes must decode on their own.
        image::load_from_memory_with_format(&out.bytes, format.to_image_format())
            .unwrap_or_else(|e| panic!("{name} stored bytes: {e}"));
    }
}

#[test]
fn exif_gps_rotated_keeps_only_orientation() {
    let original = corpus("exif-gps-rotated.jpg");
    assert!(contains(&original, b"Canon"));
    assert!(contains(&original, b"GPS") || contains(&original, &[0x25, 0x88]));
    // The brief describes this file as orientation 2, but its IFD0 actually
    // holds 6 (rotate 90 degrees clockwise); image's own decoder agrees.
    let mut decoder =
        image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&original)).unwrap();
    let expected = image::ImageDecoder::orientation(&mut decoder)
        .unwrap()
        .to_exif();
    assert_eq!(expected, 6);
    let out = ingest_vec(original).unwrap();
    assert_eq!(out.orientation, expected);
    assert_eq!((out.width, out.height), (400, 400));
    assert!(!contains(&out.bytes, b"Canon"));
    assert!(!contains(&out.bytes, b"TestCam"));
    assert!(!contains(&out.bytes, b"GPS"));

    let jpeg = Jpeg::from_bytes(out.bytes.clone()).unwrap();
    let exif = jpeg.exif().expect("orientation EXIF kept");
    assert_eq!(
        exif.as_ref(),
        exif::minimal_orientation_tiff(expected).as_slice()
    );
    // Exactly one EXIF block, right after JFIF.
    let markers: Vec<u8> = jpeg.segments().iter().map(|s| s.marker()).collect();
    assert_eq!(markers.get(..2), Some(&[0xE0, 0xE1][..]));
    assert_eq!(markers.iter().filter(|&&m| m == 0xE1).count(), 1);
    let img = image::load_from_memory_with_format(&out.bytes, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (400, 400));
}

/// A PNG signature and an IHDR for `width`x`height` with a correct CRC.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let chunk = img_parts::png::PngChunk::new(*b"IHDR", Bytes::copy_from_slice(&ihdr[4..]));
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&chunk.encoder().bytes());
    // A zero-length IDAT and IEND make the file look complete.
    out.extend_from_slice(
        &img_parts::png::PngChunk::new(*b"IDAT", Bytes::new())
            .encoder()
            .bytes(),
    );
    out.extend_from_slice(
        &img_parts::png::PngChunk::new(*b"IEND", Bytes::new())
            .encoder()
            .bytes(),
    );
    out
}

fn assert_quick_limit(data: Vec<u8>, limit: &str) {
    let start = Instant::now();
    let result = ingest_vec(data);
    let elapsed = start.elapsed();
    assert!(is_limit(&result, limit), "expected {limit}, got {result:?}");
    assert!(elapsed < Duration::from_millis(50), "took {elapsed:?}");
}

#[test]
fn huge_png_and_gif_headers_are_refused_quickly() {
    let png = png_header(65535, 65535);
    assert!(
        img_parts::png::Png::from_bytes(Bytes::from(png.clone())).is_ok(),
        "valid CRCs"
    );
    assert_quick_limit(png, "max_width");
    assert_quick_limit(png_header(9000, 9000), "max_pixels");
    assert_quick_limit(gif::tiny_gif(65535, 65535, 1, &[]), "max_width");
    assert_quick_limit(gif::tiny_gif(100, 65535, 1, &[]), "max_height");
}

#[test]
fn huge_jpeg_webp_bmp_tiff_headers_are_refused_quickly() {
    let sof = [0xFF, 0xC0, 0, 11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0];
    let jpeg = [
        &[0xFF, 0xD8][..],
        &sof,
        &[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0xFF, 0xD9],
    ]
    .concat();
    assert_quick_limit(jpeg, "max_width");

    let mut webp = b"RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    webp.extend_from_slice(&[0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x00]);
    assert_quick_limit(webp, "max_width");

    let mut bmp = b"BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec();
    bmp.extend_from_slice(&5000i32.to_le_bytes());
    bmp.extend_from_slice(&(-20000i32).to_le_bytes());
    bmp.extend_from_slice(&[1, 0, 24, 0, 0, 0, 0, 0]);
    assert_quick_limit(bmp, "max_height");

    assert_quick_limit(grey_tiff(60000, 60000, 1, &[0]), "max_width");
}

/// A little-endian, uncompressed 8-bit grey TIFF of `width`x`height` with
/// an Orientation tag, in one strip holding `pixels` (which may be shorter
/// than the image claims, to fake a huge header).
pub(super) fn grey_tiff(width: u32, height: u32, orientation: u32, pixels: &[u8]) -> Vec<u8> {
    let count = 10u32;
    let data_offset = 8 + 2 + count * 12 + 4;
    let entries: [(u16, u16, u32); 10] = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, data_offset),
        (274, 3, orientation),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, pixels.len() as u32),
    ];
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&(count as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(pixels);
    t
}

#[test]
fn gif_with_too_many_frames_is_refused_before_decoding() {
    let data = gif::tiny_gif(1, 1, 1000, &[]);
    let limits = MediaLimits::default();
    let header = sniff::read_header(&data, &limits);
    assert!(matches!(
        header,
        Err(MediaError::LimitExceeded {
            limit: "max_frames",
            ..
        })
    ));
    assert_quick_limit(data, "max_frames");
    // The same file within the limit decodes every frame.
    let ok = ingest_vec(gif::tiny_gif(1, 1, 300, &[])).unwrap();
    assert_eq!(ok.frames, 300);
}

#[test]
fn animation_area_is_limited() {
    let limits = MediaLimits {
        max_animation_pixels: 99,
        ..MediaLimits::default()
    };
    let result = ingest(Bytes::from(gif::tiny_gif(10, 10, 2, &[])), &limits);
    assert!(is_limit(&result, "max_animation_pixels"), "{result:?}");
}

#[test]
fn truncated_files_are_malformed() {
    for name in [
        "avatar-400.jpg",
        "exif-gps-rotated.jpg",
        "photo-1920x1280.jpg",
        "logo.png",
        "animated.gif",
        "avatar.gif",
        "wallpaper.webp",
        "avatar.tiff",
    ] {
        let data = corpus(name);
        // Note that `image` alone decodes most of these cuts without an
        // error (JPEG halves, JPEG/PNG/GIF/WebP missing one byte), so this
        // exercises our own structural checks.
        // A TIFF's last bytes are often the IFD's next-IFD offset, without
        // which the image is still complete, so only its half cut counts.
        let cuts = if name.ends_with(".tiff") {
            vec![data.len() / 2]
        } else {
            vec![data.len() / 2, data.len() - 1]
        };
        for keep in cuts {
            let cut = data.get(..keep).unwrap().to_vec();
            let result = ingest_vec(cut).map(|o| (o.width, o.height));
            assert!(
                matches!(result, Err(MediaError::Malformed(_))),
                "{name} cut to {keep}: {result:?}"
            );
        }
    }
}

#[test]
fn non_images_are_unsupported_with_a_reason() {
    let cases: [(&[u8], &str); 7] = [
        (b"", "empty"),
        (
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            "SVG",
        ),
        (
            b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "SVG",
        ),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"hello", "plain text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\x00\x01\x02\x03\xfe\xfa", "not a recognised image"),
    ];
    for (body, reason) in cases {
        match ingest_vec(body.to_vec()) {
            Err(MediaError::Unsupported(message)) => {
                assert!(message.contains(reason), "{message:?} lacks {reason:?}");
                assert!(
                    message.contains("JPEG, PNG, GIF, WebP, TIFF, BMP"),
                    "{message:?}"
                );
            }
            other => panic!("{reason}: {:?}", other.map(|o| o.format)),
        }
    }
}

#[test]
fn jpeg_comment_with_script_is_removed() {
    let original = corpus("avatar-400.jpg");
    let script = b"<script>alert(1)</script>";
    let mut com = vec![0xFF, 0xFE];
    com.extend_from_slice(&u16::try_from(script.len() + 2).unwrap().to_be_bytes());
    com.extend_from_slice(script);
    let polyglot = [&original[..2], &com, &original[2..], script].concat();
    assert!(contains(&polyglot, script));
    let out = ingest_vec(polyglot).unwrap();
    assert!(!contains(&out.bytes, script));
    assert!(!contains(&out.bytes, b"<script"));
    assert_eq!((out.width, out.height), (400, 400));
    let before = image::load_from_memory(&original).unwrap();
    let after = image::load_from_memory(&out.bytes).unwrap();
    assert_eq!(before.as_bytes(), after.as_bytes());
}

#[test]
fn png_text_secret_is_removed_and_pixels_kept() {
    let original = corpus("logo.png");
    let secret = b"api-key=hunter2-SECRET";
    let text = [&b"Comment\0"[..], secret].concat();
    let chunk = img_parts::png::PngChunk::new(*b"tEXt", Bytes::from(text));
    let mut png = img_parts::png::Png::from_bytes(Bytes::from(original.clone())).unwrap();
    png.chunks_mut().insert(1, chunk);
    let with_secret = png.encoder().bytes();
    assert!(contains(&with_secret, secret));

    let out = ingest(with_secret, &MediaLimits::default()).unwrap();
    assert!(!contains(&out.bytes, secret));
    let before = image::load_from_memory(&original).unwrap();
    let after = image::load_from_memory(&out.bytes).unwrap();
    assert_eq!((after.width(), after.height()), (1600, 1200));
    assert!(before.as_bytes() == after.as_bytes(), "pixels changed");
}

#[test]
fn webp_metadata_chunks_and_flags_are_removed() {
    let mut buf = Vec::new();
    let rgba: Vec<u8> = (0..4 * 6 * 4).map(|i| (i * 7) as u8).collect();
    image::codecs::webp::WebPEncoder::new_lossless(&mut buf)
        .encode(&rgba, 4, 6, image::ExtendedColorType::Rgba8)
        .unwrap();
    let mut webp = img_parts::webp::WebP::from_bytes(Bytes::from(buf)).unwrap();
    let gps_exif = [&exif::minimal_orientation_tiff(6)[..], b"GPS-secret"].concat();
    webp.set_exif(Some(Bytes::from(gps_exif)));
    let xmp = img_parts::riff::RiffChunk::new(
        *b"XMP ",
        img_parts::riff::RiffContent::Data(Bytes::from_static(b"<x:xmpmeta>secret</x:xmpmeta>")),
    );
    webp.chunks_mut().push(xmp);
    let mut data = webp.encoder().bytes().to_vec();
    data[20] |= 0x04; // set the VP8X XMP flag to match the chunk
    image::load_from_memory(&data).expect("crafted input decodes");

    let out = ingest_vec(data).unwrap();
    assert_eq!(out.orientation, 6);
    assert_eq!((out.width, out.height), (6, 4));
    assert!(!contains(&out.bytes, b"secret"));
    let stripped = img_parts::webp::WebP::from_bytes(out.bytes.clone()).unwrap();
    assert!(!stripped.has_chunk(*b"XMP "));
    assert_eq!(
        stripped.exif().unwrap().as_ref(),
        exif::minimal_orientation_tiff(6).as_slice()
    );
    let flags = stripped
        .chunk_by_id(*b"VP8X")
        .unwrap()
        .content()
        .data()
        .unwrap()[0];
    assert_eq!(flags & 0x0C, 0x08, "EXIF flag set, XMP flag clear");
    let decoded = image::load_from_memory(&out.bytes).expect("stripped WebP decodes");
    assert_eq!(decoded.to_rgba8().into_raw(), rgba);
}

#[test]
fn tiff_orientation_is_applied_to_pixels() {
    let tiff = grey_tiff(3, 2, 6, &[0, 1, 2, 3, 4, 5]);
    let upright = image::load_from_memory(&tiff).unwrap();
    assert_eq!((upright.width(), upright.height()), (3, 2));
    let out = ingest_vec(tiff).unwrap();
    assert_eq!((out.width, out.height, out.orientation), (2, 3, 6));
    assert_eq!(metadata::orientation(ImageFormat::Tiff, &out.bytes), 1);
    let rotated = image::load_from_memory(&out.bytes).unwrap().to_luma8();
    assert_eq!(rotated.dimensions(), (2, 3));
    // A quarter turn clockwise brings the bottom-left pixel to the top-left.
    assert_eq!(rotated.get_pixel(0, 0).0, [3]);
    assert_eq!(rotated.into_raw(), [3, 0, 4, 1, 5, 2]);
}

#[test]
fn extensions_and_mime_types_round_trip() {
    for format in ImageFormat::ALL {
        assert_eq!(
            ImageFormat::from_extension(format.extension()),
            Some(format)
        );
        assert_eq!(
            ImageFormat::from_extension(&format.extension().to_uppercase()),
            Some(format)
        );
        assert!(format.mime_type().starts_with("image/"));
    }
    assert_eq!(ImageFormat::from_extension("JPEG"), Some(ImageFormat::Jpeg));
    assert_eq!(ImageFormat::from_extension("tif"), Some(ImageFormat::Tiff));
    assert_eq!(ImageFormat::from_extension("svg"), None);
}
