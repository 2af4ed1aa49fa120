//! Uploading every corpus format, raw and multipart, and reading it back.

use regex_lite::Regex;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::harness::{TestServer, corpus, pixels};

const CORPUS_FILES: [(&str, &str, u32, u32); 10] = [
    ("animated.gif", "gif", 128, 128),
    ("avatar-400.jpg", "jpg", 400, 400),
    ("avatar.gif", "gif", 200, 200),
    ("avatar.tiff", "tiff", 400, 400),
    ("exif-gps-rotated.jpg", "jpg", 400, 400),
    ("logo.png", "png", 1600, 1200),
    ("photo-1920x1280.jpg", "jpg", 1920, 1280),
    ("photo-2560x1600.jpg", "jpg", 2560, 1600),
    ("photo-3840x2160.jpg", "jpg", 3840, 2160),
    ("wallpaper.webp", "webp", 4096, 4096),
];

/// The seed's response shape, field by field.
fn assert_seed_shape(server: &TestServer, body: &Value, kind: &str, width: u32, height: u32) {
    let id = body["id"].as_str().unwrap();
    let env = server.env.to_string();
    assert_eq!(
        body["_links"]["self"]["href"],
        server.url(&format!("/v1/environments/{env}/images/{id}"))
    );
    assert_eq!(
        body["_links"]["environment"]["href"],
        server.url(&format!("/v1/environments/{env}"))
    );
    assert_eq!(body["environment"]["id"], env.as_str());
    let original = &body["targets"]["original"];
    assert_eq!(original["id"], "original");
    assert_eq!(original["type"], kind);
    assert_eq!(original["width"], width);
    assert_eq!(original["height"], height);
    assert!(
        original["href"]
            .as_str()
            .unwrap()
            .starts_with(&server.url(&format!("/images/{env}/{id}_")))
    );
    let iso = Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    assert!(
        iso.is_match(body["createdAt"].as_str().unwrap()),
        "createdAt: {}",
        body["createdAt"]
    );
}

#[tokio::test]
async fn every_corpus_file_uploads_raw_and_multipart_and_reads_back() {
    let server = TestServer::start().await;
    for (name, kind, width, height) in CORPUS_FILES {
        let original = corpus(name);
        let raw = server.upload_ok(name).await;
        assert_seed_shape(&server, &raw, kind, width, height);

        let form = Form::new().part(
            "file",
            Part::bytes(original.clone()).file_name(name.to_string()),
        );
        let response = server
            .client
            .post(server.images_url())
            .bearer_auth(&server.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{name} multipart");
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let multipart: Value = response.json().await.unwrap();
        assert_seed_shape(&server, &multipart, kind, width, height);
        assert_eq!(location, multipart["_links"]["self"]["href"]);
        assert_eq!(multipart["filename"], name);

        // Read the description back, then the bytes: same pixels as what was sent.
        let described: Value = server.get_json(&location).await;
        assert_eq!(described, multipart);
        let (status, served) = server
            .get_bytes(multipart["targets"]["original"]["href"].as_str().unwrap())
            .await;
        assert_eq!(status, 200);
        assert_eq!(served.len() as u64, multipart["size"].as_u64().unwrap());
        if name != "exif-gps-rotated.jpg" {
            assert_eq!(pixels(&served), pixels(&original), "{name}: pixels changed");
        }
    }
}

#[tokio::test]
async fn the_seed_curl_example_works_unchanged() {
    // curl --location --globoff '{{apiPath}}/environments/{{envID}}/images' \
    //   --header 'Content-Type: image/jpeg' \
    //   --header 'content-disposition: attachment; filename=userimg.jpg' \
    //   --header 'Authorization: Bearer {{accessToken}}' --data-binary '@dspanner.jpg'
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.images_url())
        .header("Content-Type", "image/jpeg")
        .header("content-disposition", "attachment; filename=userimg.jpg")
        .header("Authorization", format!("Bearer {}", server.token))
        .body(corpus("avatar-400.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_seed_shape(&server, &body, "jpg", 400, 400);
    assert_eq!(body["filename"], "userimg.jpg");
}

#[tokio::test]
async fn content_decides_the_type_not_the_client() {
    let server = TestServer::start().await;
    let (status, body) = server.upload(corpus("logo.png"), "image/jpeg").await;
    assert_eq!(status, 201);
    assert_eq!(body["targets"]["original"]["type"], "png");
    let href = body["targets"]["original"]["href"].as_str().unwrap();
    assert!(href.ends_with(".png"));
    let response = server.client.get(href).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "image/png");
}

#[tokio::test]
async fn gps_and_camera_metadata_are_stripped_and_orientation_is_kept() {
    let server = TestServer::start().await;
    let body = server.upload_ok("exif-gps-rotated.jpg").await;
    let (_, served) = server
        .get_bytes(body["targets"]["original"]["href"].as_str().unwrap())
        .await;
    let contains = |needle: &[u8]| served.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"Canon"), "camera model left in the stored bytes");
    assert!(
        !contains(b"TestCam"),
        "camera make left in the stored bytes"
    );
    assert!(
        !contains(b"2008:04:20"),
        "capture date left in the stored bytes"
    );
    // The GPS IFD pointer tag (0x8825) is gone in either byte order.
    assert!(
        !contains(&[0x25, 0x88]) && !contains(&[0x88, 0x25]),
        "GPS IFD pointer left"
    );
    // Orientation survives, so browsers still show the picture the right way round.
    let decoder = image::ImageReader::new(std::io::Cursor::new(&served))
        .with_guessed_format()
        .unwrap();
    let mut decoder = decoder.into_decoder().unwrap();
    use image::ImageDecoder;
    assert_eq!(
        decoder.orientation().unwrap(),
        image::metadata::Orientation::Rotate90
    );
}

#[tokio::test]
async fn width_and_height_are_reported_as_displayed() {
    // photo-1920x1280.jpg carries Orientation=1; turn it into 6 (rotate 90°) in place.
    let mut bytes = corpus("photo-1920x1280.jpg");
    let tag = [0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00];
    let at = bytes
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("orientation tag (LE)");
    bytes[at + 8] = 6;
    let server = TestServer::start().await;
    let (status, body) = server.upload(bytes, "image/jpeg").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["targets"]["original"]["width"], 1280);
    assert_eq!(body["targets"]["original"]["height"], 1920);
}

#[tokio::test]
async fn subjects_come_from_the_query_or_a_form_field() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(format!("{}?subject=user:42", server.images_url()))
        .bearer_auth(&server.token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["subject"], "user:42");

    let form = Form::new().text("subject", "person:7").part(
        "picture",
        Part::bytes(corpus("avatar.gif")).file_name("a.gif"),
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
    assert_eq!(body["subject"], "person:7");

    let response = server
        .client
        .post(format!("{}?subject=not%20a%20subject", server.images_url()))
        .bearer_auth(&server.token)
        .body(corpus("avatar.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["details"][0]["target"], "subject");
}
