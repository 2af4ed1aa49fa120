//! The console over plain HTTP, without a browser: its security headers and the absence
//! of inline script and style on every page, signing in and out, CSRF and origin checks on
//! forms, an environment key kept to its environment, the operator's session, and the
//! library's filters and pages. (`console_browser` drives the same pages in Chromium.)

use imagestore::domain::Scope;
use reqwest::{Client, StatusCode, redirect};
use uuid::Uuid;

use crate::harness::{TestServer, corpus};

/// A client that shows redirects instead of following them.
fn no_redirects() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the form; returns the cookie (`name=value`).
async fn sign_in(server: &TestServer, key: &str) -> String {
    let response = no_redirects()
        .post(server.url("/console/sign-in"))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

async fn get(server: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .get(server.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    check_headers(path, response.headers());
    (status, response.text().await.unwrap())
}

fn check_headers(path: &str, headers: &reqwest::header::HeaderMap) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    for needed in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(needed), "{path}: {csp}");
    }
    for forbidden in ["unsafe-inline", "unsafe-eval", "*", "http"] {
        assert!(!csp.contains(forbidden), "{path}: {csp}");
    }
    assert_eq!(headers["x-frame-options"], "DENY", "{path}");
}

/// The page's CSRF token, from its `<meta>`.
fn csrf_of(html: &str) -> String {
    let start = html
        .find("name=\"csrf-token\" content=\"")
        .expect("a csrf meta")
        + 27;
    html[start..start + 32].to_string()
}

