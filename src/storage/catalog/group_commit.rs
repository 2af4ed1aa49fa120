//! New image rows on SQLite, committed in groups by one writer thread.
//!
//! With `synchronous=FULL` every commit waits for an fsync of the WAL, and SQLite lets
//! one connection write at a time: uploads arriving together used to queue on the write
//! lock, each waiting in SQLite's busy handler (which sleeps 1, 2, 5, 10… ms between
//! tries) and then paying its own fsync. Here one thread takes every insert waiting at
//! that moment, writes them in one transaction and commits once, so concurrent uploads
//! share one fsync and nobody sleeps on the lock. Nothing is acknowledged before its
//! group's commit has returned, so the durability rule is unchanged.
//!
//! The thread owns a plain rusqlite connection rather than borrowing one of sqlx's: a
//! sqlx statement is a hand-off to that connection's worker thread and back, and a group
//! took one for BEGIN, one per row and one for COMMIT, each a pair of futex wake-ups. Here
//! the thread that receives the rows writes them itself, so a group costs one wake-up to
//! start it and one reply per row.
//!
//! A row that fails (a constraint, a busy database) ends the group: the transaction is
//! rolled back and each of its rows is inserted again on its own, so one bad row never
//! takes the others' results with it and no row is reported failed after being
//! committed.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::columns::image_from_row;
use crate::domain::{Image, NewImage, Subject};
use crate::error::{Error, Result};

/// The most rows one commit takes; more wait for the next.
const GROUP: usize = 64;

/// Inserts waiting for their group, at most; a full queue makes uploads wait to join.
const QUEUE: usize = 1024;

/// How long the writer waits for another connection's write lock (a preset, a delete)
/// before the group fails as busy; the same as sqlx's connections wait.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

struct Pending {
    image: NewImage,
    reply: oneshot::Sender<Result<Image>>,
}

/// The handle uploads send their rows to; the thread that commits them ends when the
/// last handle is dropped.
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the writer of the SQLite database at `path`, which the migrations have
    /// already created.
    pub fn start(path: &Path) -> Result<GroupCommit> {
        let connection = open_writer(path)?;
        let (queue, incoming) = mpsc::channel::<Pending>(QUEUE);
        std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || write_groups(connection, incoming))
            .map_err(|e| Error::Internal(format!("starting the catalog writer: {e}")))?;
        Ok(GroupCommit { queue })
    }

    /// Records one image; returns once the commit that holds it is durable.
    pub async fn insert(&self, image: &NewImage) -> Result<Image> {
        let gone = || {
            Error::Catalog(
                "the row was not committed: the catalog's writer stopped or failed".into(),
            )
        };
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            image: image.clone(),
            reply,
        };
        self.queue.send(pending).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer's connection, set up as sqlx sets up its own (see `Catalog::open`): every
/// commit durable on return, foreign keys enforced, a bounded wait for the write lock.
/// WAL mode is a property of the file, which the migrations already switched.
fn open_writer(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

/// The writer thread: waits for a row, takes every other row already waiting (up to a
/// group), commits them and answers each, until every handle is gone.
fn write_groups(mut connection: Connection, mut incoming: mpsc::Receiver<Pending>) {
    // Registered once, as the other per-event metrics are.
    let sizes = metrics::histogram!("imagestore_catalog_insert_group_size");
    let mut group = Vec::with_capacity(GROUP);
    while let Some(first) = incoming.blocking_recv() {
        group.push(first);
        while group.len() < GROUP {
            match incoming.try_recv() {
                Ok(pending) => group.push(pending),
                Err(_) => break,
            }
        }
        sizes.record(group.len() as f64);
        // A panic must not stop the writer for every later upload: the group's waiters
        // are answered with an error (their replies dropped), an open transaction is
        // rolled back, and the loop goes on.
        let committed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            commit_group(&mut connection, &mut group)
        }));
        if committed.is_err() {
            tracing::error!("committing a group of image rows panicked");
            group.clear();
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
        }
    }
}

/// Commits `group` (emptying it) and answers each of its rows.
fn commit_group(connection: &mut Connection, group: &mut Vec<Pending>) {
    match insert_together(connection, group) {
        Ok(images) => {
            for (pending, image) in group.drain(..).zip(images) {
                let _ = pending.reply.send(Ok(image));
            }
        }
        Err(Together::Commit(error)) => {
            for pending in group.drain(..) {
                let _ = pending.reply.send(Err(error.clone()));
            }
        }
        Err(Together::Row) => {
            for pending in group.drain(..) {
                let _ = pending.reply.send(insert_alone(connection, &pending.image));
            }
        }
    }
}

/// Why a group was not committed as one.
enum Together {
    /// Beginning or committing failed: every row of the group is reported failed, as a
    /// lone row's failed commit was.
    Commit(Error),
    /// A row failed; the transaction was rolled back.
    Row,
}

