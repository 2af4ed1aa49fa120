//! The first bytes of a SQLite `-shm` file, read through a shared memory mapping instead
//! of a `pread` per lookup.
//!
//! Every catalog lookup that [`super::stamped`] answers from memory first reads the
//! WAL-index header. As a `pread` that was one of the three system calls of a warm GET
//! (with the socket's read and write) and about 2.5% of the server's CPU under load.
//! SQLite itself maps this file in every process that has the database open and reads the
//! header from the mapping; this module does the same, read-only.
//!
//! The mapping is sound to read while other processes write the file: each 4-byte word
//! is loaded atomically with `Acquire` ordering (SQLite writes the header with plain
//! stores between memory barriers). A header read while a commit is writing it may mix
//! old and new words; such a header differs from the one recorded, so it only moves the
//! generation on, which costs a cache miss and never serves a stale row.
//!
//! Pages of a mapping beyond the end of its file fault with `SIGBUS`. SQLite truncates a
//! `-shm` file only when the first connection opens the database, and the stamp keeps a
//! connection open for its whole life; SQLite's own connections in this process map the
//! same file and would fault first if anything else truncated it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes of the WAL-index header compared between lookups (its first copy).
pub(super) const HEADER: usize = 48;

/// A read-only shared mapping of the first page of a `-shm` file.
pub(super) struct ShmHeader {
    start: NonNull<u8>,
}

// SAFETY: the mapping is read only through atomic loads, from any thread; it is unmapped
// once, in `drop`, when no reference to it is left.
unsafe impl Send for ShmHeader {}
unsafe impl Sync for ShmHeader {}

impl ShmHeader {
    /// Maps the header of `shm`; None when the file is shorter than a header or cannot
    /// be mapped (then nothing is cached).
    pub fn map(shm: &File) -> Option<ShmHeader> {
        if shm.metadata().ok()?.len() < HEADER as u64 {
            return None;
        }
        // SAFETY: a fresh read-only shared mapping of an open file descriptor at offset 0;
        // the kernel picks the address, so no existing memory is affected. The length is
        // rounded up to a page by the kernel, and the file holds at least `HEADER` bytes.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                HEADER,
                libc::PROT_READ,
                libc::MAP_SHARED,
                shm.as_raw_fd(),
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(start.cast::<u8>()).map(|start| ShmHeader { start })
    }

    /// The header as it is now.
    pub fn read(&self) -> [u8; HEADER] {
        let mut header = [0; HEADER];
        for (index, word) in header.chunks_exact_mut(4).enumerate() {
            // SAFETY: the mapping is page-aligned and at least `HEADER` bytes long, so
            // every 4-byte word of the header is in bounds and aligned for `AtomicU32`;
            // memory shared with other processes is only ever accessed atomically here.
            let value = unsafe {
                AtomicU32::from_ptr(self.start.as_ptr().add(index * 4).cast::<u32>())
                    .load(Ordering::Acquire)
            };
            word.copy_from_slice(&value.to_ne_bytes());
        }
        header
    }
}

impl Drop for ShmHeader {
    fn drop(&mut self) {
        // SAFETY: `start` came from a successful `mmap` of `HEADER` bytes and is unmapped
        // only here; `&mut self` proves no read is in progress.
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), HEADER);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};

    use super::*;

    /// The mapping sees writes made to the file after it was mapped, through another
    /// descriptor, as the `pread` it replaces did.
    #[test]
    fn sees_later_writes_through_other_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-shm");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let mapped = ShmHeader::map(&File::open(&path).unwrap()).expect("mapped");
        assert_eq!(mapped.read(), [0; HEADER]);
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.seek(SeekFrom::Start(44)).unwrap();
        writer.write_all(&[1, 2, 3, 4, 5]).unwrap();
        let mut expected = [0; HEADER];
        expected[44..48].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(mapped.read(), expected);
    }

    #[test]
    fn a_file_shorter_than_a_header_is_not_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short-shm");
        std::fs::write(&path, [0u8; 10]).unwrap();
        assert!(ShmHeader::map(&File::open(&path).unwrap()).is_none());
    }
}
