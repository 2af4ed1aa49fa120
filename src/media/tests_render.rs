//! Rendering behaviour beyond sizes: orientation, alpha, padding, crop,
//! enlargement, animation, metadata, ICC profiles and JPEG shrink-on-load.
//!
//! Each test decodes the output again and compares pixels or structure, so
//! a rotation the wrong way, a lost alpha channel or a leaked EXIF block
//! fails here even when the size is right.

use image::{AnimationDecoder, GenericImageView, ImageDecoder};

use super::tests::corpus;
use super::tests_transform::{
    contains, decode, limits, mean_diff, output_size, render_ok, spec, stored,
};
use super::transform::{Crop, Fit, OutputFormat, RenderSpec};
use super::*;

#[test]
fn orientation_six_renders_a_landscape_photo_as_portrait() {
    let original = corpus("photo-1920x1280.jpg");
    let entry = [0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00];
    let at = original.windows(10).position(|w| w == entry).unwrap();
    let mut rotated = original.clone();
    rotated[at + 8] = 6;
    let img = stored(rotated);
    assert_eq!((img.width, img.height, img.orientation), (1280, 1920, 6));
    let s = RenderSpec {
        width: Some(100),
        ..spec(OutputFormat::Png)
    };
    let out = render_ok(&img, &s);
    assert_eq!((out.width, out.height), (100, 150));
    let portrait = decode(&out).to_rgb8();
    assert_eq!(portrait.dimensions(), (100, 150));

    // The content must be the upright photo turned 90 degrees clockwise.
    let plain = stored(original);
    let landscape = RenderSpec {
        width: Some(150),
        ..spec(OutputFormat::Png)
    };
    let turned = decode(&render_ok(&plain, &landscape)).rotate90().to_rgb8();
    assert!(mean_diff(&portrait, &turned) < 4.0);
    let wrong_way = decode(&render_ok(&plain, &landscape)).rotate270().to_rgb8();
    assert!(mean_diff(&portrait, &wrong_way) > 10.0);
}

#[test]
fn alpha_is_kept_where_possible_and_flattened_for_jpeg() {
    let img = stored(corpus("logo.png"));
    let sized = |format| RenderSpec {
        width: Some(256),
        background: [255, 0, 0],
        quality: 95,
        ..spec(format)
    };
    let png = decode(&render_ok(&img, &sized(OutputFormat::Png))).to_rgba8();
    let webp = decode(&render_ok(&img, &sized(OutputFormat::Webp))).to_rgba8();
    assert!(png.pixels().any(|p| p[3] < 255));
    assert!(webp.pixels().any(|p| p[3] < 255));

    // A pixel deep inside a fully transparent area must become the background.
    let (w, h) = png.dimensions();
    let clear = |x: u32, y: u32| {
        (x.saturating_sub(3)..(x + 4).min(w))
            .all(|i| (y.saturating_sub(3)..(y + 4).min(h)).all(|j| png.get_pixel(i, j)[3] == 0))
    };
    let (x, y) = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .find(|&(x, y)| clear(x, y))
        .expect("logo.png has a transparent area");
    let jpeg = decode(&render_ok(&img, &sized(OutputFormat::Jpeg))).to_rgb8();
    let p = jpeg.get_pixel(x, y).0;
    assert!(p[0] > 235 && p[1] < 20 && p[2] < 20, "{p:?} at {x},{y}");
}

#[test]
fn contain_pads_with_transparency_or_the_background() {
    let img = stored(corpus("photo-2560x1600.jpg"));
    let boxed = |format| RenderSpec {
        width: Some(200),
        height: Some(200),
        fit: Fit::Contain,
        background: [0, 0, 255],
        quality: 95,
        ..spec(format)
    };
    // 200x125 content centred: rows 0..37 are padding.
    let png = decode(&render_ok(&img, &boxed(OutputFormat::Png))).to_rgba8();
    assert_eq!(png.get_pixel(100, 5)[3], 0);
    assert_eq!(png.get_pixel(100, 100)[3], 255);
    let jpeg = decode(&render_ok(&img, &boxed(OutputFormat::Jpeg))).to_rgb8();
    let p = jpeg.get_pixel(100, 5).0;
    assert!(p[2] > 235 && p[0] < 20 && p[1] < 20, "{p:?}");
}

