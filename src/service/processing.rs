//! The bounded pool that CPU-heavy image work runs on. At most `workers` jobs run at once
//! on tokio's blocking threads, at most `queue` more wait for a turn, and a job that
//! cannot get a turn in time is refused with `Overloaded` (503 + Retry-After) instead of
//! piling up until memory runs out. A panic inside a job (a decoder bug on hostile input)
//! is contained and reported as an undecodable image, never a crashed worker.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

pub struct Processing {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    max_wait: Duration,
}

/// How long a job may wait for a worker before the client is told to come back.
const MAX_WAIT: Duration = Duration::from_secs(30);
const RETRY_AFTER_SECS: u64 = 2;

impl Processing {
    pub fn new(workers: usize, queue: usize) -> Processing {
        Processing {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
            max_wait: MAX_WAIT,
        }
    }

    /// Runs `job` on the pool once a worker is free.
    pub async fn run<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let overloaded = || Error::Overloaded {
            retry_after_secs: RETRY_AFTER_SECS,
        };
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    metrics::counter!("imagestore_processing_rejected_total").increment(1);
                    return Err(overloaded());
                }
                let acquired =
                    tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match acquired {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(Error::Internal("processing pool closed".into())),
                    Err(_) => {
                        metrics::counter!("imagestore_processing_rejected_total").increment(1);
                        return Err(overloaded());
                    }
                }
            }
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            std::panic::catch_unwind(AssertUnwindSafe(job))
        })
        .await
        .map_err(|e| Error::Internal(format!("processing task failed: {e}")))?;
        outcome.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "image processing panicked; input refused");
            Err(Error::MalformedImage(
                "the image could not be decoded".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_are_contained_and_reported_as_bad_images() {
        let pool = Processing::new(1, 1);
        let result: Result<()> = pool.run(|| panic!("decoder bug")).await;
        assert!(matches!(result, Err(Error::MalformedImage(_))));
        assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded() {
        let pool = Arc::new(Processing::new(1, 0));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    started_tx.send(()).ok();
                    release_rx.recv().ok();
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        let refused = pool.run(|| Ok(())).await;
        assert!(matches!(refused, Err(Error::Overloaded { .. })));
        release_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
    }
}
