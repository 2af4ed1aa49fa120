//! Every access decision about an href, in the order `service::serving` makes them, one
//! row each: who asks (nobody, a key of the image's environment, another environment's
//! key, a broken credential), what the href names (the original, a preset, with or
//! without parameters, signed or not, the right extension or not), and the answer.

use serde_json::{Value, json};

use crate::harness::TestServer;
use imagestore::domain::Scope;

enum Who<'a> {
    Nobody,
    Key(&'a str),
    BrokenCredential,
}

#[tokio::test]
async fn each_href_access_decision_answers_as_listed() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let id = image["id"].as_str().unwrap();
    let original = image["targets"]["original"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let response = server
        .client
        .put(server.url(&format!("/v1/environments/{}/presets/thumb", server.env)))
        .bearer_auth(&server.token)
        .json(&json!({"width": 64, "format": "webp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let preset = original.replace("_original.jpg", "_thumb.webp");
    let sign = |body: Value| {
        let request = server
            .client
            .post(server.url(&format!("/v1/environments/{}/signed-urls", server.env)))
            .bearer_auth(&server.token)
            .json(&body);
        async move {
            let signed: Value = request.send().await.unwrap().json().await.unwrap();
            signed["href"].as_str().unwrap().to_string()
        }
    };
    let signed = sign(json!({"imageId": id, "w": 32})).await;
    let expired = sign(json!({"imageId": id, "w": 32, "expiresIn": 1})).await;
    let reader = server.key(server.env, &[Scope::ImagesRead]).await;
    let (other_env, _) = server.other_environment().await;
    let outsider = server.key(other_env, &[Scope::Admin]).await;
    let wrong_key = original.replacen('_', "_x", 1);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let rows: Vec<(&str, String, Who, u16)> = vec![
        (
            "1. a serve key that is not the image's",
            wrong_key,
            Who::Nobody,
            404,
        ),
        (
            "2. the original, no parameters",
            original.clone(),
            Who::Nobody,
            200,
        ),
        (
            "3. parameters, nobody",
            format!("{original}?w=32"),
            Who::Nobody,
            403,
        ),
        (
            "3. parameters, a key of the environment",
            format!("{original}?w=32"),
            Who::Key(&reader),
            200,
        ),
        (
            "3. parameters, another environment's key",
            format!("{original}?w=32"),
            Who::Key(&outsider),
            404,
        ),
        (
            "3. parameters, a broken credential",
            format!("{original}?w=32"),
            Who::BrokenCredential,
            401,
        ),
        (
            "3. a valid signature, nobody",
            signed.clone(),
            Who::Nobody,
            200,
        ),
        (
            "3. a valid signature does not rescue a broken credential",
            signed.clone(),
            Who::BrokenCredential,
            401,
        ),
        ("3. an expired signature", expired, Who::Nobody, 403),
        ("4. a preset, nobody", preset.clone(), Who::Nobody, 200),
        (
            "4. a preset with parameters",
            format!("{preset}?w=10"),
            Who::Key(&reader),
            400,
        ),
        (
            "5. the original under another extension",
            original.replace(".jpg", ".png"),
            Who::Nobody,
            404,
        ),
        (
            "5. a preset under another extension",
            preset.replace(".webp", ".jpg"),
            Who::Nobody,
            404,
        ),
    ];
    for (decision, href, who, expected) in rows {
        let request = server.client.get(&href);
        let request = match who {
            Who::Nobody => request,
            Who::Key(token) => request.bearer_auth(token),
            Who::BrokenCredential => request.bearer_auth("isk_0_not-a-key"),
        };
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, expected, "{decision}: {href}");
    }
}
