//! Reading and writing the one EXIF field the service keeps: Orientation.
//!
//! All private EXIF data is discarded on ingest, but the Orientation tag
//! decides how browsers display a photo, so it is read from the original and
//! written back as a minimal EXIF block holding that single tag. Both
//! directions work on the TIFF structure that EXIF uses (a byte-order mark,
//! an offset to IFD0, then 12-byte entries), which is also the layout of a
//! whole TIFF file, so the reader serves TIFF uploads as well.

/// The EXIF/TIFF tag number of Orientation.
const TAG_ORIENTATION: u16 = 0x0112;
/// The TIFF field type SHORT (unsigned 16-bit).
const TYPE_SHORT: u16 = 3;
/// The prefix that precedes the TIFF structure inside a JPEG APP1 segment.
pub(crate) const JPEG_EXIF_PREFIX: &[u8] = b"Exif\0\0";

/// Returns the Orientation tag of IFD0 in `tiff`, or 1 when it is absent,
/// malformed or outside 1..=8.
///
/// A `tiff` that still starts with the JPEG "Exif\0\0" prefix is accepted
/// too, because some WebP writers copy the APP1 payload verbatim.
pub(crate) fn orientation_from_tiff(tiff: &[u8]) -> u8 {
    let tiff = tiff.strip_prefix(JPEG_EXIF_PREFIX).unwrap_or(tiff);
    read_orientation(tiff)
        .filter(|v| (1..=8).contains(v))
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(1)
}

/// Walks IFD0 looking for the Orientation entry; `None` on any inconsistency.
fn read_orientation(tiff: &[u8]) -> Option<u16> {
    let little = match tiff.get(0..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let u16_at = |pos: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(pos..pos.checked_add(2)?)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |pos: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(pos..pos.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };

    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = u16_at(ifd)?;
    for i in 0..usize::from(count) {
        let entry = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        if u16_at(entry)? != TAG_ORIENTATION {
            continue;
        }
        // A SHORT with count 1 is stored inline in the first two bytes of
        // the value field; anything else is not a valid Orientation.
        if u16_at(entry.checked_add(2)?)? != TYPE_SHORT || u32_at(entry.checked_add(4)?)? != 1 {
            return None;
        }
        return u16_at(entry.checked_add(8)?);
    }
    None
}

/// Builds the smallest valid EXIF TIFF structure carrying only `orientation`:
/// a little-endian header pointing at IFD0 (offset 8), one entry, and a zero
/// next-IFD offset. Containers add their own prefix where they need one.
pub(crate) fn minimal_orientation_tiff(orientation: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(26);
    out.extend_from_slice(b"II*\0");
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&TAG_ORIENTATION.to_le_bytes());
    out.extend_from_slice(&TYPE_SHORT.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    // The value field is four bytes; a SHORT occupies the first two.
    out.extend_from_slice(&u16::from(orientation).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_block_round_trips_every_orientation() {
        for o in 1..=8 {
            let tiff = minimal_orientation_tiff(o);
            assert_eq!(tiff.len(), 26);
            assert_eq!(orientation_from_tiff(&tiff), o);
            let with_prefix = [JPEG_EXIF_PREFIX, &tiff].concat();
            assert_eq!(orientation_from_tiff(&with_prefix), o);
            // image's own parser must agree, since decoders rely on it.
            let parsed = image::metadata::Orientation::from_exif_chunk(&tiff)
                .map(image::metadata::Orientation::to_exif);
            assert_eq!(parsed, Some(o));
        }
    }

    #[test]
    fn invalid_or_truncated_values_read_as_one() {
        let mut tiff = minimal_orientation_tiff(6);
        tiff[18] = 9;
        assert_eq!(orientation_from_tiff(&tiff), 1);
        tiff[18] = 0;
        assert_eq!(orientation_from_tiff(&tiff), 1);
        let good = minimal_orientation_tiff(6);
        for cut in 0..good.len() {
            let expected = if cut >= 20 { 6 } else { 1 };
            assert_eq!(orientation_from_tiff(&good[..cut]), expected, "cut {cut}");
        }
        assert_eq!(orientation_from_tiff(b"MM\0*\xff\xff\xff\xff"), 1);
    }
}
