//! ThumbHash encoding, computed separably.
//!
//! ThumbHash describes an image by a few low-frequency cosine terms of its luminance,
//! two colour-difference channels and (when it has any) alpha. The reference encoder (the
//! `thumbhash` crate, which we still use to decode) computes each term as a sum over every
//! pixel, so a 32x32 input costs about 40 terms × 1,024 pixels of multiply-adds in one
//! serial chain: a tenth of an avatar upload's CPU. A cosine term is a product of a
//! horizontal and a vertical cosine, so each row is first projected onto the few
//! horizontal cosines (7 at most) and the terms are then sums over those projections: a
//! third of the multiplications, in short independent sums. The hash format, the terms
//! kept and their quantisation are the reference's; only the order of the additions
//! differs, so a term that lands within a float's rounding of a quantisation step can come
//! out one step apart (the tests compare against the reference).

use std::f32::consts::PI;

use super::MediaError;

/// The largest side ThumbHash accepts.
const MAX_SIDE: usize = 100;

/// The ThumbHash of a `w` x `h` RGBA image (unpremultiplied, 8 bits a channel).
pub fn encode(w: usize, h: usize, rgba: &[u8]) -> Result<Vec<u8>, MediaError> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || rgba.len() != w * h * 4 {
        return Err(MediaError::malformed(
            "the image could not be summarised: bad placeholder input size",
        ));
    }

    // The alpha-weighted average colour, which transparent pixels are composited onto.
    let (mut avg_r, mut avg_g, mut avg_b, mut avg_a) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for px in rgba.chunks_exact(4) {
        let alpha = f32::from(px[3]) / 255.0;
        avg_r += alpha / 255.0 * f32::from(px[0]);
        avg_g += alpha / 255.0 * f32::from(px[1]);
        avg_b += alpha / 255.0 * f32::from(px[2]);
        avg_a += alpha;
    }
    if avg_a > 0.0 {
        avg_r /= avg_a;
        avg_g /= avg_a;
        avg_b /= avg_a;
    }
    let has_alpha = avg_a < (w * h) as f32;
    // Fewer luminance terms when alpha needs room in the hash.
    let l_limit = if has_alpha { 5 } else { 7 };
    let longest = w.max(h) as f32;
    let lx = (((l_limit * w) as f32 / longest).round() as usize).max(1);
    let ly = (((l_limit * h) as f32 / longest).round() as usize).max(1);

    // Luminance, yellow-blue, red-green and alpha, composited atop the average colour.
    let pixels = w * h;
    let (mut l, mut p, mut q, mut a) = (
        Vec::with_capacity(pixels),
        Vec::with_capacity(pixels),
        Vec::with_capacity(pixels),
        Vec::with_capacity(pixels),
    );
    for px in rgba.chunks_exact(4) {
        let alpha = f32::from(px[3]) / 255.0;
        let r = avg_r * (1.0 - alpha) + alpha / 255.0 * f32::from(px[0]);
        let g = avg_g * (1.0 - alpha) + alpha / 255.0 * f32::from(px[1]);
        let b = avg_b * (1.0 - alpha) + alpha / 255.0 * f32::from(px[2]);
        l.push((r + g + b) / 3.0);
        p.push((r + g) / 2.0 - b);
        q.push(r - g);
        a.push(alpha);
    }

    let area = Area { w, h };
    let l = area.terms(&l, lx.max(3), ly.max(3));
    let p = area.terms(&p, 3, 3);
    let q = area.terms(&q, 3, 3);
    let a = has_alpha.then(|| area.terms(&a, 5, 5));

    let is_landscape = w > h;
    let header24 = (63.0 * l.dc).round() as u32
        | (((31.5 + 31.5 * p.dc).round() as u32) << 6)
        | (((31.5 + 31.5 * q.dc).round() as u32) << 12)
        | (((31.0 * l.scale).round() as u32) << 18)
        | if has_alpha { 1 << 23 } else { 0 };
    let header16 = (if is_landscape { ly } else { lx }) as u16
        | (((63.0 * p.scale).round() as u16) << 3)
        | (((63.0 * q.scale).round() as u16) << 9)
        | if is_landscape { 1 << 15 } else { 0 };
    let mut hash = Vec::with_capacity(32);
    hash.extend_from_slice(&[
        (header24 & 255) as u8,
        ((header24 >> 8) & 255) as u8,
        (header24 >> 16) as u8,
        (header16 & 255) as u8,
        (header16 >> 8) as u8,
    ]);
    if let Some(a) = &a {
        hash.push((15.0 * a.dc).round() as u8 | (((15.0 * a.scale).round() as u8) << 4));
    }
    // The varying terms, four bits each, two to a byte (low nibble first).
    let varying = [&l, &p, &q].into_iter().chain(a.as_ref());
    let nibbles: Vec<u8> = varying
        .flat_map(|terms| terms.ac.iter().map(|f| (15.0 * f).round() as u8))
        .collect();
    for pair in nibbles.chunks(2) {
        hash.push(pair[0] | pair.get(1).map_or(0, |high| high << 4));
    }
    Ok(hash)
}

/// One channel's cosine terms: the constant one, and the varying ones normalised into
/// 0..=1 by their largest magnitude, `scale`.
struct Terms {
    dc: f32,
    ac: Vec<f32>,
    scale: f32,
}

struct Area {
    w: usize,
    h: usize,
}

