//! The smaller holes an attacker or a careless client found: hidden characters in names
//! and hrefs, multipart parts that were silently dropped, a dead `_links.environment`,
//! online key guessing, a body trickled to hold a connection, and a first start that
//! lost its admin key to a busy port.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestServer, assert_error_shape, corpus};

#[tokio::test]
async fn bidi_and_invisible_characters_never_reach_a_stored_filename() {
    let server = TestServer::start().await;
    for hidden in ['\u{202e}', '\u{2067}', '\u{200b}', '\u{2028}', '\u{feff}'] {
        let name = format!("photo{hidden}gpj.exe");
        let form = Form::new().part(
            "file",
            Part::bytes(corpus("avatar.gif")).file_name(name.clone()),
        );
        let response = server
            .client
            .post(server.images_url())
            .bearer_auth(&server.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["filename"], "photogpj.exe", "{name:?}");
    }
}

#[tokio::test]
async fn external_hrefs_must_be_printable_ascii() {
    let server = TestServer::start().await;
    for bad in [
        "https://example.com/a\u{2028}b.png",
        "https://example.com/a\u{2029}b.png",
        "https://example.com/\u{202e}gnp.exe",
        "https://example.com/a b.png",
    ] {
        let response = server
            .client
            .post(server.images_url())
            .bearer_auth(&server.token)
            .json(
                &json!({"targets": [{"id": "original", "width": 1, "height": 1,
                "type": "png", "href": bad}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(assert_error_shape(&body), "INVALID_DATA");
    }
}

#[tokio::test]
async fn multipart_parts_after_the_file_or_given_twice_are_refused_not_dropped() {
    let server = TestServer::start().await;
    let forms = [
        // A subject after the file: the client meant it to apply.
        Form::new()
            .part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif"))
            .text("subject", "user:42"),
        // A second file.
        Form::new()
            .part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif"))
            .part("file2", Part::bytes(corpus("logo.png")).file_name("b.png")),
        // The same field twice: which one was meant?
        Form::new()
            .text("subject", "user:1")
            .text("subject", "user:2")
            .part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif")),
    ];
    for (index, form) in forms.into_iter().enumerate() {
        let response = server
            .client
            .post(server.images_url())
            .bearer_auth(&server.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "form {index}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(assert_error_shape(&body), "INVALID_DATA", "form {index}");
    }
    let list = server.get_json(&server.images_url()).await;
    assert_eq!(list["count"], 0, "a refused upload was stored: {list}");
    // The documented order still works.
    let form = Form::new()
        .text("subject", "user:42")
        .part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif"));
    let response = server
        .client
        .post(server.images_url())
        .bearer_auth(&server.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["subject"], "user:42");
}

#[tokio::test]
async fn an_images_environment_link_leads_somewhere_for_its_own_keys_only() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar.gif").await;
    let link = image["_links"]["environment"]["href"].as_str().unwrap();
    let response = server
        .client
        .get(link)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let environment: Value = response.json().await.unwrap();
    assert_eq!(environment["id"], server.env.to_string());
    assert_eq!(environment["name"], "default");
    assert_eq!(environment["_links"]["self"]["href"], link);
    let (_, intruder) = server.other_environment().await;
    let response = server
        .client
        .get(link)
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let anonymous = server.client.get(link).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn an_online_key_guesser_is_slowed_to_the_configured_rate() {
    let server = TestServer::start_with(&["--auth-failures-per-minute", "5"]).await;
    let image = server.upload_ok("avatar.gif").await;
    let href = image["targets"]["original"]["href"].as_str().unwrap();
    let wrong = format!("{}0", &server.token[..server.token.len() - 1]);
    let wrong = if wrong == server.token {
        format!("{}1", &server.token[..server.token.len() - 1])
    } else {
        wrong
    };
    for _ in 0..5 {
        let response = server
            .client
            .get(server.images_url())
            .bearer_auth(&wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // The budget is spent: credentials from this address are not even looked at, the
    // right one included, in every dialect's own shape.
    for token in [&wrong, &server.token] {
        let response = server
            .client
            .get(server.images_url())
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(assert_error_shape(&body), "REQUEST_LIMITED");
    }
    let questionpro = server
        .client
        .get(server.url(&format!("/a/api/v2/users/1/images?apiKey={wrong}")))
        .send()
        .await
        .unwrap();
    assert_eq!(questionpro.status(), 429);
    let body: Value = questionpro.json().await.unwrap();
    assert_eq!(body["response"]["error"]["httpStatusCode"], 429);
    // Anonymous reads are untouched.
    assert_eq!(server.get_bytes(href).await.0, 200);
}

#[tokio::test]
async fn a_body_trickled_below_the_minimum_rate_is_cut_off() {
    let server = TestServer::start_with(&[
        "--min-body-rate",
        "1000",
        "--min-body-rate-grace",
        "1",
        "--body-timeout",
        "30",
    ])
    .await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/environments/{}/images HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: image/gif\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
        server.env, server.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // The answer is read while the body trickles, so that it is seen even if the server
    // resets the connection afterwards.
    let answer = tokio::spawn(async move {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    let body = corpus("avatar.gif");
    // One byte every 200 ms: far below 1,000 bytes a second, but never idle for long.
    for byte in body.iter().take(150) {
        if answer.is_finished() || writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("the server kept the trickling connection")
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "a trickled body was not refused: {answer:?}"
    );
    assert!(
        answer.contains("slower than 1000 bytes per second"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_first_start_that_cannot_listen_makes_no_key_and_the_next_one_prints_it() {
    use std::io::BufRead;

    let storage = crate::backends::TestStorage::new().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = busy.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagestore"))
        .args(["serve", "--listen", &listen])
        .args(storage.args())
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve started on a busy port");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("token"),
        "a key was printed by a start that could not listen"
    );
    drop(busy);
    let (mut child, _) = crate::process::spawn_on(&storage, &[], "warn");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let first: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("no first-start banner after the failed start ({e}): {line:?}"));
    assert!(first["key"]["token"].is_string(), "{first}");
    crate::process::sigterm(&child);
    assert!(child.wait().unwrap().success());
}
