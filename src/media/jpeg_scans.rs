//! The cost of decoding a JPEG, read from its marker segments before any decoder runs.
//!
//! A progressive JPEG arrives as scans, each refining some coefficients of some of its
//! components, and a decoder goes over every block of each component a scan names, once
//! per scan, however few bits the scan carries: a scan holding a single end-of-band run
//! costs as much CPU as a full one. A file of a few hundred kilobytes made of thousands
//! of such scans costs seconds of CPU per decode, and nothing in the decoders stops it.
//! So the whole file is walked here (entropy-coded bytes are only searched for the next
//! marker), its scans are counted and the samples each one reads are summed, which lets
//! `sniff` refuse a file whose decode would be too long before a decoder starts. The same
//! walk gives the frame's precision, components and sampling, from which the memory of
//! its decode follows.

use super::MediaError;
use super::jpeg::{be16, has_length, is_sof, next_marker};

const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

/// One component of the frame: its id and sampling factors.
#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: u8,
    v: u8,
}

/// What decoding a JPEG costs, from its segments alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JpegCost {
    pub width: u32,
    pub height: u32,
    /// Bits per sample: 8, or 12 or 16 for the extended and lossless processes.
    pub precision: u8,
    /// Components in the frame: 1 grey, 3 colour, 4 CMYK or YCCK.
    pub components: u32,
    /// SOF2, SOF6, SOF10 or SOF14: every coefficient is kept until the last scan.
    pub progressive: bool,
    /// Scans seen; the walk stops once it passes the caller's bound.
    pub scans: u32,
    /// Samples read over all scans: each scan reads every (MCU-padded) sample of each
    /// component it names.
    pub scan_samples: u64,
    /// Samples of every component, padded to whole MCUs: a progressive decoder keeps one
    /// 16-bit coefficient for each until the last scan.
    pub frame_samples: u64,
}

/// The frame header and the padded sample count of each component.
struct Frame {
    cost: JpegCost,
    components: Vec<(Component, u64)>,
}

/// Walks every segment of `data`, stopping early once more than `max_scans` scans were
/// seen (the verdict is known by then, and the walk stays bounded by it). A file cut
/// short is summarised as far as it goes: the decode and the stripping refuse it later.
pub(crate) fn inspect(data: &[u8], max_scans: u32) -> Result<JpegCost, MediaError> {
    let mut frame: Option<Frame> = None;
    let mut pos = 2usize;
    while let Some((marker, next)) = next_marker(data, pos) {
        if marker == EOI {
            break;
        }
        if !has_length(marker) {
            pos = next;
            continue;
        }
        let len = usize::from(be16(data, next).ok_or_else(truncated)?);
        let end = next.checked_add(len).ok_or_else(truncated)?;
        let body = data
            .get(next.saturating_add(2)..end)
            .filter(|_| len >= 2)
            .ok_or_else(truncated)?;
        if is_sof(marker) {
            if frame.is_some() {
                return Err(MediaError::malformed(
                    "the JPEG file has more than one frame header",
                ));
            }
            frame = Some(read_frame(marker, body)?);
        } else if marker == SOS {
            let frame = frame.as_mut().ok_or_else(|| {
                MediaError::malformed("the JPEG file has a scan before its frame header")
            })?;
            frame.cost.scans = frame.cost.scans.saturating_add(1);
            frame.cost.scan_samples = frame
                .cost
                .scan_samples
                .saturating_add(scan_samples(&frame.components, body)?);
            if frame.cost.scans > max_scans {
                break;
            }
        }
        pos = end;
    }
    frame.map(|f| f.cost).ok_or_else(|| {
        MediaError::malformed("the JPEG file has no frame header (it is truncated or corrupt)")
    })
}

