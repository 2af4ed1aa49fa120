//! The JSON forms of `POST /v1/environments/{envId}/images`: claiming a dropbox item
//! (`{"uploadId": 1001, "subject": "user:42", "slot": true}`) and registering an image by
//! reference (PingOne's `{"targets": [{"id", "width", "height", "type", "href"}]}`, where
//! width and height may be strings). Nothing is fetched from external hrefs.

use std::collections::BTreeMap;

use axum::body::Body;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::{ExternalImage, ExternalTarget, Principal, Subject};
use crate::error::{Error, Result};
use crate::http::native::views::{
    EnvironmentRef, ImageLinks, ImageView, TargetView, image_view, iso_millis,
};
use crate::http::state::AppState;

/// Largest JSON body accepted here.
const MAX_JSON_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonCreate {
    #[serde(rename_all = "camelCase")]
    Claim {
        upload_id: Value,
        subject: Option<String>,
        slot: Option<bool>,
    },
    External {
        targets: Vec<Value>,
    },
}

fn invalid(target: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidInput {
        target,
        message: message.into(),
    }
}

/// A number sent as a JSON number or as a string of digits, as PingOne's example does.
fn whole_number(value: Option<&Value>, target: &'static str) -> Result<u64> {
    let message = format!("{target} must be a whole number");
    match value {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| invalid(target, message)),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| invalid(target, message)),
        _ => Err(invalid(target, message)),
    }
}

fn text(value: Option<&Value>, target: &'static str) -> Result<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 2048 => Ok(s.clone()),
        _ => Err(invalid(
            target,
            format!("{target} must be a non-empty string"),
        )),
    }
}

fn external_target(value: &Value) -> Result<ExternalTarget> {
    let id = text(value.get("id"), "id")?;
    let dimension = |key: &'static str| -> Result<u32> {
        u32::try_from(whole_number(value.get(key), key)?)
            .map_err(|_| invalid(key, format!("{key} is too large")))
    };
    Ok(ExternalTarget {
        // PingOne's create names no target; a `name` may be given, else the id keys it.
        name: match value.get("name") {
            Some(name) => text(Some(name), "name")?,
            None => id.clone(),
        },
        width: dimension("width")?,
        height: dimension("height")?,
        kind: text(value.get("type"), "type")?,
        href: text(value.get("href"), "href")?,
        id,
    })
}

/// Handles a JSON body posted to the images collection; answers the image view.
pub async fn create_from_json(
    state: &AppState,
    principal: &Principal,
    env: Uuid,
    body: Body,
) -> Result<ImageView> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| {
            invalid(
                "body",
                format!("a JSON body must be under {MAX_JSON_BYTES} bytes"),
            )
        })?;
    let request: JsonCreate = serde_json::from_slice(&bytes).map_err(|_| {
        invalid("body", "expected {\"uploadId\": …} to claim an upload, or {\"targets\": […]} to register external targets")
    })?;
    match request {
        JsonCreate::Claim {
            upload_id,
            subject,
            slot,
        } => {
            let number = i64::try_from(whole_number(Some(&upload_id), "uploadId")?)
                .map_err(|_| invalid("uploadId", "uploadId is too large"))?;
            let subject = subject.as_deref().map(Subject::parse).transpose()?;
            let described = state
                .service
                .claim(principal, env, number, subject, slot.unwrap_or(false))
                .await?;
            Ok(image_view(state, &described))
        }
        JsonCreate::External { targets } => {
            let targets = targets
                .iter()
                .map(external_target)
                .collect::<Result<Vec<_>>>()?;
            let image = state
                .service
                .register_external(principal, env, targets)
                .await?;
            Ok(external_view(state, &image))
        }
    }
}

/// An image registered by reference, in the same shape as a stored one.
pub fn external_view(state: &AppState, image: &ExternalImage) -> ImageView {
    let base = &state.public_url;
    let env = image.environment_id;
    let targets: BTreeMap<String, TargetView> = image
        .targets
        .iter()
        .map(|t| {
            let view = TargetView {
                id: t.id.clone(),
                width: t.width,
                height: t.height,
                kind: t.kind.clone(),
                href: t.href.clone(),
            };
            (t.name.clone(), view)
        })
        .collect();
    ImageView {
        links: ImageLinks::new(base, env, image.id),
        id: image.id,
        targets,
        environment: EnvironmentRef { id: env },
        created_at: iso_millis(image.created_at),
        updated_at: iso_millis(image.created_at),
        number: None,
        subject: None,
        filename: None,
        size: None,
        frames: None,
        content_hash: None,
        placeholder: None,
    }
}