impl Area {
    /// The terms of `channel` that ThumbHash keeps: `cx` < `nx` and `cy` < `ny` within
    /// the triangle `cx * ny < nx * (ny - cy)`, in row order of `cy`.
    fn terms(&self, channel: &[f32], nx: usize, ny: usize) -> Terms {
        let Area { w, h } = *self;
        // The horizontal and vertical cosines, one row of `w` (or `h`) per frequency,
        // each computed once rather than once per term that uses it.
        let cos_x = cosines(w, nx);
        let cos_y = cosines(h, ny);
        // Each pixel row projected onto each horizontal cosine: `rows[y * nx + cx]`.
        let mut rows = Vec::with_capacity(h * nx);
        for line in channel.chunks_exact(w) {
            for basis in cos_x.chunks_exact(w) {
                rows.push(line.iter().zip(basis).map(|(v, c)| v * c).sum::<f32>());
            }
        }

        let mut dc = 0.0;
        let mut ac = Vec::with_capacity(nx * ny / 2);
        let mut scale = 0.0f32;
        for (cy, vertical) in cos_y.chunks_exact(h).enumerate() {
            let mut cx = 0;
            while cx * ny < nx * (ny - cy) {
                let sum: f32 = rows
                    .chunks_exact(nx)
                    .zip(vertical)
                    .map(|(projections, c)| projections[cx] * c)
                    .sum();
                let f = sum / (w * h) as f32;
                if cx > 0 || cy > 0 {
                    ac.push(f);
                    scale = scale.max(f.abs());
                } else {
                    dc = f;
                }
                cx += 1;
            }
        }
        if scale > 0.0 {
            for f in &mut ac {
                *f = 0.5 + 0.5 / scale * *f;
            }
        }
        Terms { dc, ac, scale }
    }
}

/// The cosines of frequencies `0..frequencies` at each of `n` samples, one row per
/// frequency, as the reference computes them.
fn cosines(n: usize, frequencies: usize) -> Vec<f32> {
    (0..frequencies)
        .flat_map(|k| (0..n).map(move |i| (PI / n as f32 * k as f32 * (i as f32 + 0.5)).cos()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode;

    /// Deterministic test images: smooth and noisy, opaque and translucent, of several
    /// shapes. None is flat or a sum of a horizontal and a vertical profile: those put
    /// cosine terms at exactly zero, half way between two of the hash's steps, where any
    /// order of additions (the reference's included) rounds either way at random.
    fn samples() -> Vec<(usize, usize, Vec<u8>)> {
        let mut seed: u32 = 0x2545_f491;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8
        };
        let wave = |x: usize, y: usize, k: f32| {
            let (x, y) = (x as f32, y as f32);
            (128.0 + 100.0 * (0.21 * x + 0.13 * y + k * x * y).sin()) as u8
        };
        let mut out = Vec::new();
        for &(w, h) in &[(32, 32), (32, 21), (14, 32), (1, 1), (100, 100), (3, 50)] {
            for kind in 0..4 {
                let mut rgba = Vec::with_capacity(w * h * 4);
                for y in 0..h {
                    for x in 0..w {
                        let (r, g, b, a) = match kind {
                            0 => (wave(x, y, 0.011), wave(y, x, 0.007), wave(x, x, 0.003), 255),
                            1 => (noise(), noise(), noise(), 255),
                            2 => (wave(x, y, 0.02), 90, noise(), wave(y, x, 0.013)),
                            _ => (noise(), 128, noise(), noise()),
                        };
                        rgba.extend_from_slice(&[r, g, b, a]);
                    }
                }
                out.push((w, h, rgba));
            }
        }
        out
    }

    /// A hash cut into its fields: the header's (widths in bits, low bits first), then
    /// four bits each (the alpha byte, when there is one, holds two such fields).
    fn fields(hash: &[u8]) -> Vec<u32> {
        let header24 = u32::from(hash[0]) | u32::from(hash[1]) << 8 | u32::from(hash[2]) << 16;
        let header16 = u32::from(hash[3]) | u32::from(hash[4]) << 8;
        let mut out = Vec::new();
        let mut cut = |mut bits: u32, widths: &[u32]| {
            for width in widths {
                out.push(bits & ((1 << width) - 1));
                bits >>= width;
            }
        };
        cut(header24, &[6, 6, 6, 5, 1]);
        cut(header16, &[3, 6, 6, 1]);
        for byte in &hash[5..] {
            out.push(u32::from(byte & 15));
            out.push(u32::from(byte >> 4));
        }
        out
    }

    /// The hash is the reference's: the same length, and every field equal or, rarely,
    /// one step apart, where the other order of additions lands a value on the other
    /// side of a rounding step.
    #[test]
    fn agrees_with_the_reference_encoder() {
        let (mut compared, mut apart) = (0, 0);
        for (w, h, rgba) in samples() {
            let ours = encode(w, h, &rgba).unwrap();
            let reference = thumbhash::rgba_to_thumb_hash(w, h, &rgba);
            assert_eq!(ours.len(), reference.len(), "{w}x{h}");
            for (x, y) in fields(&ours).into_iter().zip(fields(&reference)) {
                assert!(
                    x.abs_diff(y) <= 1,
                    "{w}x{h}: {ours:?} against {reference:?}"
                );
                compared += 1;
                apart += usize::from(x != y);
            }
        }
        eprintln!("{apart} of {compared} fields one step apart");
        assert!(
            apart * 100 <= compared,
            "{apart} of {compared} fields differ"
        );
    }

    #[test]
    fn refuses_sizes_thumbhash_cannot_take() {
        assert!(encode(0, 4, &[]).is_err());
        assert!(encode(101, 1, &[0; 404]).is_err());
        assert!(encode(2, 2, &[0; 15]).is_err());
    }
}
