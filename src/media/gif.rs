//! A GIF block walker that counts frames and drops metadata without decoding.
//!
//! A GIF is a header, a logical screen descriptor, an optional global colour
//! table and then a stream of blocks (extensions and image descriptors, each
//! followed by length-prefixed data sub-blocks) ending in a 0x3B trailer.
//! Walking that structure is enough to count frames for the limit check and
//! to re-emit the file without comments and foreign application data, all
//! without running the LZW decompressor. A stream that ends before its
//! trailer is reported as truncated, because decoders tolerate that silently.

use super::MediaError;

const IMAGE_DESCRIPTOR: u8 = 0x2C;
const EXTENSION: u8 = 0x21;
const TRAILER: u8 = 0x3B;
const LABEL_PLAIN_TEXT: u8 = 0x01;
const LABEL_COMMENT: u8 = 0xFE;
const LABEL_APPLICATION: u8 = 0xFF;

/// What the walk learned about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GifInfo {
    /// The logical screen size.
    pub width: u32,
    pub height: u32,
    /// The number of image descriptors.
    pub frames: u32,
    /// The largest frame rectangle, which can exceed the logical screen and
    /// then costs the decoder more memory than the screen size suggests.
    pub max_frame_width: u32,
    pub max_frame_height: u32,
}

/// One block of the stream, as a byte range of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Header, logical screen descriptor and global colour table.
    Preamble,
    Image {
        width: u32,
        height: u32,
    },
    /// An extension; `keep` says whether it survives metadata stripping.
    Extension {
        keep: bool,
    },
    Trailer,
}

/// Reads only the logical screen size, so a huge screen can be refused
/// before the rest of the file is walked.
pub(crate) fn screen_size(data: &[u8]) -> Result<(u32, u32), MediaError> {
    let width = le16(data, 6).ok_or_else(truncated)?;
    let height = le16(data, 8).ok_or_else(truncated)?;
    Ok((u32::from(width), u32::from(height)))
}

/// Walks the whole block structure and summarises it.
pub(crate) fn inspect(data: &[u8]) -> Result<GifInfo, MediaError> {
    let (width, height) = screen_size(data)?;
    let mut info = GifInfo {
        width,
        height,
        frames: 0,
        max_frame_width: 0,
        max_frame_height: 0,
    };
    walk(data, |block, _| {
        if let Block::Image { width, height } = block {
            info.frames = info.frames.saturating_add(1);
            info.max_frame_width = info.max_frame_width.max(width);
            info.max_frame_height = info.max_frame_height.max(height);
        }
    })?;
    Ok(info)
}

/// Re-emits the file without comment, plain-text and foreign application
/// extensions, keeping every other byte as it was. Anything after the
/// trailer is dropped, since it can only be a smuggled payload.
pub(crate) fn strip(data: &[u8]) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::with_capacity(data.len());
    walk(data, |block, bytes| {
        if !matches!(block, Block::Extension { keep: false }) {
            out.extend_from_slice(bytes);
        }
    })?;
    Ok(out)
}

/// Calls `visit` with every block and its bytes, in order, up to and
/// including the trailer.
fn walk(data: &[u8], mut visit: impl FnMut(Block, &[u8])) -> Result<(), MediaError> {
    if !matches!(data.get(0..6), Some(b"GIF87a" | b"GIF89a")) {
        return Err(MediaError::malformed("not a GIF file"));
    }
    let packed = *data.get(10).ok_or_else(truncated)?;
    let mut pos = 13usize
        .checked_add(colour_table_len(packed))
        .ok_or_else(truncated)?;
    visit(Block::Preamble, slice(data, 0, pos)?);

    loop {
        let start = pos;
        match *data.get(pos).ok_or_else(truncated)? {
            IMAGE_DESCRIPTOR => {
                let width = u32::from(le16(data, start.saturating_add(5)).ok_or_else(truncated)?);
                let height = u32::from(le16(data, start.saturating_add(7)).ok_or_else(truncated)?);
                let local = *data.get(start.saturating_add(9)).ok_or_else(truncated)?;
                // Ten bytes of descriptor, the local colour table, then one
                // byte of LZW minimum code size before the data sub-blocks.
                pos = start
                    .checked_add(10)
                    .and_then(|p| p.checked_add(colour_table_len(local)))
                    .and_then(|p| p.checked_add(1))
                    .ok_or_else(truncated)?;
                pos = skip_sub_blocks(data, pos)?;
                visit(Block::Image { width, height }, slice(data, start, pos)?);
            }
            EXTENSION => {
                let label = *data.get(start.saturating_add(1)).ok_or_else(truncated)?;
                let body = start.checked_add(2).ok_or_else(truncated)?;
                pos = skip_sub_blocks(data, body)?;
                let keep = match label {
                    LABEL_COMMENT | LABEL_PLAIN_TEXT => false,
                    LABEL_APPLICATION => is_looping_extension(data, body),
                    _ => true,
                };
                visit(Block::Extension { keep }, slice(data, start, pos)?);
            }
            TRAILER => {
                visit(Block::Trailer, slice(data, start, start.saturating_add(1))?);
                return Ok(());
            }
            other => {
                return Err(MediaError::malformed(format!(
                    "the GIF block stream is corrupt (unexpected byte 0x{other:02X})"
                )));
            }
        }
    }
}

