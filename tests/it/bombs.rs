//! Decode bombs: inputs that are small on the wire but would cost seconds of CPU, hundreds
//! of megabytes of memory, or a thousand times their size in storage, and animation data
//! that nothing decodes. Each is built here, kept small, and run against a low limit flag
//! where the default would need a large input; each must be refused with a 4xx before the
//! work is done (or, for APNG, stored without the part nothing proved).

use std::io::Cursor;

use image::ImageEncoder;
use serde_json::Value;

use crate::harness::{TestServer, assert_error_shape, crc32, pixels};

/// A progressive JPEG of a colour gradient from jpeg-encoder, which writes one DC scan and
/// `scans_per_component - 1` AC scans for each of the three components (quality 90 keeps
/// the chroma at full resolution).
fn progressive_jpeg(width: u16, height: u16, scans_per_component: u8) -> Vec<u8> {
    let rgb: Vec<u8> = (0..u32::from(height))
        .flat_map(|y| (0..u32::from(width)).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, 90]))
        .collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_progressive_scans(scans_per_component);
    encoder
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// Asserts a 422 IMAGE_LIMIT_EXCEEDED whose message mentions `words`.
fn assert_limit(status: u16, body: &Value, words: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(assert_error_shape(body), "INVALID_DATA");
    assert_eq!(body["details"][0]["code"], "IMAGE_LIMIT_EXCEEDED", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{words:?} not in {body}");
}

#[tokio::test]
async fn jpegs_with_more_scans_than_the_limit_are_refused_before_decoding() {
    let server = TestServer::start().await;
    // 3 DC scans and 63 AC scans per component: 192 scans of a small image.
    let (status, body) = server
        .upload(progressive_jpeg(64, 48, 64), "image/jpeg")
        .await;
    assert_limit(status, &body, "scans");
    // An ordinary progressive JPEG (12 scans) passes the default limit...
    let ordinary = progressive_jpeg(64, 48, 4);
    let (status, body) = server.upload(ordinary.clone(), "image/jpeg").await;
    assert_eq!(status, 201, "{body}");

    // ...and not a lower one, while a baseline JPEG (one scan) still does.
    let strict = TestServer::start_with(&["--max-jpeg-scans", "8"]).await;
    let (status, body) = strict.upload(ordinary, "image/jpeg").await;
    assert_limit(status, &body, "scans");
    strict.upload_ok("avatar-400.jpg").await;
    assert_eq!(
        strict.blob_keys().await.len(),
        1,
        "a refused JPEG was stored"
    );
}

#[tokio::test]
async fn the_scans_of_a_jpeg_cannot_read_more_than_sixteen_samples_a_pixel() {
    // 60 scans (3 DC, 57 AC of one component each) over a 64 × 48 image read 60 samples a
    // pixel: under the scan limit, but 3.75 × the budget of an image this size when the
    // pixel limit is its own size. With the default pixel limit it is small enough.
    let jpeg = progressive_jpeg(64, 48, 20);
    let tight = TestServer::start_with(&["--max-pixels", "3072"]).await;
    let (status, body) = tight.upload(jpeg.clone(), "image/jpeg").await;
    assert_limit(status, &body, "scans");
    assert!(tight.blob_keys().await.is_empty());
    let roomy = TestServer::start().await;
    let (status, body) = roomy.upload(jpeg, "image/jpeg").await;
    assert_eq!(status, 201, "{body}");
}

/// A deflate-compressed RGB TIFF of `width` × `height`, almost one colour.
fn deflate_tiff(width: u32, height: u32) -> Vec<u8> {
    use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype::RGB8};
    let rgb: Vec<u8> = (0..width * height)
        .flat_map(|i| {
            if i % 997 == 0 {
                [200, 10, 10]
            } else {
                [20, 120, 220]
            }
        })
        .collect();
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Deflate(DeflateLevel::Best))
        .write_image::<RGB8>(width, height, &rgb)
        .unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_compressed_tiff_is_stored_compressed() {
    let server = TestServer::start().await;
    let upload = deflate_tiff(1500, 1000);
    assert!(upload.len() < 100_000, "{} bytes", upload.len());
    let (status, body) = server.upload(upload.clone(), "image/tiff").await;
    assert_eq!(status, 201, "{body}");
    // Uncompressed, these pixels are 4.5 MB.
    let stored = body["size"].as_u64().unwrap();
    assert!(
        stored <= 2 * upload.len() as u64,
        "{} bytes uploaded, {stored} stored",
        upload.len()
    );
    let (status, served) = server
        .get_bytes(body["targets"]["original"]["href"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    assert_eq!(served.len() as u64, stored);
    assert_eq!(pixels(&served), pixels(&upload), "the pixels changed");
}

/// A PNG chunk: length, type, data, CRC of type and data.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let typed = [&kind[..], data].concat();
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    out
}

/// A frame control chunk's data for a `width` × `height` frame at the origin.
fn fctl(sequence: u32, width: u32, height: u32) -> Vec<u8> {
    let mut data = sequence.to_be_bytes().to_vec();
    for value in [width, height, 0, 0] {
        data.extend_from_slice(&value.to_be_bytes());
    }
    data.extend_from_slice(&[0, 1, 0, 100, 0, 0]);
    data
}

#[tokio::test]
async fn apng_frames_nothing_decoded_are_not_stored_or_served() {
    let mut still = Vec::new();
    image::codecs::png::PngEncoder::new(&mut still)
        .write_image(
            &[255, 0, 0, 0, 0, 255],
            2,
            1,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    // acTL claims 10,000 frames; the only other frame's data is an HTML payload.
    let mut actl = 10_000u32.to_be_bytes().to_vec();
    actl.extend_from_slice(&0u32.to_be_bytes());
    let after_ihdr = 8 + 25;
    let iend = still.len() - 12;
    let payload = b"\0\0\0\x02<script>alert(document.cookie)</script>";
    let apng = [
        &still[..after_ihdr],
        &chunk(b"acTL", &actl),
        &chunk(b"fcTL", &fctl(0, 2, 1)),
        &still[after_ihdr..iend],
        &chunk(b"fcTL", &fctl(1, 2, 1)),
        &chunk(b"fdAT", payload),
        &still[iend..],
    ]
    .concat();

    let server = TestServer::start_with(&["--max-frames", "2"]).await;
    let (status, body) = server.upload(apng, "image/png").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["frames"], 1, "{body}");
    let (_, served) = server
        .get_bytes(body["targets"]["original"]["href"].as_str().unwrap())
        .await;
    for needle in [&b"<script>"[..], b"fdAT", b"fcTL", b"acTL"] {
        assert!(
            !served.windows(needle.len()).any(|w| w == needle),
            "{} survived in the stored bytes",
            String::from_utf8_lossy(needle)
        );
    }
    assert_eq!(pixels(&served), pixels(&still));
}

/// A GIF whose logical screen is `width` × `height`, holding one 1 × 1 frame.
fn gif_with_screen(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
    gif.extend_from_slice(&[2, 2, 0x44, 0x01, 0, 0x3B]);
    gif
}

/// An 8-bit RLE BMP of `width` × `height` whose data is one end-of-bitmap code: every
/// pixel it leaves out still has to be allocated by the decoder.
fn rle_bmp(width: i32, height: i32) -> Vec<u8> {
    let palette = [0u8, 0, 0, 0, 255, 255, 255, 0];
    let rle = [0u8, 1];
    let offset = 14 + 40 + palette.len() as u32;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&(offset + rle.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&offset.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&width.to_le_bytes());
    bmp.extend_from_slice(&height.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&8u16.to_le_bytes());
    bmp.extend_from_slice(&1u32.to_le_bytes()); // BI_RLE8
    bmp.extend_from_slice(&(rle.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 8]);
    bmp.extend_from_slice(&2u32.to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&palette);
    bmp.extend_from_slice(&rle);
    bmp
}

/// A PNG of `width` × `height` in `colour`, a smooth gradient that compresses well.
fn png(width: u32, height: u32, colour: image::ExtendedColorType) -> Vec<u8> {
    let len = (width * height) as usize * usize::from(colour.bits_per_pixel() / 8);
    let data: Vec<u8> = (0..len).map(|i| (i / 4096) as u8).collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&data, width, height, colour)
        .unwrap();
    out
}

