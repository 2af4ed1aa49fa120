//! Metadata answers (`GET /v1/environments/{envId}/images/{imageId}`) remembered as the
//! JSON bytes sent, so that a hot image's description is not rebuilt and serialized for
//! every request: building the view and serializing it were 14% of the server's CPU on
//! that route, the largest part that was our own code.
//!
//! A view is a pure function of catalog rows (the image, its environment's presets) and
//! of the public URL, so it is exactly as fresh as the catalog generation it was built
//! under. That generation comes from the same witness the catalog's own memo uses (on
//! SQLite, the WAL-index header, which any commit by any process changes). It is taken
//! *before* the rows are read, so a view built from rows older than some commit is kept
//! under a generation the next lookup has already left. Where the catalog has no
//! generation (PostgreSQL), nothing is remembered.
//!
//! Access is checked on every request, before a remembered view is answered; only the
//! bytes are shared.

use axum::body::Bytes;
use quick_cache::sync::Cache;
use uuid::Uuid;

/// How many views are remembered; one is 1 to 2 KB, so a few MB at most.
const REMEMBERED_VIEWS: usize = 4_096;

/// Serialized views by (environment, image), each with the generation it was built in.
pub struct RenderedViews {
    views: Cache<(Uuid, Uuid), (u64, Bytes)>,
}

impl Default for RenderedViews {
    fn default() -> Self {
        RenderedViews {
            views: Cache::new(REMEMBERED_VIEWS),
        }
    }
}

impl RenderedViews {
    /// The view kept for this image in this generation, if any.
    pub fn get(&self, generation: Option<u64>, environment_id: Uuid, id: Uuid) -> Option<Bytes> {
        let generation = generation?;
        match self.views.get(&(environment_id, id)) {
            Some((kept, json)) if kept == generation => Some(json),
            _ => None,
        }
    }

    /// Keeps a view built from rows read after `generation` was taken.
    pub fn keep(&self, generation: Option<u64>, environment_id: Uuid, id: Uuid, json: Bytes) {
        if let Some(generation) = generation {
            self.views.insert((environment_id, id), (generation, json));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_answered_only_in_the_generation_it_was_built_in() {
        let views = RenderedViews::default();
        let (env, id) = (Uuid::new_v4(), Uuid::new_v4());
        views.keep(Some(3), env, id, Bytes::from_static(b"{}"));
        assert_eq!(views.get(Some(3), env, id).as_deref(), Some(&b"{}"[..]));
        assert!(views.get(Some(4), env, id).is_none(), "a commit since");
        assert!(views.get(None, env, id).is_none(), "no witness");
        assert!(views.get(Some(3), env, Uuid::new_v4()).is_none());
        views.keep(None, env, id, Bytes::from_static(b"[]"));
        assert_eq!(views.get(Some(3), env, id).as_deref(), Some(&b"{}"[..]));
    }
}
