//! The native API under `/v1`, shaped like PingOne's: images (upload, JSON create, read,
//! list, delete) and their JSON shapes, environments, presets with signed URLs and their
//! secrets, and browser sessions.

pub mod environments;
pub mod images;
pub mod json_create;
pub mod presets;
pub mod sessions;
pub mod views;
