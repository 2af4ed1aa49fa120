//! Decode bombs at the sizes they were found at, under the default limits: each is
//! refused from its header (no pixel is decoded, so the tests stay fast), and the
//! renditions of stored originals are held to the same budgets as uploads.

use bytes::Bytes;
use img_parts::png::PngChunk;

use super::jpeg_scans::tests::progressive;
use super::tests::{corpus, grey_tiff};
use super::transform::{RenderLimits, RenderSpec, render_within};
use super::*;

fn refused_for(result: Result<Header, MediaError>, name: &str) {
    match result {
        Err(MediaError::LimitExceeded { limit, .. }) if limit == name => {}
        other => panic!("expected {name}, got {other:?}"),
    }
}

/// A PNG signature, an IHDR of `width` x `height` at `depth` bits in colour type
/// `colour`, the `extra` chunks, and an empty IDAT and IEND: a header, no pixels.
fn png_header(
    width: u32,
    height: u32,
    depth: u8,
    colour: u8,
    extra: &[(&[u8; 4], &[u8])],
) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunks = [(b"IHDR", &ihdr[..])]
        .into_iter()
        .chain(extra.iter().copied());
    for (kind, data) in chunks.chain([(b"IDAT", &[][..]), (b"IEND", &[][..])]) {
        let chunk = PngChunk::new(*kind, Bytes::copy_from_slice(data));
        out.extend_from_slice(&chunk.encoder().bytes());
    }
    out
}

#[test]
fn png_samples_are_counted_at_their_depth_with_alpha() {
    let limits = MediaLimits::default();
    // 6000 x 6000 RGBA at 16 bits is 288 MB; at 8 bits RGB, 108 MB.
    refused_for(
        sniff::read_header(&png_header(6000, 6000, 16, 6, &[]), &limits),
        "max_decode_bytes",
    );
    sniff::read_header(&png_header(6000, 6000, 8, 2, &[]), &limits).unwrap();
    // A tRNS chunk becomes an alpha channel: 144 MB.
    let trns: &[(&[u8; 4], &[u8])] = &[(b"tRNS", &[0, 0, 0, 0, 0, 0])];
    refused_for(
        sniff::read_header(&png_header(6000, 6000, 8, 2, trns), &limits),
        "max_decode_bytes",
    );
    // A palette expands to RGB, and to RGBA with tRNS.
    let palette: &[(&[u8; 4], &[u8])] = &[(b"PLTE", &[0, 0, 0]), (b"tRNS", &[0])];
    sniff::read_header(&png_header(6000, 6000, 1, 3, &palette[..1]), &limits).unwrap();
    refused_for(
        sniff::read_header(&png_header(6000, 6000, 1, 3, palette), &limits),
        "max_decode_bytes",
    );
}

#[test]
fn a_gif_is_costed_by_its_screen_whatever_its_frames_hold() {
    let limits = MediaLimits::default();
    // 154 bytes on the wire, a 6000 x 6000 RGBA canvas (144 MB) to decode.
    refused_for(
        sniff::read_header(&gif::tiny_gif(6000, 6000, 1, &[]), &limits),
        "max_decode_bytes",
    );
    sniff::read_header(&gif::tiny_gif(5000, 5000, 1, &[]), &limits).unwrap();
    // An animation holds its canvas twice: the one frames are composed on, and the copy
    // handed out.
    refused_for(
        sniff::read_header(&gif::tiny_gif(5000, 5000, 2, &[]), &limits),
        "max_decode_bytes",
    );
}

/// An 8-bit RLE BMP header of `width` x `height` followed by `rle` as its data.
fn rle_bmp(width: i32, height: i32, rle: &[u8]) -> Vec<u8> {
    let mut bmp = b"BM\0\0\0\0\0\0\0\0\x3e\0\0\0\x28\0\0\0".to_vec();
    bmp.extend_from_slice(&width.to_le_bytes());
    bmp.extend_from_slice(&height.to_le_bytes());
    bmp.extend_from_slice(&[1, 0, 8, 0, 1, 0, 0, 0]);
    bmp.extend_from_slice(&[0; 12]);
    bmp.extend_from_slice(&2u32.to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0]);
    bmp.extend_from_slice(rle);
    bmp
}

#[test]
fn an_rle_bitmap_cannot_declare_pixels_its_data_could_not_hold() {
    let limits = MediaLimits::default();
    // A kilobyte of "skip to the end" claiming 36 MP (108 MB of RGB).
    let mut skips = vec![0u8; 1000];
    skips.extend_from_slice(&[0, 1]);
    refused_for(
        sniff::read_header(&rle_bmp(6000, 6000, &skips), &limits),
        "max_decode_bytes",
    );
    // A bitmap its runs describe: a run of 30 pixels and an end of line per row.
    let mut runs: Vec<u8> = (0..30).flat_map(|_| [30, 1, 0, 0]).collect();
    runs.extend_from_slice(&[0, 1]);
    let small = rle_bmp(30, 30, &runs);
    sniff::read_header(&small, &limits).unwrap();
    assert!(ingest(Bytes::from(small), &limits).is_ok());
}

