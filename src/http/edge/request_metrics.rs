//! The per-request metrics: `imagestore_http_requests_total` and
//! `imagestore_http_request_duration_seconds`, labelled by method, route template and
//! status.
//!
//! Registering a labelled metric builds its key (three label strings) and looks it up in
//! the recorder's registry; done on every request that was ~3% of the CPU of serving a
//! small image. The handles of each label set are registered once and kept here, found
//! again by a borrowed key, so a request allocates nothing for its metrics.
//!
//! Label values are bounded: a route is one of the router's templates (or `unmatched`)
//! and a method outside the standard ones is labelled `OTHER`, so a client inventing
//! methods cannot grow the number of series, or this map, without bound.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Response};
use metrics::{Counter, Histogram};
use quick_cache::Equivalent;
use quick_cache::sync::Cache;
use tower::{Layer, Service};

/// Label sets kept: standard methods × routes × statuses seen, far below this.
const LABEL_SETS: usize = 4096;

/// One label set. Hashes exactly as [`Labels`] does, so either finds the other.
#[derive(Clone, PartialEq, Eq, Hash)]
struct LabelSet {
    method: &'static str,
    route: String,
    status: u16,
}

/// A label set borrowed from the request being answered.
struct Labels<'a> {
    method: &'static str,
    route: &'a str,
    status: u16,
}

impl Hash for Labels<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.method.hash(state);
        self.route.hash(state);
        self.status.hash(state);
    }
}

impl Equivalent<LabelSet> for Labels<'_> {
    fn equivalent(&self, key: &LabelSet) -> bool {
        self.method == key.method && self.route == key.route && self.status == key.status
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

fn handles(labels: &Labels<'_>) -> (Counter, Histogram) {
    static HANDLES: std::sync::LazyLock<Cache<LabelSet, (Counter, Histogram)>> =
        std::sync::LazyLock::new(|| Cache::new(LABEL_SETS));
    if let Some(found) = HANDLES.get(labels) {
        return found;
    }
    let set = LabelSet {
        method: labels.method,
        route: labels.route.to_string(),
        status: labels.status,
    };
    let pairs = [
        ("method", set.method.to_string()),
        ("route", set.route.clone()),
        ("status", set.status.to_string()),
    ];
    let registered = (
        metrics::counter!("imagestore_http_requests_total", &pairs),
        metrics::histogram!("imagestore_http_request_duration_seconds", &pairs),
    );
    HANDLES.insert(set, registered.clone());
    registered
}

/// The layer that counts and times every request of a route. It sits inside the router,
/// where the matched route template is known. Hand-written rather than
/// `axum::middleware::from_fn`, which clones the inner service and boxes a future for
/// every request.
#[derive(Clone, Copy, Default)]
pub struct RecordLayer;

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record { inner }
    }
}

#[derive(Clone)]
pub struct Record<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for Record<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        Recorded {
            inner: self.inner.call(request),
            started: Instant::now(),
            method,
            route,
        }
    }
}

pin_project_lite::pin_project! {
    /// A response on its way; counted and timed when it is ready.
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        route: Option<MatchedPath>,
    }
}

impl<F, R, E> Future for Recorded<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let labels = Labels {
                method: this.method,
                route: this.route.as_ref().map_or("unmatched", MatchedPath::as_str),
                status: response.status().as_u16(),
            };
            let (requests, duration) = handles(&labels);
            requests.increment(1);
            duration.record(this.started.elapsed().as_secs_f64());
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::{LabelSet, Labels, method_label};

    #[test]
    fn a_borrowed_label_set_hashes_and_compares_as_the_owned_one() {
        let owned = LabelSet {
            method: "GET",
            route: "/images/{envId}/{file}".into(),
            status: 200,
        };
        let borrowed = Labels {
            method: "GET",
            route: "/images/{envId}/{file}",
            status: 200,
        };
        let hasher = std::collections::hash_map::RandomState::new();
        assert_eq!(hasher.hash_one(&owned), hasher.hash_one(&borrowed));
        assert!(quick_cache::Equivalent::equivalent(&borrowed, &owned));
        let other = Labels {
            status: 404,
            ..borrowed
        };
        assert!(!quick_cache::Equivalent::equivalent(&other, &owned));
    }

    #[test]
    fn invented_methods_share_one_label() {
        let invented = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "OTHER");
        assert_eq!(method_label(&axum::http::Method::DELETE), "DELETE");
    }
}
