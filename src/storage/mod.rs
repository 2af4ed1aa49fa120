//! Where state lives: the catalog (rows, the commit point) and the blob store (bytes).
//! Only this module knows SQL and object keys; the service decides the order in which
//! they are written.

mod blob_errors;
mod blob_keys;
mod blob_reads;
pub mod blobs;
pub mod capacity;
pub mod catalog;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod durable_directory;
pub mod file_backed;
pub mod generational;
pub mod memo;
mod s3;
pub mod staging;

pub use blobs::BlobStore;
pub use catalog::Catalog;
