//! New image rows on SQLite, committed in groups.
//!
//! With `synchronous=FULL` every commit waits for an fsync of the WAL, and SQLite lets
//! one connection write at a time: uploads arriving together used to queue on the write
//! lock, each waiting in SQLite's busy handler (which sleeps 1, 2, 5, 10… ms between
//! tries) and then paying its own fsync. Here one task takes every insert waiting at that
//! moment, writes them in one transaction and commits once, so concurrent uploads share
//! one fsync and nobody sleeps on the lock. Nothing is acknowledged before its group's
//! commit has returned, so the durability rule is unchanged.
//!
//! A row that fails (a constraint, a busy database) ends the group: the transaction is
//! rolled back and each of its rows is inserted again on its own, so one bad row never
//! takes the others' results with it and no row is reported failed after being
//! committed.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{Image, NewImage};
use crate::error::{Error, Result};

/// The most rows one commit takes; more wait for the next.
const GROUP: usize = 64;

/// Inserts waiting for their group, at most; a full queue makes uploads wait to join.
const QUEUE: usize = 1024;

struct Pending {
    image: NewImage,
    reply: oneshot::Sender<Result<Image>>,
}

/// The handle uploads send their rows to; the task that commits them ends when the last
/// handle is dropped.
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    pub fn start(pool: AnyPool) -> GroupCommit {
        let (queue, mut incoming) = mpsc::channel::<Pending>(QUEUE);
        tokio::spawn(async move {
            // Registered once, as the other per-event metrics are.
            let sizes = metrics::histogram!("imagestore_catalog_insert_group_size");
            let mut group = Vec::with_capacity(GROUP);
            while incoming.recv_many(&mut group, GROUP).await > 0 {
                sizes.record(group.len() as f64);
                // A panic must not stop the writer for every later upload: the group's
                // waiters are answered with an error (their replies dropped) and the
                // loop goes on.
                let committed = AssertUnwindSafe(commit_group(&pool, &mut group))
                    .catch_unwind()
                    .await;
                if committed.is_err() {
                    tracing::error!("committing a group of image rows panicked");
                    group.clear();
                }
            }
        });
        GroupCommit { queue }
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

/// Commits `group` (emptying it) and answers each of its rows.
async fn commit_group(pool: &AnyPool, group: &mut Vec<Pending>) {
    match insert_together(pool, group).await {
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
                let result = super::insert_row(pool, &pending.image).await;
                let _ = pending.reply.send(result);
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

async fn insert_together(pool: &AnyPool, group: &[Pending]) -> Result<Vec<Image>, Together> {
    let mut transaction = pool.begin().await.map_err(|e| Together::Commit(e.into()))?;
    let mut images = Vec::with_capacity(group.len());
    for pending in group {
        match super::insert_row(&mut *transaction, &pending.image).await {
            Ok(image) => images.push(image),
            Err(_) => {
                // SQLite may already have rolled the transaction back by itself (a full
                // disk, an I/O error); rolling back again is harmless.
                let _ = transaction.rollback().await;
                return Err(Together::Row);
            }
        }
    }
    transaction
        .commit()
        .await
        .map_err(|e| Together::Commit(e.into()))?;
    Ok(images)
}

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;
    use uuid::Uuid;

    use super::GroupCommit;
    use crate::domain::NewImage;
    use crate::storage::catalog::seeded::Seeded;

    /// Rows sent at once are answered one by one; a row that fails (an id already taken)
    /// fails alone, and every other row of its group is committed and numbered.
    #[tokio::test]
    async fn a_bad_row_fails_alone_and_its_group_is_still_committed() {
        let dir = tempfile::tempdir().unwrap();
        let seeded = Seeded::open(dir.path()).await;
        let (catalog, env, taken) = (&seeded.catalog, seeded.environment.id, &seeded.image);
        let group = GroupCommit::start(catalog.pool.clone());
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
        // On this single-threaded runtime every insert joins the queue before the
        // committing task runs, so they all land in one group.
        let results = join_all(rows.iter().map(|row| group.insert(row))).await;
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
