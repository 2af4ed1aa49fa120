//! The tenant matrix: every route, against every kind of object one environment owns
//! (an uploaded image, an external image, a dropbox item, a subject's slot, a
//! QuestionPro image, a preset, a signing secret, a session), tried with another
//! environment's admin, read and write keys and its browser session. A probe naming the
//! owner's environment must answer 404; a probe through the intruder's own environment
//! (or a dialect route, where the key decides the environment) must answer exactly what
//! the same probe answers for ids that exist nowhere, so that nothing tells the intruder
//! the object exists. And the owner's objects stay as they were.
//!
//! It was written after an external image (registered by JSON) could be read with any
//! other environment's key: the fallback from stored to external images skipped the
//! access check. A matrix catches the next such route, not just that one.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{TestServer, corpus};
use imagestore::domain::Scope;

/// How a probe presents its credential.
#[derive(Clone)]
enum Credential {
    Key(String),
    Session { cookie: String, csrf: String },
}

/// What environment A owns, by the names a request would use.
struct Owned {
    env: Uuid,
    uploaded: String,
    external: String,
    original_href: String,
    picture: String,
    questionpro_image: String,
    secret: String,
    person: String,
}

impl Owned {
    /// The same environment with ids that exist nowhere: what a probe must not be told
    /// apart from.
    fn ghost(&self) -> Owned {
        Owned {
            env: self.env,
            uploaded: Uuid::new_v4().to_string(),
            external: Uuid::new_v4().to_string(),
            original_href: String::new(),
            picture: "999999".into(),
            questionpro_image: "999999".into(),
            secret: Uuid::new_v4().to_string(),
            person: "8".into(),
        }
    }
}

