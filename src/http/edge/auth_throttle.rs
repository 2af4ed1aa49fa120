//! Slowing down online key guessing: each client address may fail authentication
//! `--auth-failures-per-minute` times a minute (in a burst, or spread out); past that,
//! its requests that carry a credential are answered 429 with `Retry-After` and are not
//! checked at all, so a guesser learns nothing more until the window refills. Requests
//! without a credential (anonymous image GETs, health checks) are never touched, and a
//! client that authenticates correctly spends nothing.
//!
//! Failures are counted in `imagestore_auth_failures_total`, refusals in
//! `imagestore_auth_throttled_total`.
//!
//! A failure is a 401 from any route, whichever dialect or credential form produced it,
//! so the rule sits at the edge around the router rather than in each extractor. IPv6
//! clients are counted by their /64, the block one host is usually given, so that
//! rotating addresses inside it does not reset the count.
//!
//! Hand-written rather than taken from a rate-limiting crate: those spend a cell on
//! every check, while here only failures may spend and every credentialed request must
//! be able to ask whether its address is still allowed without spending.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::Error;

/// Addresses tracked at most; beyond it, those whose failures have all been forgiven
/// are forgotten first, and if none have, the table is cleared (a flood of addresses
/// must not grow memory without bound).
const MAX_TRACKED: usize = 100_000;

/// Failed authentications per client address.
pub struct AuthThrottle {
    per_minute: u32,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

/// Failures not yet forgiven; forgiven at `per_minute / 60` a second.
#[derive(Clone, Copy)]
struct Failures {
    count: f64,
    at: Instant,
}

impl AuthThrottle {
    /// `per_minute` of 0 turns the throttle off.
    pub fn new(per_minute: u32) -> Arc<AuthThrottle> {
        Arc::new(AuthThrottle {
            per_minute,
            failures: Mutex::new(HashMap::new()),
        })
    }

    fn per_second(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    /// The failures of `failures` still counted at `now`.
    fn outstanding(&self, failures: Failures, now: Instant) -> f64 {
        let forgiven = now.duration_since(failures.at).as_secs_f64() * self.per_second();
        (failures.count - forgiven).max(0.0)
    }

    /// Seconds the address must wait, or None when it may try.
    fn blocked(&self, client: IpAddr) -> Option<u64> {
        let table = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let failures = *table.get(&client)?;
        let outstanding = self.outstanding(failures, Instant::now());
        let limit = f64::from(self.per_minute);
        (outstanding + 1.0 > limit)
            .then(|| ((outstanding + 1.0 - limit) / self.per_second()).ceil() as u64)
            .map(|secs| secs.max(1))
    }

    fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut table = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() >= MAX_TRACKED && !table.contains_key(&client) {
            table.retain(|_, failures| self.outstanding(*failures, now) > 0.0);
            if table.len() >= MAX_TRACKED {
                table.clear();
            }
        }
        let count = table
            .get(&client)
            .map_or(0.0, |failures| self.outstanding(*failures, now));
        table.insert(
            client,
            Failures {
                count: count + 1.0,
                at: now,
            },
        );
    }
}

impl AuthThrottle {
    /// For a credential that arrives in a body (the console's sign-in form), which the
    /// middleware cannot see: the seconds the request's address must wait, if any.
    pub fn blocked_request(&self, extensions: &http::Extensions) -> Option<u64> {
        let client = client_of(extensions)?;
        (self.per_minute > 0)
            .then(|| self.blocked(client))
            .flatten()
    }

    /// Counts a failed sign-in of the request's address, as the middleware counts a 401.
    pub fn failed_request(&self, extensions: &http::Extensions) {
        if let Some(client) = client_of(extensions).filter(|_| self.per_minute > 0) {
            metrics::counter!("imagestore_auth_failures_total").increment(1);
            self.failed(client);
        }
    }
}

fn client_of(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| client_key(info.0.ip()))
}

/// The key an address is counted under: itself, or its /64 for IPv6.
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Whether a request presents a credential in any accepted form.
fn carries_credential(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key(header::COOKIE)
        || request.uri().query().is_some_and(|query| {
            // QuestionPro's `apiKey`, and an upload URL's `token`.
            query
                .split('&')
                .any(|pair| matches!(pair.split('=').next(), Some("apiKey" | "token")))
        })
}

/// The middleware: refuses credentialed requests of a throttled address, and counts the
/// 401s of the others.
pub async fn throttle(
    State(throttle): State<Arc<AuthThrottle>>,
    request: Request,
    next: Next,
) -> Response {
    if throttle.per_minute == 0 || !carries_credential(&request) {
        return next.run(request).await;
    }
    let Some(client) = client_of(request.extensions()) else {
        return next.run(request).await;
    };
    if let Some(retry_after_secs) = throttle.blocked(client) {
        metrics::counter!("imagestore_auth_throttled_total").increment(1);
        let error = Error::Throttled { retry_after_secs };
        return crate::http::dialect::error_in_dialect(request.uri(), request.headers(), error);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        metrics::counter!("imagestore_auth_failures_total").increment(1);
        throttle.failed(client);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_blocks_and_time_forgives() {
        let throttle = AuthThrottle::new(3);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(throttle.blocked(client), None);
        for _ in 0..3 {
            throttle.failed(client);
        }
        // Three a minute: the fourth must wait until one is forgiven, 20 s at most.
        let wait = throttle.blocked(client).expect("blocked after the burst");
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(
            throttle.blocked(other),
            None,
            "another address is not blocked"
        );
        // As if a minute had passed: everything forgiven.
        let mut table = throttle.failures.lock().unwrap();
        let failures = table.get_mut(&client).unwrap();
        failures.at -= std::time::Duration::from_secs(60);
        drop(table);
        assert_eq!(throttle.blocked(client), None);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = client_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            client_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
