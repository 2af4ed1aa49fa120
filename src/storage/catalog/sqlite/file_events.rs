//! The kernel's word that a SQLite database's files were written: an inotify watch of
//! the database's directory, drained without blocking on every question. See `stamped`
//! for why this makes an exact and cheap witness of commits by any process.
//!
//! The watch is on the directory, not the files, because SQLite deletes and recreates
//! the `-wal` and `-shm` files as connections come and go, and a watch of a file ends
//! with it; and because a watch of a file would be no safer (neither holds a descriptor of
//! the file). Events of other files in the directory are ignored.

use std::ffi::OsString;
use std::path::Path;

use inotify::{EventMask, Inotify, WatchMask};

/// A watch of one database's directory.
pub(super) struct FileEvents {
    inotify: Inotify,
    /// The database's file name; its `-wal`, `-shm` and `-journal` files share it as
    /// their prefix.
    database: OsString,
    buffer: Vec<u8>,
}

impl FileEvents {
    /// Watches the directory of the database at `path`; None when the kernel refuses (no
    /// inotify, or the watch limit reached), and the caller asks SQLite instead.
    pub fn watch(path: &Path) -> Option<FileEvents> {
        let database = path.file_name()?.to_owned();
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let inotify = Inotify::init()
            .inspect_err(|error| tracing::info!(%error, "no inotify; the catalog asks SQLite"))
            .ok()?;
        let mask = WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        inotify
            .watches()
            .add(directory, mask)
            .inspect_err(|error| tracing::info!(%error, "no watch; the catalog asks SQLite"))
            .ok()?;
        Some(FileEvents {
            inotify,
            database,
            buffer: vec![0; 4096],
        })
    }

    /// Whether any of the database's files was written since the last call: drains every
    /// queued event. None when the watch can no longer be trusted (it was removed, or
    /// reading it failed); then every later answer would be a guess.
    pub fn changed(&mut self) -> Option<bool> {
        let mut changed = false;
        loop {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return Some(changed);
                }
                Err(_) => return None,
            };
            for event in events {
                if event
                    .mask
                    .intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF)
                {
                    return None;
                }
                // An overflow lost events, any of which may have been a commit.
                let ours = event.mask.contains(EventMask::Q_OVERFLOW)
                    || event.name.is_some_and(|name| {
                        name.as_encoded_bytes()
                            .starts_with(self.database.as_encoded_bytes())
                    });
                changed |= ours;
            }
        }
    }
}
