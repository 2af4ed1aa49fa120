//! Accepting and serving connections. One accept loop deals each new connection to one
//! of `threads` serving threads, the one with the fewest open connections; each serving
//! thread runs a single-threaded tokio runtime and serves its connections to the end, as
//! nginx's worker processes do. A small GET then never leaves the thread its bytes
//! arrive on: tokio's work-stealing scheduler spent about a sixth of such a request's CPU
//! handing tasks and wake-ups between its workers. Work that blocks or burns CPU
//! (decodes, renders, file writes) still leaves the loop, on the bounded processing pool
//! and the blocking threads.
//!
//! Dealing connections out, rather than letting every thread accept from the socket,
//! keeps the threads evenly loaded: a thread that wakes first would otherwise take a
//! whole burst of new connections (measured: 63% of a benchmark's load on one thread).
//!
//! axum's own `serve` has no header-read timeout, so connections are served by hyper-util
//! directly with a timer: a client that dribbles its headers is cut off after
//! `header_timeout` (slowloris). On shutdown the listener closes first, then in-flight
//! requests (uploads included) get up to `grace` to finish.

use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::extract::Request;
use axum::http::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

#[cfg(target_os = "linux")]
use super::served_stream::ServedStream;

/// Accepts on `listener` and serves on `threads` threads until `shutdown` completes,
/// then returns once every thread has let its connections finish (or given up after
/// `grace`) and ended. Returns early, with an error logged, if no serving thread is left.
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
    let (release, released) = watch::channel(false);
    let mut serving = Vec::with_capacity(threads.get());
    let mut ends = Vec::with_capacity(threads.get());
    for index in 0..threads.get() {
        let (deal, dealt) = mpsc::unbounded_channel();
        let open = Arc::new(AtomicUsize::new(0));
        let ((served_tx, served_rx), (exited_tx, exited_rx)) =
            (oneshot::channel(), oneshot::channel());
        let thread = ServingThread {
            dealt,
            open: open.clone(),
            served: served_tx,
            released: released.clone(),
            _exited: exited_tx,
        };
        let app = app.clone();
        let started = std::thread::Builder::new()
            .name(format!("serve-{index}"))
            .spawn(move || thread.run(app, header_timeout, grace));
        match started {
            Ok(_thread) => {
                serving.push(Dealer { deal, open });
                ends.push((served_rx, exited_rx));
            }
            Err(error) => tracing::error!(%error, "cannot start a serving thread"),
        }
    }
    if serving.is_empty() {
        return tracing::error!("no serving thread could start; the server is down");
    }
    tokio::pin!(shutdown);
    let mut turn: usize = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted.and_then(|(stream, _peer)| {
            let _ = stream.set_nodelay(true);
            // Leaves this runtime's reactor; the serving thread registers it with its own.
            stream.into_std()
        }) {
            Ok(stream) => stream,
            Err(error) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        turn = turn.wrapping_add(1);
        if deal_out(&mut serving, stream, turn).is_err() {
            tracing::error!("no serving thread is left; the server is down");
            break;
        }
    }
    drop(listener);
    tracing::info!("shutting down; waiting for in-flight requests");
    // Closing the channels tells each thread that no more connections are coming.
    drop(serving);
    for (served, _) in &mut ends {
        let _ = served.await;
    }
    let _ = release.send(true);
    for (_, exited) in ends {
        let _ = exited.await;
    }
    tracing::info!("stopped serving");
}

/// The accept loop's handle on a serving thread.
struct Dealer {
    deal: mpsc::UnboundedSender<std::net::TcpStream>,
    /// Connections dealt to the thread and not yet closed.
    open: Arc<AtomicUsize>,
}

/// Hands `stream` to the thread with the fewest open connections; ties go round, starting
/// from `turn`. A thread that has ended (its channel is closed) is dropped from the deal.
/// Fails only when no thread is left.
fn deal_out(
    serving: &mut Vec<Dealer>,
    mut stream: std::net::TcpStream,
    turn: usize,
) -> Result<(), ()> {
    while !serving.is_empty() {
        let count = serving.len();
        let chosen = (0..count)
            .map(|offset| (turn + offset) % count)
            .min_by_key(|&index| serving[index].open.load(Ordering::Relaxed))
            .unwrap_or(0);
        let dealer = &serving[chosen];
        dealer.open.fetch_add(1, Ordering::Relaxed);
        match dealer.deal.send(stream) {
            Ok(()) => return Ok(()),
            Err(returned) => {
                tracing::error!("a serving thread has ended; dealing to the others");
                stream = returned.0;
                serving.swap_remove(chosen);
            }
        }
    }
    Err(())
}

