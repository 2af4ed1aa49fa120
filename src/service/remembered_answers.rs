//! Metadata answers (`GET /v1/environments/{envId}/images/{imageId}`) remembered as the
//! bytes sent, so that a hot image's description is not rebuilt and serialized for every
//! request: building the view and serializing it were 14% of the server's CPU on that
//! route, the largest part that was our own code. The edge renders an answer; the service
//! decides whether the caller may have it and whether a remembered one is still exact.
//!
//! An answer is a pure function of catalog rows (the image, its environment's presets)
//! and of the public URL, so it is exactly as fresh as the catalog generation it was built
//! under. That generation comes from the same witness the catalog's own memo uses (see
//! `storage::catalog::stamped`). It is taken *before* the rows are read, so an answer
//! built from rows older than some commit is kept under a generation the next lookup has
//! already left. Where the catalog has no generation (PostgreSQL), nothing is remembered.
//!
//! Access is checked on every request, before a remembered answer is given; only the
//! bytes are shared.

use bytes::Bytes;
use uuid::Uuid;

use super::{AnyImage, Service};
use crate::domain::{Principal, Scope};
use crate::error::Result;
use crate::storage::generational::Generational;

/// How many answers are remembered; one is 1 to 2 KB, so a few MB at most.
pub(super) const REMEMBERED_ANSWERS: usize = 4_096;

/// Rendered answers by (environment, image), each with the generation it was built in.
pub(super) type RememberedAnswers = Generational<(Uuid, Uuid), Bytes>;

impl Service {
    /// The answer describing an image, as `render` writes it: remembered while the
    /// catalog is unchanged, given only to a caller who may read the environment.
    pub async fn image_answer<F>(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
        render: F,
    ) -> Result<Bytes>
    where
        F: FnOnce(AnyImage) -> Result<Bytes>,
    {
        let generation = self.catalog.generation();
        let key = (environment_id, id);
        if let Some(answer) = self.answers.get(generation, &key) {
            // The same check `any_image` makes before it reads anything.
            principal.require(environment_id, Scope::ImagesRead)?;
            return Ok(answer);
        }
        let image = self.any_image(principal, environment_id, id).await?;
        let answer = render(image)?;
        self.answers.keep(generation, key, answer.clone());
        Ok(answer)
    }
}
