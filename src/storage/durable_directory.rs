//! Writes into the local blob directory, made durable by syncs that the writers waiting
//! together share (Linux).
//!
//! The durability rule for a blob is that its bytes, and the directory entries that name
//! it, are on disk before `put` returns. object_store's local store keeps it per blob with
//! fsyncs: a new image's original costs four (the new directory, its parent, the staging
//! file, the directory again after the rename), each waiting for the disk to flush its
//! cache, and concurrent uploads cannot share any of them. Here a put creates its
//! directory and writes a staging file without syncing, then hands it to a single thread,
//! which takes every put waiting at that moment and runs `syncfs(2)` on the blob file
//! system, renames the group's staging files into place, and runs `syncfs` again. Linux's
//! syncfs writes back and waits for all dirty data and metadata of the file system (its
//! man page: the same guarantees as an fsync of every file on it), so N uploads arriving
//! together pay for two flushes instead of 4N. Renaming only after the first sync keeps
//! object_store's rule that a blob's name never points at bytes not yet on disk: after a
//! crash a name holds its whole blob or is absent, which matters for variants, whose
//! names are looked up directly. The price is that a sync also writes whatever else is
//! dirty on that file system.
//!
//! Errors. syncfs reports a write-back error once per open descriptor, so an error in one
//! blob's pages could be reported to a sync of another group and missed by the sync of its
//! own. A put therefore notes how many syncs have failed before it writes anything, and
//! fails if that count has moved by the time its own group's sync returns: any error seen
//! while its bytes were on their way fails it, even one that may have been another
//! file's. A failed put leaves at most an orphan blob, which the sweeper removes.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{capacity, staging};
use crate::error::{Error, Result};

/// The local directory a blob store writes into, and the thread that syncs it.
pub struct DurableDirectory {
    /// Waiting puts send their staging file here; the sync thread ends when the last
    /// sender is dropped.
    waiting: mpsc::UnboundedSender<Staged>,
    /// Syncs that have failed since the directory was opened.
    failed_syncs: Arc<AtomicU64>,
}

impl DurableDirectory {
    /// Starts the sync thread for the file system holding `root`.
    pub fn open(root: &FsPath) -> Result<DurableDirectory> {
        let anchor = File::open(root)
            .map_err(|e| Error::Blobs(format!("cannot open {}: {e}", root.display())))?;
        let (waiting, incoming) = mpsc::unbounded_channel();
        let failed_syncs = Arc::new(AtomicU64::new(0));
        let failures = failed_syncs.clone();
        std::thread::Builder::new()
            .name("blob-sync".into())
            .spawn(move || sync_groups(&anchor, incoming, &failures))
            .map_err(|e| Error::Blobs(format!("cannot start the blob sync thread: {e}")))?;
        Ok(DurableDirectory {
            waiting,
            failed_syncs,
        })
    }

    /// Writes `bytes` at `path` (a file under the root) and returns once they are durable.
    ///
    /// The staging file is handed to the sync thread by the blocking task that wrote it,
    /// not by this future: a future dropped while its bytes were being written (a client
    /// that hung up, a request timeout) used to drop the staging file's name with it and
    /// leave the file behind for good. Now the file always reaches the sync thread, which
    /// removes it instead of renaming it when nobody waits for it any more.
    pub async fn put(&self, path: PathBuf, bytes: Bytes) -> Result<()> {
        let failures_before = self.failed_syncs.load(Ordering::SeqCst);
        let (reply, synced) = oneshot::channel();
        let waiting = self.waiting.clone();
        let handed = tokio::task::spawn_blocking(move || {
            let (file, staging) = stage(&path, &bytes)?;
            let staged = Staged {
                file,
                staging,
                path,
                reply,
            };
            waiting.send(staged).map_err(|unsent| {
                let _ = std::fs::remove_file(&unsent.0.staging);
                io::Error::other("the blob sync thread has stopped")
            })
        });
        handed
            .await
            .map_err(|e| Error::Blobs(format!("the blob write stopped: {e}")))?
            .map_err(|e| capacity::blob_io_error("cannot write the blob", e))?;

        let stopped = || Error::Blobs("the blob sync thread has stopped".into());
        synced
            .await
            .map_err(|_| stopped())?
            .map_err(|e| capacity::blob_io_error("cannot sync the blob store", e))?;
        if self.failed_syncs.load(Ordering::SeqCst) != failures_before {
            return Err(Error::Blobs(
                "a sync of the blob store failed while this blob was being written".into(),
            ));
        }
        Ok(())
    }
}

