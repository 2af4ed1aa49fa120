//! Opening an S3-compatible bucket as the blob store's object store: the bucket, an
//! optional prefix, per-store endpoint options, and the bounded timeouts and retries that
//! turn an unreachable store into a 503 within seconds (see `blobs`).

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::error::{Error, Result};

/// Opens `bucket[/prefix]` on an S3-compatible store configured by the usual AWS_*
/// variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
/// AWS_ALLOW_HTTP). Path-style requests unless AWS_VIRTUAL_HOSTED_STYLE_REQUEST says
/// otherwise, since self-hosted stores rarely have wildcard DNS.
///
/// A query may override the endpoint settings for this one store
/// (`s3://bucket?endpoint=http://host:3900&region=garage&allow_http=true`), so that a
/// migration can copy between two stores; credentials stay in the environment, where
/// they are not echoed by logs and process listings.
pub(super) fn open(spec: &str) -> Result<Arc<dyn ObjectStore>> {
    // ring is compiled in as rustls' crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (bucket_and_prefix, query) = spec.split_once('?').unwrap_or((spec, ""));
    let (bucket, prefix) = match bucket_and_prefix.split_once('/') {
        Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
        None => (bucket_and_prefix, ""),
    };
    if bucket.is_empty() {
        return Err(Error::InvalidInput {
            target: "blob-store",
            message: "an s3:// blob store needs a bucket: s3://bucket[/prefix]".into(),
        });
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let key = match &*name {
            "endpoint" => AmazonS3ConfigKey::Endpoint,
            "region" => AmazonS3ConfigKey::Region,
            "allow_http" => AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
            "virtual_hosted_style_request" => AmazonS3ConfigKey::VirtualHostedStyleRequest,
            other => {
                return Err(Error::InvalidInput {
                    target: "blob-store",
                    message: format!(
                        "unknown s3:// option {other:?} (endpoint, region, allow_http, \
                         virtual_hosted_style_request)"
                    ),
                });
            }
        };
        builder = builder.with_config(key, value);
    }
    for (key, default) in [
        (ClientConfigKey::Timeout, "30s"),
        (ClientConfigKey::ConnectTimeout, "2s"),
    ] {
        let name = format!("AWS_{}", key.as_ref().to_ascii_uppercase());
        if std::env::var_os(name).is_none() {
            builder = builder.with_config(AmazonS3ConfigKey::Client(key), default);
        }
    }
    let store = builder
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: std::time::Duration::from_millis(100),
                max_backoff: std::time::Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(5),
        })
        .build()
        .map_err(|e| Error::InvalidInput {
            target: "blob-store",
            message: format!("cannot configure the S3 store: {e}"),
        })?;
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    Ok(store)
}
