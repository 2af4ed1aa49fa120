//! A full disk told apart from every other storage failure. A write refused for lack of
//! space (ENOSPC) or quota (EDQUOT), by the blob directory, the upload spool, SQLite or
//! PostgreSQL, becomes `Error::StorageFull` (507 Insufficient Storage), not a generic 500
//! nor a 503 that tells the client to retry in two seconds: retrying does not free space.
//!
//! Each such error is remembered for [`FULL_REMEMBERED`], and readiness answers not-ready
//! meanwhile, so that a load balancer stops sending uploads to an instance whose storage
//! is full. A remembered failure, not a probe of free space, because only the engines know
//! what "full" means for them (a quota, a tablespace, a bucket) and they say so by failing.

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::error::Error;

/// How long after the last "storage is full" the instance reports itself not ready. Short,
/// because nothing announces that space was freed: the next write after it proves it.
pub const FULL_REMEMBERED: Duration = Duration::from_secs(30);

/// When storage last reported itself full, in milliseconds since the epoch (0: never).
static LAST_FULL_MILLIS: AtomicI64 = AtomicI64::new(0);

/// Whether an I/O error means the file system (or the user's quota on it) is full.
pub fn is_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Whether any error in an error's chain of sources is an I/O error saying storage is full.
pub fn full_in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(current) = next {
        if current.downcast_ref::<io::Error>().is_some_and(is_full) {
            return true;
        }
        next = current.source();
    }
    false
}

/// Notes that storage is full now (see [`recently_full`]).
pub fn note_full() {
    LAST_FULL_MILLIS.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
}

/// Whether storage reported itself full within the last [`FULL_REMEMBERED`].
pub fn recently_full() -> bool {
    let last = LAST_FULL_MILLIS.load(Ordering::Relaxed);
    let window = i64::try_from(FULL_REMEMBERED.as_millis()).unwrap_or(i64::MAX);
    last != 0 && chrono::Utc::now().timestamp_millis().saturating_sub(last) < window
}

/// A failed I/O operation of the blob store or the spool: `StorageFull` when the disk is
/// full, a blob-store failure otherwise.
pub fn blob_io_error(context: &str, error: io::Error) -> Error {
    if is_full(&error) {
        Error::storage_full("blob store", format!("{context}: {error}"))
    } else {
        Error::Blobs(format!("{context}: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_and_edquot_become_storage_full_and_are_remembered() {
        for raw in [libc::ENOSPC, libc::EDQUOT] {
            let error = blob_io_error("writing", io::Error::from_raw_os_error(raw));
            assert!(matches!(error, Error::StorageFull { .. }), "{error:?}");
        }
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(matches!(
            blob_io_error("writing", full),
            Error::StorageFull { .. }
        ));
        assert!(recently_full());
        let other = blob_io_error("writing", io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(other, Error::Blobs(_)), "{other:?}");
    }

    #[test]
    fn a_full_disk_is_found_under_a_stores_error() {
        let wrapped = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(io::Error::from_raw_os_error(libc::ENOSPC)),
        };
        assert!(matches!(Error::from(wrapped), Error::StorageFull { .. }));
        let refused = object_store::Error::Generic {
            store: "S3",
            source: Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)),
        };
        assert!(matches!(Error::from(refused), Error::Unavailable { .. }));
    }
}
