//! Sizes and spec validation of [`transform::render`] and [`transform::plan`],
//! on the stored (ingested) form of every corpus file and as properties of
//! the layout arithmetic over random sources and specs.
//!
//! Outputs are checked by decoding them again (AVIF, which the `image`
//! build here cannot decode, by its container's `ispe` size box), so a test
//! fails on a wrong format or a size that differs from the plan. The shared
//! helpers here are also used by `tests_render`.

use bytes::Bytes;
use image::{DynamicImage, GenericImageView};
use proptest::prelude::*;

use super::tests::corpus;
use super::transform::{Crop, Fit, OutputFormat, RenderLimits, RenderSpec, Rendered, plan, render};
use super::*;

pub(super) const CORPUS_FILES: [&str; 10] = [
    "animated.gif",
    "avatar-400.jpg",
    "avatar.gif",
    "avatar.tiff",
    "exif-gps-rotated.jpg",
    "logo.png",
    "photo-1920x1280.jpg",
    "photo-2560x1600.jpg",
    "photo-3840x2160.jpg",
    "wallpaper.webp",
];

pub(super) fn stored(data: Vec<u8>) -> Ingested {
    ingest(Bytes::from(data), &MediaLimits::default()).unwrap()
}

pub(super) fn spec(format: OutputFormat) -> RenderSpec {
    RenderSpec {
        format,
        ..RenderSpec::default()
    }
}

pub(super) fn limits() -> RenderLimits {
    RenderLimits::default()
}

pub(super) fn render_ok(img: &Ingested, spec: &RenderSpec) -> Rendered {
    render(&img.bytes, img.format, spec, &limits()).unwrap_or_else(|e| panic!("{spec:?}: {e}"))
}

/// Decodes an output, checking its signature first.
pub(super) fn decode(out: &Rendered) -> DynamicImage {
    let format = match out.format {
        OutputFormat::Jpeg => image::ImageFormat::Jpeg,
        OutputFormat::Png => image::ImageFormat::Png,
        OutputFormat::Webp => image::ImageFormat::WebP,
        OutputFormat::Gif => image::ImageFormat::Gif,
        OutputFormat::Avif => panic!("AVIF is checked with avif_size"),
    };
    assert_eq!(image::guess_format(&out.bytes).unwrap(), format);
    image::load_from_memory_with_format(&out.bytes, format).unwrap()
}

/// The size in an AVIF's image spatial extents box, after checking the
/// file type box names the AVIF brand.
pub(super) fn avif_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[4..12], b"ftypavif");
    let at = bytes
        .windows(4)
        .position(|w| w == b"ispe")
        .expect("no ispe box");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(at + 8), be(at + 12))
}

