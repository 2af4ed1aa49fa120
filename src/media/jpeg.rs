//! JPEG structure: frame-header dimensions and segment-level metadata removal.
//!
//! A JPEG is a list of marker segments; the frame header (SOFn) carries the
//! size and the APPn and COM segments carry metadata. The segment walker here is
//! shared with `jpeg_scans`, which reads the frame header and every scan header
//! so an oversized or overly costly image is refused without decoding. Stripping uses img-parts for the segments before the first scan
//! and a small walker of our own for everything after it, because img-parts
//! keeps the rest of the file as one opaque blob: comments between
//! progressive scans and bytes appended after the end-of-image marker would
//! otherwise survive. The walker also insists on an EOI marker, since the
//! decoder quietly accepts truncated scans and fills them with grey.

use bytes::Bytes;
use img_parts::ImageEXIF;
use img_parts::jpeg::{Jpeg, JpegSegment, markers};

use super::MediaError;
use super::exif;

/// Removes every APPn segment except JFIF (APP0, with any thumbnail cut
/// off), ICC profiles (APP2) and Adobe (APP14), removes all comments, and
/// re-inserts a minimal EXIF block when `orientation` is not 1.
pub(crate) fn strip(data: Bytes, orientation: u8) -> Result<Bytes, MediaError> {
    let mut jpeg = Jpeg::from_bytes(data)
        .map_err(|_| MediaError::malformed("the JPEG file is truncated or corrupt"))?;

    let mut segments = Vec::with_capacity(jpeg.segments().len());
    for segment in jpeg.segments() {
        if segment.marker() == markers::SOS {
            let tail = clean_tail(&segment.entropy_bytes())?;
            segments.push(JpegSegment::new_with_entropy(
                markers::SOS,
                segment.contents().clone(),
                tail,
            ));
        } else if let Some(kept) = keep_segment(segment) {
            segments.push(kept);
        }
    }
    if !segments.iter().any(|s| s.marker() == markers::SOS) {
        return Err(MediaError::malformed(
            "the JPEG file is truncated (it has no image data)",
        ));
    }
    *jpeg.segments_mut() = segments;

    if orientation != 1 {
        // img-parts places a new EXIF segment right after APP0 (or first),
        // which is where viewers look for it.
        jpeg.set_exif(Some(Bytes::from(exif::minimal_orientation_tiff(
            orientation,
        ))));
    }
    Ok(jpeg.encoder().bytes())
}

/// Decides whether a segment before the first scan survives.
fn keep_segment(segment: &JpegSegment) -> Option<JpegSegment> {
    let marker = segment.marker();
    let contents = segment.contents();
    match marker {
        markers::APP0 if contents.starts_with(b"JFIF\0") => {
            // 14 bytes of JFIF fields; the rest is an optional thumbnail,
            // which may show the uncropped original, so it is cut and its
            // size fields are zeroed.
            let mut jfif = contents.get(..14)?.to_vec();
            if let Some(thumb) = jfif.get_mut(12..14) {
                thumb.fill(0);
            }
            Some(JpegSegment::new_with_contents(marker, Bytes::from(jfif)))
        }
        markers::APP2 if contents.starts_with(b"ICC_PROFILE\0") => Some(segment.clone()),
        markers::APP14 if contents.starts_with(b"Adobe") => Some(segment.clone()),
        markers::APP0..=markers::APP15 | markers::COM => None,
        _ => Some(segment.clone()),
    }
}

/// Walks the bytes after the first SOS header: entropy-coded data, then any
/// further table and scan segments of a progressive or multi-scan file, up
/// to EOI. Metadata segments are dropped and everything after EOI is cut.
fn clean_tail(tail: &[u8]) -> Result<Bytes, MediaError> {
    let mut out = Vec::with_capacity(tail.len());
    let mut run_start = 0usize;
    let mut pos = 0usize;
    loop {
        let (marker, next) = next_marker(tail, pos).ok_or_else(|| {
            MediaError::malformed("the JPEG file is truncated (it has no end-of-image marker)")
        })?;
        let marker_start = next.saturating_sub(2);
        if marker == markers::EOI {
            out.extend_from_slice(tail.get(run_start..next).unwrap_or_default());
            return Ok(Bytes::from(out));
        }
        if !has_length(marker) {
            pos = next;
            continue;
        }
        let len = usize::from(be16(tail, next).ok_or_else(truncated)?);
        let end = next
            .checked_add(len)
            .filter(|&e| e <= tail.len() && len >= 2);
        let end = end.ok_or_else(truncated)?;
        let is_metadata = matches!(marker, markers::APP0..=markers::APP15 | markers::COM);
        if is_metadata {
            out.extend_from_slice(tail.get(run_start..marker_start).unwrap_or_default());
            run_start = end;
        }
        pos = end;
    }
}

