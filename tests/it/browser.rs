//! A real browser for the console's tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver, by fantoccini). Every check a test asks of a page also reads
//! the browser's own logs: a console error logged by any page, or any request made to
//! another origin (from the DevTools network events in the performance log), fails the
//! test.
//!
//! Where chromedriver is not installed the browser tests say so and pass, unless
//! `IMAGESTORE_REQUIRE_BROWSER` is set, as `.ci/run` sets it after installing Chromium:
//! there a missing browser fails the run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// The chromedriver and browser of one test; both end when it is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Only this origin may be asked for anything.
    origin: String,
    /// Requests seen so far, for the report and the resource checks.
    pub requests: Vec<String>,
}

fn chromedriver() -> Option<PathBuf> {
    let candidates = [
        std::env::var("CHROMEDRIVER").ok().map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromedriver")),
    ];
    candidates.into_iter().flatten().find(|path| path.exists())
}

/// Where the suite writes screenshots and its measurements: `target/console/`.
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A ChromeDriver command fantoccini has no method for: `POST /session/{id}/{path}` with
/// a JSON body. Used for its log endpoint (`se/log`, entries drained as they are read)
/// and its passage to the DevTools protocol (`goog/cdp/execute`), for what WebDriver
/// cannot ask: the colour scheme the page sees.
#[derive(Debug)]
struct DriverCommand(&'static str, Value);

impl WebDriverCompatibleCommand for DriverCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.1.to_string()))
    }
}

fn get_log(kind: &str) -> DriverCommand {
    DriverCommand("se/log", json!({ "type": kind }))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of 1280×900, or None (with a
    /// note) where there is no chromedriver and none is required.
    pub async fn start(origin: &str) -> Option<Browser> {
        let Some(driver_path) = chromedriver() else {
            assert!(
                std::env::var_os("IMAGESTORE_REQUIRE_BROWSER").is_none(),
                "IMAGESTORE_REQUIRE_BROWSER is set but chromedriver is not installed"
            );
            eprintln!("skipped: no chromedriver (install Debian's chromium and chromium-driver)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--no-first-run",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps"] }),
        );
        capabilities.insert(
            "goog:loggingPrefs".into(),
            json!({ "browser": "ALL", "performance": "ALL" }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match Client::with_capabilities_and_connector(&webdriver, &capabilities, connector)
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("no WebDriver session: {error}"),
            }
        };
        Some(Browser {
            client,
            driver,
            origin: origin.trim_end_matches('/').to_string(),
            requests: Vec::new(),
        })
    }

    /// Fails on any console error logged since the last check and on any request made to
    /// another origin; keeps the requests seen.
    pub async fn check_logs(&mut self, context: &str) {
        let logged = self.client.issue_cmd(get_log("browser")).await.unwrap();
        for entry in logged.as_array().into_iter().flatten() {
            let level = entry["level"].as_str().unwrap_or_default();
            assert!(
                level != "SEVERE",
                "{context}: the page logged an error: {}",
                entry["message"]
            );
        }
        let network = self.client.issue_cmd(get_log("performance")).await.unwrap();
        for entry in network.as_array().into_iter().flatten() {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            if event["message"]["method"] != "Network.requestWillBeSent" {
                continue;
            }
            let url = event["message"]["params"]["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let same_origin = url == self.origin || url.starts_with(&format!("{}/", self.origin));
            assert!(
                same_origin || url.starts_with("data:") || url.starts_with("blob:"),
                "{context}: a request left the origin {}: {url}",
                self.origin
            );
            self.requests.push(url);
        }
    }

    pub async fn goto(&mut self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.origin))
            .await
            .unwrap();
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Clicks what `css` finds and waits for the page it leads to (a form's answer or a
    /// link's target) to be loaded: the old page is marked first, so an element of it is
    /// never mistaken for one of the new page.
    pub async fn click_to_next_page(&self, css: &str) {
        self.script("window.__leaving = true; return null;").await;
        self.find(css).await.click().await.unwrap();
        self.wait_until("window.__leaving === undefined && document.readyState === 'complete'")
            .await;
    }

    /// Waits until the script `condition` (an expression) is true on the page.
    pub async fn wait_until(&self, condition: &str) {
        let started = Instant::now();
        loop {
            let value = self
                .client
                .execute(&format!("return Boolean({condition});"), vec![])
                .await
                .unwrap();
            if value == Value::Bool(true) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out waiting for {condition}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn script(&self, body: &str) -> Value {
        self.client.execute(body, vec![]).await.unwrap()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// Screenshots of the current page at 375 and 1280 pixels wide, in the light and the
    /// dark scheme, as `target/console/{name}-375.png`, `…-1280.png`, `…-375-dark.png`
    /// and `…-1280-dark.png`.
    pub async fn screenshots(&mut self, name: &str) {
        for dark in [false, true] {
            let scheme = if dark { "dark" } else { "light" };
            let features =
                json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] });
            self.client
                .issue_cmd(DriverCommand(
                    "goog/cdp/execute",
                    json!({ "cmd": "Emulation.setEmulatedMedia", "params": features }),
                ))
                .await
                .unwrap();
            for (width, height) in [(375, 812), (1280, 900)] {
                self.client.set_window_size(width, height).await.unwrap();
                // A resize lays the page out again; let it settle before the picture.
                tokio::time::sleep(Duration::from_millis(150)).await;
                // Nothing may need sideways scrolling, at either width.
                let overflow = self
                    .script(
                        "const e = document.documentElement; return e.scrollWidth - e.clientWidth;",
                    )
                    .await;
                assert!(
                    overflow.as_i64() == Some(0),
                    "{name} at {width} pixels scrolls sideways by {overflow}"
                );
                let png = self.client.screenshot().await.unwrap();
                let suffix = if dark { "-dark" } else { "" };
                let file = output_dir().join(format!("{name}-{width}{suffix}.png"));
                std::fs::write(file, png).unwrap();
            }
        }
        self.check_logs(name).await;
    }
}

impl Browser {
    /// Ends the WebDriver session (closing Chromium), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