#[tokio::test]
async fn decoded_memory_is_bounded_from_the_header() {
    use image::ExtendedColorType::{Rgba8, Rgba16};
    let server = TestServer::start_with(&["--max-decode-bytes", "1000000"]).await;
    // 400 × 400 RGBA is 640,000 bytes at 8 bits a sample, 1,280,000 at 16.
    let (status, body) = server.upload(png(400, 400, Rgba16), "image/png").await;
    assert_limit(status, &body, "max-decode-bytes");
    let (status, body) = server.upload(png(400, 400, Rgba8), "image/png").await;
    assert_eq!(status, 201, "{body}");
    // A 600 × 600 screen is 1,440,000 bytes of RGBA canvas, whatever its frames hold.
    let gif = gif_with_screen(600, 600);
    assert!(gif.len() < 50);
    let (status, body) = server.upload(gif, "image/gif").await;
    assert_limit(status, &body, "max-decode-bytes");
    // So is a 600 × 600 RLE bitmap that encodes no pixel at all.
    let bmp = rle_bmp(600, 600);
    let (status, body) = server.upload(bmp, "image/bmp").await;
    assert_limit(status, &body, "max-decode-bytes");
    assert_eq!(
        server.blob_keys().await.len(),
        1,
        "a refused image was stored"
    );
    // Under the default budget, a kilobyte of RLE may still not claim 36 MP (108 MB).
    let roomy = TestServer::start().await;
    let (status, body) = roomy.upload(rle_bmp(6000, 6000), "image/bmp").await;
    assert_limit(status, &body, "run-length");
    // The corpus photos fit the default budget.
    roomy.upload_ok("photo-3840x2160.jpg").await;
    roomy.upload_ok("avatar.tiff").await;
}

