//! Metadata answers (`GET /v1/environments/{envId}/images/{imageId}`) remembered as the
//! JSON bytes sent, so that a hot image's description is not rebuilt and serialized for
//! every request: building the view and serializing it were 14% of the server's CPU on
//! that route, the largest part that was our own code.
//!
//! A view is a pure function of catalog rows (the image, its environment's presets) and
//! of the public URL, so it is exactly as fresh as the catalog generation it was built
//! under. That generation comes from the same witness the catalog's own memo uses (on
//! SQLite, `PRAGMA data_version`, which any commit by any process changes). It is taken
//! *before* the rows are read, so a view built from rows older than some commit is kept
//! under a generation the next lookup has already left. Where the catalog has no
//! generation (PostgreSQL), nothing is remembered.
//!
//! Access is checked on every request, before a remembered view is answered; only the
//! bytes are shared.

use axum::body::Bytes;
use uuid::Uuid;

use crate::storage::generational::Generational;

/// How many views are remembered; one is 1 to 2 KB, so a few MB at most.
pub const REMEMBERED_VIEWS: usize = 4_096;

/// Serialized views by (environment, image), each with the generation it was built in.
pub type RenderedViews = Generational<(Uuid, Uuid), Bytes>;