/// Finds the next marker at or after `pos`, skipping entropy-coded bytes,
/// stuffed zero bytes, restart markers and fill bytes. Returns the marker
/// and the position just after it.
pub(super) fn next_marker(data: &[u8], mut pos: usize) -> Option<(u8, usize)> {
    loop {
        let ff = pos.checked_add(data.get(pos..)?.iter().position(|&b| b == 0xFF)?)?;
        let mut m = ff.checked_add(1)?;
        while *data.get(m)? == 0xFF {
            m = m.checked_add(1)?;
        }
        let marker = *data.get(m)?;
        let after = m.checked_add(1)?;
        if marker == 0x00 || (markers::RST0..=markers::RST7).contains(&marker) {
            pos = after;
            continue;
        }
        return Some((marker, after));
    }
}

/// Markers without a length field: TEM, RSTn, SOI and EOI.
pub(super) fn has_length(marker: u8) -> bool {
    !matches!(marker, 0x01 | 0xD0..=0xD9)
}

/// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
pub(super) fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

pub(super) fn be16(data: &[u8], pos: usize) -> Option<u16> {
    let bytes = data.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

fn truncated() -> MediaError {
    MediaError::malformed("the JPEG file is truncated or corrupt")
}

/// Read-only access to the bytes img-parts stores after an SOS header.
trait EntropyBytes {
    fn entropy_bytes(&self) -> Bytes;
}

impl EntropyBytes for JpegSegment {
    /// img-parts keeps the scan data private, but its encoding is the
    /// marker, the length, the header and then that data, so the data is
    /// whatever follows the header in the encoded form.
    fn entropy_bytes(&self) -> Bytes {
        let encoded = self.clone().encoder().bytes();
        let header = 4usize.saturating_add(self.contents().len());
        encoded.slice(header.min(encoded.len())..)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A structurally valid (not decodable) JPEG skeleton around `middle`.
    pub(crate) fn skeleton(middle: &[u8], tail: &[u8]) -> Vec<u8> {
        let sof = [0xFF, 0xC0, 0, 11, 8, 0, 2, 0, 3, 1, 1, 0x11, 0];
        let sos = [0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0];
        [&[0xFF, 0xD8][..], middle, &sof, &sos, tail].concat()
    }

    #[test]
    fn strips_comments_between_scans_and_trailing_bytes() {
        let com = [&[0xFF, 0xFE, 0, 10][..], b"<script>"].concat();
        let scan2 = [0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 9, 0xFF, 0x00, 9];
        let tail = [
            &[5, 6, 0xFF, 0xD0, 7][..],
            &com,
            &scan2,
            &[0xFF, 0xD9],
            b"junk",
        ]
        .concat();
        let j = skeleton(&com, &tail);
        let out = strip(Bytes::from(j), 1).unwrap();
        let expected_tail = [&[5, 6, 0xFF, 0xD0, 7][..], &scan2, &[0xFF, 0xD9]].concat();
        assert_eq!(out.as_ref(), skeleton(&[], &expected_tail).as_slice());
    }

    #[test]
    fn missing_eoi_is_malformed() {
        let j = skeleton(&[], &[1, 2, 3]);
        assert!(matches!(
            strip(Bytes::from(j), 1),
            Err(MediaError::Malformed(_))
        ));
        let j = skeleton(&[], &[]);
        assert!(matches!(
            strip(Bytes::from(j), 1),
            Err(MediaError::Malformed(_))
        ));
    }
}
