//! Schemas that exist only to describe request bodies in `/openapi.json`. The handlers
//! read these bodies as streams or loose JSON (`upload`, `native_json`, `akana`), so no
//! type of theirs could be derived into a schema; these say what a client may send.
//! Nothing constructs them.

use serde::Serialize;
use utoipa::ToSchema;

/// An image's bytes as the whole request body: JPEG, PNG, GIF, WebP, TIFF or BMP, read
/// from the bytes themselves (the `Content-Type` is not consulted). A
/// `Content-Disposition: attachment; filename=…` header names it.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ImageBytes(pub Vec<u8>);

/// An image as `multipart/form-data`: text fields first, then one file part (the first
/// part with a filename, named `file`, or of a non-text type).
#[derive(ToSchema)]
pub struct MultipartImage {
    /// The image; the part may have any name, `file` is usual.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A native upload as `multipart/form-data`: an optional `subject` field, then one file
/// part (the first part with a filename, named `file`, or of a non-text type).
#[derive(ToSchema)]
pub struct MultipartNativeImage {
    /// What the image is about, such as `user:42`; before the file part.
    pub subject: Option<String>,
    /// The image; the part may have any name, `file` is usual.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

// Serialize is derived here and below only so that serde's `untagged`, `rename_all` and
// `rename` shape the schemas as the handler reads the JSON; nothing is serialized.
/// The JSON forms of a native create: claim a dropbox upload, or register an image
/// stored elsewhere by its targets.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum NativeJsonCreate {
    Claim(ClaimUpload),
    External(ExternalImage),
}

/// Claim an Akana dropbox upload as a stored image.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimUpload {
    /// The PictureID `POST /api/dropbox/pictures` answered (a number or a string of digits).
    pub upload_id: i64,
    /// What the image is about, such as `user:42`.
    pub subject: Option<String>,
    /// Make it the subject's current image.
    pub slot: Option<bool>,
}

/// An image stored elsewhere, registered by its targets; nothing is fetched.
#[derive(Serialize, ToSchema)]
pub struct ExternalImage {
    pub targets: Vec<ExternalTargetBody>,
}

/// One target of an external image.
#[derive(Serialize, ToSchema)]
pub struct ExternalTargetBody {
    pub id: String,
    /// The target's name; absent: its id.
    pub name: Option<String>,
    /// Pixels (a number or a string of digits).
    pub width: u32,
    /// Pixels (a number or a string of digits).
    pub height: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub href: String,
}

/// A crop rectangle in the picture's displayed pixels (`X`, `Y`, `Width`, `Height`, `w`
/// and `h` are accepted too).
#[derive(ToSchema)]
pub struct CropRequest {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}