pub(super) fn output_size(out: &Rendered) -> (u32, u32) {
    match out.format {
        OutputFormat::Avif => avif_size(&out.bytes),
        _ => decode(out).dimensions(),
    }
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Mean absolute difference per channel of two equally sized RGB images.
pub(super) fn mean_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn every_corpus_file_renders_in_every_format_at_the_planned_size() {
    use OutputFormat::*;
    for name in CORPUS_FILES {
        let img = stored(corpus(name));
        let mut formats = vec![Jpeg, Png, Webp, Avif];
        if matches!(name, "animated.gif" | "avatar.gif" | "logo.png") {
            formats.push(Gif);
        }
        for format in formats {
            // AVIF encoding is the slow one; a smaller box keeps this quick.
            let width = if format == Avif { 96 } else { 256 };
            let s = RenderSpec {
                width: Some(width),
                ..spec(format)
            };
            let planned = plan(img.width, img.height, &s, &limits()).unwrap();
            let out = render_ok(&img, &s);
            assert_eq!(out.format, format);
            assert_eq!((out.width, out.height), planned, "{name} {format:?}");
            assert_eq!(output_size(&out), planned, "{name} {format:?}");
            assert_eq!(planned.0, width.min(img.width), "{name}");
        }
    }
}

#[test]
fn fits_on_a_200_box_give_the_expected_sizes() {
    // (file, Inside, Cover/Contain/Fill); sources under 200 px are never
    // enlarged, so for them the box shrinks to the source.
    let cases = [
        ("animated.gif", (128, 128), (128, 128)),
        ("avatar-400.jpg", (200, 200), (200, 200)),
        ("avatar.gif", (200, 200), (200, 200)),
        ("avatar.tiff", (200, 200), (200, 200)),
        ("exif-gps-rotated.jpg", (200, 200), (200, 200)),
        ("logo.png", (200, 150), (200, 200)),
        ("photo-1920x1280.jpg", (200, 133), (200, 200)),
        ("photo-2560x1600.jpg", (200, 125), (200, 200)),
        ("photo-3840x2160.jpg", (200, 113), (200, 200)),
        ("wallpaper.webp", (200, 200), (200, 200)),
    ];
    for (name, inside, boxed) in cases {
        let img = stored(corpus(name));
        for (i, fit) in [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill]
            .into_iter()
            .enumerate()
        {
            let format = [OutputFormat::Jpeg, OutputFormat::Png][i % 2];
            let s = RenderSpec {
                width: Some(200),
                height: Some(200),
                fit,
                ..spec(format)
            };
            let expected = if fit == Fit::Inside { inside } else { boxed };
            assert_eq!(plan(img.width, img.height, &s, &limits()), Ok(expected));
            let out = render_ok(&img, &s);
            assert_eq!(decode(&out).dimensions(), expected, "{name} {fit:?}");
        }
    }
}

#[test]
fn one_bound_keeps_the_aspect_ratio_whatever_the_fit() {
    for fit in [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill] {
        let s = RenderSpec {
            height: Some(100),
            fit,
            ..spec(OutputFormat::Jpeg)
        };
        assert_eq!(plan(1920, 1280, &s, &limits()), Ok((150, 100)));
    }
}

#[test]
fn bad_specs_are_refused_naming_the_parameter() {
    let img = stored(corpus("avatar-400.jpg"));
    let crop = |x, y, width, height| {
        Some(Crop {
            x,
            y,
            width,
            height,
        })
    };
    let cases = [
        (
            RenderSpec {
                crop: crop(300, 0, 101, 10),
                ..RenderSpec::default()
            },
            "crop",
        ),
        (
            RenderSpec {
                crop: crop(0, 0, 0, 10),
                ..RenderSpec::default()
            },
            "crop",
        ),
        (
            RenderSpec {
                crop: crop(u32::MAX, 0, 2, 10),
                ..RenderSpec::default()
            },
            "crop",
        ),
        (
            RenderSpec {
                width: Some(0),
                ..RenderSpec::default()
            },
            "w",
        ),
        (
            RenderSpec {
                height: Some(0),
                ..RenderSpec::default()
            },
            "h",
        ),
        (
            RenderSpec {
                quality: 0,
                ..RenderSpec::default()
            },
            "q",
        ),
        (
            RenderSpec {
                quality: 101,
                ..RenderSpec::default()
            },
            "q",
        ),
    ];
    for (s, param) in cases {
        for result in [
            plan(400, 400, &s, &limits()).map(|_| ()),
            render(&img.bytes, img.format, &s, &limits()).map(|_| ()),
        ] {
            match result {
                Err(MediaError::Malformed(m)) => {
                    assert!(m.starts_with(&format!("{param}: ")), "{m}")
                }
                other => panic!("{s:?}: {other:?}"),
            }
        }
    }
    let huge = RenderSpec {
        width: Some(5000),
        upscale: true,
        ..RenderSpec::default()
    };
    let too_big = |r: Result<(), MediaError>| {
        matches!(
            r,
            Err(MediaError::LimitExceeded {
                limit: "max_output_side",
                ..
            })
        )
    };
    assert!(too_big(plan(400, 400, &huge, &limits()).map(|_| ())));
    assert!(too_big(
        render(&img.bytes, img.format, &huge, &limits()).map(|_| ())
    ));
    // WebP's own ceiling applies even under a generous configured limit.
    let wide = RenderSpec {
        width: Some(20_000),
        upscale: true,
        format: OutputFormat::Webp,
        ..RenderSpec::default()
    };
    let generous = RenderLimits {
        max_output_side: 30_000,
    };
    assert!(too_big(plan(400, 400, &wide, &generous).map(|_| ())));
}

#[test]
fn output_format_names() {
    assert_eq!(OutputFormat::from_name("JPEG"), Some(OutputFormat::Jpeg));
    assert_eq!(OutputFormat::from_name("Avif"), Some(OutputFormat::Avif));
    assert_eq!(OutputFormat::from_name(".png"), None);
    assert_eq!(OutputFormat::of(ImageFormat::Tiff), OutputFormat::Png);
    assert_eq!(OutputFormat::of(ImageFormat::Bmp), OutputFormat::Png);
    assert_eq!(OutputFormat::of(ImageFormat::Gif), OutputFormat::Gif);
    assert_eq!(OutputFormat::Jpeg.extension(), "jpg");
    assert_eq!(OutputFormat::Avif.mime_type(), "image/avif");
    assert!(!OutputFormat::Jpeg.has_alpha() && OutputFormat::Gif.has_alpha());
}

fn fit_strategy() -> impl Strategy<Value = Fit> {
    prop_oneof![
        Just(Fit::Inside),
        Just(Fit::Cover),
        Just(Fit::Contain),
        Just(Fit::Fill)
    ]
}

proptest! {
    /// Whatever the spec, a layout samples inside the crop, fits its
    /// canvas, honours the box and, without upscale, never enlarges.
    #[test]
    fn layouts_are_consistent(
        (sw, sh) in (1u32..6000, 1u32..6000),
        w in proptest::option::of(1u32..3000),
        h in proptest::option::of(1u32..3000),
        fit in fit_strategy(),
        upscale in any::<bool>(),
        crop in proptest::option::of((0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0)),
    ) {
        // A crop inside the source, from fractions of its size.
        let crop = crop.map(|(fx, fy, fw, fh)| {
            let x = (f64::from(sw - 1) * fx) as u32;
            let y = (f64::from(sh - 1) * fy) as u32;
            let width = 1 + (f64::from(sw - x - 1) * fw) as u32;
            let height = 1 + (f64::from(sh - y - 1) * fh) as u32;
            Crop { x, y, width, height }
        });
        let s = RenderSpec { width: w, height: h, fit, crop, upscale, ..RenderSpec::default() };
        let (cx, cy, cw, ch) = crop.map_or((0, 0, sw, sh), |c| (c.x, c.y, c.width, c.height));
        let layout = match transform::geometry::layout(sw, sh, &s, &limits()) {
            Ok(l) => l,
            Err(MediaError::LimitExceeded { limit: "max_output_side", .. }) => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        prop_assert_eq!(plan(sw, sh, &s, &limits()), Ok(layout.canvas));
        let (ow, oh) = layout.canvas;
        let (dw, dh) = layout.scaled;
        prop_assert!(dw >= 1 && dh >= 1);
        prop_assert!(layout.offset.0 + dw <= ow && layout.offset.1 + dh <= oh);
        let r = layout.region;
        let eps = 1e-6;
        prop_assert!(r.width > 0.0 && r.height > 0.0);
        prop_assert!(r.x >= f64::from(cx) - eps && r.y >= f64::from(cy) - eps);
        prop_assert!(r.x + r.width <= f64::from(cx + cw) + eps);
        prop_assert!(r.y + r.height <= f64::from(cy + ch) + eps);
        if !upscale {
            prop_assert!(ow <= cw && oh <= ch, "{:?} from {}x{}", layout, cw, ch);
            prop_assert!(layout.reduction() <= 1.0 + eps);
        }
        if let (Some(bw), Some(bh)) = (w, h) {
            prop_assert!(ow <= bw && oh <= bh);
            if upscale && fit != Fit::Inside {
                prop_assert_eq!((ow, oh), (bw, bh));
            }
        }
        if fit == Fit::Inside || fit == Fit::Contain || w.is_none() || h.is_none() {
            // The aspect ratio survives up to rounding of each side.
            let skew = (f64::from(dw) * f64::from(ch) - f64::from(dh) * f64::from(cw)).abs();
            prop_assert!(skew <= f64::from(cw + ch), "{:?} from {}x{}", layout, cw, ch);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Damaged stored bytes make render and placeholder fail cleanly, never
    /// panic, whichever decoder (jpeg-decoder, libwebp, image) meets them.
    #[test]
    fn damaged_sources_never_panic(
        seed in 0usize..5,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let names = ["avatar-400.jpg", "exif-gps-rotated.jpg", "animated.gif", "logo.png"];
        let img = match names.get(seed) {
            Some(name) => stored(corpus(name)),
            // The corpus WebP is too big to fuzz quickly; make a small one.
            None => {
                let avatar = stored(corpus("avatar-400.jpg"));
                let small = RenderSpec { width: Some(64), ..spec(OutputFormat::Webp) };
                stored(render_ok(&avatar, &small).bytes.to_vec())
            }
        };
        let mut data = img.bytes.to_vec();
        for (at, value) in flips {
            let i = at.index(data.len());
            data[i] ^= value;
        }
        if truncate {
            data.truncate(cut.index(data.len()));
        }
        let s = RenderSpec { width: Some(48), format: OutputFormat::Gif, ..RenderSpec::default() };
        let _ = render(&data, img.format, &s, &limits());
        let _ = super::placeholder::placeholder(&data, img.format);
    }
}
