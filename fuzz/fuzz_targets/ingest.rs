//! Sniffing and ingesting arbitrary bytes: the whole upload pipeline of `media` (format
//! detection, header limits, the proving decode, metadata stripping, the placeholder).
//! Small limits keep each input cheap, as the property tests in `src/media/fuzz.rs` do;
//! a panic, an abort or a run over libFuzzer's time or memory limit is a finding.
#![no_main]

use bytes::Bytes;
use imagestore::media::{MediaLimits, ingest, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sniff::detect_format(data);
    let limits = MediaLimits {
        max_width: 2048,
        max_height: 2048,
        max_pixels: 1_000_000,
        max_frames: 50,
        max_animation_pixels: 5_000_000,
        ..MediaLimits::default()
    };
    let _ = ingest(Bytes::copy_from_slice(data), &limits);
});
