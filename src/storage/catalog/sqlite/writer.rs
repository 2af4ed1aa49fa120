//! Every write to a SQLite catalog, committed in groups by one writer thread.
//!
//! With `synchronous=FULL` every commit waits for an fsync of the WAL, and SQLite lets
//! one connection write at a time: writes arriving together used to queue on the write
//! lock, each waiting in SQLite's busy handler (which sleeps 1, 2, 5, 10… ms between
//! tries) and then paying its own fsync. Here one thread takes every write waiting at
//! that moment, runs them in one transaction and commits once, so concurrent uploads
//! share one fsync and nobody sleeps on the lock. Nothing is acknowledged before its
//! group's commit has returned, so the durability rule is unchanged.
//!
//! A write is a [`Job`]: some statements that succeed or fail together. One that fails
//! (a constraint, a busy database) ends the group: the transaction is rolled back and each
//! of its jobs runs again in a transaction of its own, so one bad write never takes the
//! others' results with it, no write is reported failed after being committed, and a job
//! is never half applied.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// The most jobs one commit takes; more wait for the next.
const GROUP: usize = 64;

/// Jobs waiting for their group, at most; a full queue makes writers wait to join.
const QUEUE: usize = 1024;

/// How long the writer waits for another process's write lock (`imagestore key create`,
/// a second instance on the same file) before the group fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One write: run inside the group's transaction, answered after its commit.
trait Job: Send {
    /// Runs the job's statements, keeping its result for [`Job::answer`].
    fn run(&mut self, connection: &Connection) -> Result<()>;
    /// Answers the waiting caller: the kept result, or why it was not committed.
    fn answer(self: Box<Self>, outcome: Result<()>);
}

struct Pending<T, F> {
    work: F,
    result: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T: Send, F: FnMut(&Connection) -> Result<T> + Send> Job for Pending<T, F> {
    fn run(&mut self, connection: &Connection) -> Result<()> {
        self.result = Some((self.work)(connection)?);
        Ok(())
    }

    fn answer(self: Box<Self>, outcome: Result<()>) {
        let Pending { result, reply, .. } = *self;
        let answer = outcome.and_then(|()| {
            result.ok_or_else(|| Error::Internal("a committed write kept no result".into()))
        });
        let _ = reply.send(answer);
    }
}

/// The handle writes are sent to; the thread that commits them ends when the last
/// handle is dropped.
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `connection` (see [`open_writer`]).
    pub fn start(connection: Connection) -> Result<Writer> {
        let (queue, incoming) = mpsc::channel::<Box<dyn Job>>(QUEUE);
        std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || write_groups(connection, incoming))
            .map_err(|e| Error::Internal(format!("starting the catalog writer: {e}")))?;
        Ok(Writer { queue })
    }

    /// Runs `work` in a transaction on the writer thread; returns its result once the
    /// commit that holds it is durable. `work` may run twice (once in a group that was
    /// rolled back, then alone), so it must only run statements.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T> + Send + 'static,
    {
        let gone =
            || Error::Catalog("the write was not committed: the catalog's writer stopped".into());
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work,
            result: None,
            reply,
        });
        self.queue.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer's connection to the database at `path`, created if missing: WAL mode (a
/// property of the file, so readers never wait for the writer), every commit durable on
/// return, foreign keys enforced, a bounded wait for another process's write lock.
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    // Plain file-name flags, as the readers use (no URI interpretation).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Catalog(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(connection)
}

/// The writer thread: waits for a job, takes every other job already waiting (up to a
/// group), commits them and answers each, until every handle is gone.
fn write_groups(mut connection: Connection, mut incoming: mpsc::Receiver<Box<dyn Job>>) {
    // Registered once, as the other per-event metrics are.
    let sizes = metrics::histogram!("imagestore_catalog_write_group_size");
    let mut group = Vec::with_capacity(GROUP);
    while let Some(first) = incoming.blocking_recv() {
        group.push(first);
        while group.len() < GROUP {
            match incoming.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        sizes.record(group.len() as f64);
        // A panic must not stop the writer for every later write: the group's waiters
        // are answered with an error (their replies dropped), an open transaction is
        // rolled back, and the loop goes on.
        let committed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            commit_group(&mut connection, &mut group)
        }));
        if committed.is_err() {
            tracing::error!("committing a group of catalog writes panicked");
            group.clear();
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
        }
    }
}

/// Commits `group` (emptying it) and answers each of its jobs.
fn commit_group(connection: &mut Connection, group: &mut Vec<Box<dyn Job>>) {
    match run_together(connection, group) {
        Ok(()) => {
            for job in group.drain(..) {
                job.answer(Ok(()));
            }
        }
        Err(Together::Commit(error)) => {
            for job in group.drain(..) {
                job.answer(Err(error.clone()));
            }
        }
        Err(Together::Job) => {
            for mut job in group.drain(..) {
                let outcome = run_alone(connection, job.as_mut());
                job.answer(outcome);
            }
        }
    }
}

/// Why a group was not committed as one.
enum Together {
    /// Beginning or committing failed: every job of the group is reported failed, as a
    /// lone job's failed commit would be.
    Commit(Error),
    /// A job failed; the transaction was rolled back.
    Job,
}

fn run_together(connection: &mut Connection, group: &mut [Box<dyn Job>]) -> Result<(), Together> {
    // IMMEDIATE takes the write lock at BEGIN (waiting in the busy handler if another
    // process holds it), so no statement can fail later for want of it.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Together::Commit(e.into()))?;
    for job in group.iter_mut() {
        // Dropping the transaction rolls it back; SQLite may already have done so itself
        // (a full disk, an I/O error), and rolling back again is harmless.
        job.run(&transaction).map_err(|_| Together::Job)?;
    }
    transaction.commit().map_err(|e| Together::Commit(e.into()))
}

/// Commits one job in its own transaction. (An autocommit statement would commit when it
/// is reset, where rusqlite drops any error: a failed sync would go unseen.)
fn run_alone(connection: &mut Connection, job: &mut dyn Job) -> Result<()> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    job.run(&transaction)?;
    transaction.commit()?;
    Ok(())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
