//! The outermost layer: gives each request a fresh id, makes it visible to error
//! rendering (the task-local `REQUEST_ID`, which error bodies carry as their `id`) and
//! returns it in `X-Request-Id`. A client's own `X-Request-Id` is replaced, so that an
//! error id always names exactly one of our log lines.
//!
//! Hand-written rather than `axum::middleware::from_fn`, which clones the inner service
//! and boxes a future for every request; this runs once per request of every route and
//! costs one id and one header value.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, Request, Response};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use uuid::Uuid;

use super::error::REQUEST_ID;

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
        // The inner call may already do work (or panic) before its future is polled; it
        // sees the id too.
        let future = REQUEST_ID.sync_scope(id, || self.inner.call(request));
        WithRequestId {
            inner: REQUEST_ID.scope(id, future),
            value: Some(value),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner response future, run with the request id in scope; the id is added to
    /// the response's headers.
    pub struct WithRequestId<F: Future> {
        #[pin]
        inner: TaskLocalFuture<Uuid, F>,
        value: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        if let Some(value) = this.value.take() {
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER.clone(), value);
        }
        Poll::Ready(Ok(response))
    }
}
