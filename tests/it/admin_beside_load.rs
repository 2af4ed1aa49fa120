//! Operators run admin commands, readers and backups beside a busy server: none of them
//! may crash it or lose an upload.
//!
//! The catalog once mapped SQLite's `-shm` file itself; each open and close of its own
//! descriptor dropped the POSIX locks SQLite held on that file in the server, so the next
//! `imagestore key create` took itself for the first process, truncated the file, and the
//! server died of `SIGBUS` (about one command in four under upload load). This test runs
//! 200 such processes (and, on SQLite, other readers and online backups of the file)
//! while uploads stream in, then checks that the server is alive and every upload it
//! acknowledged is served.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::harness::{client, corpus};
use crate::process::{serve, sigterm};

const BIN: &str = env!("CARGO_BIN_EXE_imagestore");
const COMMANDS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_admin_commands_readers_and_backups_beside_uploads_crash_nothing() {
    let mut served = serve(&[], "warn").await;
    let env = served.first_start["environment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = served.first_start["key"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let images = format!("{}/v1/environments/{env}/images", served.base);

    let stop = Arc::new(AtomicBool::new(false));
    let mut uploaders = Vec::new();
    for _ in 0..2 {
        let (stop, images, token) = (stop.clone(), images.clone(), token.clone());
        uploaders.push(tokio::spawn(async move {
            let client = client();
            let body = corpus("avatar.gif");
            let mut hrefs = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response = client
                    .post(&images)
                    .bearer_auth(&token)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the server stopped answering");
                let status = response.status();
                let json: Value = response.json().await.unwrap_or(Value::Null);
                assert_eq!(
                    status, 201,
                    "an upload failed beside admin commands: {json}"
                );
                hrefs.push(
                    json["targets"]["original"]["href"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            hrefs
        }));
    }

    let storage_args = served.storage.args();
    let sqlite_file = served
        .storage
        .database_url
        .is_none()
        .then(|| served.storage.dir.path().join("imagestore.db"));
    let backups = tempfile::tempdir().unwrap();
    let operator = tokio::task::spawn_blocking({
        let env = env.clone();
        let backups = backups.path().to_path_buf();
        move || {
            for round in 0..COMMANDS {
                let name = format!("tenant-{round}");
                let args: Vec<&str> = match round % 3 {
                    0 => vec!["environment", "create", "--name", &name],
                    1 => vec!["key", "create", "--environment", &env],
                    _ => vec!["gc"],
                };
                let out = Command::new(BIN)
                    .args(&args)
                    .args(&storage_args)
                    .env("IMAGESTORE_LOG", "error")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // Another process's reader and an online backup of the live file, as an
                // operator's `sqlite3` shell or backup job would make them.
                if let (Some(file), 0) = (&sqlite_file, round % 10) {
                    let reader = rusqlite::Connection::open_with_flags(
                        file,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .unwrap();
                    let _: i64 = reader
                        .query_row("SELECT count(*) FROM images", [], |row| row.get(0))
                        .unwrap();
                    let copy = backups.join(format!("backup-{round}.db"));
                    reader
                        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                        .unwrap();
                }
            }
        }
    });
    let operator_result = operator.await;
    stop.store(true, Ordering::Relaxed);
    let mut hrefs = Vec::new();
    for uploader in uploaders {
        hrefs.extend(uploader.await.unwrap());
    }
    operator_result.unwrap();

    assert!(
        served.child.try_wait().unwrap().is_none(),
        "the server died beside the admin commands: {:?}",
        served.child.try_wait()
    );
    assert!(!hrefs.is_empty(), "no upload completed");
    let client = client();
    for href in &hrefs {
        let status = client.get(href).send().await.unwrap().status();
        assert_eq!(status, 200, "an acknowledged upload is gone: {href}");
    }
    sigterm(&served.child);
    assert!(served.child.wait().unwrap().success());
}
