//! Single flight: when a hundred identical cold requests for one variant arrive together,
//! one renders it and the rest wait for that result. The work runs as its own task, so a
//! client that disconnects does not cancel it for the others.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::error::{Error, Result};

type Flight = Shared<BoxFuture<'static, Result<()>>>;

#[derive(Default)]
pub struct SingleFlight {
    inflight: Mutex<HashMap<String, Flight>>,
}

impl SingleFlight {
    /// Runs `work` for `key` unless a run for the same key is already under way, in which
    /// case it waits for that one; either way returns the run's outcome.
    pub async fn run<F>(&self, key: &str, work: F) -> Result<()>
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        let flight = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match inflight.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let task = tokio::spawn(work);
                    let flight = async move {
                        task.await
                            .unwrap_or_else(|e| Err(Error::Internal(format!("render task: {e}"))))
                    }
                    .boxed()
                    .shared();
                    inflight.insert(key.to_string(), flight.clone());
                    flight
                }
            }
        };
        let outcome = flight.clone().await;
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget the flight once it has landed, unless a newer one took its place.
        if inflight
            .get(key)
            .is_some_and(|current| current.ptr_eq(&flight))
        {
            inflight.remove(key);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights = Arc::new(SingleFlight::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let callers = (0..50).map(|_| {
            let (flights, runs) = (flights.clone(), runs.clone());
            tokio::spawn(async move {
                flights
                    .run("k", async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(())
                    })
                    .await
            })
        });
        for caller in futures_util::future::join_all(callers).await {
            caller.unwrap().unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Once landed, the next call runs again.
        flights
            .run("k", async { Err(Error::NotFound("x")) })
            .await
            .unwrap_err();
    }
}
