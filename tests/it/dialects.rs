//! The seed APIs spoken unchanged: QuestionPro, SuperOffice, the Akana dropbox with
//! browser sessions, and PingOne's JSON create. Each seed example is a test, adapted only
//! in host, ids, credentials and file path; each error is checked in its dialect's shape.

use std::collections::BTreeSet;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{TestServer, corpus, pixels};

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The seed's schemas forbid extra properties: check the exact key sets.
fn assert_questionpro_error(body: &Value, status: u16, name: &str) {
    assert_eq!(keys(body), BTreeSet::from(["response"]), "{body}");
    assert_eq!(keys(&body["response"]), BTreeSet::from(["error"]), "{body}");
    let error = &body["response"]["error"];
    assert_eq!(
        keys(error),
        BTreeSet::from([
            "docs",
            "resourceUrl",
            "name",
            "id",
            "message",
            "httpStatusCode"
        ])
    );
    assert_eq!(error["httpStatusCode"], status);
    assert_eq!(error["name"], name);
    for field in ["docs", "resourceUrl", "id", "message"] {
        assert!(error[field].is_string(), "{field} in {body}");
    }
}

#[tokio::test]
async fn questionpro_upload_list_read_delete_and_errors() {
    let server = TestServer::start().await;
    let base = server.url("/a/api/v2/users/42/images");
    // As a Python client would send it: requests.post(url, params={"apiKey": key}, files={"file": f}).
    let form = Form::new().part(
        "file",
        Part::bytes(corpus("avatar-400.jpg")).file_name("me.jpg"),
    );
    let response = server
        .client
        .post(&base)
        .query(&[("apiKey", &server.token)])
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), BTreeSet::from(["response"]));
    let image = &body["response"];
    assert_eq!(keys(image), BTreeSet::from(["imageID", "imageURL", "size"]));
    assert!(image["imageID"].is_i64());
    assert!(image["size"].as_str().unwrap().ends_with(" Kb"), "{body}");
    let bytes = server
        .client
        .get(image["imageURL"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(pixels(&bytes), pixels(&corpus("avatar-400.jpg")));
    let id = image["imageID"].as_i64().unwrap();

    let listed: Value = server
        .client
        .get(&base)
        .query(&[("apiKey", &server.token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["response"]["images"][0]["imageID"], id);
    let one = server
        .client
        .get(format!("{base}/{id}"))
        .query(&[("apiKey", &server.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    // Another user's path does not reach it.
    let other = server
        .client
        .get(server.url(&format!("/a/api/v2/users/43/images/{id}")))
        .query(&[("apiKey", &server.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert_questionpro_error(&other.json().await.unwrap(), 404, "NOT_FOUND");

    // The seed's own curl example sends a multipart Content-Type without a boundary.
    let response = server
        .client
        .post(&base)
        .query(&[("apiKey", &server.token)])
        .header("Content-Type", "multipart/form-data")
        .body("file=/home/me/picture.png")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_questionpro_error(&response.json().await.unwrap(), 400, "BAD_REQUEST");
    for (url, key, status, name) in [
        (base.clone(), None, 401, "UNAUTHORIZED"),
        (base.clone(), Some("isk_wrong"), 401, "UNAUTHORIZED"),
        (
            server.url("/a/api/v2/users/abc/images"),
            Some(server.token.as_str()),
            400,
            "BAD_REQUEST",
        ),
    ] {
        let mut request = server.client.post(&url).multipart(
            Form::new().part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif")),
        );
        if let Some(key) = key {
            request = request.query(&[("apiKey", key)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_questionpro_error(&body, status, name);
        assert!(
            !body.to_string().contains(&server.token),
            "the key leaked into an error"
        );
    }
    let not_image = Form::new().part("file", Part::bytes(b"<svg/>".to_vec()).file_name("x.svg"));
    let response = server
        .client
        .post(&base)
        .query(&[("apiKey", &server.token)])
        .multipart(not_image)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_questionpro_error(&response.json().await.unwrap(), 400, "BAD_REQUEST");

    let deleted = server
        .client
        .delete(format!("{base}/{id}"))
        .query(&[("apiKey", &server.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let gone = server
        .client
        .get(format!("{base}/{id}"))
        .query(&[("apiKey", &server.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn superoffice_person_image_slot() {
    let server = TestServer::start().await;
    let url = server.url("/api/v1/Person/7/Image");
    // The seed's request: Basic auth, Accept JSON; the key is the password.
    let response = server
        .client
        .put(&url)
        .basic_auth("tje0", Some(&server.token))
        .header("Accept", "application/json; charset=utf-8")
        .header("Accept-Language", "en")
        .header("Content-Type", "image/png")
        .body(corpus("logo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let first: i32 = response
        .text()
        .await
        .unwrap()
        .parse()
        .expect("a bare int32");

    let current = server
        .client
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 200);
    assert_eq!(current.headers()["content-type"], "image/png");
    assert!(
        current.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-cache")
    );
    let etag = current.headers()["etag"].clone();
    let first_bytes = current.bytes().await.unwrap();
    let again = server
        .client
        .get(&url)
        .bearer_auth(&server.token)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Replace it (multipart this time, XML answer): the slot shows the new image.
    let form = Form::new().part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif"));
    let response = server
        .client
        .put(&url)
        .bearer_auth(&server.token)
        .header("Accept", "application/xml")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let xml = response.text().await.unwrap();
    let second: i32 = xml
        .trim_start_matches("<int xmlns=\"http://schemas.microsoft.com/2003/10/Serialization/\">")
        .trim_end_matches("</int>")
        .parse()
        .unwrap_or_else(|_| panic!("{xml}"));
    assert_ne!(first, second);
    let current = server
        .client
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(current.headers()["content-type"], "image/gif");
    // The old image is still listed under the person, and its bytes still serve.
    let page: Value = server
        .get_json(&format!("{}?subject=person:7", server.images_url()))
        .await;
    assert_eq!(page["count"], 2);
    let old = &page["_embedded"]["images"][0];
    assert_eq!(old["number"], first);
    let (status, bytes) = server
        .get_bytes(old["targets"]["original"]["href"].as_str().unwrap())
        .await;
    assert_eq!((status, bytes.as_slice()), (200, first_bytes.as_ref()));

    for (bad_url, body) in [
        (url.clone(), Vec::new()),
        (server.url("/api/v1/Person/0/Image"), corpus("avatar.gif")),
        (server.url("/api/v1/Person/abc/Image"), corpus("avatar.gif")),
        (
            server.url("/api/v1/Person/2147483648/Image"),
            corpus("avatar.gif"),
        ),
    ] {
        let response = server
            .client
            .put(&bad_url)
            .bearer_auth(&server.token)
            .header("Content-Type", "image/png")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad_url}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["Error"]
                .as_str()
                .unwrap()
                .contains("Image bitmap is missing from body or person id is not valid."),
            "{body}"
        );
    }
    let text = server
        .client
        .put(&url)
        .bearer_auth(&server.token)
        .header("Content-Type", "image/png")
        .body(b"not a picture".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 400);
    let unauthorized = server.client.get(&url).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);

    let cleared = server
        .client
        .delete(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(
        server
            .client
            .get(&url)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// A browser session: the cookie header to send and the CSRF token.
async fn session(server: &TestServer) -> (String, String) {
    server.session_of(&server.token).await
}

#[tokio::test]
async fn akana_dropbox_with_sessions_crop_and_claim() {
    let server = TestServer::start().await;
    let (cookie, csrf) = session(&server).await;
    let dropbox = server.url("/api/dropbox/pictures");
    let form = || {
        Form::new().part(
            "Profile",
            Part::bytes(corpus("avatar-400.jpg")).file_name("avatar.jpg"),
        )
    };

    // A cookie without its CSRF token is refused, in plain text.
    let response = server
        .client
        .post(&dropbox)
        .header("Cookie", &cookie)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let response = server
        .client
        .post(&dropbox)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let response = server
        .client
        .post(&dropbox)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .header(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let picture: i64 = response.text().await.unwrap().parse().unwrap();

    // Akana's own cookie and header names work too, and wrapInHTML wraps the answer.
    let akana_cookie = cookie.replace("imagestore_session=", "AtmoAuthToken_acmepaymentscorp=");
    let response = server
        .client
        .post(format!("{dropbox}?wrapInHTML=true"))
        .header("Cookie", &akana_cookie)
        .header("X-Csrf-Token_acmepaymentscorp", &csrf)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let wrapped =
        regex_lite::Regex::new(r#"<body status="200" statusText="success">(\d+)</body>"#).unwrap();
    assert!(wrapped.is_match(&html), "{html}");

    // Reading needs no CSRF token; cropping does.
    let item = format!("{dropbox}/{picture}");
    let response = server
        .client
        .get(&item)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let crop = json!({"x": 100, "y": 100, "width": 200, "height": 200});
    let response = server
        .client
        .put(&item)
        .header("Cookie", &cookie)
        .json(&crop)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = server
        .client
        .put(&item)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&crop)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let outside = json!({"x": 300, "y": 0, "width": 200, "height": 10});
    let response = server
        .client
        .put(&item)
        .bearer_auth(&server.token)
        .json(&outside)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Unclaimed items are not images yet.
    let page: Value = server.get_json(&server.images_url()).await;
    assert_eq!(page["count"], 0);

    // Claim it: a permanent image whose renditions honour the crop; the dropbox forgets it.
    let response = server
        .client
        .post(server.images_url())
        .bearer_auth(&server.token)
        .json(&json!({"uploadId": picture}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let image: Value = response.json().await.unwrap();
    assert_eq!(image["number"], picture);
    let rendition = format!(
        "{}?w=50",
        image["targets"]["original"]["href"].as_str().unwrap()
    );
    let bytes = server
        .client
        .get(&rendition)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(pixels(&bytes).dimensions(), (50, 50));
    assert_eq!(
        server
            .client
            .get(&item)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let again = server
        .client
        .post(server.images_url())
        .bearer_auth(&server.token)
        .json(&json!({"uploadId": picture}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    // Claim another into a person's slot, with a session this time.
    let response = server
        .client
        .post(&dropbox)
        .bearer_auth(&server.token)
        .multipart(form())
        .send()
        .await
        .unwrap();
    let second: i64 = response.text().await.unwrap().parse().unwrap();
    let response = server
        .client
        .post(server.images_url())
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"uploadId": second, "subject": "person:9", "slot": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let slot = server
        .client
        .get(server.url("/api/v1/Person/9/Image"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(slot.status(), 200);
}

#[tokio::test]
async fn unclaimed_dropbox_items_expire_with_their_bytes() {
    let server = TestServer::start_with(&["--dropbox-ttl", "1"]).await;
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
    let picture: i64 = response.text().await.unwrap().parse().unwrap();
    assert_eq!(server.blob_keys().await.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let item = server.url(&format!("/api/dropbox/pictures/{picture}"));
    assert_eq!(
        server
            .client
            .get(&item)
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let claim = server
        .client
        .post(server.images_url())
        .bearer_auth(&server.token)
        .json(&json!({"uploadId": picture}))
        .send()
        .await
        .unwrap();
    assert_eq!(claim.status(), 404);
    let report = server
        .service()
        .sweep(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.expired_uploads_removed, 1);
    assert!(server.blob_keys().await.is_empty());
}

#[tokio::test]
async fn pingone_json_create_registers_external_targets() {
    let server = TestServer::start().await;
    // The seed's body, unchanged: width and height arrive as strings.
    let body = json!({"targets": [{
        "id": "e8ad78dd-d45c-49b4-974d-8d5e443d4531", "width": "200", "height": "200",
        "type": "png", "href": "https://i.ping.io/orgLogo/orgLogoSmall-Jfdwu930d.png"
    }]});
    let response = server
        .client
        .post(server.images_url())
        .header("Content-type", "application/json")
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let target = &created["targets"]["e8ad78dd-d45c-49b4-974d-8d5e443d4531"];
    assert_eq!(target["width"], 200);
    assert_eq!(target["height"], 200);
    assert_eq!(target["type"], "png");
    assert_eq!(
        target["href"],
        "https://i.ping.io/orgLogo/orgLogoSmall-Jfdwu930d.png"
    );
    assert_eq!(created["environment"]["id"], server.env.to_string());
    assert!(created["createdAt"].is_string());
    let read: Value = server
        .get_json(created["_links"]["self"]["href"].as_str().unwrap())
        .await;
    assert_eq!(read, created);

    let named = json!({"targets": [{"name": "smallLogo", "id": "x", "width": 10, "height": 10, "type": "PNG", "href": "https://a.example/x.png"}]});
    let response = server
        .client
        .post(server.images_url())
        .bearer_auth(&server.token)
        .json(&named)
        .send()
        .await
        .unwrap();
    let created_named: Value = response.json().await.unwrap();
    assert_eq!(created_named["targets"]["smallLogo"]["type"], "PNG");

    for bad in [
        json!({"targets": []}),
        json!({"targets": [{"id": "a", "width": "wide", "height": 1, "type": "png", "href": "https://x"}]}),
        json!({"targets": [{"id": "a", "width": 1, "height": 1, "type": "png", "href": "file:///etc/passwd"}]}),
        json!({"nothing": 1}),
    ] {
        let response = server
            .client
            .post(server.images_url())
            .bearer_auth(&server.token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    let deleted = server
        .client
        .delete(created["_links"]["self"]["href"].as_str().unwrap())
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

/// A session cookie alone is what a forged cross-site form sends, so no dialect lets it
/// change anything without the session's CSRF token (QuestionPro's uploads and deletes
/// once did); with the token, the same requests work.
#[tokio::test]
async fn questionpro_state_changes_by_session_need_the_csrf_token() {
    let server = TestServer::start().await;
    let (cookie, csrf) = session(&server).await;
    let base = server.url("/a/api/v2/users/42/images");
    let form = || Form::new().part("file", Part::bytes(corpus("avatar.gif")).file_name("a.gif"));
    let forged = server
        .client
        .post(&base)
        .header("Cookie", &cookie)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["response"]["error"]["name"], "UNAUTHORIZED", "{body}");

    let response = server
        .client
        .post(&base)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let id = body["response"]["imageID"].as_i64().unwrap();
    let one = format!("{base}/{id}");
    let forged = server
        .client
        .delete(&one)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // Reading needs no token, and shows the image is still there.
    let read = server
        .client
        .get(&one)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
}
