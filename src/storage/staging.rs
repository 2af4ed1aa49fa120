//! Files that stand for work in flight rather than for stored data: the staging files of
//! blob writes (`…/original#N` beside their blob, see `durable_directory`) and the spooled
//! bodies of uploads (`<data-dir>/tmp/upload-*`). The process writing such a file holds an
//! exclusive `flock` on it for as long as the file is in flight ([`hold`]); the kernel
//! drops the lock with the last descriptor, so when the process is killed or the request
//! is abandoned. The sweeper ([`remove_stale`]) therefore removes exactly the files that
//! nobody holds and that are older than the grace period: a file in flight is never
//! removed, whatever the grace, and a leftover of a crash is always found, although the
//! object-store listing never shows names with `#`.
//!
//! The one race is between creating a file and locking it: a sweep may lock and remove a
//! file in that instant. [`hold`] closes it by checking, once the lock is taken, that the
//! name still leads to the file it locked; a writer that finds otherwise starts again with
//! a new file.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Locks a file just created at `path` for the caller's lifetime of `file`, and tells
/// whether `path` still names it (false: a sweep removed it before the lock was taken,
/// and the caller must create another).
pub fn hold(file: &File, path: &Path) -> io::Result<bool> {
    file.lock()?;
    names(file, path)
}

/// Whether `path` is a name of the open `file`.
fn names(file: &File, path: &Path) -> io::Result<bool> {
    let opened = file.metadata()?;
    match std::fs::symlink_metadata(path) {
        Ok(named) => Ok(named.dev() == opened.dev() && named.ino() == opened.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Which files under a directory are in-flight files.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Staging files of blob writes: any name with a `#`, at any depth (object_store's
    /// local store used the same `name#N` shape for its own writes).
    Staging,
    /// Every file directly in the directory (the upload spool).
    Spool,
}

/// Removes the files of `kind` under `dir` that no process holds and that were last
/// modified longer than `grace` ago; returns how many. Runs blocking file-system calls:
/// call it off the async runtime. A directory that cannot be read counts as empty.
pub fn remove_stale(dir: &Path, kind: Kind, grace: Duration) -> u64 {
    let now = SystemTime::now();
    let mut removed = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if file_type.is_dir() {
                if let Kind::Staging = kind {
                    pending.push(path);
                }
                continue;
            }
            let candidate = match kind {
                Kind::Staging => entry.file_name().as_encoded_bytes().contains(&b'#'),
                Kind::Spool => file_type.is_file(),
            };
            if candidate && remove_if_abandoned(&path, now, grace) {
                removed += 1;
            }
        }
    }
    removed
}

/// Removes one file if it is older than `grace` and nobody holds it. The lock is taken
/// before the name is removed and kept until after, so a writer that is about to hold the
/// file waits, then sees in [`hold`] that its name is gone.
fn remove_if_abandoned(path: &Path, now: SystemTime, grace: Duration) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let old = file
        .metadata()
        .and_then(|meta| meta.modified())
        .is_ok_and(|modified| now.duration_since(modified).unwrap_or_default() >= grace);
    if !old {
        return false;
    }
    match file.try_lock() {
        Ok(()) => {}
        // Held: a write or an upload in flight.
        Err(_) => return false,
    }
    // A rename may have given this file another name since it was opened (a staging file
    // becoming its blob); only the name still leading to it is removed.
    if !names(&file, path).unwrap_or(false) {
        return false;
    }
    let removed = std::fs::remove_file(path).is_ok();
    if removed {
        tracing::info!(path = %path.display(), "removed an abandoned staging or temp file");
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn only_old_files_nobody_holds_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("env/image");
        std::fs::create_dir_all(&dir).unwrap();
        let hour = Duration::from_secs(3600);
        let abandoned = dir.join("original#1");
        let fresh = dir.join("original#2");
        let held = dir.join("original#3");
        let blob = dir.join("original");
        for path in [&abandoned, &fresh, &held, &blob] {
            std::fs::write(path, b"x").unwrap();
        }
        for path in [&abandoned, &held, &blob] {
            age(path, 2 * hour);
        }
        let holder = File::open(&held).unwrap();
        assert!(hold(&holder, &held).unwrap());

        assert_eq!(remove_stale(root.path(), Kind::Staging, hour), 1);
        assert!(!abandoned.exists());
        assert!(fresh.exists() && held.exists() && blob.exists());
        drop(holder);
        assert_eq!(remove_stale(root.path(), Kind::Staging, Duration::ZERO), 2);
        assert!(blob.exists(), "a blob is not a staging file");
    }

    #[test]
    fn a_file_removed_before_it_was_held_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("upload-1");
        let file = File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(!hold(&file, &path).unwrap());
        let again = File::create(&path).unwrap();
        assert!(hold(&again, &path).unwrap());
        assert_eq!(remove_stale(root.path(), Kind::Spool, Duration::ZERO), 0);
    }
}
