//! Test fixture: a SQLite catalog in a temporary directory holding one environment, one
//! image and one preset, for the tests of the SQLite read paths.

use std::path::Path;

use chrono::Utc;
use uuid::Uuid;

use super::Catalog;
use crate::domain::{Environment, FormatChoice, Image, NewImage, Placeholder, Preset};
use crate::media::ImageFormat;
use crate::media::transform::Fit;

pub(super) struct Seeded {
    pub catalog: Catalog,
    /// The catalog's URL, for opening it again as another instance would.
    pub url: String,
    pub environment: Environment,
    pub image: Image,
    pub preset: Preset,
}

impl Seeded {
    pub async fn open(dir: &Path) -> Seeded {
        let url = format!("sqlite:{}", dir.join("c.db").display());
        let catalog = Catalog::open(&url).await.unwrap();
        let environment = Environment {
            id: Uuid::new_v4(),
            name: "e".into(),
            created_at: Utc::now(),
            settings: Default::default(),
        };
        let audit = operator_change();
        catalog
            .insert_environment(&environment, &audit)
            .await
            .unwrap();
        let now = Utc::now();
        let image = catalog
            .insert_image(
                &NewImage {
                    id: Uuid::new_v4(),
                    environment_id: environment.id,
                    subject: None,
                    filename: Some("a.png".into()),
                    format: ImageFormat::Png,
                    byte_size: 10,
                    width: 3,
                    height: 4,
                    frames: 1,
                    content_hash: "h".into(),
                    serve_key: "k".into(),
                    blob_key: "b".into(),
                    created_at: now,
                    placeholder: Some(Placeholder {
                        thumbhash: "t".into(),
                        dominant_color: "#000000".into(),
                    }),
                    expires_at: None,
                },
                &[],
            )
            .await
            .unwrap()
            .expect("no quota applies");
        let preset = Preset {
            name: "thumb".into(),
            width: Some(64),
            height: None,
            fit: Fit::Cover,
            format: Some(FormatChoice::Auto),
            quality: 70,
            eager: true,
            created_at: now,
            updated_at: now,
        };
        let preset = catalog
            .put_preset(environment.id, &preset, &audit)
            .await
            .unwrap();
        Seeded {
            catalog,
            url,
            environment,
            image,
            preset,
        }
    }
}

/// An audit entry for the changes tests make.
pub(super) fn operator_change() -> crate::domain::AuditEntry {
    crate::domain::AuditEntry {
        environment_id: None,
        actor: "operator".into(),
        action: "test.change".into(),
        target: "test".into(),
        request_id: None,
    }
}