/// A blob written to its staging file, waiting for its group's syncs and rename.
struct Staged {
    /// The staging file, open and locked (see `staging::hold`) until it is renamed or
    /// removed, so that a sweep never takes it for a leftover.
    file: File,
    staging: PathBuf,
    path: PathBuf,
    reply: oneshot::Sender<io::Result<()>>,
}

/// Writes the bytes to a new staging file beside `path`, creating the directories on the
/// way, and returns it, still open and held. Nothing is synced here. The staging name is
/// `path#N`, which object_store's listing skips, so that a write cut short by a crash is
/// never taken for a blob; the sweeper finds such leftovers by that `#`.
fn stage(path: &FsPath, bytes: &[u8]) -> io::Result<(File, PathBuf)> {
    let (mut file, staging) = create_staging(path)?;
    match file.write_all(bytes) {
        Ok(()) => Ok((file, staging)),
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(e)
        }
    }
}

/// A new staging file for `path`, held (see `staging::hold`): the first free `path#N`,
/// its directories created when missing (again if a delete removed them meanwhile, a
/// bounded number of times).
fn create_staging(path: &FsPath) -> io::Result<(File, PathBuf)> {
    let mut suffix: u32 = 1;
    for _ in 0..STAGING_ATTEMPTS {
        let mut staging = path.as_os_str().to_owned();
        staging.push("#");
        staging.push(suffix.to_string());
        let staging = PathBuf::from(staging);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => {
                if staging::hold(&file, &staging)? {
                    return Ok((file, staging));
                }
                // A sweep removed it between its creation and the lock: take another.
                suffix += 1;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => suffix += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let parent = path.parent().ok_or(e)?;
                std::fs::create_dir_all(parent)?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free staging name"))
}

/// Staging names tried (and directories re-created) before a put gives up; each name is
/// taken only by a put in flight or one cut short by a crash.
const STAGING_ATTEMPTS: u32 = 100;

/// The sync thread: takes every put waiting, syncs their staging files, renames them
/// into place, syncs the names, answers them all, and again, until the directory is
/// dropped.
fn sync_groups(
    anchor: &File,
    mut incoming: mpsc::UnboundedReceiver<Staged>,
    failed_syncs: &AtomicU64,
) {
    // Registered once, as the other per-event metrics are.
    let sizes = metrics::histogram!("imagestore_blob_sync_group_size");
    let mut group = Vec::new();
    while let Some(first) = incoming.blocking_recv() {
        group.push(first);
        while let Ok(next) = incoming.try_recv() {
            group.push(next);
        }
        sizes.record(group.len() as f64);
        let bytes_synced = counted(sync_file_system(anchor), failed_syncs);
        let renamed: Vec<io::Result<()>> = group
            .iter()
            .map(|put| {
                if put.reply.is_closed() {
                    // Nobody waits for this blob (its request was dropped): it would only
                    // be an orphan, so it is not put in place.
                    return Err(io::Error::other("the put was abandoned"));
                }
                copied(&bytes_synced).and_then(|()| std::fs::rename(&put.staging, &put.path))
            })
            .collect();
        let names_synced =
            copied(&bytes_synced).and_then(|()| counted(sync_file_system(anchor), failed_syncs));
        for (put, renamed) in group.drain(..).zip(renamed) {
            let answer = renamed.and_then(|()| copied(&names_synced));
            if answer.is_err() {
                // Gone already if the rename happened; otherwise it would never be used.
                // Removed while still held, so that no sweep can race for it.
                let _ = std::fs::remove_file(&put.staging);
            }
            drop(put.file);
            // A put whose request was dropped (its client went away) no longer waits.
            let _ = put.reply.send(answer);
        }
    }
}

/// A sync's result, for each put of its group (io::Error is not Clone).
fn copied(result: &io::Result<()>) -> io::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
    }
}

