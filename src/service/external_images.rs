//! Images registered by reference (PingOne's JSON create): targets that live elsewhere,
//! nothing stored or fetched; and the lookup of any image id, stored or external, under
//! the same access check.

use chrono::Utc;
use uuid::Uuid;

use super::{Described, Service};
use crate::domain::{ExternalImage, ExternalTarget, Principal, Scope};
use crate::error::{Error, Result};

/// What an image id can name.
pub enum AnyImage {
    Stored(Box<Described>),
    External(ExternalImage),
}

impl Service {
    /// Registers an image whose targets live elsewhere. Nothing is fetched from the hrefs.
    pub async fn register_external(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        targets: Vec<ExternalTarget>,
    ) -> Result<ExternalImage> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        if targets.is_empty() || targets.len() > 32 {
            return Err(Error::InvalidInput {
                target: "targets",
                message: "give 1 to 32 targets".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        for target in &targets {
            // A URL on the wire is printable ASCII (anything else is percent-encoded), so
            // that is all an href may hold: no controls, spaces, bidi overrides, or the
            // line separators U+2028/2029 that end a JavaScript string literal.
            let href_ok = (target.href.starts_with("https://")
                || target.href.starts_with("http://"))
                && target.href.len() <= 2048
                && target.href.bytes().all(|b| b.is_ascii_graphic());
            if !href_ok {
                return Err(Error::InvalidInput {
                    target: "href",
                    message: "each href must be an http(s) URL of printable ASCII characters \
                              (percent-encode anything else), at most 2048 bytes"
                        .into(),
                });
            }
            if !names.insert(target.name.clone()) {
                return Err(Error::InvalidInput {
                    target: "targets",
                    message: format!("target {:?} is given twice", target.name),
                });
            }
        }
        let image = ExternalImage {
            id: Uuid::new_v4(),
            environment_id,
            created_at: Utc::now(),
            targets,
        };
        self.catalog.insert_external_image(&image).await?;
        Ok(image)
    }

    /// A stored image or, failing that, one registered by reference.
    pub async fn any_image(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<AnyImage> {
        // The access check comes first and on its own: the fallback below must never be
        // reached by a principal that `image` refused (another environment's key answers
        // NotFound too, and must not go on to find an external image there).
        principal.require(environment_id, Scope::ImagesRead)?;
        match self.image(principal, environment_id, id).await {
            Err(Error::NotFound("image")) => {
                match self.catalog.external_image(environment_id, id).await? {
                    Some(external) => Ok(AnyImage::External(external)),
                    None => Err(Error::NotFound("image")),
                }
            }
            other => other.map(|described| AnyImage::Stored(Box::new(described))),
        }
    }
}
