//! Starts the real server in-process on 127.0.0.1:0 over a fresh deployment (see
//! `backends`: the embedded default, or PostgreSQL and S3) and talks HTTP to it, as a
//! client would. Also builds the inputs tests need: corpus files and
//! hostile images made on the spot.

use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use imagestore::Running;
use imagestore::config::ServeArgs;
use imagestore::domain::{Principal, Scope};
use reqwest::Client;
use serde_json::Value;
use uuid::Uuid;

use crate::backends::TestStorage;

pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/");

/// An HTTP client. TLS in this build has no bundled crypto provider (object_store's S3
/// client shares reqwest with the tests), so ring is installed first.
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

/// GETs a URL with a bearer token and returns its JSON body, whatever the status; for
/// servers that are processes rather than a `TestServer`.
pub async fn get_json_as(client: &Client, url: &str, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(CORPUS).join(name)).unwrap_or_else(|e| panic!("corpus/{name}: {e}"))
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

pub struct TestServer {
    pub base: String,
    pub env: Uuid,
    /// The admin token made on first start.
    pub token: String,
    /// The operator token made on first start (None on a deployment that had data).
    pub operator_token: Option<String>,
    pub storage: Arc<TestStorage>,
    pub client: Client,
    /// The `serve` flags it was started with; restarts and other instances get them too.
    flags: Vec<String>,
    running: Option<Running>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(&[]).await
    }

    /// Starts with extra `serve` flags, such as `["--max-upload-bytes", "1000"]`.
    pub async fn start_with(flags: &[&str]) -> TestServer {
        TestServer::start_on(TestStorage::new().await, flags).await
    }

    /// Starts on a deployment the test prepared (engines behind a proxy, say).
    pub async fn start_on(storage: TestStorage, flags: &[&str]) -> TestServer {
        let storage = Arc::new(storage);
        let (running, base) = launch(&storage, flags).await;
        let first = running.bootstrap.clone().expect("first start bootstraps");
        TestServer {
            base,
            env: first.environment.id,
            token: first.key.token,
            operator_token: Some(first.operator.token),
            storage,
            client: client(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            running: Some(running),
        }
    }

    /// Another instance on the same deployment (same catalog, same blob store), as a
    /// second process behind a load balancer would be; it shares the first admin key.
    pub async fn another_instance(&self) -> TestServer {
        let (running, base) = launch(&self.storage, &self.flag_list()).await;
        assert!(
            running.bootstrap.is_none(),
            "a second instance bootstrapped"
        );
        TestServer {
            base,
            env: self.env,
            token: self.token.clone(),
            operator_token: self.operator_token.clone(),
            storage: self.storage.clone(),
            client: client(),
            flags: self.flags.clone(),
            running: Some(running),
        }
    }

    fn flag_list(&self) -> Vec<&str> {
        self.flags.iter().map(String::as_str).collect()
    }

    /// Starts on a deployment that already has data, with a key of it.
    pub async fn resume_on(storage: TestStorage, env: Uuid, token: &str) -> TestServer {
        let storage = Arc::new(storage);
        let (running, base) = launch(&storage, &[]).await;
        assert!(
            running.bootstrap.is_none(),
            "a deployment with data bootstrapped"
        );
        TestServer {
            base,
            env,
            token: token.to_string(),
            operator_token: None,
            storage,
            client: client(),
            flags: Vec::new(),
            running: Some(running),
        }
    }

    /// Stops the server (graceful shutdown), leaving its deployment as it is.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let (running, base) = launch(&self.storage, &self.flag_list()).await;
        assert!(
            running.bootstrap.is_none(),
            "a restart must not bootstrap again"
        );
        self.base = base;
        self.running = Some(running);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn images_url(&self) -> String {
        self.url(&format!("/v1/environments/{}/images", self.env))
    }

    /// The data directory (temp files; the catalog and blobs on the embedded default).
    pub fn data_dir(&self) -> &Path {
        self.storage.dir.path()
    }

    /// A key with the given scopes in the given environment (made through the service).
    pub async fn key(&self, env: Uuid, scopes: &[Scope]) -> String {
        let service = &self.running.as_ref().unwrap().service;
        service
            .create_key(&Principal::shell(), env, None, scopes.to_vec(), None)
            .await
            .unwrap()
            .token
    }

    pub fn service(&self) -> std::sync::Arc<imagestore::service::Service> {
        self.running.as_ref().unwrap().service.clone()
    }

    /// A second environment with an admin key, to attack the first one from.
    pub async fn other_environment(&self) -> (Uuid, String) {
        let service = &self.running.as_ref().unwrap().service;
        let env = service
            .create_environment(&Principal::shell(), "other", None)
            .await
            .unwrap()
            .id;
        (env, self.key(env, &[Scope::Admin]).await)
    }

    /// A browser session made with `token` (`POST /v1/sessions`): the cookie to send
    /// (`name=value`) and its CSRF token.
    pub async fn session_of(&self, token: &str) -> (String, String) {
        let response = self
            .client
            .post(self.url("/v1/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite="),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().unwrap().to_string();
        let body: serde_json::Value = response.json().await.unwrap();
        (cookie, body["csrfToken"].as_str().unwrap().to_string())
    }

    /// GETs a URL with the admin key and returns its JSON body, whatever the status.
    pub async fn get_json(&self, url: &str) -> Value {
        get_json_as(&self.client, url, &self.token).await
    }

    /// Uploads raw bytes with the admin key; returns status and JSON body.
    pub async fn upload(&self, bytes: Vec<u8>, content_type: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.images_url())
            .bearer_auth(&self.token)
            .header("Content-Type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads and insists on success; returns the image JSON.
    pub async fn upload_ok(&self, name: &str) -> Value {
        let (status, body) = self.upload(corpus(name), "application/octet-stream").await;
        assert_eq!(status, 201, "{name}: {body}");
        body
    }

    pub async fn get_bytes(&self, href: &str) -> (u16, Vec<u8>) {
        let response = self.client.get(href).send().await.unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }

    /// Every blob key in the deployment's store.
    pub async fn blob_keys(&self) -> Vec<String> {
        self.storage.blob_keys().await
    }
}

async fn launch(storage: &TestStorage, flags: &[&str]) -> (Running, String) {
    let storage_args = storage.args();
    let mut argv = vec!["serve", "--listen", "127.0.0.1:0", "--gc-interval", "0"];
    argv.extend(storage_args.iter().map(String::as_str));
    argv.extend_from_slice(flags);
    let config = Args::try_parse_from(argv).unwrap().serve.resolve().unwrap();
    let running = imagestore::start(config, std::future::pending())
        .await
        .unwrap();
    let base = format!("http://{}", running.local_addr);
    (running, base)
}

/// Asserts the PingOne error shape and returns its code.
pub fn assert_error_shape(body: &Value) -> String {
    let id = body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"));
    Uuid::parse_str(id).unwrap_or_else(|_| panic!("id is not a UUID in {body}"));
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message in {body}"
    );
    body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {body}"))
        .to_string()
}

/// A PNG header whose IHDR claims `width`×`height`, with a valid CRC, and no pixels.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    out
}

/// The CRC-32 of PNG chunks (and zlib, gzip).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Decodes bytes to RGBA pixels (first frame), for comparing what was stored.
pub fn pixels(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).unwrap().to_rgba8()
}