/// Counts a failed sync before anyone is answered, so that every put in flight sees it.
fn counted(synced: io::Result<()>, failed_syncs: &AtomicU64) -> io::Result<()> {
    if synced.is_err() {
        failed_syncs.fetch_add(1, Ordering::SeqCst);
    }
    synced
}

/// syncfs(2) on the file system that holds `anchor`.
#[cfg(target_os = "linux")]
fn sync_file_system(anchor: &File) -> io::Result<()> {
    // SAFETY: syncfs only reads the descriptor number, which `anchor` keeps open.
    let status = unsafe { libc::syncfs(anchor.as_raw_fd()) };
    if status == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Other systems have no syncfs with Linux's guarantee; `BlobStore` does not group their
/// writes, so this is never reached there.
#[cfg(not(target_os = "linux"))]
fn sync_file_system(_anchor: &File) -> io::Result<()> {
    Err(io::Error::from(ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_all_land_whole_and_leave_no_staging_files() {
        let root = tempfile::tempdir().unwrap();
        let directory = Arc::new(DurableDirectory::open(root.path()).unwrap());
        let mut puts = Vec::new();
        for n in 0..32u8 {
            let directory = directory.clone();
            let path = root.path().join(format!("env/image-{}/original", n % 4));
            let bytes = Bytes::from(vec![n; 1000 + usize::from(n)]);
            puts.push(tokio::spawn(async move {
                directory.put(path, bytes).await.unwrap();
            }));
        }
        for put in puts {
            put.await.unwrap();
        }
        for image in 0..4u8 {
            let dir = root.path().join(format!("env/image-{image}"));
            let names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            assert_eq!(names, ["original"], "only the blob is left in {dir:?}");
            // Eight puts raced for this name; whichever renamed last won, whole.
            let bytes = std::fs::read(dir.join("original")).unwrap();
            let byte = bytes[0];
            assert_eq!(byte % 4, image);
            assert_eq!(bytes, vec![byte; 1000 + usize::from(byte)]);
        }
    }

    /// A put dropped while its bytes are being written (a client that hung up) leaves
    /// neither a staging file nor a blob: the file reaches the sync thread, which sees
    /// that nobody waits for it and removes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_put_leaves_no_staging_file() {
        let root = tempfile::tempdir().unwrap();
        let directory = DurableDirectory::open(root.path()).unwrap();
        let dir = root.path().join("env/image");
        for n in 0..8 {
            let path = dir.join(format!("original-{n}"));
            let mut put = Box::pin(directory.put(path, Bytes::from(vec![1u8; 8 << 20])));
            // The first poll starts the write on the blocking pool; it cannot be done yet.
            assert!(futures_util::poll!(&mut put).is_pending());
            drop(put);
        }
        // A put that completes after them: the abandoned ones were handed over before it,
        // or are still being written; wait until no file is left but its blob.
        directory
            .put(dir.join("kept"), Bytes::from_static(b"kept"))
            .await
            .unwrap();
        let mut names = Vec::new();
        for _ in 0..500 {
            names = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            if names == ["kept"] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(names, ["kept"], "abandoned puts left files behind");
    }

    #[tokio::test]
    async fn a_put_that_cannot_write_fails_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let directory = DurableDirectory::open(root.path()).unwrap();
        // A file where the put needs a directory.
        std::fs::write(root.path().join("env"), b"not a directory").unwrap();
        let failed = directory
            .put(
                root.path().join("env/image/original"),
                Bytes::from_static(b"x"),
            )
            .await;
        assert!(matches!(failed, Err(Error::Blobs(_))), "{failed:?}");
        assert_eq!(
            std::fs::read(root.path().join("env")).unwrap(),
            b"not a directory"
        );
    }
}
