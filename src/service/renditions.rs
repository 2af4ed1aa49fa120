//! Renditions: what an image offers (its targets: the original and one per preset, with
//! the size each will have, computed without rendering), how a request for a rendition is
//! resolved into a render spec (format negotiation and the AVIF budget included), and how
//! variants are made: once, stored in the blob store next to their original under a key
//! derived from the spec, and served from there until the variant budget evicts them
//! (`variant_budget`), after which the next request renders them again.

use uuid::Uuid;

use super::Service;
pub use super::rendition_request::Transform;
use super::rendition_request::resolve_spec;
use super::variant_name::variant_name;
use crate::domain::{Image, Preset};
use crate::error::{Error, Result};
use crate::media::transform::{self, OutputFormat, RenderLimits, RenderSpec};
use crate::storage::BlobStore;
use crate::storage::blobs::BlobRead;

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
    /// What it is rendered from, to render it again should it be evicted.
    pub spec: RenderSpec,
}

/// A request resolved against an image and the limits: what will be rendered, and its
/// size.
struct Resolved {
    spec: RenderSpec,
    negotiated: bool,
    size: (u32, u32),
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

    /// Resolves a request into what will be rendered, within every limit: the output
    /// side, and the AVIF budget. An AVIF encode costs about a second per megapixel even
    /// at the speed we use, several times WebP's; so above `max_avif_pixels` a negotiated
    /// format (`format=auto`) falls back to WebP, which every browser that takes AVIF
    /// also takes, and an explicit `format=avif` is refused naming the parameter.
    fn resolve(
        &self,
        image: &Image,
        transform: &Transform,
        accept: Option<&str>,
    ) -> Result<Resolved> {
        let (mut spec, negotiated) = resolve_spec(image, transform, accept);
        let limits = self.render_limits();
        let mut size = transform::plan(image.width, image.height, &spec, &limits)
            .map_err(invalid_transform)?;
        let max_avif = self.settings.renditions.max_avif_pixels;
        let pixels = u64::from(size.0) * u64::from(size.1);
        if spec.format == OutputFormat::Avif && pixels > max_avif {
            if !negotiated {
                return Err(Error::InvalidInput {
                    target: "format",
                    message: format!(
                        "an AVIF rendition may have at most {max_avif} pixels, and this one \
                         would be {}x{}; ask for a smaller size, format=webp, or format=auto \
                         (which answers WebP at this size)",
                        size.0, size.1
                    ),
                });
            }
            spec.format = OutputFormat::Webp;
            size = transform::plan(image.width, image.height, &spec, &limits)
                .map_err(invalid_transform)?;
        }
        Ok(Resolved {
            spec,
            negotiated,
            size,
        })
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
            // A preset can ask for more than an image allows (a crop, a size cap, an AVIF
            // too large); such an image simply does not offer that target.
            if let Ok(resolved) = self.resolve(&image, &Transform::of_preset(preset), None) {
                let extension = if resolved.negotiated {
                    image.format.extension()
                } else {
                    resolved.spec.format.extension()
                };
                targets.push(Target {
                    name: preset.name.clone(),
                    width: resolved.size.0,
                    height: resolved.size.1,
                    extension,
                });
            }
        }
        Described { image, targets }
    }

    /// Refuses a transform this image cannot be rendered with (a crop outside it, a size
    /// over the cap, an AVIF over its budget), naming the parameter.
    pub(crate) fn check_transform(&self, image: &Image, transform: &Transform) -> Result<()> {
        self.resolve(image, transform, None).map(|_| ())
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
        let Resolved {
            spec, negotiated, ..
        } = self.resolve(image, &transform, accept)?;
        let hash = variant_name(&image.content_hash, &spec);
        let key = BlobStore::variant_key(
            image.environment_id,
            image.id,
            &hash,
            spec.format.extension(),
        );
        let size = self.ensure_variant(image, &spec, &key).await?;
        Ok(Variant {
            key,
            etag: ["\"", &hash, "\""].concat(),
            format: spec.format,
            negotiated,
            size,
            spec,
        })
    }

    /// Opens a variant's bytes, or a range of them. A variant evicted since it was looked
    /// up (the budget made room for a newer one) is rendered again: the same spec gives
    /// the same bytes under the same name.
    pub async fn open_variant(
        &self,
        image: &Image,
        variant: &Variant,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobRead> {
        match self.blobs.get(&variant.key, range.clone()).await {
            Err(Error::NotFound(_)) => {
                self.ensure_variant(image, &variant.spec, &variant.key)
                    .await?;
                self.blobs.get(&variant.key, range).await
            }
            read => read,
        }
    }

    /// Renders and stores the variant unless it is there already; returns its size.
    async fn ensure_variant(&self, image: &Image, spec: &RenderSpec, key: &str) -> Result<u64> {
        if let Some(size) = self.blobs.size(key).await? {
            self.rendition_hits.increment(1);
            self.variant_budget.used(key);
            return Ok(size);
        }
        // Another image's store may evict this variant right after it was written (the
        // environment's budget); it is then rendered once more.
        for _ in 0..2 {
            self.render_variant(image, spec.clone(), key).await?;
            if let Some(size) = self.blobs.size(key).await? {
                return Ok(size);
            }
        }
        Err(Error::Blobs(format!("variant {key} vanished")))
    }

    /// Renders the variant once however many requests wait for it, stores it, and keeps
    /// the stored variants within their budget.
    async fn render_variant(&self, image: &Image, spec: RenderSpec, key: &str) -> Result<()> {
        let blobs = self.blobs.clone();
        let processing = self.processing.clone();
        let budget = self.variant_budget.clone();
        let limits = self.render_limits();
        // The limits uploads are checked with: what was accepted can be rendered, and an
        // original stored before a limit existed costs no more than a new one.
        let media = self.settings.media.clone();
        let (original, format, variant_key) =
            (image.blob_key.clone(), image.format, key.to_string());
        let (environment_id, image_id) = (image.environment_id, image.id);
        self.flights
            .run(key, async move {
                // Another request may have finished it while this one was queued.
                if blobs.size(&variant_key).await?.is_some() {
                    return Ok(());
                }
                let source = blobs.read_all(&original).await?;
                let rendered = processing
                    .run(move || {
                        transform::render_within(&source, format, &spec, &limits, &media)
                            .map_err(Error::from)
                    })
                    .await?;
                let size = rendered.bytes.len() as u64;
                blobs.put(&variant_key, rendered.bytes).await?;
                metrics::counter!("imagestore_renditions_total", "cache" => "miss").increment(1);
                budget
                    .stored(environment_id, image_id, &variant_key, size)
                    .await;
                Ok(())
            })
            .await
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
