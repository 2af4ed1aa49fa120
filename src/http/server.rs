//! The accept loops. Connections are served on `threads` threads, each running a
//! single-threaded tokio runtime that accepts from the same listening socket and serves
//! the connections it accepted to the end, the way nginx's workers share a listener. A
//! small GET then never leaves the thread its bytes arrived on: tokio's multi-threaded
//! scheduler spent about a fifth of such a request's CPU handing tasks and wake-ups
//! between its workers. Work that blocks or burns CPU (decodes, renders, file writes)
//! still leaves the loop, on the bounded processing pool and the blocking threads.
//!
//! axum's own `serve` has no header-read timeout, so connections are served by hyper-util
//! directly with a timer: a client that dribbles its headers is cut off after
//! `header_timeout` (slowloris). On shutdown the listener closes first, then in-flight
//! requests (uploads included) get up to `grace` to finish.

use std::future::Future;
use std::num::NonZeroUsize;
use std::time::Duration;

use std::convert::Infallible;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::extract::Request;
use axum::http::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

#[cfg(target_os = "linux")]
use super::served_stream::ServedStream;

/// Serves `listener` on `threads` threads until `shutdown` completes, then returns once
/// every thread has let its connections finish (or given up after `grace`) and ended.
/// Returns early, with an error logged, if no thread could start serving.
pub async fn serve<S, B>(
    listener: TcpListener,
    threads: NonZeroUsize,
    app: S,
    header_timeout: Duration,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send,
) where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    raise_open_file_limit();
    let listener = match listener.into_std() {
        Ok(listener) => listener,
        Err(error) => return tracing::error!(%error, "cannot take over the listening socket"),
    };
    let (stop, stopping) = watch::channel(false);
    let (release, released) = watch::channel(false);
    let (mut served, mut exited) = (Vec::new(), Vec::new());
    for index in 0..threads.get() {
        // Each thread gets a descriptor of its own for the one socket: every thread's
        // event loop watches it, and whichever is idle accepts the next connection.
        let listener = match listener.try_clone() {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "cannot share the listening socket with another thread");
                break;
            }
        };
        let ((served_tx, served_rx), (exited_tx, exited_rx)) =
            (oneshot::channel(), oneshot::channel());
        let signals = ThreadSignals {
            stopping: stopping.clone(),
            served: served_tx,
            released: released.clone(),
            _exited: exited_tx,
        };
        let app = app.clone();
        let started = std::thread::Builder::new()
            .name(format!("serve-{index}"))
            .spawn(move || serve_on_this_thread(listener, app, header_timeout, grace, signals));
        match started {
            Ok(_thread) => {
                served.push(served_rx);
                exited.push(exited_rx);
            }
            Err(error) => tracing::error!(%error, "cannot start a serving thread"),
        }
    }
    drop(listener);
    let all_served = async {
        for thread in &mut served {
            let _ = thread.await;
        }
    };
    tokio::pin!(all_served);
    let stopped_by_itself = tokio::select! {
        () = shutdown => false,
        () = &mut all_served => true,
    };
    if stopped_by_itself {
        tracing::error!("no serving thread is left; the server is down");
    } else {
        tracing::info!("shutting down; waiting for in-flight requests");
        let _ = stop.send(true);
        all_served.await;
    }
    let _ = release.send(true);
    for thread in exited {
        let _ = thread.await;
    }
    tracing::info!("stopped serving");
}

/// One serving thread's side of the shutdown handshake.
struct ThreadSignals {
    /// Turns true when the thread is to stop accepting and let its connections finish.
    stopping: watch::Receiver<bool>,
    /// Sent once this thread's connections are done (dropped if it never served).
    served: oneshot::Sender<()>,
    /// Turns true once every thread has served. Only then may a thread's runtime go: an
    /// engine connection opened on this thread (a PostgreSQL socket, a pooled S3
    /// connection) is driven by this thread's runtime, and may still be carrying another
    /// thread's last requests.
    released: watch::Receiver<bool>,
    /// Dropped when the thread ends, after its runtime and blocking threads are gone.
    _exited: oneshot::Sender<()>,
}

/// The body of a serving thread: a single-threaded runtime running [`accept_loop`] until
/// told to stop, then kept turning until every thread is done.
fn serve_on_this_thread<S, B>(
    listener: std::net::TcpListener,
    app: S,
    header_timeout: Duration,
    grace: Duration,
    signals: ThreadSignals,
) where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    let ThreadSignals {
        mut stopping,
        served,
        mut released,
        _exited,
    } = signals;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("imagestore-blocking")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return tracing::error!(%error, "cannot start an event loop"),
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => return tracing::error!(%error, "cannot watch the listening socket"),
        };
        let stop = async move {
            // An error means the sender is gone, which is as good as being told to stop.
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        accept_loop(listener, app, header_timeout, grace, stop).await;
        let _ = served.send(());
        let _ = released.wait_for(|released| *released).await;
    });
}

/// One thread's loop: accepts connections and serves each on this thread's runtime.
async fn accept_loop<S, B>(
    listener: TcpListener,
    app: S,
    header_timeout: Duration,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send,
) where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        #[cfg(target_os = "linux")]
        let stream = ServedStream::new(stream);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = watched.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing anyway"),
    }
}

/// Raises the soft limit on open files to the hard one, as nginx's `worker_rlimit_nofile`
/// and Go's runtime do: every connection is a descriptor, and so is every large blob kept
/// in memory with its file (`storage::file_backed`), and the soft limit is often 1,024.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only read or write the local struct passed to them.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
            && limit.rlim_cur < limit.rlim_max
            && {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
            }
    };
    if raised {
        tracing::debug!(open_files = limit.rlim_cur, "raised the open-file limit");
    }
}
