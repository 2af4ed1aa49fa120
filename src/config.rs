//! Every knob imagestore has, read once from command-line flags or `IMAGESTORE_*`
//! environment variables, validated, and turned into plain values the rest of the crate
//! uses. Nothing else in the crate reads the environment.
//!
//! The flags are grouped the way the commands need them: [`StorageArgs`] names where data
//! lives and is shared by every command that touches it (`serve`, `environment create`,
//! `key create`, `gc`), and [`ServeArgs`] adds what only a running server needs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::media::MediaLimits;
use crate::service::RenditionBudget;

/// Where the catalog and the blobs live.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Directory for the embedded default: the SQLite catalog, blobs and temp files.
    #[arg(long, env = "IMAGESTORE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Catalog URL: `sqlite:PATH` or `postgres://user@host/db`. Defaults to
    /// `sqlite:<data-dir>/imagestore.db`.
    #[arg(long, env = "IMAGESTORE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Blob store: a directory, or `s3://bucket[/prefix]` (configured by AWS_ENDPOINT_URL,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP). Defaults to
    /// `<data-dir>/blobs`.
    #[arg(long, env = "IMAGESTORE_BLOB_STORE")]
    pub blob_store: Option<String>,
}

/// What only `serve` needs on top of [`StorageArgs`].
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, env = "IMAGESTORE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL written into every href (no trailing slash). Defaults to `http://<listen>`.
    #[arg(long, env = "IMAGESTORE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest accepted upload body, in bytes (413 beyond it).
    #[arg(long, env = "IMAGESTORE_MAX_UPLOAD_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Widest accepted image, in pixels.
    #[arg(long, env = "IMAGESTORE_MAX_WIDTH", default_value_t = 10_000)]
    pub max_width: u32,
    /// Tallest accepted image, in pixels.
    #[arg(long, env = "IMAGESTORE_MAX_HEIGHT", default_value_t = 10_000)]
    pub max_height: u32,
    /// Largest accepted area of one frame, in pixels (40 MP, as pict-rs).
    #[arg(long, env = "IMAGESTORE_MAX_PIXELS", default_value_t = 40_000_000)]
    pub max_pixels: u64,
    /// Most frames accepted in an animated GIF or WebP.
    #[arg(long, env = "IMAGESTORE_MAX_FRAMES", default_value_t = 300)]
    pub max_frames: u32,
    /// Largest accepted area summed over all frames of an animation, in pixels.
    #[arg(
        long,
        env = "IMAGESTORE_MAX_ANIMATION_PIXELS",
        default_value_t = 100_000_000
    )]
    pub max_animation_pixels: u64,
    /// Bytes of pixels one decode may hold (width x height x channels x bytes per sample,
    /// a GIF's canvas and a progressive JPEG's coefficients counted), checked from the
    /// header before decoding; `workers` times this bounds all decodes at once.
    #[arg(
        long,
        env = "IMAGESTORE_MAX_DECODE_BYTES",
        default_value_t = 128 * 1024 * 1024
    )]
    pub max_decode_bytes: u64,
    /// Most scans in one JPEG (each costs a pass over the image; libjpeg-turbo allows 1000).
    #[arg(long, env = "IMAGESTORE_MAX_JPEG_SCANS", default_value_t = 100)]
    pub max_jpeg_scans: u32,
    /// Largest width or height of a rendition, in pixels.
    #[arg(long, env = "IMAGESTORE_MAX_OUTPUT_SIDE", default_value_t = 4096)]
    pub max_output_side: u32,
    /// Largest AVIF rendition, in pixels: above it `format=auto` answers WebP and
    /// `format=avif` is refused (400), since an AVIF encode takes about a second per
    /// megapixel.
    #[arg(long, env = "IMAGESTORE_MAX_AVIF_PIXELS", default_value_t = 1_000_000)]
    pub max_avif_pixels: u64,
    /// Most variants one image keeps stored; the oldest is removed beyond it.
    #[arg(long, env = "IMAGESTORE_MAX_VARIANTS_PER_IMAGE", default_value_t = 32)]
    pub max_variants_per_image: usize,
    /// Most bytes of variants one environment keeps stored (1 GiB); the oldest are
    /// removed beyond it.
    #[arg(long, env = "IMAGESTORE_MAX_VARIANT_BYTES", default_value_t = 1 << 30)]
    pub max_variant_bytes: u64,
    /// Images decoded at once (a bounded blocking pool). Defaults to the number of cores.
    #[arg(long, env = "IMAGESTORE_WORKERS")]
    pub workers: Option<usize>,
    /// Uploads allowed to wait for a worker (each waits on disk, not in memory); beyond
    /// it uploads get 503 with Retry-After.
    #[arg(long, env = "IMAGESTORE_QUEUE", default_value_t = 1000)]
    pub queue: usize,
    /// Seconds a client may take to send its request headers.
    #[arg(
        long = "header-timeout",
        env = "IMAGESTORE_HEADER_TIMEOUT",
        default_value_t = 10
    )]
    pub header_timeout_secs: u64,
    /// Seconds a request body may stall between two chunks.
    #[arg(
        long = "body-timeout",
        env = "IMAGESTORE_BODY_TIMEOUT",
        default_value_t = 10
    )]
    pub body_timeout_secs: u64,
    /// Seconds a whole request may take.
    #[arg(
        long = "request-timeout",
        env = "IMAGESTORE_REQUEST_TIMEOUT",
        default_value_t = 120
    )]
    pub request_timeout_secs: u64,
    /// Bytes per second a request body must average once its grace is over (see
    /// `--min-body-rate-grace`); a slower body is cut off with 400. 0 turns it off.
    #[arg(
        long = "min-body-rate",
        env = "IMAGESTORE_MIN_BODY_RATE",
        default_value_t = 500
    )]
    pub min_body_rate: u64,
    /// Seconds a request body may take before `--min-body-rate` applies.
    #[arg(
        long = "min-body-rate-grace",
        env = "IMAGESTORE_MIN_BODY_RATE_GRACE",
        default_value_t = 20
    )]
    pub min_body_rate_grace_secs: u64,
    /// Failed authentications one client address may make per minute (bursts of as many
    /// allowed); beyond it, requests from that address that carry a credential get 429
    /// with Retry-After, unchecked. 0 turns it off (behind a proxy that hides client
    /// addresses, every client shares one).
    #[arg(
        long = "auth-failures-per-minute",
        env = "IMAGESTORE_AUTH_FAILURES_PER_MINUTE",
        default_value_t = 30
    )]
    pub auth_failures_per_minute: u32,
    /// Seconds an unclaimed dropbox upload is kept.
    #[arg(
        long = "dropbox-ttl",
        env = "IMAGESTORE_DROPBOX_TTL",
        default_value_t = 3600
    )]
    pub dropbox_ttl_secs: u64,
    /// Seconds a browser session lasts.
    #[arg(long = "session-ttl", env = "IMAGESTORE_SESSION_TTL", default_value_t = 8 * 3600)]
    pub session_ttl_secs: u64,
    /// Seconds an unreferenced blob is kept before the sweeper may remove it.
    #[arg(
        long = "orphan-grace",
        env = "IMAGESTORE_ORPHAN_GRACE",
        default_value_t = 3600
    )]
    pub orphan_grace_secs: u64,
    /// Seconds between two runs of the background sweeper (0 turns it off).
    #[arg(
        long = "gc-interval",
        env = "IMAGESTORE_GC_INTERVAL",
        default_value_t = 600
    )]
    pub gc_interval_secs: u64,
    /// Megabytes of memory for keeping small blobs (up to 1 MiB each: avatars,
    /// thumbnails) ready to serve without touching the blob store; 0 turns it off.
    #[arg(long, env = "IMAGESTORE_MEMORY_CACHE_MB", default_value_t = 128)]
    pub memory_cache_mb: u64,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(
        long = "shutdown-grace",
        env = "IMAGESTORE_SHUTDOWN_GRACE",
        default_value_t = 30
    )]
    pub shutdown_grace_secs: u64,
    /// Log format: `text` or `json`.
    #[arg(long, env = "IMAGESTORE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Let webhooks reach private, loopback and link-local addresses (for tests and
    /// closed networks; by default such URLs are refused, and so are names resolving to
    /// them).
    #[arg(long, env = "IMAGESTORE_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where data lives, resolved from [`StorageArgs`].
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub blob_store: String,
    /// Upload bodies are spooled here before they are validated; it sits inside the data
    /// directory so that it is on the same file system as the blobs.
    pub temp_dir: PathBuf,
}