async fn post_form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = no_redirects().post(server.url(path)).form(fields);
    if !cookie.is_empty() {
        request = request.header("Cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    check_headers(path, response.headers());
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_page_is_locked_down_and_has_no_inline_script_or_style() {
    let server = TestServer::start().await;
    server.upload_ok("logo.png").await;
    let cookie = sign_in(&server, &server.token).await;
    let env = server.env;
    let inline_script = regex_lite::Regex::new(r"<script(?:\s[^>]*)?>[^<]").unwrap();
    let inline_handler = regex_lite::Regex::new(r"<[^>]*\son[a-z]+=").unwrap();
    for rest in [
        "",
        "/library",
        "/upload",
        "/presets",
        "/keys",
        "/upload-tokens",
        "/subjects",
        "/webhooks",
        "/audit",
    ] {
        let path = format!("/console/environments/{env}{rest}");
        let (status, html) = get(&server, &cookie, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!inline_script.is_match(&html), "{path} has inline script");
        assert!(!html.contains(" style="), "{path} has an inline style");
        assert!(
            !inline_handler.is_match(&html),
            "{path} has an inline handler"
        );
        for link in html
            .split("src=\"")
            .skip(1)
            .chain(html.split("href=\"").skip(1))
        {
            let url = &link[..link.find('"').unwrap()];
            assert!(
                !url.starts_with("http") && !url.starts_with("//"),
                "{path} links elsewhere: {url}"
            );
        }
    }
    // A wrong path or method under /console is a page too, with the same headers.
    let (status, html) = get(&server, &cookie, "/console/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let library = format!("/console/environments/{env}/library");
    let (status, html) = post_form(&server, &cookie, &library, &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // A visit of a form's action (a reloaded or bookmarked answer) goes to its page.
    for (action, page) in [
        ("/console/sign-out".to_string(), "/console".to_string()),
        (
            format!("/console/environments/{env}/keys/{env}/revoke"),
            format!("/console/environments/{env}/keys"),
        ),
        (
            format!("/console/environments/{env}/images/{env}/delete"),
            format!("/console/environments/{env}/images/{env}"),
        ),
    ] {
        let response = no_redirects()
            .get(server.url(&action))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{action}");
        assert_eq!(response.headers()["location"], page.as_str(), "{action}");
    }
    let (status, _) = get(&server, &cookie, "/console/environments/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for asset in ["/console/assets/console.css", "/console/assets/console.js"] {
        let response = no_redirects().get(server.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        check_headers(asset, response.headers());
    }
}

#[tokio::test]
async fn signing_in_refuses_bad_keys_in_words_and_throttles_guessing() {
    let server = TestServer::start_with(&["--auth-failures-per-minute", "3"]).await;
    // Refused in words beside the form (answered 200, as every refused form is, so the
    // browser logs no error for a mistyped key); each refusal counts against the address.
    for _ in 0..3 {
        let (status, html) =
            post_form(&server, "", "/console/sign-in", &[("key", "isk_wrong")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("notice error") && html.contains("not accepted"),
            "{html}"
        );
        assert!(!html.contains("csrf-token"), "no session was made");
    }
    let (status, html) =
        post_form(&server, "", "/console/sign-in", &[("key", &server.token)]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("Too many failed sign-ins"), "{html}");
    // With a cookie the edge's throttle answers first, still as a console page.
    let (status, html) = post_form(
        &server,
        "imagestore_session=x",
        "/console/sign-in",
        &[("key", &server.token)],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("<!DOCTYPE html>"), "{html}");
    // A sign-in form posted from another site is not acted on.
    let response = no_redirects()
        .post(server.url("/console/sign-in"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("key", server.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn forms_need_the_session_csrf_token_and_this_origin() {
    let server = TestServer::start().await;
    let cookie = sign_in(&server, &server.token).await;
    let keys = format!("/console/environments/{}/keys", server.env);
    let (_, html) = get(&server, &cookie, &keys).await;
    let csrf = csrf_of(&html);
    let count_keys = || async {
        let service = server.service();
        let principal = imagestore::domain::Principal::shell();
        service.keys(&principal, server.env).await.unwrap().len()
    };
    let before = count_keys().await;
    let fields = [("name", "x"), ("scopes", "images:read")];
    let (status, _) = post_form(&server, &cookie, &keys, &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    let zeros = "0".repeat(32);
    let wrong = [
        ("csrf", zeros.as_str()),
        ("name", "x"),
        ("scopes", "images:read"),
    ];
    let (status, _) = post_form(&server, &cookie, &keys, &wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong token");
    let response = no_redirects()
        .post(server.url(&keys))
        .header("Cookie", &cookie)
        .header("Origin", "https://attacker.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "x"),
            ("scopes", "images:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "another origin");
    assert_eq!(count_keys().await, before, "a refused form made a key");
    let good = [
        ("csrf", csrf.as_str()),
        ("name", "x"),
        ("scopes", "images:read"),
    ];
    let (status, html) = post_form(&server, &cookie, &keys, &good).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("new-key-token"), "the token is shown once");
    assert_eq!(count_keys().await, before + 1);
    // A bad form is refused where it was filled in, in words, with its status.
    let bad = [
        ("csrf", csrf.as_str()),
        ("name", "y"),
        ("expires_in_days", "-3"),
    ];
    let (status, html) = post_form(&server, &cookie, &keys, &bad).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("notice error") && html.contains("whole number of days"),
        "{html}"
    );
}

#[tokio::test]
async fn an_environment_key_sees_only_its_environment_and_an_operator_sees_all() {
    let server = TestServer::start().await;
    let (other, other_key) = server.other_environment().await;
    let reader = server.key(server.env, &[Scope::ImagesRead]).await;
    let cookie = sign_in(&server, &reader).await;
    let (status, _) = get(&server, &cookie, &format!("/console/environments/{other}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, html) = get(
        &server,
        &cookie,
        &format!("/console/environments/{}/keys", server.env),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("notice error"),
        "a reader is told it cannot list keys"
    );
    let (_, html) = get(&server, &cookie, "/console/environments").await;
    assert!(!html.contains(&other.to_string()) && !html.contains("Create an environment"));

    let operator = sign_in(&server, server.operator_token.as_deref().unwrap()).await;
    let (status, html) = get(&server, &operator, "/console/environments").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&other.to_string()) && html.contains(&server.env.to_string()));
    let csrf = csrf_of(&html);
    let (status, html) = post_form(
        &server,
        &operator,
        "/console/environments",
        &[("csrf", &csrf), ("name", "fresh")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Environment fresh created"), "{html}");
    let (status, _) = get(
        &server,
        &operator,
        &format!("/console/environments/{other}/library"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "an operator opens any environment");
    drop(other_key);

    // A key that may upload but not read starts on the upload page, and a page it may not
    // see says so in its frame, with the navigation and sign-out still there.
    let writer = server.key(server.env, &[Scope::ImagesWrite]).await;
    let writer = sign_in(&server, &writer).await;
    let response = no_redirects()
        .get(server.url("/console"))
        .header("Cookie", &writer)
        .send()
        .await
        .unwrap();
    let home = response.headers()["location"].to_str().unwrap();
    assert_eq!(home, format!("/console/environments/{}/upload", server.env));
    for rest in ["", "/library", "/presets", "/subjects"] {
        let (status, html) = get(
            &server,
            &writer,
            &format!("/console/environments/{}{rest}", server.env),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{rest}");
        assert!(
            html.contains("notice error") && html.contains("Sign out"),
            "{rest}: {html}"
        );
    }

    // Signing in again ends the session the browser had.
    let again = no_redirects()
        .post(server.url("/console/sign-in"))
        .header("Cookie", &writer)
        .form(&[("key", server.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let (status, _) = get(&server, &writer, "/console/environments").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the earlier session is over");

    // Signing out ends the session on the server: the cookie no longer opens anything.
    let (status, _) = post_form(&server, &operator, "/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = get(&server, &operator, "/console/environments").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "back to the sign-in page");
}

/// The tiles of a library page, as image ids in page order.
fn tiles(html: &str, env: Uuid) -> Vec<Uuid> {
    html.split(&format!("/images/{env}/"))
        .skip(1)
        .filter_map(|rest| Uuid::parse_str(rest.get(..36)?).ok())
        .fold(Vec::new(), |mut ids, id| {
            if ids.last() != Some(&id) {
                ids.push(id);
            }
            ids
        })
}

#[tokio::test]
async fn the_library_is_newest_first_filtered_and_paged() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for i in 0..65 {
        let subject = if i % 2 == 0 { "user:even" } else { "user:odd" };
        let name = if i == 64 {
            "avatar-400.jpg"
        } else {
            "logo.png"
        };
        let response = server
            .client
            .post(format!("{}?subject={subject}", server.images_url()))
            .bearer_auth(&server.token)
            .body(corpus(name))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: serde_json::Value = response.json().await.unwrap();
        ids.push(Uuid::parse_str(body["id"].as_str().unwrap()).unwrap());
    }
    let cookie = sign_in(&server, &server.token).await;
    let library = format!("/console/environments/{}/library", server.env);
    let (_, first) = get(&server, &cookie, &library).await;
    let newest: Vec<Uuid> = ids.iter().rev().take(60).copied().collect();
    assert_eq!(tiles(&first, server.env), newest);
    assert!(
        first.contains("data:image/png;base64,"),
        "ThumbHash placeholders"
    );
    assert!(first.contains("w=256"), "thumbnails are renditions");
    let older = first
        .split("href=\"")
        .find(|l| l.contains("before="))
        .unwrap();
    let older = older[..older.find('"').unwrap()].replace("&amp;", "&");
    let (_, second) = get(&server, &cookie, &older).await;
    assert_eq!(
        tiles(&second, server.env),
        ids.iter().rev().skip(60).copied().collect::<Vec<_>>()
    );

    let (_, odd) = get(&server, &cookie, &format!("{library}?subject=user%3Aodd")).await;
    let expected: Vec<Uuid> = ids
        .iter()
        .rev()
        .skip(1)
        .step_by(2)
        .take(60)
        .copied()
        .collect();
    assert_eq!(tiles(&odd, server.env), expected);
    let (_, jpegs) = get(&server, &cookie, &format!("{library}?format=jpg")).await;
    assert_eq!(tiles(&jpegs, server.env), vec![ids[64]]);
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let (_, none) = get(&server, &cookie, &format!("{library}?from={tomorrow}")).await;
    assert!(tiles(&none, server.env).is_empty());
    let (_, all_today) = get(
        &server,
        &cookie,
        &format!("{library}?from={today}&to={today}"),
    )
    .await;
    assert_eq!(tiles(&all_today, server.env).len(), 60);
    let (status, html) = get(&server, &cookie, &format!("{library}?from=yesterday")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("from must be a date"), "{html}");
}
