//! What was acknowledged stays, and what is served is what was stored: sweeps with no
//! grace beside uploads, staging and temp files left by crashes, a full disk, a corrupt
//! catalog row, and blobs that lost or changed bytes behind the service's back
//! (`imagestore verify`, and the check on read).

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::backends::{Bind, TestStorage};
use crate::harness::{TestServer, client, corpus};
use crate::process::wait_for_port;
use imagestore::storage::BlobStore;

const BIN: &str = env!("CARGO_BIN_EXE_imagestore");

/// Uploads race sweeps that have no grace at all: every upload answered 201 must still be
/// served afterwards (before the fix, a sweep removed blobs renamed into place whose rows
/// were not committed yet, and their hrefs answered 404 for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sweeps_with_no_grace_never_lose_an_acknowledged_upload() {
    let server = TestServer::start().await;
    let service = server.service();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeper = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut sweeps = 0u32;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                service.sweep(Duration::ZERO).await.unwrap();
                sweeps += 1;
            }
            sweeps
        })
    };
    let body = corpus("avatar-400.jpg");
    let mut hrefs = Vec::new();
    for _round in 0..12 {
        let uploads = (0..16).map(|_| {
            let (client, url, token, body) = (
                server.client.clone(),
                server.images_url(),
                server.token.clone(),
                body.clone(),
            );
            async move {
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            }
        });
        for (status, image) in futures_util::future::join_all(uploads).await {
            if status == 201 {
                hrefs.push(
                    image["targets"]["original"]["href"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(sweeper.await.unwrap() > 0);
    assert!(hrefs.len() > 150, "most uploads succeed: {}", hrefs.len());
    // A fresh instance has nothing in memory: it serves what the store holds.
    let fresh = server.another_instance().await;
    let mut lost = Vec::new();
    for href in &hrefs {
        let path = href.splitn(4, '/').nth(3).unwrap();
        let (status, _) = fresh.get_bytes(&fresh.url(&format!("/{path}"))).await;
        if status != 200 {
            lost.push(href.clone());
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged uploads lost: {lost:?}",
        lost.len(),
        hrefs.len()
    );
}

/// Sets a file's modification time `by` into the past.
fn age(path: &std::path::Path, by: Duration) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

/// Staging files (`…#N`, which the object-store listing never shows) and spooled upload
/// bodies left by a crash are found and removed by `imagestore gc` once past the grace;
/// younger ones are kept.
#[tokio::test]
async fn gc_removes_abandoned_staging_and_temp_files_past_the_grace() {
    let server = TestServer::start().await;
    if !server.storage.local_blobs() {
        eprintln!("skipped: staging files exist only in a local blob directory");
        return;
    }
    let image = server.upload_ok("logo.png").await;
    let blobs = server.data_dir().join("blobs");
    let dir = blobs
        .join(server.env.to_string())
        .join(image["id"].as_str().unwrap());
    let crashed = blobs
        .join(server.env.to_string())
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(crashed.join("variants")).unwrap();
    let spool = server.data_dir().join("tmp");
    std::fs::create_dir_all(&spool).unwrap();
    let two_hours = Duration::from_secs(7200);
    let old = [
        dir.join("original#1"),
        crashed.join("original#3"),
        crashed.join("variants/abc.webp#1"),
        spool.join("upload-crashed"),
    ];
    let fresh = [dir.join("original#2"), spool.join("upload-fresh")];
    for path in old.iter().chain(&fresh) {
        std::fs::write(path, vec![7u8; 4096]).unwrap();
    }
    for path in &old {
        age(path, two_hours);
    }

    let out = Command::new(BIN)
        .args(["gc", "--grace-secs", "3600"])
        .args(server.storage.args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for path in &old {
        assert!(!path.exists(), "{} was left: {report}", path.display());
    }
    for path in &fresh {
        assert!(path.exists(), "{} was removed: {report}", path.display());
    }
    assert_eq!(report["stagingFilesRemoved"], 3, "{report}");
    assert_eq!(report["tempFilesRemoved"], 1, "{report}");
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    assert_eq!(server.get_bytes(href).await.0, 200);
}

/// Runs `imagestore verify` on a deployment; returns success and the report.
fn verify(storage: &TestStorage) -> (bool, Value, String) {
    let out = Command::new(BIN)
        .arg("verify")
        .args(storage.args())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.success(), report, stderr)
}

/// A blob that lost or changed bytes is found by `imagestore verify` and is never served
/// as 200 under its strong ETag (small ones are hashed when first read, any size is
/// checked against its recorded length).
#[tokio::test]
async fn corrupt_and_missing_blobs_are_reported_by_verify_and_never_served() {
    let server = TestServer::start().await;
    let flipped = server.upload_ok("logo.png").await;
    let missing = server.upload_ok("avatar.gif").await;
    let truncated = server.upload_ok("photo-3840x2160.jpg").await;
    let intact = server.upload_ok("avatar-400.jpg").await;
    let (ok, report, stderr) = verify(&server.storage);
    assert!(ok, "{report} {stderr}");
    assert_eq!(report["imagesChecked"], 4, "{report}");

    let store = BlobStore::open(&server.storage.blob_store_spec()).unwrap();
    let key = |image: &Value| format!("{}/{}/original", server.env, image["id"].as_str().unwrap());
    let mut bytes = store.read_all(&key(&flipped)).await.unwrap().to_vec();
    bytes[100] ^= 0x55;
    store.put(&key(&flipped), bytes.into()).await.unwrap();
    store.delete(&key(&missing)).await.unwrap();
    let whole = store.read_all(&key(&truncated)).await.unwrap();
    store
        .put(&key(&truncated), whole.slice(..whole.len() - 1000))
        .await
        .unwrap();

    let (ok, report, stderr) = verify(&server.storage);
    assert!(!ok, "verify passed a damaged deployment: {report}");
    assert_eq!(report["imagesChecked"], 4, "{report}");
    assert_eq!(report["blobsVerified"], 1, "{report}");
    assert_eq!(
        report["missing"],
        serde_json::json!([missing["id"]]),
        "{report}"
    );
    let mut corrupt: Vec<String> = report["corrupt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    corrupt.sort();
    let mut expected = vec![
        flipped["id"].as_str().unwrap().to_string(),
        truncated["id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(corrupt, expected, "{report}");
    assert!(stderr.contains(missing["id"].as_str().unwrap()), "{stderr}");

    // An instance that remembers nothing reads the damaged bytes from the store.
    let fresh = server.another_instance().await;
    for image in [&flipped, &missing, &truncated] {
        let href = image["targets"]["original"]["href"].as_str().unwrap();
        let path = href.splitn(4, '/').nth(3).unwrap();
        let (status, _) = fresh.get_bytes(&fresh.url(&format!("/{path}"))).await;
        assert_ne!(status, 200, "{href} was served");
        assert!(status >= 400, "{href}: {status}");
    }
    let href = intact["targets"]["original"]["href"].as_str().unwrap();
    let path = href.splitn(4, '/').nth(3).unwrap();
    assert_eq!(
        fresh.get_bytes(&fresh.url(&format!("/{path}"))).await.0,
        200
    );
}

/// A catalog row with a column no version of imagestore writes does not take its
/// environment's listing down: the listing answers 200 without it.
#[tokio::test]
async fn one_corrupt_row_does_not_fail_the_listing() {
    let server = TestServer::start().await;
    let good = server.upload_ok("logo.png").await;
    let bad = server.upload_ok("avatar.gif").await;
    let also_good = server.upload_ok("avatar-400.jpg").await;
    let sql = "UPDATE images SET format = 'no-such-format' WHERE id = $1";
    let id = bad["id"].as_str().unwrap();
    let changed = server.storage.run_sql(sql, &[Bind::Text(id)]).await;
    assert_eq!(changed, 1);
    for limit in ["", "?limit=1", "?limit=2"] {
        let response = server
            .client
            .get(format!("{}{limit}", server.images_url()))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "listing{limit}");
    }
    // Page by page, the two readable images are all listed, once each.
    let mut seen = Vec::new();
    let mut next = Some(format!("{}?limit=1", server.images_url()));
    while let Some(url) = next.take() {
        let page = server.get_json(&url).await;
        for image in page["_embedded"]["images"].as_array().unwrap() {
            seen.push(image["id"].clone());
        }
        next = page["_links"]["next"]["href"].as_str().map(str::to_string);
        assert!(seen.len() < 10, "the listing does not end: {page}");
    }
    assert_eq!(seen, vec![good["id"].clone(), also_good["id"].clone()]);
}

/// A blob store on a file system that is full: uploads answer 507 with a message that
/// says so, in the native shape, and readiness turns not-ready. The file system is a
/// small tmpfs mounted in a user namespace (`unshare -Urm`); where user namespaces are
/// not allowed the test says so and stops.
#[tokio::test]
async fn a_full_blob_store_answers_507_and_readiness_reports_it() {
    let storage = TestStorage::new().await;
    let mount = tempfile::tempdir().unwrap();
    let probe = Command::new("unshare")
        .args([
            "-Urm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k none \"$1\"",
            "sh",
        ])
        .arg(mount.path())
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        eprintln!("skipped: cannot mount a tmpfs in a user namespace here");
        return;
    }
    let listen = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let mut args = storage.args();
    // The catalog stays on the ordinary disk; only the blobs are on the small tmpfs.
    if !args.iter().any(|arg| arg == "--database-url") {
        args.extend(["--database-url".into(), storage.database_url_spec()]);
    }
    let blob_flag = args.iter().position(|arg| arg == "--blob-store");
    if let Some(index) = blob_flag {
        args.drain(index..index + 2);
    }
    let blobs = mount.path().to_str().unwrap().to_string();
    let mut child = Command::new("unshare")
        .args([
            "-Urm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=256k none \"$1\" && shift && exec \"$@\"",
            "sh",
            &blobs,
            BIN,
            "serve",
            "--listen",
            &listen,
            "--blob-store",
            &blobs,
        ])
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut banner,
    )
    .unwrap();
    let first: Value = serde_json::from_str(&banner).unwrap_or_else(|e| panic!("{e}: {banner}"));
    wait_for_port(&listen);
    let env = first["environment"]["id"].as_str().unwrap();
    let token = first["key"]["token"].as_str().unwrap();
    let client = client();
    let base = format!("http://{listen}");
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let response = client
        .post(format!("{base}/v1/environments/{env}/images"))
        .bearer_auth(token)
        .body(corpus("photo-2560x1600.jpg"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "INSUFFICIENT_STORAGE", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("storage is full"),
        "{body}"
    );
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["reason"], "storage is full", "{ready}");

    // Every dialect says the same in its own shape: QuestionPro's error object,
    // SuperOffice's Error/ErrorType, Akana's plain text.
    let photo = || corpus("photo-2560x1600.jpg");
    let file = || Form::new().part("file", Part::bytes(photo()).file_name("p.jpg"));
    let response = client
        .post(format!("{base}/a/api/v2/users/42/images"))
        .query(&[("apiKey", token)])
        .multipart(file())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 507);
    let body: Value = response.json().await.unwrap();
    let error = &body["response"]["error"];
    assert_eq!(error["name"], "INSUFFICIENT_STORAGE", "{body}");
    assert_eq!(error["httpStatusCode"], 507, "{body}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("storage is full"),
        "{body}"
    );

    let response = client
        .put(format!("{base}/api/v1/Person/7/Image"))
        .basic_auth("user", Some(token))
        .header("Accept", "application/json")
        .header("Content-Type", "image/jpeg")
        .body(photo())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 507);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ErrorType"], "IOException", "{body}");
    assert!(
        body["Error"].as_str().unwrap().contains("storage is full"),
        "{body}"
    );

    let session = client
        .post(format!("{base}/v1/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 201);
    let cookie = session.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let session: Value = session.json().await.unwrap();
    let response = client
        .post(format!("{base}/api/dropbox/pictures"))
        .header("Cookie", cookie)
        .header("X-CSRF-Token", session["csrfToken"].as_str().unwrap())
        .multipart(Form::new().part("Profile", Part::bytes(photo()).file_name("p.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 507);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(text.contains("storage is full"), "{text}");

    // SIGTERM, as an operator stops it.
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: signalling a child process this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = child.wait();
}
