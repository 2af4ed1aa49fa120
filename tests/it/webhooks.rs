//! Webhooks through the real server and a real receiver on loopback: every kind of event
//! arrives, signed with the Standard Webhooks headers, once per `webhook-id` after
//! deduplication, including events raised while the receiver was down and the server
//! restarted in between; refused URLs, secret rotation and the deliveries log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{TestServer, corpus};

/// What the receiver was sent: (webhook-id, webhook-timestamp, webhook-signature, body).
type Received = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// A receiver on `port` that records every request and answers 500 to the first
/// `failures` of them, 204 after.
async fn receiver(port: u16, failures: usize) -> Received {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default()
                };
                let mut seen = seen.lock().unwrap();
                seen.push((
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    body,
                ));
                if seen.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    received
}

fn verify(secret: &str, id: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signature.split(' ').any(|s| s == expected)
}

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .client
        .request(
            method,
            server.url(&format!("/v1/environments/{}{path}", server.env)),
        )
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_event_arrives_signed_once_per_id_across_downtime_and_restarts() {
    let mut server = TestServer::start_with(&["--webhook-allow-private"]).await;
    let token = server.token.clone();
    let operator = server.operator_token.clone().unwrap();
    // A port nobody listens on yet: the receiver is down while the events are raised.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let (status, hook) = send(
        &server,
        reqwest::Method::POST,
        "/webhooks",
        &token,
        Some(json!({
            "url": format!("http://127.0.0.1:{port}/hook"),
            "events": ["image.created", "image.deleted", "subject.erased", "quota.exceeded"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let id = hook["id"].as_str().unwrap().to_string();

    // image.created, image.deleted
    let created = server.upload_ok("avatar.gif").await;
    let (status, _) = send(
        &server,
        reqwest::Method::DELETE,
        &format!("/images/{}", created["id"].as_str().unwrap()),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    // image.created about a subject, then subject.erased
    let response = server
        .client
        .post(format!("{}?subject=user:5", server.images_url()))
        .bearer_auth(&token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, receipt) = send(
        &server,
        reqwest::Method::DELETE,
        "/subjects/user:5",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    // quota.exceeded
    let (status, _) = send(
        &server,
        reqwest::Method::PATCH,
        "",
        &operator,
        Some(json!({"settings": {"subjectQuota": {"maxImages": 0}}})),
    )
    .await;
    assert_eq!(status, 200);
    let response = server
        .client
        .post(format!("{}?subject=user:6", server.images_url()))
        .bearer_auth(&token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // The server restarts while the receiver is down; a second instance joins.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().await;
    let other = server.another_instance().await;
    let received = receiver(port, 2).await;

    let expected: BTreeMap<&str, usize> = BTreeMap::from([
        ("image.created", 2),
        ("image.deleted", 1),
        ("quota.exceeded", 1),
        ("subject.erased", 1),
    ]);
    let mut distinct = BTreeMap::new();
    for _ in 0..300 {
        distinct.clear();
        for (id, _, _, body) in received.lock().unwrap().iter() {
            distinct.insert(id.clone(), body.clone());
        }
        // Five events, and the two first answered with errors sent again.
        if distinct.len() >= 5 && received.lock().unwrap().len() >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for body in distinct.values() {
        let event: Value = serde_json::from_str(body).unwrap();
        *kinds
            .entry(event["type"].as_str().unwrap().to_string())
            .or_default() += 1;
        assert!(
            event["timestamp"].is_string() && event["data"].is_object(),
            "{event}"
        );
        if event["type"] == "subject.erased" {
            assert_eq!(event["data"]["receiptId"], receipt["receiptId"]);
        }
    }
    let kinds: BTreeMap<&str, usize> = kinds.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(kinds, expected);
    // Every request is signed, and a retried one is the same event byte for byte.
    let all = received.lock().unwrap().clone();
    assert!(
        all.len() >= 7,
        "the first two answers were errors, so those were retried"
    );
    for (id, timestamp, signature, body) in &all {
        assert!(
            verify(&secret, id, timestamp, body, signature),
            "bad signature on {id}"
        );
        assert_eq!(&distinct[id], body);
    }

    // The deliveries log shows each, delivered, the retried ones with their attempts.
    // (The receiver has answered; the attempt is recorded just after.)
    let mut log = Value::Null;
    for _ in 0..100 {
        let (status, page) = send(
            &other,
            reqwest::Method::GET,
            &format!("/webhooks/{id}/deliveries"),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        log = page;
        if log["_embedded"]["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "delivered")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deliveries = log["_embedded"]["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 5);
    assert!(
        deliveries.iter().all(|d| d["state"] == "delivered"),
        "{log}"
    );
    assert!(
        deliveries
            .iter()
            .any(|d| d["attempts"].as_u64().unwrap() > 1),
        "{log}"
    );
    let ids: BTreeSet<&str> = deliveries
        .iter()
        .map(|d| d["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, distinct.keys().map(String::as_str).collect());

    // Rotation: a new secret, shown once; the listing never shows one.
    let (status, rotated) = send(
        &server,
        reqwest::Method::POST,
        &format!("/webhooks/{id}/rotate-secret"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (_, listed) = send(&server, reqwest::Method::GET, "/webhooks", &token, None).await;
    assert!(listed["webhooks"][0].get("secret").is_none(), "{listed}");
    let before = received.lock().unwrap().len();
    let (status, _) = send(
        &server,
        reqwest::Method::PATCH,
        "",
        &operator,
        Some(json!({"settings": {"subjectQuota": {}}})),
    )
    .await;
    assert_eq!(status, 200);
    server.upload_ok("avatar.gif").await;
    for _ in 0..100 {
        if received.lock().unwrap().len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (id_header, timestamp, signature, body) = received.lock().unwrap()[before].clone();
    assert!(
        verify(new_secret, &id_header, &timestamp, &body, &signature),
        "not signed with the new secret"
    );

    // Deleted: nothing more is queued for it.
    let (status, _) = send(
        &server,
        reqwest::Method::DELETE,
        &format!("/webhooks/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &server,
        reqwest::Method::GET,
        &format!("/webhooks/{id}/deliveries"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn webhook_urls_and_events_are_checked() {
    let server = TestServer::start().await;
    let token = server.token.clone();
    for (url, events) in [
        ("http://127.0.0.1:9/hook", json!(["image.created"])),
        ("http://169.254.169.254/latest", json!(["image.created"])),
        ("http://localhost/hook", json!(["image.created"])),
        ("http://[::1]/hook", json!(["image.created"])),
        ("ftp://example.com/hook", json!(["image.created"])),
        ("https://example.com/hook", json!(["image.exploded"])),
        ("https://example.com/hook", json!([])),
    ] {
        let (status, body) = send(
            &server,
            reqwest::Method::POST,
            "/webhooks",
            &token,
            Some(json!({"url": url, "events": events})),
        )
        .await;
        assert_eq!(status, 400, "{url} {events}: {body}");
        assert_eq!(body["code"], "INVALID_DATA");
    }
    let (status, body) = send(
        &server,
        reqwest::Method::POST,
        "/webhooks",
        &token,
        Some(json!({"url": "https://hooks.example.com/in", "events": ["subject.erased"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Another environment's key sees nothing of it.
    let (other_env, other_token) = server.other_environment().await;
    let response = server
        .client
        .get(server.url(&format!(
            "/v1/environments/{}/webhooks/{}",
            server.env,
            body["id"].as_str().unwrap()
        )))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let _ = other_env;
    // A read-only key may not manage webhooks.
    let reader = server
        .key(server.env, &[imagestore::domain::Scope::ImagesRead])
        .await;
    let (status, _) = send(&server, reqwest::Method::GET, "/webhooks", &reader, None).await;
    assert_eq!(status, 403);
}
