//! What every request passes through before and after a handler: the accept loop and its
//! timeouts, the socket that can `sendfile`, the request id and access line, metrics, the
//! minimum body rate, the authentication throttle, cross-origin grants (CORS), and the
//! operational routes (health, readiness, metrics, the OpenAPI document).

pub mod auth_throttle;
pub(crate) mod body_rate;
pub(crate) mod cors;
pub mod ops;
pub(crate) mod request_context;
pub(crate) mod request_metrics;
#[cfg(target_os = "linux")]
pub(crate) mod served_stream;
pub mod server;
