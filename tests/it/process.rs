//! The built binary as an operator runs it: first start, the admin commands while a server
//! runs, graceful shutdown on SIGTERM in the middle of an upload, logs without secrets,
//! and slow clients cut off.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backends::TestStorage;
use crate::harness::{client, corpus, get_json_as};

const BIN: &str = env!("CARGO_BIN_EXE_imagestore");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Served {
    pub child: Child,
    pub base: String,
    pub first_start: Value,
    pub storage: TestStorage,
}

/// Starts `imagestore serve` on a fresh deployment and reads its first-start banner.
pub async fn serve(extra: &[&str], log_level: &str) -> Served {
    let storage = TestStorage::new().await;
    let (mut child, base) = spawn_on(&storage, extra, log_level);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let first_start: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    wait_for_port(base.trim_start_matches("http://"));
    Served {
        child,
        base,
        first_start,
        storage,
    }
}

/// Starts `imagestore serve` on a deployment, on a free port; returns it and its base URL
/// (the port may not be listening yet).
pub fn spawn_on(storage: &TestStorage, extra: &[&str], log_level: &str) -> (Child, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(BIN)
        .args(["serve", "--listen", &listen])
        .args(storage.args())
        .args(extra)
        .env("IMAGESTORE_LOG", log_level)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, format!("http://{listen}"))
}

pub fn wait_for_port(listen: &str) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(listen).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {listen}");
}

