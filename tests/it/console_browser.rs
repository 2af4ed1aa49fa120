//! The console in a real browser (see `browser`): the journey the issue names, from
//! signing in to finding the console closed after signing out, with screenshots of every
//! page at 375 and 1280 pixels under `target/console/`; and the library of an environment
//! of 10,000 images, timed with the browser's Performance API and written to
//! `target/console/library-10000.json` (reported, not asserted).

use std::time::Duration;

use fantoccini::Locator;
use futures_util::StreamExt;
use reqwest::StatusCode;

use crate::browser::{Browser, output_dir};
use crate::harness::{TestServer, corpus, pixels};

async fn sign_in(browser: &mut Browser, key: &str) {
    browser.goto("/console/sign-in").await;
    browser.find("#key").await.send_keys(key).await.unwrap();
    browser.click_to_next_page("form button[type=submit]").await;
}

/// Every image the page asked for under `/images/` was a rendition (a `w=` query), never
/// an original.
fn no_originals(requests: &[String]) {
    for url in requests.iter().filter(|u| u.contains("/images/")) {
        assert!(url.contains("w="), "an original was loaded: {url}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_journey_in_a_browser() {
    let server = TestServer::start().await;
    // Browsed as `localhost`, while the server's default public URL says 127.0.0.1: every
    // URL the pages show or ask for must still be of the origin the browser is on.
    let origin = server.base.replace("127.0.0.1", "localhost");
    let Some(mut browser) = Browser::start(&origin).await else {
        return;
    };
    let env = server.env;
    let page = |rest: &str| format!("/console/environments/{env}{rest}");

    // Signed out, every page sends the browser to the sign-in page.
    browser.goto(&page("/library")).await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser.screenshots("sign-in").await;

    // A wrong key is refused in words, where it was typed.
    sign_in(&mut browser, "isk_not_a_key").await;
    let refusal = browser.find(".notice.error").await.text().await.unwrap();
    assert!(refusal.contains("not accepted"), "{refusal}");
    browser.check_logs("a refused sign-in").await;

    sign_in(&mut browser, &server.token).await;
    assert_eq!(browser.path().await, page(""));
    browser.screenshots("overview").await;

    // Two files through the file input, each with its own outcome.
    let dir = tempfile::tempdir().unwrap();
    let files = ["avatar-400.jpg", "logo.png"].map(|name| {
        let path = dir.path().join(name);
        std::fs::write(&path, corpus(name)).unwrap();
        path.display().to_string()
    });
    browser.goto(&page("/upload")).await;
    browser
        .find("#files")
        .await
        .send_keys(&files.join("\n"))
        .await
        .unwrap();
    browser
        .find("#subject")
        .await
        .send_keys("user:browser")
        .await
        .unwrap();
    browser
        .find("#upload-form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_until("document.querySelectorAll('#upload-results .stored').length === 2")
        .await;
    browser.screenshots("upload").await;

    // Both in the grid, painted from thumbnails, never originals.
    browser.goto(&page("/library")).await;
    let tiles = browser
        .client
        .find_all(Locator::Css(".grid li a"))
        .await
        .unwrap();
    assert_eq!(tiles.len(), 2);
    browser
        .wait_until("[...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)")
        .await;
    browser.screenshots("library").await;
    no_originals(&browser.requests);

    // Open one; make a signed 200-pixel WebP URL; it loads, in the page and without a
    // credential.
    browser.click_to_next_page(".grid li a").await;
    browser.screenshots("image").await;
    let width = browser.find("input[name=width]").await;
    width.clear().await.unwrap();
    width.send_keys("200").await.unwrap();
    browser
        .find("select[name=format]")
        .await
        .select_by_value("webp")
        .await
        .unwrap();
    browser
        .click_to_next_page("form[action$='#signed-url'] button")
        .await;
    browser
        .wait_until("document.getElementById('signed-preview').complete && document.getElementById('signed-preview').naturalWidth === 200")
        .await;
    browser
        .wait_until("document.getElementById('signed-check').className === 'stored'")
        .await;
    let checked = browser.find("#signed-check").await.text().await.unwrap();
    assert!(
        checked.contains("without a session: 200, image/webp"),
        "{checked}"
    );
    let signed_url = browser
        .find("#signed-href")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let response = reqwest::get(&signed_url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{signed_url}");
    assert_eq!(response.headers()["content-type"], "image/webp");
    assert_eq!(pixels(&response.bytes().await.unwrap()).width(), 200);
    browser.screenshots("image-signed").await;

    // A key made, shown once, working; then revoked and refused.
    browser.goto(&page("/keys")).await;
    browser
        .find("#key-name")
        .await
        .send_keys("browser-made")
        .await
        .unwrap();
    browser
        .click_to_next_page("form[action$='/keys'] button[type=submit]")
        .await;
    let token = browser
        .find("#new-key-token")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let images = server.images_url();
    let with_new_key = |token: String| {
        let images = images.clone();
        async move {
            let client = reqwest::Client::new();
            client
                .get(&images)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(with_new_key(token.clone()).await, StatusCode::OK);
    browser.screenshots("keys-created").await;
    browser
        .click_to_next_page("button[aria-label='Revoke key browser-made']")
        .await;
    let notice = browser.find(".notice.ok").await.text().await.unwrap();
    assert!(notice.contains("revoked"), "{notice}");
    assert_eq!(with_new_key(token).await, StatusCode::UNAUTHORIZED);
    browser.screenshots("keys").await;

    // Every other page renders, at both widths, without an error.
    for (name, rest) in [
        ("presets", "/presets"),
        ("upload-tokens", "/upload-tokens"),
        ("subjects", "/subjects"),
        ("subject", "/subjects/user%3Abrowser"),
        ("webhooks", "/webhooks"),
        ("audit", "/audit"),
    ] {
        browser.goto(&page(rest)).await;
        browser.find("main h1").await;
        browser.screenshots(name).await;
    }

    // Sign out; the session is over on the server, and the console is closed.
    let cookie = browser
        .client
        .get_named_cookie("imagestore_session")
        .await
        .unwrap();
    browser.goto(&page("")).await;
    browser.click_to_next_page("header form button").await;
    let said = browser.find(".notice.ok").await.text().await.unwrap();
    assert!(said.contains("signed out"), "{said}");
    browser.goto(&page("/library")).await;
    assert_eq!(browser.path().await, "/console/sign-in");
    let reused = reqwest::Client::new()
        .get(server.url("/v1/sessions/current"))
        .header("Cookie", format!("imagestore_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);

    // The operator's page: environments listed and made.
    sign_in(&mut browser, server.operator_token.as_deref().unwrap()).await;
    assert_eq!(browser.path().await, "/console/environments");
    browser
        .find("#environment-name")
        .await
        .send_keys("made-in-browser")
        .await
        .unwrap();
    browser
        .click_to_next_page("form[action='/console/environments'] button")
        .await;
    let listed = browser.find("table").await.text().await.unwrap();
    assert!(listed.contains("made-in-browser"), "{listed}");
    browser.screenshots("environments").await;
    browser.check_logs("the end").await;
    browser.close().await;
}

/// Uploads `count` small images, four at a time, through the API.
async fn fill(server: &TestServer, count: usize) {
    let image = corpus("logo.png");
    let client = reqwest::Client::new();
    let uploads = futures_util::stream::iter(0..count).map(|i| {
        let (client, image, url, token) = (
            client.clone(),
            image.clone(),
            server.images_url(),
            server.token.clone(),
        );
        async move {
            let response = client
                .post(format!("{url}?subject=user:{}", i % 500))
                .bearer_auth(token)
                .header("Content-Type", "image/png")
                .body(image)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    });
    uploads.for_each_concurrent(4, |upload| upload).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_of_10000_images_in_a_browser() {
    // Seeded through the API on the embedded default only: the PostgreSQL + S3 pass
    // would spend minutes on the seed and measure the network, not the page.
    if std::env::var_os("IMAGESTORE_TEST_CATALOG").is_some() {
        return;
    }
    let server = TestServer::start().await;
    let Some(mut browser) = Browser::start(&server.base).await else {
        return;
    };
    let count: usize = std::env::var("IMAGESTORE_CONSOLE_IMAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    fill(&server, count).await;
    sign_in(&mut browser, &server.token).await;
    let library = format!("/console/environments/{}/library", server.env);
    let mut runs = Vec::new();
    for _ in 0..3 {
        browser.goto(&library).await;
        browser.find(".grid").await;
        let timing = browser
            .script(
                "const n = performance.getEntriesByType('navigation')[0];
                 return { responseEnd: n.responseEnd, domInteractive: n.domInteractive,
                          domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd,
                          transferSize: n.transferSize, tiles: document.querySelectorAll('.grid li').length };",
            )
            .await;
        runs.push(timing);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.check_logs("the library of many").await;
    no_originals(&browser.requests);
    browser.screenshots("library-10000").await;
    let report = serde_json::json!({ "images": count, "runs": runs });
    std::fs::write(
        output_dir().join("library-10000.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("library of {count} images: {report}");
    for run in &runs {
        assert_eq!(run["tiles"], 60, "a page of 60 tiles");
    }
    browser.close().await;
}