/// Everything a running server needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub storage: StorageConfig,
    pub listen: SocketAddr,
    pub public_url: String,
    pub max_upload_bytes: u64,
    pub media: MediaLimits,
    pub max_output_side: u32,
    pub renditions: RenditionBudget,
    pub workers: usize,
    pub queue: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
    pub min_body_rate: u64,
    pub min_body_rate_grace: Duration,
    pub auth_failures_per_minute: u32,
    pub dropbox_ttl: Duration,
    pub session_ttl: Duration,
    pub orphan_grace: Duration,
    pub gc_interval: Option<Duration>,
    pub shutdown_grace: Duration,
    pub memory_cache_bytes: u64,
    pub log_format: LogFormat,
    pub webhook_allow_private: bool,
}

/// A configuration value that cannot work, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl StorageArgs {
    pub fn resolve(&self) -> Result<StorageConfig, ConfigError> {
        let data_dir = self.data_dir.clone();
        let database_url = match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", data_dir.join("imagestore.db").display()),
        };
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(ConfigError(format!(
                "--database-url must be a sqlite: or postgres:// URL, got {database_url:?}"
            )));
        }
        let blob_store = match &self.blob_store {
            Some(store) => store.clone(),
            None => data_dir.join("blobs").display().to_string(),
        };
        if blob_store.contains("://") && !blob_store.starts_with("s3://") {
            return Err(ConfigError(format!(
                "--blob-store must be a directory or an s3://bucket[/prefix] URL, got {blob_store:?}"
            )));
        }
        Ok(StorageConfig {
            temp_dir: data_dir.join("tmp"),
            data_dir,
            database_url,
            blob_store,
        })
    }
}