fn insert_together(connection: &mut Connection, group: &[Pending]) -> Result<Vec<Image>, Together> {
    // IMMEDIATE takes the write lock at BEGIN (waiting in the busy handler if another
    // connection holds it), so no row can fail later for want of it.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Together::Commit(e.into()))?;
    let mut images = Vec::with_capacity(group.len());
    for pending in group {
        match insert_row(&transaction, &pending.image) {
            Ok(image) => images.push(image),
            // Dropping the transaction rolls it back; SQLite may already have done so
            // itself (a full disk, an I/O error), and rolling back again is harmless.
            Err(_) => return Err(Together::Row),
        }
    }
    transaction
        .commit()
        .map_err(|e| Together::Commit(e.into()))?;
    Ok(images)
}

/// Commits one row in its own transaction. (An autocommit INSERT would commit when its
/// statement is reset, where rusqlite drops any error: a failed sync would go unseen.)
fn insert_alone(connection: &mut Connection, image: &NewImage) -> Result<Image> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let inserted = insert_row(&transaction, image)?;
    transaction.commit()?;
    Ok(inserted)
}

/// Inserts one image row (the same statement sqlx runs on PostgreSQL) and reads it back.
fn insert_row(connection: &Connection, image: &NewImage) -> Result<Image> {
    let created = image.created_at.timestamp_millis();
    let placeholder = image.placeholder.as_ref();
    let mut statement = connection.prepare_cached(super::INSERT_IMAGE)?;
    let mut rows = statement.query(rusqlite::params![
        image.id.to_string(),
        image.environment_id.to_string(),
        image.subject.as_ref().map(Subject::as_str),
        image.filename.as_deref(),
        image.format.extension(),
        i64::try_from(image.byte_size).unwrap_or(i64::MAX),
        i64::from(image.width),
        i64::from(image.height),
        i64::from(image.frames),
        image.content_hash,
        image.serve_key,
        image.blob_key,
        created,
        created,
        placeholder.map(|p| p.thumbhash.as_str()),
        placeholder.map(|p| p.dominant_color.as_str()),
        image.expires_at.map(|t| t.timestamp_millis()),
    ])?;
    let image = match rows.next()? {
        Some(row) => image_from_row(row)?,
        None => return Err(Error::Catalog("the insert returned no row".into())),
    };
    // Stepped to its end, so that the statement is finished before the commit.
    while rows.next()?.is_some() {}
    Ok(image)
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use uuid::Uuid;

    use super::{Pending, commit_group, open_writer};
    use crate::domain::NewImage;
    use crate::storage::catalog::seeded::Seeded;

    /// Rows committed as one group are answered one by one; a row that fails (an id
    /// already taken) fails alone, and every other row of its group is committed and
    /// numbered.
    #[tokio::test]
    async fn a_bad_row_fails_alone_and_its_group_is_still_committed() {
        let dir = tempfile::tempdir().unwrap();
        let seeded = Seeded::open(dir.path()).await;
        let (catalog, env, taken) = (&seeded.catalog, seeded.environment.id, &seeded.image);
        let rows: Vec<NewImage> = (0..20)
            .map(|i| NewImage {
                id: if i == 7 { taken.id } else { Uuid::new_v4() },
                environment_id: env,
                subject: None,
                filename: None,
                format: taken.format,
                byte_size: 1,
                width: 1,
                height: 1,
                frames: 1,
                content_hash: format!("h{i}"),
                serve_key: format!("k{i}"),
                blob_key: format!("b{i}"),
                created_at: taken.created_at,
                placeholder: None,
                expires_at: None,
            })
            .collect();
        // The group is handed to the writer's commit directly, so that all twenty rows
        // are certainly in it (the thread would take whatever had arrived so far).
        let mut connection = open_writer(&dir.path().join("c.db")).unwrap();
        let (mut group, answers): (Vec<Pending>, Vec<_>) = rows
            .iter()
            .map(|image| {
                let (reply, answer) = oneshot::channel();
                let image = image.clone();
                (Pending { image, reply }, answer)
            })
            .unzip();
        commit_group(&mut connection, &mut group);
        assert!(group.is_empty());
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("every row is answered"));
        }
        let mut numbers = Vec::new();
        for (i, (row, result)) in rows.iter().zip(&results).enumerate() {
            if i == 7 {
                assert!(result.is_err(), "a second row with a taken id was accepted");
                continue;
            }
            let inserted = result.as_ref().expect("a good row was refused");
            assert_eq!(inserted.id, row.id);
            let stored = catalog
                .image(env, row.id)
                .await
                .unwrap()
                .expect("committed");
            assert_eq!(stored.serve_key, row.serve_key);
            numbers.push(stored.number);
        }
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), 19, "each row has its own number");
        assert_eq!(
            catalog
                .image(env, taken.id)
                .await
                .unwrap()
                .unwrap()
                .content_hash,
            "h"
        );
    }
}