/// Reads an SOFn body: precision, height, width, then each component's id, sampling
/// factors and quantisation table.
fn read_frame(marker: u8, body: &[u8]) -> Result<Frame, MediaError> {
    let bad = || MediaError::malformed("the JPEG frame header is corrupt");
    let precision = *body.first().ok_or_else(bad)?;
    let height = u32::from(be16(body, 1).ok_or_else(bad)?);
    let width = u32::from(be16(body, 3).ok_or_else(bad)?);
    let count = usize::from(*body.get(5).ok_or_else(bad)?);
    let mut components = Vec::with_capacity(count);
    for i in 0..count {
        let at = 6 + 3 * i;
        let id = *body.get(at).ok_or_else(bad)?;
        let factors = *body.get(at + 1).ok_or_else(bad)?;
        let (h, v) = (factors >> 4, factors & 0x0F);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(bad());
        }
        components.push(Component { id, h, v });
    }
    if components.is_empty() {
        return Err(bad());
    }
    // Decoders allocate whole MCUs: each component gets h x v blocks per MCU, and the
    // MCU grid covers the image at the largest sampling factors.
    let h_max = components.iter().map(|c| u32::from(c.h)).max().unwrap_or(1);
    let v_max = components.iter().map(|c| u32::from(c.v)).max().unwrap_or(1);
    let mcus_x = u64::from(width.div_ceil(8 * h_max));
    let mcus_y = u64::from(height.div_ceil(8 * v_max));
    let padded: Vec<(Component, u64)> = components
        .iter()
        .map(|&c| {
            let blocks = mcus_x * u64::from(c.h) * mcus_y * u64::from(c.v);
            (c, blocks * 64)
        })
        .collect();
    let frame_samples = padded.iter().map(|(_, s)| *s).sum();
    Ok(Frame {
        cost: JpegCost {
            width,
            height,
            precision,
            components: padded.len() as u32,
            progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
            scans: 0,
            scan_samples: 0,
            frame_samples,
        },
        components: padded,
    })
}

/// The samples one scan reads: those of each component its header names.
fn scan_samples(components: &[(Component, u64)], body: &[u8]) -> Result<u64, MediaError> {
    let bad = || MediaError::malformed("a JPEG scan header is corrupt");
    let count = usize::from(*body.first().ok_or_else(bad)?);
    let mut samples = 0u64;
    for i in 0..count {
        let id = *body.get(1 + 2 * i).ok_or_else(bad)?;
        let (_, padded) = components
            .iter()
            .find(|(c, _)| c.id == id)
            .ok_or_else(|| MediaError::malformed("a JPEG scan names a component it lacks"))?;
        samples = samples.saturating_add(*padded);
    }
    Ok(samples)
}

fn truncated() -> MediaError {
    MediaError::malformed("the JPEG file is truncated or corrupt")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::tests::corpus;

    /// A progressive JPEG from jpeg-encoder: one DC scan and `scans - 1` AC scans per
    /// component, chroma at full resolution (quality 90).
    pub(crate) fn progressive(width: u16, height: u16, scans: u8) -> Vec<u8> {
        let rgb: Vec<u8> = (0..usize::from(width) * usize::from(height) * 3)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive_scans(scans);
        encoder
            .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn counts_every_scan_and_the_samples_each_reads() {
        // 20 x 12 pads to 3 x 2 blocks of 64 samples in each of three components.
        let cost = inspect(&progressive(20, 12, 5), u32::MAX).unwrap();
        assert_eq!((cost.width, cost.height, cost.components), (20, 12, 3));
        assert!(cost.progressive);
        assert_eq!(cost.scans, 3 * 5);
        assert_eq!(cost.frame_samples, 3 * 6 * 64);
        assert_eq!(cost.scan_samples, 15 * 6 * 64);
        // The walk stops once the bound is passed.
        assert_eq!(inspect(&progressive(20, 12, 5), 4).unwrap().scans, 5);
    }

    #[test]
    fn reads_the_frame_size_after_metadata_and_refuses_cut_headers() {
        let app1 = [0xFF, 0xE1, 0, 6, b'E', b'x', 0, 0];
        let j = crate::media::jpeg::tests::skeleton(&app1, &[1, 2, 0xFF, 0xD9]);
        let cost = inspect(&j, 100).unwrap();
        assert_eq!((cost.width, cost.height, cost.scans), (3, 2, 1));
        for cut in 0..16 {
            assert!(inspect(&j[..cut], 100).is_err());
        }
    }

    #[test]
    fn a_baseline_photo_has_one_interleaved_scan() {
        let cost = inspect(&corpus("photo-1920x1280.jpg"), u32::MAX).unwrap();
        assert_eq!((cost.width, cost.height), (1920, 1280));
        assert!(!cost.progressive);
        assert_eq!(cost.scans, 1);
        assert_eq!(cost.scan_samples, cost.frame_samples);
    }

    #[test]
    fn scans_before_the_frame_or_of_unknown_components_are_malformed() {
        let jpeg = progressive(8, 8, 2);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC2]).unwrap();
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mut unknown = jpeg.clone();
        unknown[sos + 5] = 99;
        assert!(matches!(
            inspect(&unknown, 100),
            Err(MediaError::Malformed(_))
        ));
        let mut no_frame = jpeg.clone();
        no_frame[sof + 1] = 0xEF; // an APP15 segment of the same length
        assert!(inspect(&no_frame, 100).is_err());
    }
}