/// NETSCAPE2.0 and ANIMEXTS1.0 carry the loop count, which is display
/// information rather than private data; every other application block
/// (XMP, ICC, vendor data) is dropped.
fn is_looping_extension(data: &[u8], body: usize) -> bool {
    let id = body
        .checked_add(1)
        .and_then(|s| Some((s, s.checked_add(11)?)))
        .and_then(|(s, e)| data.get(s..e));
    data.get(body) == Some(&11) && matches!(id, Some(b"NETSCAPE2.0" | b"ANIMEXTS1.0"))
}

/// Skips data sub-blocks (a length byte followed by that many bytes) up to
/// and including the zero-length terminator; returns the position after it.
fn skip_sub_blocks(data: &[u8], mut pos: usize) -> Result<usize, MediaError> {
    loop {
        let len = usize::from(*data.get(pos).ok_or_else(truncated)?);
        pos = pos.checked_add(1).ok_or_else(truncated)?;
        if len == 0 {
            return Ok(pos);
        }
        pos = pos.checked_add(len).ok_or_else(truncated)?;
        if pos > data.len() {
            return Err(truncated());
        }
    }
}

/// The byte length of a colour table announced by a packed field: three
/// bytes per entry, 2^(n+1) entries, present only when the top bit is set.
fn colour_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3usize << ((packed & 0x07) + 1)
    }
}

fn slice(data: &[u8], start: usize, end: usize) -> Result<&[u8], MediaError> {
    data.get(start..end).ok_or_else(truncated)
}

fn le16(data: &[u8], pos: usize) -> Option<u16> {
    let bytes = data.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

fn truncated() -> MediaError {
    MediaError::malformed("the GIF file is truncated (it ends before its trailer)")
}

/// Builds a minimal GIF for tests: a `width`x`height` screen with a
/// two-colour global table and `frames` 1x1 frames, each preceded by
/// `extra` extension bytes.
#[cfg(test)]
pub(crate) fn tiny_gif(width: u16, height: u16, frames: u32, extra: &[u8]) -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend_from_slice(&width.to_le_bytes());
    g.extend_from_slice(&height.to_le_bytes());
    g.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    for _ in 0..frames {
        g.extend_from_slice(extra);
        g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
        // LZW: min code size 2, one sub-block with clear, index 0, end.
        g.extend_from_slice(&[2, 2, 0x44, 0x01, 0]);
    }
    g.push(TRAILER);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_frames_and_requires_the_trailer() {
        let g = tiny_gif(4, 3, 5, &[]);
        let info = inspect(&g).unwrap();
        assert_eq!((info.width, info.height, info.frames), (4, 3, 5));
        assert_eq!((info.max_frame_width, info.max_frame_height), (1, 1));
        for cut in 0..g.len() {
            assert!(inspect(&g[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn strip_drops_comments_and_foreign_app_blocks_only() {
        let comment = [0x21, 0xFE, 5, b's', b'e', b'c', b'r', b't', 0];
        let netscape = [&[0x21, 0xFF, 11][..], b"NETSCAPE2.0", &[3, 1, 0, 0, 0]].concat();
        let xmp = [
            &[0x21, 0xFF, 11][..],
            b"XMP DataXMP",
            &[4, b'g', b'p', b's', b'!', 0],
        ]
        .concat();
        let gce = [0x21, 0xF9, 4, 0, 10, 0, 0, 0];
        let extra = [&comment[..], &netscape, &xmp, &gce].concat();
        let g = tiny_gif(1, 1, 2, &extra);
        let out = strip(&g).unwrap();
        let expected = tiny_gif(1, 1, 2, &[&netscape[..], &gce].concat());
        assert_eq!(out, expected);
        assert_eq!(inspect(&out).unwrap().frames, 2);
    }

    #[test]
    fn data_after_the_trailer_is_dropped() {
        let mut g = tiny_gif(1, 1, 1, &[]);
        let clean = g.clone();
        g.extend_from_slice(b"<script>alert(1)</script>");
        assert_eq!(strip(&g).unwrap(), clean);
    }
}
