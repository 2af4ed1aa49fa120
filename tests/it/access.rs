//! Who may do what: 401 without a valid key, 403 without the scope, 404 for another
//! environment's data, never a hint that it exists.

use base64::Engine;
use imagestore::domain::Scope;
use serde_json::Value;

use crate::harness::{TestServer, assert_error_shape, corpus};

#[tokio::test]
async fn missing_or_wrong_credentials_get_401_with_a_challenge() {
    let server = TestServer::start().await;
    // The right key id with a secret one digit off.
    let last = if server.token.ends_with('0') {
        '1'
    } else {
        '0'
    };
    let forged = format!("{}{last}", &server.token[..server.token.len() - 1]);
    for auth in [
        None,
        Some("Bearer nonsense".to_string()),
        Some(format!("Bearer {forged}")),
    ] {
        let mut request = server.client.get(server.images_url());
        if let Some(auth) = &auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("Bearer")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(assert_error_shape(&body), "ACCESS_FAILED");
    }
}

#[tokio::test]
async fn basic_auth_takes_the_key_as_password() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.images_url())
        .basic_auth("anyone", Some(&server.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:", server.token));
    let response = server
        .client
        .get(server.images_url())
        .header("Authorization", format!("Basic {encoded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403() {
    let server = TestServer::start().await;
    let reader = server.key(server.env, &[Scope::ImagesRead]).await;
    let response = server
        .client
        .post(server.images_url())
        .bearer_auth(&reader)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(assert_error_shape(&body), "ACCESS_FAILED");
    let image = server.upload_ok("avatar.gif").await;
    let url = format!("{}/{}", server.images_url(), image["id"].as_str().unwrap());
    assert_eq!(
        server
            .client
            .get(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        server
            .client
            .delete(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let writer = server.key(server.env, &[Scope::ImagesWrite]).await;
    assert_eq!(
        server
            .client
            .get(&url)
            .bearer_auth(&writer)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn another_environments_key_sees_nothing() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar.gif").await;
    let id = image["id"].as_str().unwrap();
    let (_, intruder) = server.other_environment().await;
    let image_url = format!("{}/{id}", server.images_url());
    let missing_url = format!("{}/{}", server.images_url(), uuid::Uuid::new_v4());
    let mut bodies = Vec::new();
    for (method, url) in [
        ("GET", &image_url),
        ("DELETE", &image_url),
        ("GET", &missing_url),
        ("GET", &server.images_url()),
        ("POST", &server.images_url()),
    ] {
        let request = match method {
            "GET" => server.client.get(url),
            "DELETE" => server.client.delete(url),
            _ => server.client.post(url).body(corpus("avatar.gif")),
        };
        let response = request.bearer_auth(&intruder).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(assert_error_shape(&body), "NOT_FOUND");
        bodies.push(body["message"].clone());
    }
    // An existing image and a missing one are indistinguishable.
    assert_eq!(bodies[0], bodies[2]);
    // And the image is still there for its owner.
    assert_eq!(
        server
            .client
            .get(&image_url)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
