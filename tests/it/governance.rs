//! Data governance through the real server: a subject with images in every dialect is
//! counted, exported (each original byte for byte as served) and erased with a receipt
//! that verifies against the published key; its hrefs 404 on two instances while another
//! subject's copy of the same bytes stays; quotas hold under concurrent uploads.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{TestServer, assert_error_shape, corpus};

impl TestServer {
    fn env_url(&self, path: &str) -> String {
        self.url(&format!("/v1/environments/{}{path}", self.env))
    }

    async fn native_upload(&self, name: &str, subject: &str) -> Value {
        let response = self
            .client
            .post(format!("{}?subject={subject}", self.images_url()))
            .bearer_auth(&self.token)
            .body(corpus(name))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self
            .client
            .request(method, url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn delete_json(&self, url: &str) -> (u16, Value) {
        let response = self
            .client
            .delete(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The status of a GET with the admin key (renditions need a key or a signature).
    async fn get_as_admin(&self, url: &str) -> u16 {
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// Every image of a subject, through the native listing.
    async fn images_of(&self, subject: &str) -> Vec<Value> {
        let page = self
            .get_json(&format!(
                "{}?subject={subject}&limit=1000",
                self.images_url()
            ))
            .await;
        page["_embedded"]["images"].as_array().unwrap().clone()
    }
}

/// Uploads an image about `user:42` in every dialect that can name a user, and two
/// about `person:7` through SuperOffice's slot; returns nothing (the listings tell).
async fn subject_in_every_dialect(server: &TestServer) {
    server.native_upload("avatar-400.jpg", "user:42").await;

    let form = Form::new().part("file", Part::bytes(corpus("logo.png")).file_name("l.png"));
    let response = server
        .client
        .post(server.url("/a/api/v2/users/42/images"))
        .query(&[("apiKey", &server.token)])
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let form = Form::new().part(
        "Profile",
        Part::bytes(corpus("avatar.gif")).file_name("a.gif"),
    );
    let response = server
        .client
        .post(server.url("/api/dropbox/pictures"))
        .bearer_auth(&server.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let picture: i64 = response.text().await.unwrap().trim().parse().unwrap();
    let (status, body) = server
        .send_json(
            reqwest::Method::POST,
            &server.images_url(),
            &server.token,
            json!({"uploadId": picture, "subject": "user:42"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    for name in ["avatar-400.jpg", "avatar.gif"] {
        let response = server
            .client
            .put(server.url("/api/v1/Person/7/Image"))
            .bearer_auth(&server.token)
            .header("Content-Type", "application/octet-stream")
            .body(corpus(name))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

fn sizes(images: &[Value]) -> u64 {
    images.iter().map(|i| i["size"].as_u64().unwrap()).sum()
}

#[tokio::test]
async fn subjects_are_counted_exported_and_erased_with_a_verifiable_receipt() {
    let server = TestServer::start().await;
    let other = server.another_instance().await;
    subject_in_every_dialect(&server).await;
    // Another subject holds the same bytes as one of user:42's images.
    let kept = server.native_upload("avatar-400.jpg", "user:43").await;

    let user = server.images_of("user:42").await;
    let person = server.images_of("person:7").await;
    assert_eq!((user.len(), person.len()), (3, 2));
    let subject = server.get_json(&server.env_url("/subjects/user:42")).await;
    assert_eq!(subject["subject"], "user:42");
    assert_eq!(subject["images"], 3);
    assert_eq!(subject["bytes"].as_u64().unwrap(), sizes(&user));
    let person_view = server.get_json(&server.env_url("/subjects/person:7")).await;
    assert_eq!(person_view["images"], 2);
    assert_eq!(
        person_view["slotImageId"], person[1]["id"],
        "the slot shows the replacement"
    );
    let listed = server.get_json(&server.env_url("/subjects?limit=2")).await;
    assert_eq!(listed["count"], 2);
    let next = listed["_links"]["next"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = server.get_json(&next).await;
    let names: Vec<&str> = listed["_embedded"]["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["_embedded"]["subjects"].as_array().unwrap())
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["person:7", "user:42", "user:43"]);
    let usage = server.get_json(&server.env_url("/usage")).await;
    assert_eq!(usage["images"], 6);
    let everything = server
        .get_json(&format!("{}?limit=1000", server.images_url()))
        .await;
    let all: Vec<Value> = everything["_embedded"]["images"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(usage["bytes"].as_u64().unwrap(), sizes(&all));

    // The export holds each original exactly as served, and a manifest of them.
    let response = server
        .client
        .get(server.env_url("/subjects/user:42/export"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let archive = response.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive.to_vec())).unwrap();
    let mut manifest = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["subject"], "user:42");
    assert_eq!(manifest["images"].as_array().unwrap().len(), 3);
    for image in &user {
        let href = image["targets"]["original"]["href"].as_str().unwrap();
        let (status, served) = server.get_bytes(href).await;
        assert_eq!(status, 200);
        let entry = manifest["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == image["id"])
            .expect("every image is in the manifest");
        assert_eq!(entry["targets"]["original"]["href"], href);
        let mut exported = Vec::new();
        zip.by_name(entry["file"].as_str().unwrap())
            .unwrap()
            .read_to_end(&mut exported)
            .unwrap();
        assert!(
            exported == served,
            "the exported original differs from the served one"
        );
    }

    // Warm both instances, then erase on one: every href is gone on both.
    let hrefs: Vec<String> = user
        .iter()
        .flat_map(|i| {
            let original = i["targets"]["original"]["href"]
                .as_str()
                .unwrap()
                .to_string();
            [original.clone(), format!("{original}?w=32")]
        })
        .collect();
    for href in &hrefs {
        for instance in [&server, &other] {
            let href = href.replace(&server.base, &instance.base);
            assert_eq!(instance.get_as_admin(&href).await, 200, "{href}");
            assert_eq!(
                instance
                    .get_json(&format!(
                        "{}/{}",
                        instance.images_url(),
                        user[0]["id"].as_str().unwrap()
                    ))
                    .await["id"],
                user[0]["id"]
            );
        }
    }
    let (status, receipt) = server
        .delete_json(&server.env_url("/subjects/user:42"))
        .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["subject"], "user:42");
    assert_eq!(receipt["environmentId"], server.env.to_string());
    assert_eq!(receipt["images"], 3);
    assert_eq!(receipt["bytes"].as_u64().unwrap(), sizes(&user));
    let hashes: BTreeSet<&str> = user
        .iter()
        .map(|i| i["contentHash"].as_str().unwrap())
        .collect();
    let listed: Vec<&str> = receipt["contentHashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(listed, hashes.iter().copied().collect::<Vec<_>>());
    for href in &hrefs {
        for instance in [&server, &other] {
            let href = href.replace(&server.base, &instance.base);
            assert_eq!(
                instance.get_as_admin(&href).await,
                404,
                "{href} after the erasure"
            );
        }
    }
    for instance in [&server, &other] {
        let url = format!(
            "{}/{}",
            instance.images_url(),
            user[0]["id"].as_str().unwrap()
        );
        let response = instance
            .client
            .get(&url)
            .bearer_auth(&instance.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
    assert!(server.images_of("user:42").await.is_empty());
    let gone = server.get_json(&server.env_url("/subjects/user:42")).await;
    assert_eq!(
        (gone["images"].clone(), gone["bytes"].clone()),
        (json!(0), json!(0))
    );
    // The other subject's copy of the same bytes is intact.
    let href = kept["targets"]["original"]["href"].as_str().unwrap();
    let (status, bytes) = server.get_bytes(href).await;
    assert_eq!((status, bytes), (200, corpus_stored(&server, &kept).await));

    // The receipt verifies offline against the published key, and not once changed.
    let jwks: Value = other
        .client
        .get(other.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == receipt["kid"])
        .expect("the receipt's key is published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(receipt["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature = Signature::from_bytes(&signature);
    let mut signed = signed_bytes(&receipt);
    assert!(
        key.verify(&signed, &signature).is_ok(),
        "the receipt does not verify"
    );
    let last = signed.len() - 3;
    signed[last] ^= 1;
    assert!(
        key.verify(&signed, &signature).is_err(),
        "a changed receipt verified"
    );
    let again = other
        .get_json(&other.env_url(&format!(
            "/receipts/{}",
            receipt["receiptId"].as_str().unwrap()
        )))
        .await;
    assert_eq!(again, receipt);

    // Erasing again is a receipt of nothing; the log has both.
    let (status, second) = server
        .delete_json(&server.env_url("/subjects/user:42"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (second["images"].clone(), second["bytes"].clone()),
        (json!(0), json!(0))
    );
    assert_ne!(second["receiptId"], receipt["receiptId"]);
    let log = server
        .get_json(&server.env_url("/audit-events?limit=1000"))
        .await;
    let erasures = log["_embedded"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "subject.erase")
        .count();
    assert_eq!(erasures, 2);
    let usage = server.get_json(&server.env_url("/usage")).await;
    assert_eq!(usage["images"], 3);
}

/// What the server stored for an image (its bytes as served by another subject's href
/// must not have changed): read through the same href once more via the native API.
async fn corpus_stored(server: &TestServer, image: &Value) -> Vec<u8> {
    let size = image["size"].as_u64().unwrap() as usize;
    let (status, bytes) = server
        .get_bytes(image["targets"]["original"]["href"].as_str().unwrap())
        .await;
    assert_eq!((status, bytes.len()), (200, size));
    bytes
}

/// The receipt's JSON without its signature, keys sorted, no whitespace: every value is
/// a string, a number or an array of strings, so a sorted map serializes it exactly.
fn signed_bytes(receipt: &Value) -> Vec<u8> {
    let fields: BTreeMap<&String, &Value> = receipt
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "signature")
        .collect();
    serde_json::to_vec(&fields).unwrap()
}

#[tokio::test]
async fn quotas_hold_under_concurrent_uploads_in_every_dialect() {
    let server = TestServer::start().await;
    let operator = server.operator_token.clone().unwrap();
    let (status, body) = server
        .send_json(
            reqwest::Method::PATCH,
            &server.env_url(""),
            &operator,
            json!({"settings": {"subjectQuota": {"maxImages": 10}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["subjectQuota"]["maxImages"], 10);

    let uploads = (0..50).map(|_| {
        let (client, url, token) = (
            server.client.clone(),
            format!("{}?subject=user:1", server.images_url()),
            server.token.clone(),
        );
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .body(corpus("avatar.gif"))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(uploads).await;
    let made = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(made, 10, "exactly the quota's room");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 403, "{body}");
        assert_error_shape(body);
        assert_eq!(body["code"], "QUOTA_EXCEEDED");
        assert_eq!(body["details"][0]["target"], "subjectQuota.maxImages");
        let message = body["details"][0]["message"].as_str().unwrap();
        assert!(message.contains("10"), "{message}");
    }
    assert_eq!(server.images_of("user:1").await.len(), 10);
    let subject = server.get_json(&server.env_url("/subjects/user:1")).await;
    assert_eq!(subject["images"], 10);
    assert_eq!(subject["quota"]["maxImages"], 10);
    assert_eq!(subject["quotaSource"], "environment");

    // The dialects refuse in their own shapes.
    let form = Form::new().part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif"));
    for _ in 0..10 {
        server.native_upload("avatar.gif", "user:2").await;
    }
    let response = server
        .client
        .post(server.url("/a/api/v2/users/2/images"))
        .query(&[("apiKey", &server.token)])
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response"]["error"]["name"], "FORBIDDEN", "{body}");
    for _ in 0..10 {
        server.native_upload("avatar.gif", "person:3").await;
    }
    let response = server
        .client
        .put(server.url("/api/v1/Person/3/Image"))
        .bearer_auth(&server.token)
        .header("Content-Type", "application/octet-stream")
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let text = response.text().await.unwrap();
    assert!(text.contains("QuotaExceededException"), "{text}");

    // A subject's own quota replaces the default; the environment's holds over both.
    let (status, body) = server
        .send_json(
            reqwest::Method::PUT,
            &server.env_url("/subjects/user:1/quota"),
            &server.token,
            json!({"maxImages": 12}),
        )
        .await;
    assert_eq!(
        (status, body["quotaSource"].as_str()),
        (200, Some("subject")),
        "{body}"
    );
    server.native_upload("avatar.gif", "user:1").await;
    server.native_upload("avatar.gif", "user:1").await;
    let response = server
        .client
        .post(format!("{}?subject=user:1", server.images_url()))
        .bearer_auth(&server.token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let usage = server.get_json(&server.env_url("/usage")).await;
    let held = usage["images"].as_u64().unwrap();
    assert_eq!(held, 32);
    let (status, _) = server
        .send_json(
            reqwest::Method::PATCH,
            &server.env_url(""),
            &operator,
            json!({"settings": {"quota": {"maxImages": held + 1}}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server.upload(corpus("avatar.gif"), "image/gif").await;
    assert_eq!(status, 201);
    let (status, body) = server.upload(corpus("avatar.gif"), "image/gif").await;
    assert_eq!(
        (status, body["details"][0]["target"].as_str()),
        (403, Some("quota.maxImages")),
        "{body}"
    );

    // The gauges report it, per environment.
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "imagestore_environment_images{{environment=\"{}\"}} {}",
        server.env,
        held + 1
    );
    assert!(metrics.contains(&line), "no {line} in /metrics");
}

#[tokio::test]
async fn usage_is_exact_after_a_kill_in_the_middle_of_uploads_and_deletes() {
    use crate::process::{serve, spawn_on, wait_for_port};
    let mut served = serve(&[], "warn").await;
    let env = served.first_start["environment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = served.first_start["key"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let client = crate::harness::client();
    let images = format!("{}/v1/environments/{env}/images", served.base);
    let mut first = Vec::new();
    for n in 0..6 {
        let response = client
            .post(format!("{images}?subject=user:{}", n % 3))
            .bearer_auth(&token)
            .body(corpus("avatar.gif"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        first.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Uploads and deletes in flight when the process is killed: no shutdown code runs.
    let mut work = Vec::new();
    for n in 0..30 {
        let (client, images, token) = (client.clone(), images.clone(), token.clone());
        let name = if n % 2 == 0 { "avatar.gif" } else { "logo.png" };
        work.push(tokio::spawn(async move {
            let _ = client
                .post(format!("{images}?subject=user:{}", n % 3))
                .bearer_auth(&token)
                .body(corpus(name))
                .send()
                .await;
        }));
    }
    for id in first.iter().take(3) {
        let (client, url, token) = (client.clone(), format!("{images}/{id}"), token.clone());
        work.push(tokio::spawn(async move {
            let _ = client.delete(url).bearer_auth(&token).send().await;
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    for task in work {
        let _ = task.await;
    }

    let (mut child, base) = spawn_on(&served.storage, &[], "warn");
    wait_for_port(base.trim_start_matches("http://"));
    let images = format!("{base}/v1/environments/{env}/images");
    let listed =
        crate::harness::get_json_as(&client, &format!("{images}?limit=1000"), &token).await;
    let all = listed["_embedded"]["images"].as_array().unwrap().clone();
    let usage = crate::harness::get_json_as(
        &client,
        &format!("{base}/v1/environments/{env}/usage"),
        &token,
    )
    .await;
    assert_eq!(
        usage["images"].as_u64().unwrap(),
        all.len() as u64,
        "{usage}"
    );
    assert_eq!(usage["bytes"].as_u64().unwrap(), sizes(&all), "{usage}");
    let subjects = crate::harness::get_json_as(
        &client,
        &format!("{base}/v1/environments/{env}/subjects"),
        &token,
    )
    .await;
    for subject in subjects["_embedded"]["subjects"].as_array().unwrap() {
        let name = subject["subject"].as_str().unwrap();
        let own: Vec<Value> = all
            .iter()
            .filter(|i| i["subject"] == name)
            .cloned()
            .collect();
        assert_eq!(
            subject["images"].as_u64().unwrap(),
            own.len() as u64,
            "{name}"
        );
        assert_eq!(subject["bytes"].as_u64().unwrap(), sizes(&own), "{name}");
    }
    let summed: u64 = subjects["_embedded"]["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["images"].as_u64().unwrap())
        .sum();
    assert_eq!(summed, all.len() as u64);
    crate::process::sigterm(&child);
    child.wait().unwrap();
}