/// A little-endian TIFF of `width` × `height` RGB whose one strip is `jpeg`, compressed
/// with JPEG (compression 7), written by hand because no encoder at hand writes JPEG TIFFs.
fn jpeg_tiff(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    let fields: [(u16, u16, u32, u32); 10] = [
        (256, SHORT, 1, u32::from(width)),
        (257, SHORT, 1, u32::from(height)),
        (258, SHORT, 3, 8 + 2 + 12 * 10 + 4),
        (259, SHORT, 1, 7),
        (262, SHORT, 1, 2),
        (273, LONG, 1, 8 + 2 + 12 * 10 + 4 + 6),
        (277, SHORT, 1, 3),
        (278, SHORT, 1, u32::from(height)),
        (279, LONG, 1, jpeg.len() as u32),
        (284, SHORT, 1, 1),
    ];
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&(fields.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in fields {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value.to_le_bytes());
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&[8, 0, 8, 0, 8, 0]);
    tiff.extend_from_slice(jpeg);
    tiff
}

#[tokio::test]
async fn the_jpeg_strips_of_a_tiff_meet_the_limits_of_a_jpeg() {
    let server = TestServer::start().await;
    // The 192 scans a JPEG upload is refused for, as the strip of a TIFF.
    let bomb = jpeg_tiff(&progressive_jpeg(64, 48, 64), 64, 48);
    let (status, body) = server.upload(bomb, "image/tiff").await;
    assert_limit(status, &body, "scans");
    assert!(
        server.blob_keys().await.is_empty(),
        "a refused TIFF was stored"
    );
    // An ordinary progressive strip passes, and is stored as a TIFF.
    let ordinary = jpeg_tiff(&progressive_jpeg(64, 48, 4), 64, 48);
    let (status, body) = server.upload(ordinary, "image/tiff").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["targets"]["original"]["type"], "tiff", "{body}");
    assert_eq!(body["targets"]["original"]["width"], 64, "{body}");
}