pub fn sigterm(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to a child process we own.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

fn stderr_of(mut child: Child) -> String {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    err
}

#[tokio::test]
async fn first_start_prints_a_key_and_the_admin_commands_work_beside_a_running_server() {
    let mut served = serve(&[], "info").await;
    let env = served.first_start["environment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = served.first_start["key"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(served.first_start["environment"]["name"], "default");
    let client = client();
    let list = format!("{}/v1/environments/{env}/images", served.base);
    assert_eq!(
        client
            .get(&list)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let storage_args = served.storage.args();
    let run = |args: &[&str]| -> Value {
        let out = Command::new(BIN)
            .args(args)
            .args(&storage_args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "one JSON object expected: {text}");
        serde_json::from_str(&text).unwrap()
    };
    let created = run(&["environment", "create", "--name", "acme"]);
    assert_eq!(created["name"], "acme");
    let acme = created["id"].as_str().unwrap().to_string();
    let key = run(&[
        "key",
        "create",
        "--environment",
        &acme,
        "--scopes",
        "images:read,images:write",
    ]);
    assert_eq!(
        key["scopes"],
        serde_json::json!(["images:read", "images:write"])
    );
    let token = key["token"].as_str().unwrap();
    let acme_images = format!("{}/v1/environments/{acme}/images", served.base);
    let upload = client
        .post(&acme_images)
        .bearer_auth(token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    // The new key belongs to acme only.
    assert_eq!(
        client
            .get(&list)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let bad = Command::new(BIN)
        .args(["key", "create", "--environment", &acme, "--scopes", "root"])
        .args(&storage_args)
        .output()
        .unwrap();
    assert!(!bad.status.success());

    // The control plane from the shell: list and revoke keys, an operator key, list and
    // remove environments; the running server sees each change within a second.
    let keys = run(&["key", "list", "--environment", &acme]);
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert!(
        keys[0].get("token").is_none(),
        "a listed key shows its token: {keys}"
    );
    let key_id = keys[0]["id"].as_str().unwrap();
    run(&["key", "revoke", key_id]);
    let refused_within_a_second = async {
        for _ in 0..20 {
            let status = client
                .get(&acme_images)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            if status == 401 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(
        refused_within_a_second.await,
        "a revoked key was still accepted"
    );
    let operator = run(&["key", "create", "--operator", "--name", "ops"]);
    assert_eq!(operator["scopes"], serde_json::json!(["operator"]));
    let operator = operator["token"].as_str().unwrap().to_string();
    let environments = get_json_as(
        &client,
        &format!("{}/v1/environments", served.base),
        &operator,
    )
    .await;
    assert_eq!(environments["count"], 2, "{environments}");
    assert_eq!(run(&["environment", "list"]).as_array().unwrap().len(), 2);
    let holding = Command::new(BIN)
        .args(["environment", "delete", &acme])
        .args(&storage_args)
        .output()
        .unwrap();
    assert!(
        !holding.status.success(),
        "an environment with images was deleted"
    );
    run(&["environment", "delete", &acme, "--purge"]);
    assert_eq!(run(&["environment", "list"]).as_array().unwrap().len(), 1);

    sigterm(&served.child);
    assert!(served.child.wait().unwrap().success());
}

/// Three uploads are half sent on three connections when SIGTERM arrives: the socket
/// stops taking connections at once, and every upload in flight still finishes.
#[tokio::test]
async fn sigterm_closes_the_listener_and_lets_uploads_in_flight_finish() {
    let served = serve(&[], "info").await;
    let env = served.first_start["environment"]["id"].as_str().unwrap();
    let token = served.first_start["key"]["token"].as_str().unwrap();
    let body = corpus("photo-2560x1600.jpg");
    let address = served.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /v1/environments/{env}/images HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..body.len() / 2]).await.unwrap();
        streams.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&served.child);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = tokio::net::TcpStream::connect(&address).await;
    assert!(
        late.is_err(),
        "a connection made after SIGTERM was accepted"
    );
    for mut stream in streams {
        stream.write_all(&body[body.len() / 2..]).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }
    let mut child = served.child;
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let served = serve(&[], "debug").await;
    let env = served.first_start["environment"]["id"].as_str().unwrap();
    let token = served.first_start["key"]["token"].as_str().unwrap();
    let client = client();
    let url = format!(
        "{}/v1/environments/{env}/images?apiKey={token}",
        served.base
    );
    client.get(&url).bearer_auth(token).send().await.unwrap();
    client
        .get(&url)
        .basic_auth("x", Some(token))
        .send()
        .await
        .unwrap();
    client
        .get(&url)
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    sigterm(&served.child);
    let logs = stderr_of(served.child);
    assert!(logs.contains("request"), "debug logs expected: {logs}");
    let secret = token.rsplit('_').next().unwrap();
    assert!(
        !logs.contains(secret),
        "a token leaked into the logs:\n{logs}"
    );
}

#[tokio::test]
async fn a_client_that_dribbles_its_headers_is_cut_off() {
    let served = serve(&["--header-timeout", "1"], "info").await;
    let address = served.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 10 s");
    sigterm(&served.child);
    let _ = stderr_of(served.child);
}

#[tokio::test]
async fn a_body_that_stalls_is_refused_and_nothing_is_stored() {
    let served = serve(&["--body-timeout", "1"], "info").await;
    let env = served.first_start["environment"]["id"].as_str().unwrap();
    let token = served.first_start["key"]["token"].as_str().unwrap();
    let address = served.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/environments/{env}/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&corpus("avatar-400.jpg")[..1000])
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a stalled body kept the connection for 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    let listed = get_json_as(
        &client(),
        &format!("{}/v1/environments/{env}/images", served.base),
        token,
    )
    .await;
    assert_eq!(listed["count"], 0);
    sigterm(&served.child);
    let _ = stderr_of(served.child);
}

#[tokio::test]
async fn a_crash_mid_upload_leaves_nothing_half_visible_and_gc_cleans_up() {
    let mut served = serve(&[], "info").await;
    let env = served.first_start["environment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = served.first_start["key"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let client = client();
    let images = format!("{}/v1/environments/{env}/images", served.base);
    let kept: Value = client
        .post(&images)
        .bearer_auth(&token)
        .body(corpus("logo.png"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Half an upload, then SIGKILL: no shutdown code runs.
    let address = served.base.trim_start_matches("http://").to_string();
    let body = corpus("photo-1920x1280.jpg");
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/environments/{env}/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let spool = served.storage.dir.path().join("tmp");
    assert!(std::fs::read_dir(&spool).unwrap().count() <= 1);

    // The sweep (with no grace) removes the dead upload's temp file; the kept image stays.
    let storage_args = served.storage.args();
    let out = Command::new(BIN)
        .args(["gc", "--grace-secs", "0"])
        .args(&storage_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["orphansRemoved"], 0, "{report}");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);

    // After a restart, exactly the acknowledged image is there, bytes intact.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &listen])
        .args(&storage_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(&listen);
    let images = format!("http://{listen}/v1/environments/{env}/images");
    let listed = get_json_as(&client, &images, &token).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["_embedded"]["images"][0]["id"], kept["id"]);
    let href = listed["_embedded"]["images"][0]["targets"]["original"]["href"]
        .as_str()
        .unwrap();
    let bytes = client
        .get(href)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        kept["contentHash"].as_str().unwrap()
    );
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    // Nothing was printed on the second start: the first-start key is shown once.
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(stdout.is_empty(), "{stdout}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_hrefs_use_the_public_url() {
    let served = serve(
        &[
            "--log-format",
            "json",
            "--public-url",
            "https://img.example.com/",
        ],
        "info",
    )
    .await;
    let env = served.first_start["environment"]["id"].as_str().unwrap();
    let token = served.first_start["key"]["token"].as_str().unwrap();
    let response = client()
        .post(format!("{}/v1/environments/{env}/images", served.base))
        .bearer_auth(token)
        .body(b"not an image".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let ok: Value = client()
        .post(format!("{}/v1/environments/{env}/images", served.base))
        .bearer_auth(token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let href = ok["targets"]["original"]["href"].as_str().unwrap();
    assert!(
        href.starts_with(&format!("https://img.example.com/images/{env}/")),
        "{href}"
    );
    assert!(
        ok["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .starts_with("https://img.example.com/v1/")
    );
    sigterm(&served.child);
    let logs = stderr_of(served.child);
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l.to_string().contains(&request_id)),
        "request id not logged:\n{logs}"
    );
}