/// A serving thread: the connections dealt to it, and its side of the shutdown handshake.
struct ServingThread {
    dealt: mpsc::UnboundedReceiver<std::net::TcpStream>,
    open: Arc<AtomicUsize>,
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

impl ServingThread {
    /// The body of the thread: a single-threaded runtime serving each connection dealt to
    /// it until the accept loop closes the channel, then turning until every thread is done.
    fn run<S, B>(self, app: S, header_timeout: Duration, grace: Duration)
    where
        S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
    {
        let ServingThread {
            mut dealt,
            open,
            served,
            mut released,
            _exited,
        } = self;
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("imagestore-blocking")
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => return tracing::error!(%error, "cannot start an event loop"),
        };
        runtime.block_on(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            builder.http2().timer(TokioTimer::new());
            let graceful = GracefulShutdown::new();
            while let Some(stream) = dealt.recv().await {
                let open = OpenConnection(open.clone());
                let stream = match TcpStream::from_std(stream) {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "cannot watch a new connection");
                        continue;
                    }
                };
                #[cfg(target_os = "linux")]
                let stream = ServedStream::new(stream);
                let service = TowerToHyperService::new(app.clone());
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _open = open;
                    if let Err(error) = watched.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            tokio::select! {
                () = graceful.shutdown() => {},
                () = tokio::time::sleep(grace) => {
                    tracing::warn!("shutdown grace period over; closing anyway");
                }
            }
            let _ = served.send(());
            let _ = released.wait_for(|released| *released).await;
        });
    }
}

/// One open connection in its thread's count, for as long as it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected socket to deal (its peer is irrelevant to the deal).
    fn a_connection(listener: &std::net::TcpListener) -> std::net::TcpStream {
        std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap()
    }

    fn dealers(
        open: &[usize],
    ) -> (
        Vec<Dealer>,
        Vec<mpsc::UnboundedReceiver<std::net::TcpStream>>,
    ) {
        open.iter()
            .map(|&count| {
                let (deal, dealt) = mpsc::unbounded_channel();
                let open = Arc::new(AtomicUsize::new(count));
                (Dealer { deal, open }, dealt)
            })
            .unzip()
    }

    #[test]
    fn a_connection_goes_to_the_thread_with_the_fewest_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut serving, mut dealt) = dealers(&[2, 0, 1]);
        deal_out(&mut serving, a_connection(&listener), 0).unwrap();
        assert!(dealt[1].try_recv().is_ok());
        assert!(dealt[0].try_recv().is_err() && dealt[2].try_recv().is_err());
        let open: Vec<_> = serving
            .iter()
            .map(|d| d.open.load(Ordering::Relaxed))
            .collect();
        assert_eq!(open, [2, 1, 1]);
    }

    #[test]
    fn a_burst_of_connections_is_spread_evenly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut serving, _dealt) = dealers(&[0, 0, 0]);
        for turn in 1..=7 {
            deal_out(&mut serving, a_connection(&listener), turn).unwrap();
        }
        let mut open: Vec<_> = serving
            .iter()
            .map(|d| d.open.load(Ordering::Relaxed))
            .collect();
        open.sort_unstable();
        assert_eq!(open, [2, 2, 3]);
    }

    #[test]
    fn a_thread_that_ended_is_passed_over_and_none_left_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut serving, mut dealt) = dealers(&[0, 5]);
        drop(dealt.remove(0));
        deal_out(&mut serving, a_connection(&listener), 0).unwrap();
        assert!(
            dealt[0].try_recv().is_ok(),
            "dealt to the thread still serving"
        );
        assert_eq!(serving.len(), 1);
        dealt.clear();
        assert!(deal_out(&mut serving, a_connection(&listener), 0).is_err());
        assert!(serving.is_empty());
    }
}