/// A deflate-compressed RGB TIFF of `width` x `height`, almost one colour.
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
    let mut out = std::io::Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Deflate(DeflateLevel::Balanced))
        .write_image::<RGB8>(width, height, &rgb)
        .unwrap();
    out.into_inner()
}

#[test]
fn a_tiff_is_stored_compressed_and_no_larger_than_the_upload_limit() {
    let upload = deflate_tiff(1500, 1000);
    let out = ingest(Bytes::from(upload.clone()), &MediaLimits::default()).unwrap();
    // Uncompressed these pixels are 4.5 MB.
    assert!(
        out.bytes.len() <= 2 * upload.len(),
        "{} from {}",
        out.bytes.len(),
        upload.len()
    );
    let stored = image::load_from_memory(&out.bytes).unwrap();
    let sent = image::load_from_memory(&upload).unwrap();
    assert_eq!(stored.to_rgb8(), sent.to_rgb8());

    // Noise does not compress: its re-encoding is refused past the stored-size limit.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..64 * 64)
        .map(|_| {
            // xorshift64*: bytes that deflate cannot shrink.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect();
    let tiff = grey_tiff(64, 64, 1, &noise);
    let tight = MediaLimits {
        max_stored_bytes: 2000,
        ..MediaLimits::default()
    };
    match ingest(Bytes::from(tiff.clone()), &tight) {
        Err(MediaError::LimitExceeded {
            limit: "max_stored_bytes",
            ..
        }) => {}
        other => panic!("expected max_stored_bytes, got {other:?}"),
    }
    assert!(ingest(Bytes::from(tiff), &MediaLimits::default()).is_ok());
}

#[test]
fn renditions_of_stored_originals_are_held_to_the_decode_budget() {
    // An original stored before the budget existed: uncompressed, 2 MB of grey pixels.
    let pixels: Vec<u8> = (0u32..2000 * 1000).map(|i| (i % 255) as u8).collect();
    let tiff = grey_tiff(2000, 1000, 1, &pixels);
    let thumbnail = RenderSpec {
        width: Some(64),
        ..RenderSpec::default()
    };
    let limits = RenderLimits::default();
    let tight = MediaLimits {
        max_decode_bytes: 1_000_000,
        ..MediaLimits::default()
    };
    match render_within(&tiff, ImageFormat::Tiff, &thumbnail, &limits, &tight) {
        Err(MediaError::LimitExceeded {
            limit: "max_decode_bytes",
            ..
        }) => {}
        other => panic!(
            "expected max_decode_bytes, got {:?}",
            other.map(|r| r.width)
        ),
    }
    // The decoder also holds the file's one uncompressed strip beside the pixels.
    let roomy = MediaLimits {
        max_decode_bytes: 5_000_000,
        ..MediaLimits::default()
    };
    let rendered = render_within(&tiff, ImageFormat::Tiff, &thumbnail, &limits, &roomy).unwrap();
    assert_eq!((rendered.width, rendered.height), (64, 32));
}

#[test]
fn renditions_refuse_jpegs_with_too_many_scans() {
    let spec = RenderSpec {
        width: Some(32),
        ..RenderSpec::default()
    };
    let limits = RenderLimits::default();
    let media = MediaLimits::default();
    // 3 x 64 scans.
    let bomb = progressive(64, 48, 64);
    match render_within(&bomb, ImageFormat::Jpeg, &spec, &limits, &media) {
        Err(MediaError::LimitExceeded {
            limit: "max_jpeg_scans",
            ..
        }) => {}
        other => panic!("expected max_jpeg_scans, got {:?}", other.map(|r| r.width)),
    }
    // The photos of the corpus render as before.
    let photo = corpus("photo-1920x1280.jpg");
    render_within(&photo, ImageFormat::Jpeg, &spec, &limits, &media).unwrap();
}

#[test]
fn the_scans_of_a_jpeg_may_read_at_most_sixteen_samples_a_pixel() {
    // 3 x 20 scans, each of one 64 x 48 component: 60 samples read per pixel.
    let jpeg = progressive(64, 48, 20);
    let own_size = MediaLimits {
        max_pixels: 64 * 48,
        ..MediaLimits::default()
    };
    refused_for(
        sniff::read_header(&jpeg, &own_size),
        "max_jpeg_scan_samples",
    );
    // 16 samples a pixel of a frame 3.75 times this size is enough.
    let enough = MediaLimits {
        max_pixels: 64 * 48 * 60 / 16,
        ..MediaLimits::default()
    };
    sniff::read_header(&jpeg, &enough).unwrap();
}
