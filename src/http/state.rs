//! What every handler can reach: the service, the public base of hrefs, the upload limit,
//! the metrics handle, the OpenAPI document and the authentication throttle. Its own file
//! so that handlers import it from here, not from the router that builds it.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::PrometheusHandle;

use super::edge::auth_throttle;
use crate::service::Service;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    /// Base of every href written, without a trailing slash.
    pub public_url: Arc<str>,
    pub max_upload_bytes: u64,
    pub metrics: PrometheusHandle,
    /// The generated OpenAPI document, serialized once at start.
    pub openapi: Arc<OnceLock<String>>,
    /// Failed authentications per client address.
    pub auth_throttle: Arc<auth_throttle::AuthThrottle>,
}
