//! A minimum transfer rate for request bodies, as Apache's `mod_reqtimeout` has
//! (`body=20,MinRate=500`): a body may take `grace` to get going, and after that every
//! `min_rate` bytes it has delivered buys it one more second. A client that trickles one
//! byte every two seconds passes the idle timeout between frames (tower-http's
//! `RequestBodyTimeout`) forever, holding a connection, a worker's temp file and a
//! request slot until the whole-request timeout; with a rate it is cut off within
//! seconds of falling behind, while a slow but real uplink (a phone on 2G sends several
//! kilobytes a second) is never touched.
//!
//! Written here rather than taken from a crate: tower-http has idle and total timeouts
//! for bodies, but no rate. The check runs when a frame arrives, so it needs no timer of
//! its own; a body that stops sending altogether is the idle timeout's to end.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::BoxError;
use axum::body::Bytes;
use axum::extract::Request;
use hyper::body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// The rule a body is held to.
#[derive(Debug, Clone, Copy)]
pub struct MinRate {
    /// How long a body may take before the rate applies.
    pub grace: Duration,
    /// Bytes per second a body must average after the grace; 0 turns the rule off.
    pub bytes_per_sec: u64,
}

impl MinRate {
    /// Whether `received` bytes in `elapsed` are still within the rule.
    fn allows(&self, received: u64, elapsed: Duration) -> bool {
        if self.bytes_per_sec == 0 {
            return true;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.bytes_per_sec as f64);
        elapsed <= self.grace + earned
    }
}

/// The error a body ends with when it falls behind the rate.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {0} bytes per second")]
pub struct TooSlow(u64);

pin_project! {
    /// A request body held to a [`MinRate`].
    pub struct RateBody<B> {
        #[pin]
        inner: B,
        rule: MinRate,
        started: Instant,
        received: u64,
    }
}

impl<B> Body for RateBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                *this.received += data.len() as u64;
            }
            if !this.rule.allows(*this.received, this.started.elapsed()) {
                return Poll::Ready(Some(Err(Box::new(TooSlow(this.rule.bytes_per_sec)))));
            }
        }
        polled.map(|frame| frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps every request's body in a [`RateBody`].
#[derive(Debug, Clone, Copy)]
pub struct MinRateLayer(pub MinRate);

impl<S> tower::Layer<S> for MinRateLayer {
    type Service = MinRateService<S>;

    fn layer(&self, inner: S) -> MinRateService<S> {
        MinRateService {
            inner,
            rule: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MinRateService<S> {
    inner: S,
    rule: MinRate,
}

/// Hands on an axum `Body` (boxing the wrapped body once, as the router would anyway), so
/// that the layers inside, written for axum's `Request`, take it as it is.
impl<S, B> tower::Service<Request<B>> for MinRateService<S>
where
    S: tower::Service<Request>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> S::Future {
        let rule = self.rule;
        self.inner.call(request.map(|inner| {
            axum::body::Body::new(RateBody {
                inner,
                rule,
                started: Instant::now(),
                received: 0,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_then_a_second_per_rate_bytes() {
        let rule = MinRate {
            grace: Duration::from_secs(10),
            bytes_per_sec: 500,
        };
        assert!(rule.allows(0, Duration::from_secs(10)));
        assert!(!rule.allows(0, Duration::from_secs(11)));
        assert!(rule.allows(5_000, Duration::from_secs(20)));
        assert!(!rule.allows(4_999, Duration::from_secs(20)));
        // One byte every two seconds falls behind as soon as the grace is over.
        assert!(!rule.allows(6, Duration::from_secs(12)));
        let off = MinRate {
            grace: Duration::ZERO,
            bytes_per_sec: 0,
        };
        assert!(off.allows(0, Duration::from_secs(3600)));
    }
}
