//! The native API under `/v1`, shaped like PingOne's: images (upload, JSON create, read,
//! list, delete) and their JSON shapes; the control plane (environments, keys, upload
//! tokens for direct browser uploads, the audit log); presets with signed URLs and their
//! secrets; and browser sessions.

pub mod audit;
pub mod environments;
pub mod erasure;
pub mod images;
pub mod json_create;
pub mod keys;
pub mod paging;
pub mod presets;
pub mod sessions;
pub mod subjects;
pub mod upload_tokens;
pub mod views;
pub mod webhooks;

use axum::Json;
use axum::extract::rejection::JsonRejection;

use crate::error::Error;

/// A JSON body, or the 400 (target `body`) every native route answers for one it cannot
/// read.
pub fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Error> {
    body.map(|Json(body)| body)
        .map_err(|e| Error::InvalidInput {
            target: "body",
            message: e.body_text(),
        })
}
