//! Criterion micro-benchmarks of the media pipeline (`imagestore::media`), the CPU work
//! behind every upload and every cold rendition, measured without HTTP, storage or
//! scheduling so that a slowdown in one stage shows up on its own:
//!
//! - `sniff`: format detection and the header read that enforces the limits before any
//!   pixel is decoded (runs on every upload, so it must stay negligible);
//! - `ingest`: the whole upload check (sniff, lossless metadata strip, one full decode,
//!   dimension check). The full decode dominates it, so this is the decode benchmark per
//!   source format (the decoder itself is private to the crate);
//! - `strip`: the lossless metadata removal alone, per format that is edited in place;
//! - `render_size`: one JPEG source rendered at several widths, which shows the resize
//!   and the shrink-on-load decode (1/2, 1/4, 1/8 scale) paying off as the output shrinks;
//! - `render_format`: the same 256 px rendition encoded in each output format, so the
//!   differences between them are the encoders';
//! - `placeholder`: the ThumbHash and dominant colour made at upload.
//!
//! Run with `cargo bench --bench media` (`-- render_format` for one group). The inputs
//! are the shared corpus next to the repository, as for the tests.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use imagestore::media::transform::{self, OutputFormat, RenderLimits, RenderSpec};
use imagestore::media::{self, ImageFormat, MediaLimits, metadata, placeholder, sniff};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/");

fn corpus(name: &str) -> Bytes {
    let path = format!("{CORPUS}{name}");
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// One file per accepted source format (BMP has no corpus file), small to large.
const SOURCES: [&str; 7] = [
    "avatar-400.jpg",
    "photo-1920x1280.jpg",
    "logo.png",
    "avatar.gif",
    "animated.gif",
    "wallpaper.webp",
    "avatar.tiff",
];

fn bench_sniff(c: &mut Criterion) {
    let limits = MediaLimits::default();
    let mut group = c.benchmark_group("sniff");
    for name in SOURCES {
        let data = corpus(name);
        group.bench_function(name, |b| {
            b.iter(|| {
                let format = sniff::detect_format(black_box(&data)).unwrap();
                let header = sniff::read_header(black_box(&data), &limits).unwrap();
                black_box((format, header))
            })
        });
    }
    group.finish();
}

fn bench_ingest(c: &mut Criterion) {
    let limits = MediaLimits::default();
    let mut group = c.benchmark_group("ingest");
    for name in SOURCES {
        let data = corpus(name);
        group.throughput(Throughput::Bytes(data.len() as u64));
        // `Bytes` clones share the buffer: the clone costs a reference count, not a copy.
        group.bench_function(name, |b| {
            b.iter(|| media::ingest(black_box(data.clone()), &limits).unwrap())
        });
    }
    group.finish();
}

fn bench_strip(c: &mut Criterion) {
    let mut group = c.benchmark_group("strip");
    // The EXIF/GPS-laden JPEG is the case stripping exists for.
    for name in [
        "exif-gps-rotated.jpg",
        "photo-1920x1280.jpg",
        "logo.png",
        "avatar.gif",
        "wallpaper.webp",
    ] {
        let data = corpus(name);
        let format = sniff::detect_format(&data).unwrap();
        let orientation = metadata::orientation(format, &data);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| metadata::strip(format, black_box(data.clone()), orientation).unwrap())
        });
    }
    group.finish();
}

fn spec(width: u32, format: OutputFormat) -> RenderSpec {
    RenderSpec {
        width: Some(width),
        format,
        ..RenderSpec::default()
    }
}

fn bench_render_size(c: &mut Criterion) {
    let limits = RenderLimits::default();
    let source = corpus("photo-2560x1600.jpg");
    let mut group = c.benchmark_group("render_size");
    group.sample_size(20);
    for width in [128, 256, 512, 1024, 2048] {
        let spec = spec(width, OutputFormat::Jpeg);
        group.bench_with_input(BenchmarkId::new("jpeg", width), &spec, |b, spec| {
            b.iter(|| {
                transform::render(black_box(&source), ImageFormat::Jpeg, spec, &limits).unwrap()
            })
        });
    }
    group.finish();
}

fn bench_render_format(c: &mut Criterion) {
    let limits = RenderLimits::default();
    let mut group = c.benchmark_group("render_format");
    // AVIF encoding takes far longer than the rest; ten samples keep the group short.
    group.sample_size(10);
    for (name, source_format) in [
        ("photo-2560x1600.jpg", ImageFormat::Jpeg),
        ("logo.png", ImageFormat::Png),
    ] {
        let source = corpus(name);
        for format in [
            OutputFormat::Jpeg,
            OutputFormat::Png,
            OutputFormat::Webp,
            OutputFormat::Avif,
            OutputFormat::Gif,
        ] {
            let spec = spec(256, format);
            group.bench_with_input(
                BenchmarkId::new(name, format.extension()),
                &spec,
                |b, spec| {
                    b.iter(|| {
                        transform::render(black_box(&source), source_format, spec, &limits).unwrap()
                    })
                },
            );
        }
    }
    group.finish();
}

fn bench_placeholder(c: &mut Criterion) {
    let mut group = c.benchmark_group("placeholder");
    for name in ["avatar-400.jpg", "photo-1920x1280.jpg", "logo.png"] {
        let data = corpus(name);
        let format = sniff::detect_format(&data).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| placeholder::placeholder(black_box(&data), format).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = media_pipeline;
    // Shorter than criterion's defaults (3 s warm-up, 5 s measurement): the whole suite
    // then runs in a few minutes on a 2-core machine, still with stable medians.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_sniff, bench_ingest, bench_strip, bench_render_size, bench_render_format,
        bench_placeholder
}
criterion_main!(media_pipeline);
