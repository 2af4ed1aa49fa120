//! The console's stylesheet and script, embedded in the binary (`include_str!`) so the
//! console needs no other host. Each is linked with its content hash in the query, so an
//! asset can be cached for a year and a new build is still fetched at once.

use std::sync::LazyLock;

use axum::extract::Query;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::secure;

pub struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    version: LazyLock<String>,
}

impl Asset {
    /// The URL pages link to: the path, versioned by the content's hash.
    pub fn href(&self) -> String {
        format!("{}?v={}", self.path, *self.version)
    }

    fn serve(&self, asked_version: Option<&str>) -> Response {
        let mut response = self.body.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        // Only the current version may be kept: an old page asking for an old hash
        // gets today's asset, which must not be cached under the old name.
        let cache = if asked_version == Some(self.version.as_str()) {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        secure(response)
    }
}

fn content_version(body: &str) -> String {
    blake3::hash(body.as_bytes()).to_hex()[..16].to_string()
}

pub static STYLESHEET: Asset = Asset {
    path: "/console/assets/console.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("../../../assets/console/console.css"),
    version: LazyLock::new(|| content_version(STYLESHEET.body)),
};

pub static SCRIPT: Asset = Asset {
    path: "/console/assets/console.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../../../assets/console/console.js"),
    version: LazyLock::new(|| content_version(SCRIPT.body)),
};

#[derive(Deserialize)]
pub struct Versioned {
    v: Option<String>,
}

pub async fn stylesheet(Query(query): Query<Versioned>) -> Response {
    STYLESHEET.serve(query.v.as_deref())
}

pub async fn script(Query(query): Query<Versioned>) -> Response {
    SCRIPT.serve(query.v.as_deref())
}