async fn populate(server: &TestServer) -> Owned {
    let token = &server.token;
    let uploaded = server.upload_ok("avatar.gif").await;
    let external: Value = server
        .client
        .post(server.images_url())
        .bearer_auth(token)
        .json(
            &json!({"targets": [{"id": "logo", "width": 10, "height": 10, "type": "png",
            "href": "https://cdn.example/logo.png"}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form = Form::new().part(
        "Profile",
        Part::bytes(corpus("avatar.gif")).file_name("a.gif"),
    );
    let picture = server
        .client
        .post(server.url("/api/dropbox/pictures"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let slot = server
        .client
        .put(server.url("/api/v1/Person/7/Image"))
        .bearer_auth(token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert!(slot.status().is_success(), "{}", slot.status());
    let form = Form::new().part("file", Part::bytes(corpus("avatar.gif")).file_name("q.gif"));
    let questionpro: Value = server
        .client
        .post(server.url("/a/api/v2/users/42/images"))
        .query(&[("apiKey", token)])
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let preset = server
        .client
        .put(server.url(&format!("/v1/environments/{}/presets/thumb", server.env)))
        .bearer_auth(token)
        .json(&json!({"width": 32}))
        .send()
        .await
        .unwrap();
    assert!(preset.status().is_success(), "{}", preset.status());
    let secrets_url = server.url(&format!("/v1/environments/{}/signing-secrets", server.env));
    let created = server
        .client
        .post(&secrets_url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let secrets = server.get_json(&secrets_url).await;
    Owned {
        env: server.env,
        uploaded: uploaded["id"].as_str().unwrap().to_string(),
        external: external["id"].as_str().unwrap().to_string(),
        original_href: uploaded["targets"]["original"]["href"]
            .as_str()
            .unwrap()
            .to_string(),
        picture: picture.trim().to_string(),
        questionpro_image: questionpro["response"]["imageID"].to_string(),
        secret: secrets["signingSecrets"][0]["id"]
            .as_str()
            .unwrap()
            .to_string(),
        person: "7".into(),
    }
}

/// Every request an intruder could make at A's objects: (method, path, JSON body).
/// `{own}` is replaced by the intruder's own environment, to try A's ids through it.
fn probes(a: &Owned) -> Vec<(Method, String, Option<Value>)> {
    let env = a.env;
    let mut probes = vec![(Method::GET, format!("/v1/environments/{env}"), None)];
    for base in [
        format!("/v1/environments/{env}"),
        "/v1/environments/{own}".into(),
    ] {
        for id in [&a.uploaded, &a.external] {
            probes.push((Method::GET, format!("{base}/images/{id}"), None));
            probes.push((Method::DELETE, format!("{base}/images/{id}"), None));
        }
        probes.push((
            Method::POST,
            format!("{base}/images"),
            Some(json!({"uploadId": a.picture.parse::<i64>().unwrap()})),
        ));
        probes.push((
            Method::POST,
            format!("{base}/signed-urls"),
            Some(json!({"imageId": a.uploaded, "w": 10})),
        ));
        probes.push((
            Method::DELETE,
            format!("{base}/signing-secrets/{}", a.secret),
            None,
        ));
    }
    let a_only = [
        (Method::GET, format!("/v1/environments/{env}/images"), None),
        (
            Method::POST,
            format!("/v1/environments/{env}/images"),
            Some(
                json!({"targets": [{"id": "x", "width": 1, "height": 1, "type": "png",
                "href": "https://cdn.example/x.png"}]}),
            ),
        ),
        (Method::GET, format!("/v1/environments/{env}/presets"), None),
        (
            Method::GET,
            format!("/v1/environments/{env}/presets/thumb"),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/environments/{env}/presets/thumb"),
            Some(json!({"width": 16})),
        ),
        (
            Method::DELETE,
            format!("/v1/environments/{env}/presets/thumb"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/environments/{env}/signing-secrets"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/environments/{env}/signing-secrets"),
            None,
        ),
        (
            Method::GET,
            format!("/a/api/v2/users/42/images/{}", a.questionpro_image),
            None,
        ),
        (
            Method::DELETE,
            format!("/a/api/v2/users/42/images/{}", a.questionpro_image),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/Person/{}/Image", a.person),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/Person/{}/Image", a.person),
            None,
        ),
        (
            Method::GET,
            format!("/api/dropbox/pictures/{}", a.picture),
            None,
        ),
        (
            Method::PUT,
            format!("/api/dropbox/pictures/{}", a.picture),
            Some(json!({"x": 0, "y": 0, "width": 10, "height": 10})),
        ),
    ];
    probes.extend(a_only);
    probes
}

#[tokio::test]
async fn another_environments_keys_and_sessions_find_nothing_on_any_route() {
    let server = TestServer::start().await;
    let a = populate(&server).await;
    let (b, b_admin) = server.other_environment().await;
    let b_read = server.key(b, &[Scope::ImagesRead]).await;
    let b_write = server.key(b, &[Scope::ImagesWrite]).await;
    let (cookie, csrf) = server.session_of(&b_admin).await;
    let intruders = [
        ("admin", Credential::Key(b_admin)),
        ("read", Credential::Key(b_read)),
        ("write", Credential::Key(b_write)),
        ("session", Credential::Session { cookie, csrf }),
    ];
    let mut failures = Vec::new();
    let ghost = a.ghost();
    let a_path = format!("/v1/environments/{}", a.env);
    for (who, credential) in &intruders {
        let send = |method: Method, path: String, body: Option<Value>| {
            let path = path.replace("{own}", &b.to_string());
            let mut request = server.client.request(method, server.url(&path));
            request = match credential {
                Credential::Key(token) if path.starts_with("/a/api/") => {
                    request.query(&[("apiKey", token)])
                }
                Credential::Key(token) => request.bearer_auth(token),
                Credential::Session { cookie, csrf } => request
                    .header("Cookie", cookie)
                    .header("X-CSRF-Token", csrf),
            };
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        for ((method, path, body), (_, ghost_path, ghost_body)) in
            probes(&a).into_iter().zip(probes(&ghost))
        {
            let status = send(method.clone(), path.clone(), body).await;
            if path.starts_with(&a_path) {
                if status != 404 {
                    failures.push(format!("{who}: {method} {path} answered {status}"));
                }
                continue;
            }
            let ghost_status = send(method.clone(), ghost_path, ghost_body).await;
            if status != ghost_status || !(status == 403 || status == 404) {
                failures.push(format!(
                    "{who}: {method} {path} answered {status}, {ghost_status} for ids that exist nowhere"
                ));
            }
        }
        // A rendition of A's image asked with B's credential is not B's to ask for.
        let mut request = server.client.get(format!("{}?w=10", a.original_href));
        request = match credential {
            Credential::Key(token) => request.bearer_auth(token),
            Credential::Session { cookie, .. } => request.header("Cookie", cookie),
        };
        let status = request.send().await.unwrap().status().as_u16();
        if status != 404 {
            failures.push(format!(
                "{who}: a rendition of A's original answered {status}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "cross-tenant probes got through:\n{}",
        failures.join("\n")
    );

    // A's objects are all still there, as they were.
    for id in [&a.uploaded, &a.external] {
        let image = server
            .get_json(&format!("{}/{id}", server.images_url()))
            .await;
        assert_eq!(image["id"].as_str(), Some(id.as_str()), "{image}");
    }
    let presets = server
        .get_json(&server.url(&format!("/v1/environments/{}/presets/thumb", a.env)))
        .await;
    assert_eq!(presets["width"], 32, "{presets}");
    let slot = server
        .client
        .get(server.url("/api/v1/Person/7/Image"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(slot.status(), 200);
    let picture = server
        .client
        .get(server.url(&format!("/api/dropbox/pictures/{}", a.picture)))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), 200);
}
