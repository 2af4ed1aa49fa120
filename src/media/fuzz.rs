//! Property tests: no input, however mangled, makes the pipeline panic.
//!
//! The service wraps calls in `catch_unwind`, but a panic is still a bug
//! here, so these tests feed [`ingest`] random bytes, random bytes behind a
//! real magic number, and corpus files with flipped bytes or truncations.
//! Small limits keep each case fast: most mutants are refused at the header
//! or fail early in decoding, and the rest decode a small image.

use bytes::Bytes;
use proptest::prelude::*;

use super::tests::corpus;
use super::*;

fn small_limits() -> MediaLimits {
    MediaLimits {
        max_width: 1024,
        max_height: 1024,
        max_pixels: 400_000,
        max_frames: 40,
        max_animation_pixels: 2_000_000,
        ..MediaLimits::default()
    }
}

/// Files small enough to decode quickly within [`small_limits`].
const SEEDS: [&str; 4] = [
    "avatar-400.jpg",
    "exif-gps-rotated.jpg",
    "avatar.gif",
    "animated.gif",
];

const MAGICS: [&[u8]; 7] = [
    b"\xFF\xD8\xFF",
    b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR",
    b"GIF89a",
    b"RIFF\xff\x00\x00\x00WEBPVP8X",
    b"II*\0",
    b"MM\0*",
    b"BM",
];

/// Every result is acceptable as long as it is a value, not a panic, and
/// a success still satisfies the limits.
fn check(data: Vec<u8>) {
    let limits = small_limits();
    if let Ok(out) = ingest(Bytes::from(data), &limits) {
        assert!(out.width <= limits.max_width.max(limits.max_height));
        assert!(out.frames >= 1 && out.frames <= limits.max_frames);
        assert!((1..=8).contains(&out.orientation));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(data);
    }

    #[test]
    fn arbitrary_bytes_behind_magic_never_panic(
        magic in 0..MAGICS.len(),
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let data = [MAGICS.get(magic).copied().unwrap_or_default(), &tail[..]].concat();
        check(data);
    }

    #[test]
    fn mutated_corpus_never_panics(
        seed in 0..SEEDS.len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut data = corpus(SEEDS.get(seed).copied().unwrap_or("avatar.gif"));
        for (at, value) in flips {
            let i = at.index(data.len());
            if let Some(b) = data.get_mut(i) {
                *b ^= value;
            }
        }
        if let Some(cut) = cut {
            data.truncate(cut.index(data.len()));
        }
        check(data);
    }
}

/// Every prefix of a small crafted file, and every single-byte corruption
/// of its header, must be handled without a panic.
#[test]
fn every_prefix_and_header_corruption_of_small_files_is_handled() {
    let files = [
        gif::tiny_gif(2, 2, 3, &[0x21, 0xFE, 1, b'x', 0]),
        corpus("avatar-400.jpg")
            .get(..700)
            .unwrap_or_default()
            .to_vec(),
    ];
    for file in files {
        for cut in 0..=file.len() {
            check(file.get(..cut).unwrap_or_default().to_vec());
        }
        for i in 0..file.len().min(64) {
            let mut mutant = file.clone();
            if let Some(b) = mutant.get_mut(i) {
                *b = b.wrapping_add(0x41);
            }
            check(mutant);
        }
    }
}