#[test]
fn crop_selects_the_displayed_region() {
    let img = stored(corpus("avatar-400.jpg"));
    let s = RenderSpec {
        crop: Some(Crop {
            x: 0,
            y: 0,
            width: 100,
            height: 100,
        }),
        quality: 95,
        ..spec(OutputFormat::Jpeg)
    };
    let out = decode(&render_ok(&img, &s)).to_rgb8();
    assert_eq!(out.dimensions(), (100, 100));
    let source = image::load_from_memory(&img.bytes).unwrap();
    let corner = source.crop_imm(0, 0, 100, 100).to_rgb8();
    assert!(mean_diff(&out, &corner) < 3.0);
    let elsewhere = source.crop_imm(300, 300, 100, 100).to_rgb8();
    assert!(mean_diff(&out, &elsewhere) > mean_diff(&out, &corner) + 5.0);
}

#[test]
fn crops_are_scaled_with_shrink_on_load() {
    // 800 px of crop rendered at 100 px: decoded at 1/8, where the crop
    // must be mapped to 100 decoded pixels at (75, 37.5).
    let img = stored(corpus("photo-1920x1280.jpg"));
    let s = RenderSpec {
        width: Some(100),
        crop: Some(Crop {
            x: 600,
            y: 300,
            width: 800,
            height: 800,
        }),
        format: OutputFormat::Png,
        ..RenderSpec::default()
    };
    let (upright, _) = transform::decode_for(&img.bytes, img.format, &s, &limits()).unwrap();
    assert_eq!(upright.shrink, 8);
    let out = decode(&render_ok(&img, &s)).to_rgb8();
    let reference = image::load_from_memory(&img.bytes)
        .unwrap()
        .crop_imm(600, 300, 800, 800)
        .resize_exact(100, 100, image::imageops::FilterType::Lanczos3)
        .to_rgb8();
    assert!(
        mean_diff(&out, &reference) < 4.0,
        "{}",
        mean_diff(&out, &reference)
    );
}

#[test]
fn small_sources_are_not_enlarged_unless_asked() {
    let img = stored(corpus("avatar-400.jpg"));
    let mut s = RenderSpec {
        width: Some(1000),
        ..spec(OutputFormat::Jpeg)
    };
    assert_eq!(render_ok(&img, &s).width, 400);
    s.upscale = true;
    let out = render_ok(&img, &s);
    assert_eq!(decode(&out).dimensions(), (1000, 1000));
}

/// Frame count and per-frame delays of a GIF or WebP animation.
fn frames(bytes: &[u8]) -> Vec<u32> {
    let delays = |frames: image::Frames| {
        frames
            .map(|f| f.unwrap().delay().numer_denom_ms())
            .map(|(n, d)| n / d)
            .collect()
    };
    let cursor = std::io::Cursor::new(bytes);
    if bytes.starts_with(b"GIF") {
        delays(
            image::codecs::gif::GifDecoder::new(cursor)
                .unwrap()
                .into_frames(),
        )
    } else {
        let decoder = image::codecs::webp::WebPDecoder::new(cursor).unwrap();
        if !decoder.has_animation() {
            return vec![0];
        }
        delays(decoder.into_frames())
    }
}

#[test]
fn animations_keep_their_frames_and_delays_when_asked() {
    let img = stored(corpus("animated.gif"));
    let source = frames(&img.bytes);
    assert!(source.len() > 1);
    for format in [OutputFormat::Gif, OutputFormat::Webp] {
        let mut s = RenderSpec {
            width: Some(64),
            ..spec(format)
        };
        let out = render_ok(&img, &s);
        assert_eq!(output_size(&out), (64, 64));
        assert_eq!(frames(&out.bytes), source, "{format:?}");
        s.animated = false;
        assert_eq!(frames(&render_ok(&img, &s).bytes).len(), 1, "{format:?}");
    }
}

#[test]
fn outputs_carry_no_private_metadata() {
    let img = stored(corpus("exif-gps-rotated.jpg"));
    use OutputFormat::*;
    for format in [Jpeg, Png, Webp, Avif, Gif] {
        let s = RenderSpec {
            width: Some(64),
            ..spec(format)
        };
        let out = render_ok(&img, &s);
        for secret in [&b"GPS"[..], b"Canon", b"TestCam", b"Exif"] {
            assert!(!contains(&out.bytes, secret), "{format:?}");
        }
        if format == Jpeg {
            // A progressive frame header (SOF2); marker bytes cannot occur
            // inside entropy-coded data, where 0xFF is always stuffed.
            assert!(contains(&out.bytes, &[0xFF, 0xC2]));
        }
    }
}

