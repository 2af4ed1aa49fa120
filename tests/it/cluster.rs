//! Several built binaries on one deployment, as behind a load balancer: one is killed
//! (SIGKILL, no shutdown code runs) while uploads stream into both, and the survivor must
//! list and serve every image that was acknowledged, and nothing that is not whole. Also
//! an image large enough that its blob goes up as a multipart upload on S3.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{TestServer, client, corpus, get_json_as, pixels};
use crate::process::{serve, spawn_on, wait_for_port};

#[tokio::test]
async fn killing_an_instance_mid_uploads_loses_no_acknowledged_image() {
    let a = serve(&[], "warn").await;
    let (mut b, b_base) = spawn_on(&a.storage, &[], "warn");
    b.stdout = None;
    wait_for_port(b_base.trim_start_matches("http://"));
    let env = a.first_start["environment"]["id"].as_str().unwrap();
    let token = a.first_start["key"]["token"].as_str().unwrap();
    let http = client();
    let photo = corpus("photo-1920x1280.jpg");

    let uploads: Vec<_> = (0..24)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b_base };
            let request = http
                .post(format!("{base}/v1/environments/{env}/images"))
                .bearer_auth(token)
                .body(photo.clone());
            tokio::spawn(async move {
                let response = request.send().await.ok()?;
                if response.status() != 201 {
                    return None;
                }
                let body: Value = response.json().await.ok()?;
                Some(body["id"].as_str()?.to_string())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    b.kill().unwrap();
    b.wait().unwrap();
    let mut acknowledged = HashSet::new();
    for upload in uploads {
        if let Some(id) = upload.await.unwrap() {
            acknowledged.insert(id);
        }
    }

    let listed = get_json_as(
        &http,
        &format!("{}/v1/environments/{env}/images?limit=100", a.base),
        token,
    )
    .await;
    let images = listed["_embedded"]["images"].as_array().unwrap();
    let listed_ids: HashSet<String> = images
        .iter()
        .map(|image| image["id"].as_str().unwrap().to_string())
        .collect();
    eprintln!(
        "acknowledged {} of 24, listed {}",
        acknowledged.len(),
        listed_ids.len()
    );
    let lost: Vec<_> = acknowledged.difference(&listed_ids).collect();
    assert!(lost.is_empty(), "acknowledged but gone: {lost:?}");
    // Whatever is listed is whole: an image committed just before the kill, whose 201
    // never left, is a complete image too.
    let expected = pixels(&photo);
    for image in images {
        let href = image["targets"]["original"]["href"].as_str().unwrap();
        let response = http.get(href).send().await.unwrap();
        assert_eq!(response.status(), 200, "{image}");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(pixels(&bytes), expected);
    }
    let mut survivor = a.child;
    survivor.kill().unwrap();
    let _ = survivor.wait();
}

#[tokio::test]
async fn a_large_image_is_stored_in_parts_and_served_whole_and_in_ranges() {
    let server = TestServer::start_with(&["--max-upload-bytes", "30000000"]).await;
    // Noise does not compress: a 2000×1600 RGB PNG is over 9 MB, above the 8 MiB
    // multipart threshold once stored.
    let mut state = 0x2545_f491_u32;
    let noise = image::RgbImage::from_fn(2000, 1600, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut png = Vec::new();
    noise
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert!(png.len() > 9_000_000, "{}", png.len());
    let (status, body) = server.upload(png.clone(), "image/png").await;
    assert_eq!(status, 201, "{body}");
    let href = body["targets"]["original"]["href"].as_str().unwrap();
    let (status, stored) = server.get_bytes(href).await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&stored), pixels(&png));
    let range = server
        .client
        .get(href)
        .header("Range", "bytes=8388600-8388615")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.unwrap(), stored[8_388_600..8_388_616]);
}
