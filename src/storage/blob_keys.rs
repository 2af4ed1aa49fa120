//! The blob key layout, spelled in this one place: `{environment}/{image}/original` and
//! `{environment}/{image}/variants/{name}.{ext}`. The environment comes first so that a
//! tenant's bytes can be listed or removed as a whole, and the sweeper can tell from a key
//! alone which image row should own it. Nothing outside `storage` builds or parses a key.

use uuid::Uuid;

use super::blobs::BlobStore;

impl BlobStore {
    /// Where an image's original is stored.
    pub fn original_key(environment_id: Uuid, image_id: Uuid) -> String {
        BlobStore::key(environment_id, image_id, "original")
    }

    /// Where a variant of an image is stored: its name (the variant's hash) and the
    /// extension of its format, under the image's variants prefix.
    pub fn variant_key(
        environment_id: Uuid,
        image_id: Uuid,
        name: &str,
        extension: &str,
    ) -> String {
        BlobStore::key(
            environment_id,
            image_id,
            &["variants/", name, ".", extension].concat(),
        )
    }

    /// Every blob of an image lives under `{environment}/{image}/`: the original at
    /// `original`, its variants under `variants/`. Only this module spells that layout.
    fn key(environment_id: Uuid, image_id: Uuid, name: &str) -> String {
        // Written without `format!`: this runs for every variant served.
        let mut key = String::with_capacity(2 * uuid::fmt::Hyphenated::LENGTH + 2 + name.len());
        let mut buffer = Uuid::encode_buffer();
        key.push_str(environment_id.hyphenated().encode_lower(&mut buffer));
        key.push('/');
        key.push_str(image_id.hyphenated().encode_lower(&mut buffer));
        key.push('/');
        key.push_str(name);
        key
    }

    /// The prefix under which an image's original and all its variants live.
    pub fn image_prefix(environment_id: Uuid, image_id: Uuid) -> String {
        format!("{environment_id}/{image_id}")
    }

    /// The image id a key belongs to, if the key has our shape.
    pub fn image_of_key(key: &str) -> Option<Uuid> {
        let mut parts = key.split('/');
        let _environment = parts.next()?;
        Uuid::parse_str(parts.next()?).ok()
    }

    /// The prefix under which an environment's blobs live.
    pub fn environment_prefix(environment_id: Uuid) -> String {
        environment_id.to_string()
    }

    /// The prefix under which an image's variants live (the original is beside it).
    pub fn variants_prefix(environment_id: Uuid, image_id: Uuid) -> String {
        BlobStore::key(environment_id, image_id, "variants")
    }

    /// Whether a key names a variant rather than an original.
    pub fn is_variant_key(key: &str) -> bool {
        key.split('/').nth(2) == Some("variants")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_environment_image_name() {
        let (environment, image) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            BlobStore::variant_key(environment, image, "ab", "webp"),
            format!("{environment}/{image}/variants/ab.webp")
        );
        assert_eq!(
            BlobStore::image_prefix(environment, image),
            format!("{environment}/{image}")
        );
    }
}
