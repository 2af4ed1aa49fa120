//! The control plane over HTTP, as a multi-tenant application drives it: an operator key
//! provisions a tenant, keys are minted, listed and revoked (a second instance refuses a
//! revoked key within a second), a browser uploads across origins with an upload token,
//! sessions end, the audit log shows every step, and removing the tenant leaves nothing
//! behind. Runs on both backends.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, assert_error_shape, corpus};

const ORIGIN: &str = "https://app.example";

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload_as(server: &TestServer, env: &str, token: &str, file: &str) -> StatusCode {
    server
        .client
        .post(server.url(&format!("/v1/environments/{env}/images")))
        .bearer_auth(token)
        .body(corpus(file))
        .send()
        .await
        .unwrap()
        .status()
}

/// POSTs an image to an upload URL as a browser on `ORIGIN` would: no credential.
async fn browser_upload(server: &TestServer, upload_url: &str, file: &str) -> reqwest::Response {
    server
        .client
        .post(upload_url)
        .header("Origin", ORIGIN)
        .header("Content-Type", "application/octet-stream")
        .body(corpus(file))
        .send()
        .await
        .unwrap()
}

async fn new_key(server: &TestServer, env: &str, by: &str, scopes: &[&str]) -> (String, String) {
    let (status, key) = call(
        server,
        Method::POST,
        &format!("/v1/environments/{env}/keys"),
        by,
        Some(json!({ "name": scopes.join("+"), "scopes": scopes })),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let token = key["token"].as_str().unwrap().to_string();
    (key["id"].as_str().unwrap().to_string(), token)
}

#[tokio::test]
async fn an_operator_provisions_a_tenant_that_is_governed_and_then_removed() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    let operator = first
        .operator_token
        .clone()
        .expect("the first start made an operator key");

    // Only an operator makes environments.
    let body = json!({ "name": "acme", "settings": { "allowedOrigins": [ORIGIN] } });
    let (status, refused) = call(
        &first,
        Method::POST,
        "/v1/environments",
        &first.token,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, tenant) = call(
        &first,
        Method::POST,
        "/v1/environments",
        &operator,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    assert_eq!(tenant["settings"]["allowedOrigins"], json!([ORIGIN]));
    assert_eq!(tenant["settings"]["stripMetadata"], true);
    let env = tenant["id"].as_str().unwrap().to_string();
    // An environment key sees only its own environment.
    let (_, listed) = call(&first, Method::GET, "/v1/environments", &first.token, None).await;
    assert_eq!(listed["count"], 1, "{listed}");
    let (_, listed) = call(&first, Method::GET, "/v1/environments", &operator, None).await;
    assert_eq!(listed["count"], 2, "{listed}");
    let (status, _) = call(
        &first,
        Method::GET,
        &format!("/v1/environments/{env}"),
        &first.token,
        None,
    )
    .await;
    assert_eq!(status, 404, "another environment's key must not see it");

    // Keys: an operator mints the admin, the admin mints the rest; no key mints a scope it
    // lacks, and none mints an operator.
    let (_, admin) = new_key(&first, &env, &operator, &["admin"]).await;
    let (read_id, reader) = new_key(&first, &env, &admin, &["images:read"]).await;
    let (_, writer) = new_key(&first, &env, &admin, &["images:write"]).await;
    let (status, _) = call(
        &first,
        Method::POST,
        &format!("/v1/environments/{env}/keys"),
        &writer,
        Some(json!({ "scopes": ["images:write"] })),
    )
    .await;
    assert_eq!(status, 403, "a write key minted a key");
    let (status, _) = call(
        &first,
        Method::POST,
        &format!("/v1/environments/{env}/keys"),
        &admin,
        Some(json!({ "scopes": ["operator"] })),
    )
    .await;
    assert_eq!(status, 400, "an environment key got the operator scope");
    assert_eq!(
        upload_as(&first, &env, &writer, "avatar-400.jpg").await,
        201
    );
    assert_eq!(
        upload_as(&first, &env, &reader, "avatar-400.jpg").await,
        403
    );

    // Listing keys shows no secret.
    let (status, keys) = call(
        &first,
        Method::GET,
        &format!("/v1/environments/{env}/keys"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let text = keys.to_string();
    for token in [&admin, &reader, &writer] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!text.contains(secret), "a key's secret is listed: {text}");
    }
    assert_eq!(keys["keys"].as_array().unwrap().len(), 3, "{keys}");
    assert!(
        keys["keys"][0]["prefix"]
            .as_str()
            .unwrap()
            .starts_with("isk_")
    );

    // Revocation reaches the other instance within a second.
    let list = format!("/v1/environments/{env}/images");
    assert_eq!(
        call(&second, Method::GET, &list, &reader, None).await.0,
        200
    );
    let (status, _) = call(
        &first,
        Method::DELETE,
        &format!("/v1/environments/{env}/keys/{read_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let revoked_at = Instant::now();
    loop {
        let (status, body) = call(&second, Method::GET, &list, &reader, None).await;
        if status == 401 {
            assert_error_shape(&body);
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A browser on an allowed origin uploads once with an upload token; the second time,
    // and with a format the token does not take, it is refused.
    let (status, grant) = call(
        &first,
        Method::POST,
        &format!("/v1/environments/{env}/upload-tokens"),
        &writer,
        Some(json!({ "subject": "user:7", "slot": true, "formats": ["png"] })),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    let upload_url = grant["uploadUrl"].as_str().unwrap();
    let wrong = browser_upload(&first, upload_url, "avatar-400.jpg").await;
    assert_eq!(wrong.status(), 415, "a JPEG passed a PNG-only token");
    let response = browser_upload(&second, upload_url, "logo.png").await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    let image: Value = response.json().await.unwrap();
    assert_eq!(image["subject"], "user:7", "{image}");
    let again = browser_upload(&first, upload_url, "logo.png").await;
    assert_eq!(again.status(), 401);
    assert_error_shape(&again.json().await.unwrap());

    // A route about no one environment grants an origin only for a credential whose
    // environment allows it: another tenant's key gets no grant from acme's origin.
    for (token, granted) in [(&writer, true), (&first.token, false)] {
        let answer = first
            .client
            .get(first.url("/v1/environments"))
            .header("Origin", ORIGIN)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let allowed = answer.headers().get("access-control-allow-origin");
        assert_eq!(allowed.is_some(), granted, "{:?}", answer.headers());
    }

    // Preflights: a listed origin is granted, any other is not.
    for (origin, granted) in [(ORIGIN, true), ("https://evil.example", false)] {
        let preflight = first
            .client
            .request(
                Method::OPTIONS,
                first.url(&format!("/v1/environments/{env}/images")),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
            .await
            .unwrap();
        let allowed = preflight.headers().get("access-control-allow-origin");
        assert_eq!(
            allowed.is_some(),
            granted,
            "{origin}: {:?}",
            preflight.headers()
        );
        if granted {
            assert_eq!(allowed.unwrap(), origin);
            assert_ne!(allowed.unwrap(), "*");
        }
        let vary = preflight
            .headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"));
        assert!(vary, "no Vary: Origin");
    }

    // The audit log shows each step, with actors and request ids, and no token.
    let (status, audit) = call(
        &first,
        Method::GET,
        &format!("/v1/environments/{env}/audit-events"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["_embedded"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "environment.create",
            "key.create",
            "key.create",
            "key.create",
            "key.revoke",
            "upload_token.create"
        ],
        "{audit}"
    );
    assert_eq!(audit["_embedded"]["events"][1]["actor"], "operator");
    assert!(audit["_embedded"]["events"][4]["requestId"].is_string());
    let text = audit.to_string();
    assert!(!text.contains(admin.rsplit('_').next().unwrap()));

    // Removing the tenant: refused while it holds images, then everything goes, and its
    // hrefs answer 404 on both instances.
    let href = image["targets"]["original"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(second.get_bytes(&href).await.0, 200);
    let (status, _) = call(
        &first,
        Method::DELETE,
        &format!("/v1/environments/{env}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = call(
        &first,
        Method::DELETE,
        &format!("/v1/environments/{env}?purge=true"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let deleted_at = Instant::now();
    for server in [&first, &second] {
        assert_eq!(server.get_bytes(&href).await.0, 404);
        // Its keys went with it: refused everywhere within a second.
        while call(server, Method::GET, &list, &writer, None).await.0 != 401 {
            assert!(
                deleted_at.elapsed() < Duration::from_secs(1),
                "a removed key still works"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let left: Vec<String> = first
        .blob_keys()
        .await
        .into_iter()
        .filter(|key| key.contains(&env))
        .collect();
    assert!(left.is_empty(), "blobs left behind: {left:?}");
    let (_, listed) = call(&first, Method::GET, "/v1/environments", &operator, None).await;
    assert_eq!(listed["count"], 1, "{listed}");
    // The deployment's log keeps the tenant's making and removal; only operators read it.
    let (status, _) = call(&first, Method::GET, "/v1/audit-events", &first.token, None).await;
    assert_eq!(status, 403);
    let (_, deployment) = call(&first, Method::GET, "/v1/audit-events", &operator, None).await;
    let tenant_events: Vec<&str> = deployment["_embedded"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["target"] == format!("environment/{env}"))
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        tenant_events,
        ["environment.create", "environment.delete"],
        "{deployment}"
    );
}

/// Ten uploads at once on a one-use token make exactly one image.
#[tokio::test]
async fn a_one_use_token_makes_one_image_however_many_race_for_it() {
    let server = TestServer::start().await;
    let env = server.env.to_string();
    let (status, grant) = call(
        &server,
        Method::POST,
        &format!("/v1/environments/{env}/upload-tokens"),
        &server.token,
        Some(json!({ "maxUploads": 1 })),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    let url = grant["uploadUrl"].as_str().unwrap();
    let uploads = (0..10).map(|_| browser_upload(&server, url, "avatar-400.jpg"));
    let statuses: Vec<u16> = join_all(uploads)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 401),
        "{statuses:?}"
    );
    let (_, listed) = call(
        &server,
        Method::GET,
        &format!("/v1/environments/{env}/images"),
        &server.token,
        None,
    )
    .await;
    assert_eq!(listed["count"], 1);
}

/// A session describes itself and ends on every instance; ending it needs its CSRF token.
#[tokio::test]
async fn a_session_ends_everywhere() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    let (cookie, csrf) = first.session_of(&first.token).await;
    let current = |server: &TestServer| {
        server
            .client
            .get(server.url("/v1/sessions/current"))
            .header("Cookie", cookie.clone())
            .send()
    };
    let described: Value = current(&second).await.unwrap().json().await.unwrap();
    assert_eq!(described["environmentId"], first.env.to_string());
    assert_eq!(described["scopes"], json!(["admin"]));
    let end = |csrf: Option<&str>| {
        let mut request = first
            .client
            .delete(first.url("/v1/sessions/current"))
            .header("Cookie", cookie.clone());
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        request.send()
    };
    assert_eq!(
        end(None).await.unwrap().status(),
        401,
        "ended without its CSRF token"
    );
    assert_eq!(end(Some(&csrf)).await.unwrap().status(), 204);
    assert_eq!(current(&second).await.unwrap().status(), 401);
}
