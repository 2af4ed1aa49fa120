//! Renditions as a web page asks for them: sizes, formats, Accept, presets, signed and
//! unsigned links, anonymous and authenticated; every answer checked by decoding it.

use serde_json::{Value, json};

use crate::harness::{TestServer, assert_error_shape, corpus, pixels};

fn href(image: &Value) -> String {
    image["targets"]["original"]["href"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GETs with the admin key; returns status, headers and bytes.
async fn fetch(
    server: &TestServer,
    url: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = server.client.get(url).bearer_auth(&server.token);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn format_of(bytes: &[u8]) -> image::ImageFormat {
    image::guess_format(bytes).unwrap()
}

#[tokio::test]
async fn sizes_and_formats_on_request() {
    let server = TestServer::start().await;
    let image = server.upload_ok("photo-2560x1600.jpg").await;
    let base = href(&image);
    for (query, format, width, height) in [
        ("w=256", image::ImageFormat::Jpeg, 256, 160),
        ("w=256&format=webp", image::ImageFormat::WebP, 256, 160),
        ("w=64&format=avif", image::ImageFormat::Avif, 64, 40),
        (
            "w=200&h=200&fit=cover&format=png",
            image::ImageFormat::Png,
            200,
            200,
        ),
        (
            "w=200&h=200&fit=contain",
            image::ImageFormat::Jpeg,
            200,
            200,
        ),
        ("w=200&h=200&fit=fill", image::ImageFormat::Jpeg, 200, 200),
        ("w=200&h=200", image::ImageFormat::Jpeg, 200, 125),
        ("w=100&dpr=2", image::ImageFormat::Jpeg, 200, 125),
        ("crop=0,0,800,800&w=100", image::ImageFormat::Jpeg, 100, 100),
        ("w=9000", image::ImageFormat::Jpeg, 2560, 1600),
    ] {
        let (status, headers, bytes) = fetch(&server, &format!("{base}?{query}"), None).await;
        assert_eq!(status, 200, "{query}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(format_of(&bytes), format, "{query}");
        if format != image::ImageFormat::Avif {
            assert_eq!(pixels(&bytes).dimensions(), (width, height), "{query}");
        }
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("sandbox")
        );
    }
    let (status, _, bytes) = fetch(&server, &format!("{base}?w=3000&upscale=true"), None).await;
    assert_eq!(status, 200);
    assert_eq!(pixels(&bytes).dimensions(), (3000, 1875));
}

#[tokio::test]
async fn format_auto_follows_accept_and_varies_on_it() {
    let server = TestServer::start().await;
    let image = server.upload_ok("logo.png").await;
    let url = format!("{}?w=100&format=auto", href(&image));
    for (accept, format) in [
        (Some("image/avif,image/webp,*/*"), image::ImageFormat::Avif),
        (Some("image/webp,*/*"), image::ImageFormat::WebP),
        (Some("*/*"), image::ImageFormat::Png),
        (None, image::ImageFormat::Png),
    ] {
        let (status, headers, bytes) = fetch(&server, &url, accept).await;
        assert_eq!(status, 200);
        assert_eq!(format_of(&bytes), format, "{accept:?}");
        assert_eq!(headers["vary"], "Accept");
    }
}

#[tokio::test]
async fn bad_parameters_are_400s_naming_the_parameter() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar-400.jpg").await;
    for (query, target) in [
        ("w=abc", "w"),
        ("h=0", "h"),
        ("fit=squash", "fit"),
        ("format=bmp", "format"),
        ("q=101", "q"),
        ("crop=1,2", "crop"),
        ("dpr=10", "dpr"),
        ("zoom=3", "query"),
    ] {
        let (status, _, body) = fetch(&server, &format!("{}?{query}", href(&image)), None).await;
        assert_eq!(status, 400, "{query}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_error_shape(&body);
        assert_eq!(body["details"][0]["target"], target, "{query}: {body}");
    }
    for query in ["crop=300,300,200,200", "w=5000&upscale=true"] {
        let (status, _, body) = fetch(&server, &format!("{}?{query}", href(&image)), None).await;
        assert_eq!(status, 400, "{query}: {}", String::from_utf8_lossy(&body));
    }
}

#[tokio::test]
async fn anonymous_requests_need_a_preset_or_a_signature() {
    let server = TestServer::start().await;
    let image = server.upload_ok("avatar-400.jpg").await;
    let id = image["id"].as_str().unwrap();
    let unsigned = format!("{}?w=100", href(&image));
    let response = server.client.get(&unsigned).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        assert_error_shape(&response.json().await.unwrap()),
        "ACCESS_FAILED"
    );

    let sign = |body: Value| {
        let request = server
            .client
            .post(server.url(&format!("/v1/environments/{}/signed-urls", server.env)))
            .bearer_auth(&server.token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["href"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let signed = sign(json!({"imageId": id, "w": 100, "format": "webp"})).await;
    let response = server.client.get(&signed).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(format_of(&bytes), image::ImageFormat::WebP);
    assert_eq!(pixels(&bytes).width(), 100);

    // Tampering with any parameter, or the path, breaks the signature.
    for tampered in [
        signed.replace("w=100", "w=101"),
        signed.replace("format=webp", "format=png"),
        format!("{signed}&h=50"),
        signed.replace("sig=", "sig=00"),
    ] {
        assert_eq!(
            server.client.get(&tampered).send().await.unwrap().status(),
            403,
            "{tampered}"
        );
    }
    // Expired links stop working.
    let expiring = sign(json!({"imageId": id, "w": 50, "expiresIn": 1})).await;
    assert_eq!(
        server.client.get(&expiring).send().await.unwrap().status(),
        200
    );
    let exp: i64 = expiring
        .split("exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let expired = expiring.replace(&format!("exp={exp}"), &format!("exp={}", exp - 10));
    assert_eq!(
        server.client.get(&expired).send().await.unwrap().status(),
        403
    );

    // Rotation: a new secret signs new URLs; old URLs keep working until their secret goes.
    let secrets_url = server.url(&format!("/v1/environments/{}/signing-secrets", server.env));
    let listed: Value = server.get_json(&secrets_url).await;
    let old = listed["signingSecrets"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        listed["signingSecrets"][0].get("secret").is_none(),
        "secret values must not be listed"
    );
    let created = server
        .client
        .post(&secrets_url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let newer = sign(json!({"imageId": id, "w": 60})).await;
    assert_eq!(
        server.client.get(&signed).send().await.unwrap().status(),
        200
    );
    let removed = server
        .client
        .delete(format!("{secrets_url}/{old}"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(
        server.client.get(&signed).send().await.unwrap().status(),
        403
    );
    assert_eq!(
        server.client.get(&newer).send().await.unwrap().status(),
        200
    );

    // Signing needs a credential of the image's environment, and valid parameters.
    let (_, intruder) = server.other_environment().await;
    let response = server
        .client
        .post(server.url(&format!("/v1/environments/{}/signed-urls", server.env)))
        .bearer_auth(&intruder)
        .json(&json!({"imageId": id, "w": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = server
        .client
        .post(server.url(&format!("/v1/environments/{}/signed-urls", server.env)))
        .bearer_auth(&server.token)
        .json(&json!({"imageId": id, "fit": "squash"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Another environment's credential does not unlock transforms either.
    let response = server
        .client
        .get(&unsigned)
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn presets_appear_as_targets_and_serve_anonymously() {
    let server = TestServer::start().await;
    let presets = server.url(&format!("/v1/environments/{}/presets", server.env));
    let response = server
        .client
        .put(format!("{presets}/smallLogo"))
        .bearer_auth(&server.token)
        .json(&json!({"width": 200, "height": 200, "fit": "contain", "format": "png"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = server
        .client
        .put(format!("{presets}/thumbnail"))
        .bearer_auth(&server.token)
        .json(&json!({"width": 64, "eager": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed: Value = server.get_json(&presets).await;
    let names: Vec<&str> = listed["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["smallLogo", "thumbnail"]);

    let image = server.upload_ok("logo.png").await;
    // The eager preset was rendered at upload: original + one variant on disk.
    assert_eq!(server.blob_keys().await.len(), 2);
    let small = &image["targets"]["smallLogo"];
    assert_eq!(
        (
            small["width"].as_u64(),
            small["height"].as_u64(),
            small["type"].as_str()
        ),
        (Some(200), Some(200), Some("png"))
    );
    let thumb = &image["targets"]["thumbnail"];
    assert_eq!(
        (thumb["width"].as_u64(), thumb["height"].as_u64()),
        (Some(64), Some(48))
    );

    for target in [small, thumb] {
        let url = target["href"].as_str().unwrap();
        let response = server.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let bytes = response.bytes().await.unwrap();
        let decoded = pixels(&bytes);
        assert_eq!(
            u64::from(decoded.width()),
            target["width"].as_u64().unwrap()
        );
        assert_eq!(
            u64::from(decoded.height()),
            target["height"].as_u64().unwrap()
        );
        // A preset href takes no parameters.
        let response = server
            .client
            .get(format!("{url}?w=10"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    // Contain pads a transparent logo with transparency in PNG.
    let (_, _, bytes) = fetch(&server, small["href"].as_str().unwrap(), None).await;
    assert_eq!(
        pixels(&bytes).get_pixel(100, 2)[3],
        0,
        "padding should be transparent"
    );

    let missing = small["href"]
        .as_str()
        .unwrap()
        .replace("_smallLogo.", "_bigLogo.");
    assert_eq!(
        server.client.get(&missing).send().await.unwrap().status(),
        404
    );
    let bad = server
        .client
        .put(format!("{presets}/original"))
        .bearer_auth(&server.token)
        .json(&json!({"width": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = server
        .client
        .put(format!("{presets}/x"))
        .bearer_auth(&server.token)
        .json(&json!({"width": 10, "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let gone = server
        .client
        .delete(format!("{presets}/smallLogo"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let described: Value = server
        .get_json(image["_links"]["self"]["href"].as_str().unwrap())
        .await;
    assert!(described["targets"].get("smallLogo").is_none());
}

#[tokio::test]
async fn pixels_are_right_orientation_alpha_and_no_gps() {
    let server = TestServer::start().await;
    // Orientation 6 on a landscape photo: renditions come out portrait.
    let mut rotated = corpus("photo-1920x1280.jpg");
    let tag = [0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00];
    let at = rotated.windows(tag.len()).position(|w| w == tag).unwrap();
    rotated[at + 8] = 6;
    let (_, image) = server.upload(rotated, "image/jpeg").await;
    let (_, _, bytes) = fetch(&server, &format!("{}?w=100", href(&image)), None).await;
    assert_eq!(pixels(&bytes).dimensions(), (100, 150));

    let logo = server.upload_ok("logo.png").await;
    for format in ["webp", "png"] {
        let (_, _, bytes) = fetch(
            &server,
            &format!("{}?w=200&format={format}", href(&logo)),
            None,
        )
        .await;
        assert!(
            pixels(&bytes).pixels().any(|p| p[3] < 255),
            "{format} lost alpha"
        );
    }
    let (_, _, bytes) = fetch(
        &server,
        &format!("{}?w=200&format=jpg&bg=ff0000", href(&logo)),
        None,
    )
    .await;
    let flat = pixels(&bytes);
    assert!(flat.pixels().all(|p| p[3] == 255));

    let gps = server.upload_ok("exif-gps-rotated.jpg").await;
    for format in ["jpg", "webp", "png"] {
        let (_, _, bytes) = fetch(
            &server,
            &format!("{}?w=100&format={format}", href(&gps)),
            None,
        )
        .await;
        for needle in [&b"Canon"[..], b"TestCam", b"GPS"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{format} carries metadata"
            );
        }
    }
}

#[tokio::test]
async fn variants_are_made_once_served_like_originals_and_removed_with_their_image() {
    let server = TestServer::start().await;
    let image = server.upload_ok("photo-2560x1600.jpg").await;
    let url = format!("{}?w=300&format=webp", href(&image));
    let requests = (0..100).map(|_| fetch(&server, &url, None));
    let answers = futures_util::future::join_all(requests).await;
    let first = &answers[0];
    for (status, headers, bytes) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(headers["etag"], first.1["etag"]);
        assert_eq!(bytes, &first.2);
    }
    assert_eq!(
        server.blob_keys().await.len(),
        2,
        "one original and exactly one variant"
    );

    let etag = first.1["etag"].to_str().unwrap();
    let again = server
        .client
        .get(&url)
        .bearer_auth(&server.token)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let part = server
        .client
        .get(&url)
        .bearer_auth(&server.token)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &first.2[..10]);

    let placeholder = &image["placeholder"];
    assert!(
        placeholder["thumbhash"]
            .as_str()
            .is_some_and(|t| t.len() > 10),
        "{image}"
    );
    let colour = placeholder["dominantColor"].as_str().unwrap();
    assert!(colour.len() == 7 && colour.starts_with('#'), "{colour}");

    let deleted = server
        .client
        .delete(image["_links"]["self"]["href"].as_str().unwrap())
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(
        server.blob_keys().await.is_empty(),
        "variants outlived their image"
    );
}

#[tokio::test]
async fn rendering_beyond_the_queue_answers_503_with_retry_after() {
    let server = TestServer::start_with(&["--workers", "1", "--queue", "0"]).await;
    let image = server.upload_ok("photo-3840x2160.jpg").await;
    let urls: Vec<String> = (0..8)
        .map(|i| format!("{}?w={}", href(&image), 300 + i))
        .collect();
    let answers =
        futures_util::future::join_all(urls.iter().map(|url| fetch(&server, url, None))).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == 503)
        .collect();
    assert!(!busy.is_empty(), "no request was refused");
    for (_, headers, _) in busy {
        assert!(headers.contains_key("retry-after"));
    }
    assert!(
        answers
            .iter()
            .all(|(status, _, _)| *status == 200 || *status == 503)
    );
}
