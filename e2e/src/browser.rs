//! A real headless browser for tests of web pages: Debian's chromium driven by its
//! chromedriver over the W3C WebDriver protocol (HTTP and JSON, spoken here with reqwest).
//! A missing chromium or chromedriver fails the test with the packages to install.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: [&str; 2] = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A chromedriver process and one headless chromium session.
pub struct Browser {
    driver: Child,
    port: u16,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: crate::TempDir,
}

impl Browser {
    /// Starts chromedriver on a port of its choosing and a headless chromium session.
    pub async fn start() -> Self {
        let missing =
            "needs Debian's chromium and chromedriver: apt-get install chromium chromium-driver";
        let chromium =
            first_existing(&CHROMIUM).unwrap_or_else(|| panic!("no chromium: {missing}"));
        let chromedriver =
            first_existing(&CHROMEDRIVER).unwrap_or_else(|| panic!("no chromedriver: {missing}"));
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let port = started_port(&mut driver);
        let base = format!("http://127.0.0.1:{port}");
        let profile = crate::TempDir::new("chromium-profile");
        let client = reqwest::Client::new();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", format!("--user-data-dir={}", profile.0.display())],
            },
        }}});
        let created = post(&client, &format!("{base}/session"), &capabilities).await;
        let session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Self {
            driver,
            port,
            base: format!("{base}/session/{session}"),
            session,
            client,
            _profile: profile,
        }
    }

    async fn command(&self, path: &str, body: &Value) -> Value {
        post(&self.client, &format!("{}{path}", self.base), body).await
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.command("/url", &json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its result.
    pub async fn run(&self, script: &str, args: &[Value]) -> Value {
        self.command("/execute/sync", &json!({ "script": script, "args": args }))
            .await
    }

    /// Waits until `css` matches an element; its WebDriver reference.
    pub async fn wait_for(&self, css: &str, limit: Duration) -> Value {
        crate::poll_for(&format!("an element {css}"), limit, || async {
            let found = self
                .client
                .post(format!("{}/element", self.base))
                .json(&json!({ "using": "css selector", "value": css }))
                .send()
                .await
                .ok()?;
            if !found.status().is_success() {
                return None;
            }
            let value: Value = found.json().await.ok()?;
            Some(value["value"].clone())
        })
        .await
    }

    /// Clicks the element `css` names (waiting for it).
    pub async fn click(&self, css: &str, limit: Duration) {
        let element = self.wait_for(css, limit).await;
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element reference")
            .to_owned();
        self.command(&format!("/element/{id}/click"), &json!({}))
            .await;
    }

    /// A PNG of the page, written to `path` (folders created).
    pub async fn screenshot(&self, path: &Path) {
        let shot = self
            .client
            .get(format!("{}/screenshot", self.base))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().expect("a screenshot"))
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    pub fn session(&self) -> &str {
        &self.session
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session stops chromium; then the driver.
        let _ = delete_session(self.port, &self.session);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}`, synchronously (from `drop`).
fn delete_session(port: u16, session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map(drop)
}

/// The port from chromedriver's "started successfully on port N" line.
fn started_port(driver: &mut Child) -> u16 {
    let stdout = driver.stdout.take().expect("chromedriver's stdout");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            return rest
                .trim_end_matches('.')
                .trim()
                .parse()
                .expect("chromedriver's port");
        }
    }
    panic!("chromedriver did not say its port");
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let response = client.post(url).json(body).send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap();
    assert!(status.is_success(), "WebDriver {url}: {status} {value}");
    value["value"].clone()
}
