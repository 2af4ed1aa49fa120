//! The name of a variant: a hash of its original's content hash and the resolved render
//! spec, which is both the variant's blob name and its ETag.
//!
//! The hashed text is fixed: changing a single byte of it renames every variant ever
//! stored, so each would be rendered again and the old ones would linger until their
//! image is deleted. It was first written with `format!` and the specs' `Debug` output;
//! [`fingerprint`] writes the same bytes by hand because that `format!` alone took about
//! 4% of the CPU of serving a warm variant (derived `Debug` goes through the formatter's
//! builders field by field). A test holds it to the original `format!`.

use crate::media::transform::{Crop, Fit, OutputFormat, RenderSpec};

/// Bumped whenever rendering changes its output, so old variants are not served for new specs.
pub const RENDER_VERSION: u32 = 1;

/// The version of AVIF output, bumped apart from the others so that a change to the AVIF
/// encoder renames only AVIF variants: 2 since its speed went from 9 to 10. A variant's
/// name is also its strong ETag, and an evicted variant is rendered again under the same
/// name, so output that changes must change the name.
pub const AVIF_RENDER_VERSION: u32 = 2;

/// The render version a format's variants are named with.
fn render_version(format: OutputFormat) -> u32 {
    match format {
        OutputFormat::Avif => AVIF_RENDER_VERSION,
        OutputFormat::Jpeg | OutputFormat::Png | OutputFormat::Webp | OutputFormat::Gif => {
            RENDER_VERSION
        }
    }
}

/// Hex digits of the BLAKE3 hash kept in a variant's name.
const NAME_LEN: usize = 32;

/// The variant name of `spec` rendered from an original whose content hash is
/// `content_hash`: 32 lowercase hex digits.
pub fn variant_name(content_hash: &str, spec: &RenderSpec) -> String {
    let hex = blake3::hash(fingerprint(content_hash, spec).as_bytes()).to_hex();
    hex[..NAME_LEN].to_string()
}

/// The text that is hashed: `content_hash|width|height|fit|crop|format|quality|upscale|
/// animated|background|vN`, each field as `{:?}` (or `{}` for quality and the booleans)
/// printed it, and N the format's render version.
fn fingerprint(content_hash: &str, spec: &RenderSpec) -> String {
    let mut out = String::with_capacity(content_hash.len() + 96);
    out.push_str(content_hash);
    out.push('|');
    optional_number(&mut out, spec.width);
    out.push('|');
    optional_number(&mut out, spec.height);
    out.push('|');
    out.push_str(fit_debug(spec.fit));
    out.push('|');
    crop_debug(&mut out, spec.crop);
    out.push('|');
    out.push_str(format_debug(spec.format));
    out.push('|');
    number(&mut out, spec.quality);
    out.push('|');
    out.push_str(if spec.upscale { "true" } else { "false" });
    out.push('|');
    out.push_str(if spec.animated { "true" } else { "false" });
    out.push('|');
    let [r, g, b] = spec.background;
    out.push('[');
    number(&mut out, r);
    out.push_str(", ");
    number(&mut out, g);
    out.push_str(", ");
    number(&mut out, b);
    out.push_str("]|v");
    number(&mut out, render_version(spec.format));
    out
}

fn number(out: &mut String, value: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// `Option<u32>`'s `Debug`: `Some(256)` or `None`.
fn optional_number(out: &mut String, value: Option<u32>) {
    match value {
        Some(n) => {
            out.push_str("Some(");
            number(out, n);
            out.push(')');
        }
        None => out.push_str("None"),
    }
}

/// `Option<Crop>`'s `Debug`.
fn crop_debug(out: &mut String, crop: Option<Crop>) {
    let Some(Crop {
        x,
        y,
        width,
        height,
    }) = crop
    else {
        out.push_str("None");
        return;
    };
    out.push_str("Some(Crop { x: ");
    number(out, x);
    out.push_str(", y: ");
    number(out, y);
    out.push_str(", width: ");
    number(out, width);
    out.push_str(", height: ");
    number(out, height);
    out.push_str(" })");
}

/// `Fit`'s `Debug`: the variant's name. The match is exhaustive so that a new fit cannot
/// be added without deciding its name here.
fn fit_debug(fit: Fit) -> &'static str {
    match fit {
        Fit::Inside => "Inside",
        Fit::Cover => "Cover",
        Fit::Contain => "Contain",
        Fit::Fill => "Fill",
    }
}

/// `OutputFormat`'s `Debug`.
fn format_debug(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Jpeg => "Jpeg",
        OutputFormat::Png => "Png",
        OutputFormat::Webp => "Webp",
        OutputFormat::Avif => "Avif",
        OutputFormat::Gif => "Gif",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint as it was first computed; every variant stored so far is named
    /// after it.
    fn original_fingerprint(content_hash: &str, spec: &RenderSpec) -> String {
        format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}|{}|{:?}|v{}",
            content_hash,
            spec.width,
            spec.height,
            spec.fit,
            spec.crop,
            spec.format,
            spec.quality,
            spec.upscale,
            spec.animated,
            spec.background,
            render_version(spec.format)
        )
    }

    #[test]
    fn fingerprints_are_the_bytes_format_debug_wrote() {
        let hash = "4f0c1d0e9b8a7f6e5d4c3b2a19081726354453627180f9e8d7c6b5a493827160";
        let fits = [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill];
        let formats = [
            OutputFormat::Jpeg,
            OutputFormat::Png,
            OutputFormat::Webp,
            OutputFormat::Avif,
            OutputFormat::Gif,
        ];
        let crops = [
            None,
            Some(Crop {
                x: 0,
                y: 7,
                width: 4096,
                height: u32::MAX,
            }),
        ];
        let mut checked = 0;
        for (i, (fit, format)) in fits
            .iter()
            .flat_map(|f| formats.iter().map(move |o| (*f, *o)))
            .enumerate()
        {
            for crop in crops {
                for (width, height) in [(None, None), (Some(256), None), (Some(0), Some(99_999))] {
                    let spec = RenderSpec {
                        width,
                        height,
                        fit,
                        crop,
                        format,
                        quality: [1, 80, 100][i % 3],
                        upscale: i % 2 == 0,
                        animated: i % 3 == 0,
                        background: [[255, 255, 255], [0, 10, 200]][i % 2],
                    };
                    assert_eq!(
                        fingerprint(hash, &spec),
                        original_fingerprint(hash, &spec),
                        "{spec:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * 5 * 2 * 3);
    }

    #[test]
    fn names_are_32_hex_digits_and_follow_the_spec() {
        let spec = RenderSpec::default();
        let name = variant_name("abc", &spec);
        assert_eq!(name.len(), NAME_LEN);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let smaller = RenderSpec {
            width: Some(256),
            ..RenderSpec::default()
        };
        assert_ne!(variant_name("abc", &smaller), name);
        assert_ne!(variant_name("abd", &spec), name);
    }

    #[test]
    fn only_avif_names_carry_the_avif_version() {
        let avif = RenderSpec {
            format: OutputFormat::Avif,
            ..RenderSpec::default()
        };
        assert!(fingerprint("abc", &avif).ends_with("|v2"));
        assert!(fingerprint("abc", &RenderSpec::default()).ends_with("|v1"));
    }
}
