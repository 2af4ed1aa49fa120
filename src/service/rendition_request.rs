//! A rendition request as a client makes it ([`Transform`]: query parameters, a signed-URL
//! request, or a preset) and its first resolution against an image: defaults applied, the
//! device pixel ratio multiplied in, the format negotiated from `Accept`. The limits (size,
//! AVIF budget) are applied after this, in `renditions`.

use crate::domain::rendition_params::{background_text, crop_text, dpr_text, fit_name};
use crate::domain::{FormatChoice, Image, Preset};
use crate::media::ImageFormat;
use crate::media::transform::{Crop, Fit, OutputFormat, RenderSpec};

/// Transform parameters as a client asks for them (query parameters or a signed-URL
/// request). Every field is optional; defaults are applied when resolving.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transform {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Option<Fit>,
    pub crop: Option<Crop>,
    pub format: Option<FormatChoice>,
    pub quality: Option<u8>,
    /// Device pixel ratio in hundredths (100 = 1×), multiplies width and height.
    pub dpr_percent: Option<u16>,
    pub animated: Option<bool>,
    pub upscale: Option<bool>,
    pub background: Option<[u8; 3]>,
}

impl Transform {
    pub fn is_empty(&self) -> bool {
        *self == Transform::default()
    }

    /// The parameters in one fixed order and spelling: what a signature covers, so that a
    /// reordered or re-spelled query verifies the same and any changed value does not.
    pub fn canonical_query(&self) -> String {
        let mut pairs: Vec<String> = Vec::new();
        if let Some(animated) = self.animated {
            pairs.push(format!("animated={animated}"));
        }
        if let Some(background) = self.background {
            pairs.push(format!("bg={}", background_text(background)));
        }
        if let Some(crop) = self.crop {
            pairs.push(format!("crop={}", crop_text(crop)));
        }
        if let Some(dpr) = self.dpr_percent {
            pairs.push(format!("dpr={}", dpr_text(dpr)));
        }
        if let Some(fit) = self.fit {
            pairs.push(format!("fit={}", fit_name(fit)));
        }
        if let Some(format) = self.format {
            pairs.push(format!("format={}", format.as_str()));
        }
        if let Some(h) = self.height {
            pairs.push(format!("h={h}"));
        }
        if let Some(q) = self.quality {
            pairs.push(format!("q={q}"));
        }
        if let Some(upscale) = self.upscale {
            pairs.push(format!("upscale={upscale}"));
        }
        if let Some(w) = self.width {
            pairs.push(format!("w={w}"));
        }
        pairs.join("&")
    }

    /// The parameters a preset stands for.
    pub(crate) fn of_preset(preset: &Preset) -> Transform {
        Transform {
            width: preset.width,
            height: preset.height,
            fit: Some(preset.fit),
            format: preset.format,
            quality: Some(preset.quality),
            ..Transform::default()
        }
    }
}

/// The output format a client's `Accept` header allows: AVIF, then WebP, then the
/// source's own.
fn negotiate(accept: Option<&str>, source: ImageFormat) -> OutputFormat {
    let accepts = |mime: &str| {
        accept.is_some_and(|a| {
            a.split(',').any(|part| {
                let mut fields = part.split(';');
                let type_ok = fields
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(mime));
                let refused =
                    fields.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                type_ok && !refused
            })
        })
    };
    if accepts("image/avif") {
        OutputFormat::Avif
    } else if accepts("image/webp") {
        OutputFormat::Webp
    } else {
        OutputFormat::of(source)
    }
}

fn scaled(value: Option<u32>, dpr_percent: Option<u16>) -> Option<u32> {
    let dpr = u64::from(dpr_percent.unwrap_or(100));
    value.map(|v| u32::try_from((u64::from(v) * dpr).div_ceil(100)).unwrap_or(u32::MAX))
}

/// Resolves a transform for an image into a full render spec (before the encode budget
/// is applied); `negotiated` tells whether `Accept` chose the format.
pub(crate) fn resolve_spec(
    image: &Image,
    transform: &Transform,
    accept: Option<&str>,
) -> (RenderSpec, bool) {
    let (format, negotiated) = match transform.format {
        None => (OutputFormat::of(image.format), false),
        Some(FormatChoice::Fixed(format)) => (format, false),
        Some(FormatChoice::Auto) => (negotiate(accept, image.format), true),
    };
    let spec = RenderSpec {
        width: scaled(transform.width, transform.dpr_percent),
        height: scaled(transform.height, transform.dpr_percent),
        fit: transform.fit.unwrap_or(Fit::Inside),
        // A crop set on the image (Akana's crop operation) applies unless the request
        // gives its own.
        crop: transform.crop.or(image.crop),
        format,
        quality: transform.quality.unwrap_or(80),
        upscale: transform.upscale.unwrap_or(false),
        animated: transform.animated.unwrap_or(true),
        background: transform.background.unwrap_or([255, 255, 255]),
    };
    (spec, negotiated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_queries_are_order_free_and_complete() {
        let t = Transform {
            width: Some(200),
            fit: Some(Fit::Cover),
            format: Some(FormatChoice::Auto),
            dpr_percent: Some(150),
            crop: Some(Crop {
                x: 1,
                y: 2,
                width: 3,
                height: 4,
            }),
            ..Transform::default()
        };
        assert_eq!(
            t.canonical_query(),
            "crop=1,2,3,4&dpr=1.50&fit=cover&format=auto&w=200"
        );
        assert!(Transform::default().is_empty());
        assert_eq!(scaled(Some(101), Some(150)), Some(152));
    }

    #[test]
    fn accept_negotiation_prefers_avif_then_webp() {
        let jpeg = ImageFormat::Jpeg;
        assert_eq!(
            negotiate(Some("image/avif,image/webp,*/*"), jpeg),
            OutputFormat::Avif
        );
        assert_eq!(
            negotiate(Some("image/webp,*/*;q=0.8"), jpeg),
            OutputFormat::Webp
        );
        assert_eq!(
            negotiate(Some("image/avif;q=0,image/webp"), jpeg),
            OutputFormat::Webp
        );
        assert_eq!(negotiate(Some("*/*"), jpeg), OutputFormat::Jpeg);
        assert_eq!(negotiate(None, ImageFormat::Png), OutputFormat::Png);
    }
}