#[test]
fn icc_profiles_survive_into_jpeg_and_png() {
    // A real profile is not needed to test that the bytes are carried over.
    let profile: Vec<u8> = (0..600u32).map(|i| (i * 7 % 251) as u8).collect();
    let source = image::load_from_memory(&corpus("avatar-400.jpg")).unwrap();
    let mut png = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
    image::ImageEncoder::set_icc_profile(&mut encoder, profile.clone()).unwrap();
    source.write_with_encoder(encoder).unwrap();
    let img = stored(png);
    for format in [OutputFormat::Jpeg, OutputFormat::Png] {
        let out = render_ok(
            &img,
            &RenderSpec {
                width: Some(64),
                ..spec(format)
            },
        );
        let icc = if format == OutputFormat::Jpeg {
            let mut d = jpeg_decoder::Decoder::new(&out.bytes[..]);
            d.decode().unwrap();
            d.icc_profile()
        } else {
            let mut d =
                image::codecs::png::PngDecoder::new(std::io::Cursor::new(&out.bytes)).unwrap();
            d.icc_profile().unwrap()
        };
        assert_eq!(icc.as_deref(), Some(&profile[..]), "{format:?}");
    }
}

#[test]
fn large_jpegs_are_shrunk_while_decoding() {
    let img = stored(corpus("photo-3840x2160.jpg"));
    let thumb = RenderSpec {
        width: Some(256),
        ..RenderSpec::default()
    };
    let (upright, _) = transform::decode_for(&img.bytes, img.format, &thumb, &limits()).unwrap();
    assert_eq!(upright.shrink, 8);
    assert_eq!(upright.pixels.width, 480);
    // A crop needs more of its pixels: 256 out of 512 allows only 1/2.
    let cropped = RenderSpec {
        crop: Some(Crop {
            x: 0,
            y: 0,
            width: 512,
            height: 512,
        }),
        ..thumb.clone()
    };
    let (upright, _) = transform::decode_for(&img.bytes, img.format, &cropped, &limits()).unwrap();
    assert_eq!(upright.shrink, 2);
    // A full-size rendition decodes at full size.
    let full = RenderSpec::default();
    let (upright, _) = transform::decode_for(&img.bytes, img.format, &full, &limits()).unwrap();
    assert_eq!((upright.shrink, upright.pixels.width), (1, 3840));
    assert_eq!(source::shrink_for(0.1), 8);
    assert_eq!(source::shrink_for(0.125), 8);
    assert_eq!(source::shrink_for(0.13), 4);
    assert_eq!(source::shrink_for(0.6), 1);
}

/// Loop count of a GIF or WebP animation as the `image` decoders read it;
/// `None` is forever.
fn loops(bytes: &[u8]) -> Option<u32> {
    let cursor = std::io::Cursor::new(bytes);
    let count = if bytes.starts_with(b"GIF") {
        image::codecs::gif::GifDecoder::new(cursor)
            .unwrap()
            .loop_count()
    } else {
        image::codecs::webp::WebPDecoder::new(cursor)
            .unwrap()
            .loop_count()
    };
    match count {
        image::metadata::LoopCount::Infinite => None,
        image::metadata::LoopCount::Finite(n) => Some(n.get()),
    }
}

#[test]
fn uneven_delays_and_finite_loops_survive() {
    use image::codecs::gif::{GifEncoder, Repeat};
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        encoder.set_repeat(Repeat::Finite(3)).unwrap();
        for (i, ms) in [100u32, 200, 300].into_iter().enumerate() {
            let colour = image::Rgba([i as u8 * 80, 0, 0, 255]);
            let buffer = image::RgbaImage::from_pixel(32, 32, colour);
            let delay = image::Delay::from_numer_denom_ms(ms, 1);
            let frame = image::Frame::from_parts(buffer, 0, 0, delay);
            encoder.encode_frame(frame).unwrap();
        }
    }
    let img = stored(gif);
    let three = Some(3);
    assert_eq!(loops(&img.bytes), three);
    for format in [OutputFormat::Gif, OutputFormat::Webp] {
        let s = RenderSpec {
            width: Some(16),
            ..spec(format)
        };
        let out = render_ok(&img, &s);
        assert_eq!(frames(&out.bytes), [100, 200, 300], "{format:?}");
        assert_eq!(loops(&out.bytes), three, "{format:?}");
    }
}
