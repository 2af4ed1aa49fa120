//! The JSON shapes of the native API (PingOne's image resource, its links and its list
//! page) and how a described image becomes one. Shared by every native handler and by the
//! environments, presets and sessions routes that link to images or print times.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::state::AppState;
use crate::service::Described;

#[derive(Serialize, ToSchema)]
pub struct Link {
    pub href: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImageLinks {
    #[serde(rename = "self")]
    pub self_link: Link,
    pub environment: Link,
}

/// One rendition of an image: `original` always, then one per preset.
#[derive(Serialize, ToSchema)]
pub struct TargetView {
    pub id: String,
    pub width: u32,
    pub height: u32,
    /// Lowercase format: `jpg`, `png`, `gif`, `webp`, `tiff` or `bmp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Serves the bytes; needs no credential.
    pub href: String,
}

impl ImageLinks {
    pub fn new(base: &str, env: Uuid, image: Uuid) -> ImageLinks {
        ImageLinks {
            self_link: Link {
                href: format!("{base}/v1/environments/{env}/images/{image}"),
            },
            environment: Link {
                href: format!("{base}/v1/environments/{env}"),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EnvironmentRef {
    pub id: Uuid,
}

/// An image, in PingOne's shape plus a few extra facts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageView {
    #[serde(rename = "_links")]
    pub links: ImageLinks,
    pub id: Uuid,
    pub targets: BTreeMap<String, TargetView>,
    pub environment: EnvironmentRef,
    /// ISO 8601, UTC, milliseconds.
    pub created_at: String,
    pub updated_at: String,
    /// Deployment-wide numeric id (stored images only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Stored size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    /// BLAKE3 of the stored bytes, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// What to paint before the image arrives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<PlaceholderView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaceholderView {
    /// ThumbHash, standard base64.
    pub thumbhash: String,
    /// `#rrggbb`.
    pub dominant_color: String,
}

#[derive(Serialize, ToSchema)]
pub struct ListLinks {
    #[serde(rename = "self")]
    pub self_link: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddedImages {
    pub images: Vec<ImageView>,
}

#[derive(Serialize, ToSchema)]
pub struct ImageList {
    #[serde(rename = "_links")]
    pub links: ListLinks,
    #[serde(rename = "_embedded")]
    pub embedded: EmbeddedImages,
    /// Images on this page.
    pub count: usize,
}

pub fn image_view(state: &AppState, described: &Described) -> ImageView {
    let base = &state.public_url;
    let image = &described.image;
    let env = image.environment_id;
    let targets = described
        .targets
        .iter()
        .map(|target| {
            let view = TargetView {
                id: target.name.clone(),
                width: target.width,
                height: target.height,
                kind: target.extension.into(),
                href: crate::http::content::target_href(
                    base,
                    image,
                    &target.name,
                    target.extension,
                ),
            };
            (target.name.clone(), view)
        })
        .collect();
    ImageView {
        links: ImageLinks::new(base, env, image.id),
        id: image.id,
        targets,
        environment: EnvironmentRef { id: env },
        created_at: iso_millis(image.created_at),
        updated_at: iso_millis(image.updated_at),
        number: Some(image.number),
        subject: image.subject.as_ref().map(|s| s.as_str().to_string()),
        filename: image.filename.clone(),
        size: Some(image.byte_size),
        frames: Some(image.frames),
        content_hash: Some(image.content_hash.clone()),
        placeholder: image.placeholder.as_ref().map(|p| PlaceholderView {
            thumbhash: p.thumbhash.clone(),
            dominant_color: p.dominant_color.clone(),
        }),
    }
}

pub fn iso_millis(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
