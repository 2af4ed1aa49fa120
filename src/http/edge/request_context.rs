//! The outermost layer: gives each request a fresh id, returns it in `X-Request-Id`, puts
//! the request in scope for its log lines and error bodies (the task-local
//! [`logging::REQUEST`]: error bodies carry its id as their `id`), and writes the access
//! line once the response is ready. A client's own `X-Request-Id` is replaced, so that an
//! error id always names exactly one of our requests.
//!
//! Hand-written rather than `axum::middleware::from_fn`, which clones the inner service
//! and boxes a future for every request; and instead of tower-http's `TraceLayer`, whose
//! tracing span per request (created, entered and left on every poll) and formatted event
//! cost more than the rest of serving a small image from memory.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, Request, Response};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use uuid::Uuid;

use crate::logging::{self, REQUEST, RequestLabel};

pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Copy, Default)]
pub struct RequestContextLayer;

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;

    fn layer(&self, inner: S) -> RequestContext<S> {
        RequestContext { inner }
    }
}

#[derive(Clone)]
pub struct RequestContext<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for RequestContext<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = WithRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = Uuid::new_v4();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let value = HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes())
            .unwrap_or(HeaderValue::from_static("-"));
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value.clone());
        let label = RequestLabel {
            id,
            method: request.method().clone(),
            uri: request.uri().clone(),
        };
        // The inner call may already do work (or panic) before its future is polled; it
        // sees the request too.
        let future = REQUEST.sync_scope(label.clone(), || self.inner.call(request));
        WithRequestId {
            inner: REQUEST.scope(label, future),
            value: Some(value),
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner response future, run with the request in scope; the id is added to the
    /// response's headers and the access line written when it is ready.
    pub struct WithRequestId<F: Future> {
        #[pin]
        inner: TaskLocalFuture<RequestLabel, F>,
        value: Option<HeaderValue>,
        started: Instant,
    }
}

impl<F, R, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = match this.inner.as_mut().poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        if let Some(label) = this.inner.take_value() {
            let micros = u64::try_from(this.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            logging::access(&label, response.status().as_u16(), micros);
        }
        if let Some(value) = this.value.take() {
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER.clone(), value);
        }
        Poll::Ready(Ok(response))
    }
}
