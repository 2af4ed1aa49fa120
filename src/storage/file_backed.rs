//! Bytes read from a local blob file that remember which file, and where in it, they
//! came from, so that the socket writer can send them with `sendfile(2)` instead of
//! copying them from memory.
//!
//! Serving a 700 KB photo from memory, the server's `writev` copies every byte into the
//! socket's buffers; nginx's `sendfile` hands the kernel the page-cache pages instead.
//! hyper only ever sees a body as bytes in memory, so the bytes keep their ordinary heap
//! copy (what hyper holds and what every other reader uses), and a registry, keyed by
//! the address of that copy, tells [`file_behind`] which open file holds the same bytes.
//! The socket writer (`http::edge::served_stream`) asks it about every large buffer hyper gives
//! it to write.
//!
//! The answer is exact because of two facts. A buffer passed to a write is borrowed from
//! a live `Bytes`, and a registration lasts exactly as long as the heap copy it describes
//! (it is removed in `drop`, before the memory is freed), so an address found in the
//! registry belongs to the bytes being written. And a blob file never changes once it is
//! in place: the local store writes a staged file and renames it, and a delete unlinks
//! it, which leaves an open descriptor reading the same bytes. A file truncated by
//! something else makes `sendfile` come up short, and the writer then falls back to the
//! copy in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

/// Below this, a body is cheaper to copy than to look up; nor is such a read registered,
/// so small blobs (avatars, thumbnails) hold no file descriptor.
pub const FILE_BACKED_MIN: usize = 64 << 10;

/// Live registrations by the start address of their heap copy.
static REGISTRY: RwLock<BTreeMap<usize, Registration>> = RwLock::new(BTreeMap::new());

struct Registration {
    len: usize,
    file: Arc<File>,
    offset: u64,
}

/// The owner of file-backed bytes: the heap copy, registered while it lives.
struct FileBacked {
    bytes: Box<[u8]>,
}

impl AsRef<[u8]> for FileBacked {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for FileBacked {
    fn drop(&mut self) {
        let start = self.bytes.as_ptr() as usize;
        REGISTRY
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&start);
    }
}

/// `bytes`, read from `file` at `offset`, as `Bytes` that remember it; plain bytes when
/// they are too few to be worth sending from the file.
pub fn file_backed(bytes: Vec<u8>, file: Arc<File>, offset: u64) -> Bytes {
    if bytes.len() < FILE_BACKED_MIN {
        return Bytes::from(bytes);
    }
    let owner = FileBacked {
        bytes: bytes.into_boxed_slice(),
    };
    let registration = Registration {
        len: owner.bytes.len(),
        file,
        offset,
    };
    REGISTRY
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(owner.bytes.as_ptr() as usize, registration);
    Bytes::from_owner(owner)
}

/// The open file and the offset in it that hold exactly `buffer`, when `buffer` lies
/// within file-backed bytes that are still alive (see the module documentation).
pub fn file_behind(buffer: &[u8]) -> Option<(Arc<File>, u64)> {
    if buffer.len() < FILE_BACKED_MIN {
        return None;
    }
    let address = buffer.as_ptr() as usize;
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let (&start, registration) = registry.range(..=address).next_back()?;
    let skip = address - start;
    if skip + buffer.len() > registration.len {
        return None;
    }
    Some((registration.file.clone(), registration.offset + skip as u64))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    use super::*;

    fn file_with(contents: &[u8]) -> Arc<File> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(contents).unwrap();
        Arc::new(file)
    }

    #[test]
    fn a_slice_of_file_backed_bytes_is_found_at_its_offset_in_the_file() {
        let contents: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let file = file_with(&contents);
        let bytes = file_backed(contents[1000..].to_vec(), file, 1000);
        let part = bytes.slice(5000..150_000);
        let (found, offset) = file_behind(&part).expect("registered");
        assert_eq!(offset, 6000);
        let mut read = vec![0; part.len()];
        found.read_exact_at(&mut read, offset).unwrap();
        assert_eq!(read, part, "the file holds the same bytes at that offset");

        // A buffer running past the end of the heap copy is not the file's.
        let copy = bytes.to_vec();
        assert!(file_behind(&copy).is_none(), "another allocation");
        drop((part, bytes));
        assert!(file_behind(&copy).is_none());
    }

    #[test]
    fn registrations_end_with_the_last_clone_and_small_reads_are_never_made() {
        let file = file_with(&[7; 100_000]);
        let bytes = file_backed(vec![7; 100_000], file.clone(), 0);
        let clone = bytes.clone();
        drop(bytes);
        assert!(file_behind(&clone).is_some(), "a clone keeps it alive");
        assert_eq!(
            Arc::strong_count(&file),
            2,
            "the registration holds the file"
        );
        drop(clone);
        assert_eq!(Arc::strong_count(&file), 1, "removed with the memory");

        let small = file_backed(vec![7; FILE_BACKED_MIN - 1], file.clone(), 0);
        assert!(file_behind(&small).is_none());
        assert_eq!(Arc::strong_count(&file), 1, "never registered");
    }
}
