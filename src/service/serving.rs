//! Serving an href, decided here in one call: [`Service::resolve_href`] takes what the
//! request names (the image, its serve key, the target, the extension, the rendition
//! parameters and their signature, the caller's credential if any) and answers what is
//! served (the original or a variant) with every fact the HTTP edge needs for its headers:
//! the ETag, the media type, the size, whether `Accept` chose the format, the time to
//! show as `Last-Modified`, and how long caches may keep it. The edge keeps only the
//! parsing, conditional requests and ranges, and the headers themselves.
//!
//! Every access decision about an href is made here, in this order:
//! 1. the serve key must be the image's (a wrong one is as absent as a missing image);
//! 2. `original` with no parameters needs nothing more: the href is the capability;
//! 3. `original` with rendition parameters needs a credential of the image's environment
//!    with `images:read`, or, with no credential at all, a valid signature of the path
//!    (a credential that is invalid is refused as such, never replaced by a signature);
//! 4. a preset target takes no parameters, and needs nothing more;
//! 5. the extension must be the one the target is served as (a negotiated preset keeps
//!    the original's), else the href names nothing.

use std::future::Future;
use std::time::SystemTime;

use uuid::Uuid;

use super::renditions::Variant;
use super::{RenditionSource, Service, Transform};
use crate::domain::{Image, Principal, Scope};
use crate::error::{Error, Result};
use crate::storage::blobs::BlobRead;

/// Who is asking, as far as the edge could tell from the request's credentials.
pub enum HrefCaller {
    /// No credential was presented.
    Anonymous,
    /// A credential that resolved to this principal.
    Principal(Principal),
    /// A credential was presented and refused (or could not be checked).
    Refused(Error),
}

/// An href's query: rendition parameters and their signature.
#[derive(Debug, Default)]
pub struct RenditionQuery {
    pub transform: Transform,
    pub expires: Option<i64>,
    pub signature: Option<String>,
}

/// What an href asks for: its parts, as the edge parsed them. The query's parse is
/// passed as it came out, so that an href naming nothing is a 404 whatever its query.
pub struct HrefRequest<'a> {
    pub environment_id: Uuid,
    pub image_id: Uuid,
    pub serve_key: &'a str,
    /// `original`, or a preset's name.
    pub target: &'a str,
    pub extension: &'a str,
    /// The path a signature covers, as requested (`/images/{envId}/{file}`).
    pub signed_path: &'a str,
    pub query: Result<RenditionQuery>,
    pub accept: Option<&'a str>,
}

/// How long caches may keep an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// The bytes behind the URL never change: a year, immutable.
    Immutable,
    /// The bytes behind the URL may change (a preset href): revalidate before each use.
    Revalidate,
    /// A signed URL that stops verifying at this Unix time: never kept beyond it.
    Until(i64),
}

/// What an href serves, and the facts its headers are made of.
pub struct ServedHref {
    pub image: Image,
    /// None: the original.
    variant: Option<Variant>,
    pub etag: String,
    pub mime: &'static str,
    pub size: u64,
    /// The format was negotiated from `Accept`, so caches must vary on it.
    pub vary_accept: bool,
    /// None where whole seconds could not tell two versions apart (a preset's bytes may
    /// change within a second of the last ones).
    pub last_modified: Option<SystemTime>,
    pub caching: Caching,
}

impl ServedHref {
    /// An image's stored original, as every dialect serves it.
    pub fn original(image: Image) -> ServedHref {
        ServedHref {
            etag: format!("\"{}\"", image.content_hash),
            mime: image.format.mime_type(),
            size: image.byte_size,
            vary_accept: false,
            last_modified: Some(image.created_at.into()),
            caching: Caching::Immutable,
            variant: None,
            image,
        }
    }

    fn variant(image: Image, variant: Variant, caching: Caching) -> ServedHref {
        ServedHref {
            etag: variant.etag.clone(),
            mime: variant.format.mime_type(),
            size: variant.size,
            vary_accept: variant.negotiated,
            last_modified: match caching {
                Caching::Revalidate => None,
                Caching::Immutable | Caching::Until(_) => Some(image.created_at.into()),
            },
            caching,
            variant: Some(variant),
            image,
        }
    }
}

impl Service {
    /// Decides what an href serves, and whether the caller may have it (see the module).
    /// The caller's credential is asked for (`caller`) only when parameters need it.
    pub async fn resolve_href<F, Fut>(
        &self,
        request: HrefRequest<'_>,
        caller: F,
    ) -> Result<ServedHref>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = HrefCaller>,
    {
        let not_found = || Error::NotFound("image");
        let image = self
            .published_image(request.environment_id, request.image_id, request.serve_key)
            .await?;
        let query = request.query?;
        let has_parameters = !query.transform.is_empty() || query.signature.is_some();
        if request.target == "original" {
            if !request
                .extension
                .eq_ignore_ascii_case(image.format.extension())
            {
                return Err(not_found());
            }
            if !has_parameters {
                return Ok(ServedHref::original(image));
            }
            self.authorize_rendition(
                request.environment_id,
                request.signed_path,
                &query,
                caller().await,
            )
            .await?;
            let variant = self
                .variant(
                    &image,
                    RenditionSource::Adhoc(&query.transform),
                    request.accept,
                )
                .await?;
            let caching = query.expires.map_or(Caching::Immutable, Caching::Until);
            return Ok(ServedHref::variant(image, variant, caching));
        }
        if has_parameters {
            return Err(Error::InvalidInput {
                target: "query",
                message: "preset hrefs take no parameters".into(),
            });
        }
        let preset = self
            .published_preset(request.environment_id, request.target)
            .await?;
        let variant = self
            .variant(&image, RenditionSource::Preset(&preset), request.accept)
            .await?;
        let served_as = if variant.negotiated {
            image.format.extension()
        } else {
            variant.format.extension()
        };
        if !request.extension.eq_ignore_ascii_case(served_as) {
            return Err(not_found());
        }
        Ok(ServedHref::variant(image, variant, Caching::Revalidate))
    }

    /// Opens the bytes an href serves, or a range of them.
    pub async fn open_href(
        &self,
        served: &ServedHref,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobRead> {
        match &served.variant {
            None => self.open_original(&served.image, range).await,
            Some(variant) => self.open_variant(&served.image, variant, range).await,
        }
    }

    /// Rendition parameters on an original's href: a credential of the image's
    /// environment allows any; without one, only a valid signature of the path does.
    async fn authorize_rendition(
        &self,
        environment_id: Uuid,
        signed_path: &str,
        query: &RenditionQuery,
        caller: HrefCaller,
    ) -> Result<()> {
        match caller {
            HrefCaller::Principal(principal) => {
                principal.require(environment_id, Scope::ImagesRead)
            }
            HrefCaller::Refused(error) => Err(error),
            HrefCaller::Anonymous => {
                self.verify_rendition_signature(
                    environment_id,
                    signed_path,
                    &query.transform,
                    query.expires,
                    query.signature.as_deref(),
                )
                .await
            }
        }
    }
}
