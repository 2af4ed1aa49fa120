//! What an object store's failure means in domain terms, decided beside the code that
//! drives the store, so that nothing above storage names `object_store`.

use crate::error::Error;

impl From<object_store::Error> for Error {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Error::NotFound("blob"),
            // A local store's write refused by a full disk, under the store's own error.
            _ if crate::storage::capacity::full_in_chain(&error) => {
                Error::storage_full("blob store", error.to_string())
            }
            // What a store's client reports when a request failed on the way (connection
            // refused, timed out after its retries, a 5xx), or the local disk refused.
            object_store::Error::Generic { .. } => Error::Unavailable {
                engine: "blob store",
                message: error.to_string(),
            },
            other => Error::Blobs(other.to_string()),
        }
    }
}