impl ServeArgs {
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let storage = self.storage.resolve()?;
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "--public-url must start with http:// or https://, got {public_url:?}"
            )));
        }
        let positive = [
            ("--max-upload-bytes", self.max_upload_bytes),
            ("--max-width", u64::from(self.max_width)),
            ("--max-height", u64::from(self.max_height)),
            ("--max-pixels", self.max_pixels),
            ("--max-frames", u64::from(self.max_frames)),
            ("--max-animation-pixels", self.max_animation_pixels),
            ("--max-decode-bytes", self.max_decode_bytes),
            ("--max-jpeg-scans", u64::from(self.max_jpeg_scans)),
            ("--max-output-side", u64::from(self.max_output_side)),
            ("--max-avif-pixels", self.max_avif_pixels),
            (
                "--max-variants-per-image",
                self.max_variants_per_image as u64,
            ),
            ("--max-variant-bytes", self.max_variant_bytes),
            ("--header-timeout", self.header_timeout_secs),
            ("--body-timeout", self.body_timeout_secs),
            ("--request-timeout", self.request_timeout_secs),
            ("--dropbox-ttl", self.dropbox_ttl_secs),
            ("--session-ttl", self.session_ttl_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError(format!("{name} must be greater than 0")));
        }
        let workers = match self.workers {
            Some(0) => return Err(ConfigError("--workers must be greater than 0".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        Ok(Config {
            storage,
            listen: self.listen,
            public_url,
            max_upload_bytes: self.max_upload_bytes,
            media: MediaLimits {
                max_width: self.max_width,
                max_height: self.max_height,
                max_pixels: self.max_pixels,
                max_frames: self.max_frames,
                max_animation_pixels: self.max_animation_pixels,
                max_decode_bytes: self.max_decode_bytes,
                max_jpeg_scans: self.max_jpeg_scans,
                // A re-encoded TIFF may be no larger than an upload may be.
                max_stored_bytes: self.max_upload_bytes,
            },
            max_output_side: self.max_output_side,
            renditions: RenditionBudget {
                max_avif_pixels: self.max_avif_pixels,
                max_variants_per_image: self.max_variants_per_image,
                max_variant_bytes: self.max_variant_bytes,
            },
            workers,
            queue: self.queue,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            min_body_rate: self.min_body_rate,
            min_body_rate_grace: Duration::from_secs(self.min_body_rate_grace_secs),
            auth_failures_per_minute: self.auth_failures_per_minute,
            dropbox_ttl: Duration::from_secs(self.dropbox_ttl_secs),
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            orphan_grace: Duration::from_secs(self.orphan_grace_secs),
            gc_interval: (self.gc_interval_secs > 0)
                .then(|| Duration::from_secs(self.gc_interval_secs)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            memory_cache_bytes: self.memory_cache_mb.saturating_mul(1 << 20),
            log_format: self.log_format,
            webhook_allow_private: self.webhook_allow_private,
        })
    }
}
