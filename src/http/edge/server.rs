//! The accept loop. axum's own `serve` has no header-read timeout, so connections are
//! served by hyper-util directly with a timer: a client that dribbles its headers is cut
//! off after `header_timeout` (slowloris). On shutdown the listener closes first, then
//! in-flight requests (uploads included) get up to `grace` to finish.

use std::future::Future;
use std::time::Duration;

use std::convert::Infallible;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::http::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

#[cfg(target_os = "linux")]
use crate::http::edge::served_stream::ServedStream;

pub async fn serve<S, B>(
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
    raise_open_file_limit();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
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
        // The peer's address rides on each request, for the layers that count per
        // client (`auth_throttle`).
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
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
    tracing::info!("shutting down; waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
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
