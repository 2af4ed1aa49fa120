//! Renditions: what an image offers (its targets: the original and one per preset, with
//! the size each will have, computed without rendering), how a request for a rendition is
//! resolved into a render spec (format negotiation included), and how variants are made:
//! once, stored in the blob store next to their original under a key derived from the
//! spec, and served from there ever after.

use uuid::Uuid;

use super::Service;
use super::variant_name::variant_name;
use crate::domain::{FormatChoice, Image, Preset, fit_name};
use crate::error::{Error, Result};
use crate::media::ImageFormat;
use crate::media::transform::{self, Crop, Fit, OutputFormat, RenderLimits, RenderSpec};
use crate::storage::BlobStore;
use crate::storage::blobs::BlobRead;

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
        if let Some([r, g, b]) = self.background {
            pairs.push(format!("bg={r:02x}{g:02x}{b:02x}"));
        }
        if let Some(c) = self.crop {
            pairs.push(format!("crop={},{},{},{}", c.x, c.y, c.width, c.height));
        }
        if let Some(dpr) = self.dpr_percent {
            pairs.push(format!("dpr={}.{:02}", dpr / 100, dpr % 100));
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

    fn of_preset(preset: &Preset) -> Transform {
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

/// One rendition an image offers, as its description lists it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub extension: &'static str,
}

/// An image with its targets: `original` first, then one per preset.
#[derive(Debug, Clone)]
pub struct Described {
    pub image: Image,
    pub targets: Vec<Target>,
}

/// Where a rendition request comes from.
pub enum RenditionSource<'a> {
    Adhoc(&'a Transform),
    Preset(&'a Preset),
}

/// A stored variant, ready to be served.
#[derive(Debug, Clone)]
pub struct Variant {
    pub key: String,
    /// Strong: the spec and the original's content decide the bytes.
    pub etag: String,
    pub format: OutputFormat,
    /// The format was negotiated from `Accept`, so caches must vary on it.
    pub negotiated: bool,
    pub size: u64,
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

/// Resolves a transform for an image into a full render spec; `negotiated` tells whether
/// `Accept` chose the format.
fn resolve(image: &Image, transform: &Transform, accept: Option<&str>) -> (RenderSpec, bool) {
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

/// Bad parameters are the client's: 400 naming the parameter, not an image error.
fn invalid_transform(error: crate::media::MediaError) -> Error {
    let message = match error {
        crate::media::MediaError::Unsupported(m) | crate::media::MediaError::Malformed(m) => m,
        crate::media::MediaError::LimitExceeded { message, .. } => message,
    };
    Error::InvalidInput {
        target: "transform",
        message,
    }
}

impl Service {
    pub(crate) fn render_limits(&self) -> RenderLimits {
        RenderLimits {
            max_output_side: self.settings.max_output_side,
        }
    }

    /// An image with the targets its environment's presets give it.
    pub async fn describe(&self, image: Image) -> Result<Described> {
        let presets = self.catalog.presets(image.environment_id).await?;
        Ok(self.describe_with(image, &presets))
    }

    pub(crate) fn describe_with(&self, image: Image, presets: &[Preset]) -> Described {
        let mut targets = vec![Target {
            name: "original".into(),
            width: image.width,
            height: image.height,
            extension: image.format.extension(),
        }];
        for preset in presets {
            let (spec, negotiated) = resolve(&image, &Transform::of_preset(preset), None);
            // A preset can ask for more than an image allows (a crop, a size cap); such an
            // image simply does not offer that target.
            if let Ok((width, height)) =
                transform::plan(image.width, image.height, &spec, &self.render_limits())
            {
                let extension = if negotiated {
                    image.format.extension()
                } else {
                    spec.format.extension()
                };
                targets.push(Target {
                    name: preset.name.clone(),
                    width,
                    height,
                    extension,
                });
            }
        }
        Described { image, targets }
    }

    /// Refuses a transform this image cannot be rendered with (a crop outside it, a size
    /// over the cap), naming the parameter.
    pub(crate) fn check_transform(&self, image: &Image, transform: &Transform) -> Result<()> {
        let (spec, _) = resolve(image, transform, None);
        transform::plan(image.width, image.height, &spec, &self.render_limits())
            .map(|_| ())
            .map_err(invalid_transform)
    }

    /// The preset an href names, for anonymous serving.
    pub async fn published_preset(&self, environment_id: Uuid, name: &str) -> Result<Preset> {
        self.catalog
            .preset(environment_id, name)
            .await?
            .ok_or(Error::NotFound("preset"))
    }

    /// Makes sure the variant exists (rendering it once if not) and says where it is.
    pub async fn variant(
        &self,
        image: &Image,
        source: RenditionSource<'_>,
        accept: Option<&str>,
    ) -> Result<Variant> {
        let transform = match source {
            RenditionSource::Adhoc(transform) => transform.clone(),
            RenditionSource::Preset(preset) => Transform::of_preset(preset),
        };
        let (spec, negotiated) = resolve(image, &transform, accept);
        transform::plan(image.width, image.height, &spec, &self.render_limits())
            .map_err(invalid_transform)?;
        let hash = variant_name(&image.content_hash, &spec);
        let key = BlobStore::key(
            image.environment_id,
            image.id,
            &["variants/", &hash, ".", spec.format.extension()].concat(),
        );
        let format = spec.format;
        let size = self.ensure_variant(image, spec, &key).await?;
        Ok(Variant {
            key,
            etag: ["\"", &hash, "\""].concat(),
            format,
            negotiated,
            size,
        })
    }

    /// Opens a variant's bytes, or a range of them.
    pub async fn open_variant(
        &self,
        variant: &Variant,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobRead> {
        self.blobs.get(&variant.key, range).await
    }

    /// Renders and stores the variant unless it is there already; returns its size.
    async fn ensure_variant(&self, image: &Image, spec: RenderSpec, key: &str) -> Result<u64> {
        if let Some(size) = self.blobs.size(key).await? {
            self.rendition_hits.increment(1);
            return Ok(size);
        }
        let blobs = self.blobs.clone();
        let processing = self.processing.clone();
        let limits = self.render_limits();
        let (original, format, variant_key) =
            (image.blob_key.clone(), image.format, key.to_string());
        self.flights
            .run(key, async move {
                // Another request may have finished it while this one was queued.
                if blobs.size(&variant_key).await?.is_some() {
                    return Ok(());
                }
                let source = blobs.read_all(&original).await?;
                let rendered = processing
                    .run(move || {
                        transform::render(&source, format, &spec, &limits).map_err(Error::from)
                    })
                    .await?;
                blobs.put(&variant_key, rendered.bytes).await?;
                metrics::counter!("imagestore_renditions_total", "cache" => "miss").increment(1);
                Ok(())
            })
            .await?;
        self.blobs
            .size(key)
            .await?
            .ok_or(Error::Blobs(format!("variant {key} vanished")))
    }

    /// Renders an image's eager presets right after its upload; a failure is logged, not
    /// fatal: the variant is then rendered on first request instead.
    pub(crate) async fn render_eager(&self, image: &Image, presets: &[Preset]) {
        for preset in presets.iter().filter(|p| p.eager) {
            if let Err(error) = self
                .variant(image, RenditionSource::Preset(preset), None)
                .await
            {
                tracing::warn!(preset = %preset.name, image = %image.id, %error, "eager rendition failed");
            }
        }
    }
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
