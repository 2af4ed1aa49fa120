//! imagestore: a self-hostable image service. Applications upload the avatars, logos and
//! branding pictures of their tenants; imagestore proves each is a real image by decoding
//! it, strips private metadata, stores it durably, describes it, and serves it safely.
//!
//! Data flows one way: the HTTP edge ([`http`]) parses requests and renders answers; the
//! use cases ([`service`]) check who may do what and order the writes; [`media`] turns
//! bytes into facts and safe bytes without doing any IO; [`storage`] keeps rows (the
//! catalog) and bytes (the blob store). See ARCHITECTURE.md for the invariants.

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod media;
pub mod migrate;
pub mod service;
pub mod storage;
pub mod sweeping;
pub mod verify;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use config::{Config, StorageConfig};
use error::{Error, Result};
use service::{Bootstrap, Service, ServiceSettings};
use storage::{BlobStore, Catalog};

/// Opens the catalog (applying migrations) and the blob store a configuration names.
pub async fn open_service(
    storage: &StorageConfig,
    settings: ServiceSettings,
) -> Result<Arc<Service>> {
    let catalog = Catalog::open(&storage.database_url).await?;
    let blobs = BlobStore::open(&storage.blob_store)?.remembering(settings.memory_cache_bytes);
    Ok(Service::new(catalog, blobs, settings))
}

/// Service settings for commands that do not serve (CLI admin, gc).
pub fn default_settings(storage: &StorageConfig) -> ServiceSettings {
    ServiceSettings {
        temp_dir: storage.temp_dir.clone(),
        max_upload_bytes: 20 * 1024 * 1024,
        media: media::MediaLimits::default(),
        workers: 1,
        queue: 0,
        orphan_grace: std::time::Duration::from_secs(3600),
        max_output_side: 4096,
        renditions: service::RenditionBudget::default(),
        dropbox_ttl: std::time::Duration::from_secs(3600),
        session_ttl: std::time::Duration::from_secs(8 * 3600),
        memory_cache_bytes: 0,
        webhook_allow_private: false,
    }
}

/// How often the recorder's histogram samples are folded into their buckets.
const METRICS_UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder; installed once, shared by every server in the
/// process (tests start several).
///
/// Its histograms keep every observed value in a list until they are folded into buckets,
/// which only a scrape of `/metrics` or an upkeep does; a recorder made by
/// `build_recorder` has no upkeep of its own. Without one, a server nobody scrapes grew by
/// about 20 bytes per request (11 MB per 570,000 avatar GETs, freed by the next scrape),
/// so a thread runs it every [`METRICS_UPKEEP_INTERVAL`].
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &buckets)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            let upkept = handle.clone();
            let upkeep = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(METRICS_UPKEEP_INTERVAL);
                        upkept.run_upkeep();
                    }
                });
            if let Err(error) = upkeep {
                tracing::warn!(%error, "no metrics upkeep thread; histograms grow until scraped");
            }
            handle
        })
        .clone()
}

/// A server that is running: where it listens, what it bootstrapped, and how to stop it.
pub struct Running {
    pub local_addr: SocketAddr,
    /// The environment and admin key made on first start, if this start made them.
    pub bootstrap: Option<Bootstrap>,
    pub service: Arc<Service>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and returns when done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server stops by itself (its shutdown signal fired).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Opens storage, binds, bootstraps an empty catalog, and serves until `signal` fires or
/// [`Running::shutdown`] is called.
pub async fn start(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<Running> {
    // First, so that metric handles taken while opening storage reach the recorder.
    let metrics = metrics_handle();
    let settings = ServiceSettings {
        temp_dir: config.storage.temp_dir.clone(),
        max_upload_bytes: config.max_upload_bytes,
        media: config.media.clone(),
        workers: config.workers,
        queue: config.queue,
        orphan_grace: config.orphan_grace,
        max_output_side: config.max_output_side,
        renditions: config.renditions.clone(),
        dropbox_ttl: config.dropbox_ttl,
        session_ttl: config.session_ttl,
        memory_cache_bytes: config.memory_cache_bytes,
        webhook_allow_private: config.webhook_allow_private,
    };
    let service = open_service(&config.storage, settings).await?;
    // Bound before the first start's admin key is made: a start that cannot listen (a
    // busy port) must not make a key that nobody sees, and leave the next start none.
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Internal(format!("cannot listen on {}: {e}", config.listen)))?;
    let bootstrap = service.bootstrap().await?;
    service.prepare_receipt_key().await?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("cannot read the listening address: {e}")))?;
    let public_url = config
        .public_url
        .replace(&config.listen.to_string(), &local_addr.to_string());
    let state = http::AppState {
        service: service.clone(),
        public_url: public_url.into(),
        max_upload_bytes: config.max_upload_bytes,
        metrics,
        openapi: Arc::new(OnceLock::new()),
        auth_throttle: http::AuthThrottle::new(config.auth_failures_per_minute),
    };
    let timeouts = http::Timeouts {
        request: config.request_timeout,
        body_idle: config.body_timeout,
        body_rate: http::MinRate {
            grace: config.min_body_rate_grace,
            bytes_per_sec: config.min_body_rate,
        },
    };
    let router = http::router(state, timeouts);
    let sweeper = config
        .gc_interval
        .map(|interval| sweeping::spawn_sweeper(service.clone(), interval));
    let webhooks = service.clone().spawn_webhook_deliveries();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            () = signal => {},
            _ = stopped => {},
        }
    };
    let (header_timeout, grace) = (config.header_timeout, config.shutdown_grace);
    let task = tokio::spawn(async move {
        http::edge::server::serve(listener, router, header_timeout, grace, shutdown).await;
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        webhooks.abort();
    });
    Ok(Running {
        local_addr,
        bootstrap,
        service,
        stop: Some(stop),
        task,
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The recorder comes with the thread that keeps its histograms bounded. A new thread
    /// names itself once it runs, so its name is looked for for a while.
    #[test]
    fn the_metrics_recorder_has_an_upkeep_thread() {
        let _handle = super::metrics_handle();
        let thread_names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("/proc/self/task")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .collect()
        };
        let mut names = thread_names();
        for _ in 0..200 {
            if names.iter().any(|name| name == "metrics-upkeep") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            names = thread_names();
        }
        panic!("no metrics-upkeep thread among {names:?}");
    }
}
