//! The harness: one headless Chromium per test, driven through its own chromedriver, with helpers
//! that find things the way a person (or a screen reader) does: fields by their label, buttons and
//! links by their text.
//!
//! Every wait polls with a timeout; a helper that cannot do what it was asked panics with what the
//! page shows instead, so a failing test says why.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::elements::{Element, ElementRef};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::TestApp;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a wait polls before it gives up.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
/// The W3C key under which WebDriver returns an element from a script.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const AXE: &str = include_str!("vendor/axe.min.js");

/// A headless Chromium with a fresh profile. Dropping it ends chromedriver and the browser.
pub struct Browser {
    client: Client,
    // Declared after the client: dropped after it.
    _driver: Chromedriver,
    _profile: TempDir,
}

impl Browser {
    /// A desktop window of 1280×900.
    pub async fn desktop() -> Browser {
        Browser::start(1280, 900, None).await
    }

    /// A phone: a 390×844 viewport at twice the pixel density, with touch, as Chromium's device
    /// emulation does it (media queries and `pointer: coarse` see a phone).
    pub async fn phone() -> Browser {
        let emulation = json!({
            "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "mobile": true, "touch": true}
        });
        Browser::start(390, 844, Some(emulation)).await
    }

    async fn start(width: u32, height: u32, mobile_emulation: Option<Value>) -> Browser {
        let mut driver = Chromedriver::start();
        let profile = tempfile::tempdir().expect("a temporary directory for the browser profile");
        // The flags this machine's Chromium needs: as root it runs without the sandbox, and with
        // no network outside loopback it must not try to phone home (it would fail at every start).
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--lang=ja",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={width},{height}"),
            ],
        });
        if let Some(emulation) = mobile_emulation {
            options["mobileEmulation"] = emulation;
        }
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("Chromium starts through chromedriver: {e}"));
        driver.session = client.session_id().await.ok().flatten();
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// The WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `path` (such as `/docs/`) of the service under test and waits for the page to load.
    pub async fn open(&self, app: &TestApp, path: &str) {
        self.goto(&app.url(path)).await;
    }

    /// Opens any URL and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The page's visible text, as a person would copy it.
    pub async fn text(&self) -> String {
        self.script(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Types `value` into the field whose label (its `<label>`, `aria-label` or
    /// `aria-labelledby`) reads `label`, replacing what it held; for a `<select>`, picks the option
    /// whose text is `value`. Whitespace in labels is collapsed; the match is exact.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.find_one(FIND_FIELD, label, "field labelled").await;
        let tag = field.tag_name().await.expect("the field's tag");
        if tag.eq_ignore_ascii_case("select") {
            field
                .select_by_label(value)
                .await
                .unwrap_or_else(|e| panic!("choosing {value:?} in {label:?}: {e}"));
        } else {
            field.clear().await.expect("clearing the field");
            field
                .send_keys(value)
                .await
                .unwrap_or_else(|e| panic!("typing into {label:?}: {e}"));
        }
    }

    /// Clicks the visible button (`<button>`, a submit or button `<input>`, or `role="button"`)
    /// whose text or accessible name is `text`.
    pub async fn click_button(&self, text: &str) {
        let button = self.find_one(FIND_BUTTON, text, "button").await;
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking the button {text:?}: {e}"));
    }

    /// Clicks the visible link whose text or accessible name is `text`.
    pub async fn click_link(&self, text: &str) {
        let link = self.find_one(FIND_LINK, text, "link").await;
        link.click()
            .await
            .unwrap_or_else(|e| panic!("clicking the link {text:?}: {e}"));
    }

    /// Waits until an element matches the CSS selector, and returns the first.
    pub async fn wait_for(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            self.give_up_after(started, &format!("an element matching {css:?}"))
                .await;
        }
    }

    /// Waits until the page's visible text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let started = Instant::now();
        while !self.text().await.contains(text) {
            self.give_up_after(started, &format!("the text {text:?}"))
                .await;
        }
    }

    /// Saves a PNG of the whole page, not only what the window shows, as
    /// `target/screenshots/<name>.png`, and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("the screenshot's data"))
            .expect("the screenshot is base64");
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).expect("creating target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Runs axe-core (vendored, see `vendor/README.md`) on the current page with its default
    /// rules (WCAG 2 A and AA, and best practices) and returns what it found.
    pub async fn axe(&self) -> Vec<Violation> {
        let loaded = self.script("return typeof axe === 'object';", vec![]).await;
        if loaded != Value::Bool(true) {
            // Through WebDriver, so the page's Content-Security-Policy does not apply.
            self.script(AXE, vec![]).await;
        }
        let result = self
            .client
            .execute_async(RUN_AXE, vec![])
            .await
            .unwrap_or_else(|e| panic!("running axe: {e}"));
        if let Some(error) = result.get("error") {
            panic!("axe failed: {error}");
        }
        serde_json::from_value(result).expect("axe's violations")
    }

    /// Fails, listing each one, when axe finds violations of `serious` or `critical` impact.
    pub async fn assert_accessible(&self, page_name: &str) {
        let serious: Vec<Violation> = self
            .axe()
            .await
            .into_iter()
            .filter(Violation::is_serious)
            .collect();
        if !serious.is_empty() {
            let list: Vec<String> = serious.iter().map(Violation::to_string).collect();
            panic!(
                "serious or critical accessibility violations on {page_name}:\n{}",
                list.join("\n")
            );
        }
    }

    /// The attributes of the cookie called `name` that the browser holds for the current page.
    pub async fn cookie(&self, name: &str) -> Option<CookieAttributes> {
        let cookies = self
            .client
            .get_all_cookies()
            .await
            .expect("reading the cookies");
        cookies
            .into_iter()
            .find(|c| c.name() == name)
            .map(|c| CookieAttributes {
                value: c.value().to_owned(),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_owned),
            })
    }

    async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running a script in the page: {e}"))
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let cmd = Cdp {
            cmd: cmd.to_owned(),
            params,
        };
        self.client
            .issue_cmd(cmd)
            .await
            .unwrap_or_else(|e| panic!("a DevTools command through chromedriver: {e}"))
    }

    /// Runs `finder` (which returns `{matches, names}`) until exactly one element matches.
    async fn find_one(&self, finder: &str, name: &str, what: &str) -> Element {
        let started = Instant::now();
        loop {
            let found = self.script(finder, vec![json!(name)]).await;
            let matches = found["matches"].as_array().cloned().unwrap_or_default();
            if let [only] = matches.as_slice() {
                let id = only[ELEMENT_KEY].as_str().expect("an element reference");
                return Element::from_element_id(
                    self.client.clone(),
                    ElementRef::from(id.to_owned()),
                );
            }
            if started.elapsed() > WAIT {
                panic!(
                    "expected one {what} {name:?}, found {} on {}; the page has: {}",
                    matches.len(),
                    self.current_url().await,
                    found["names"]
                );
            }
            actix_web::rt::time::sleep(POLL).await;
        }
    }

    async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Sleeps one poll interval, or panics with what the page shows once the wait is over.
    async fn give_up_after(&self, started: Instant, awaited: &str) {
        if started.elapsed() > WAIT {
            let text = self.text().await;
            let shown: String = text.chars().take(2000).collect();
            panic!(
                "waited {WAIT:?} for {awaited} on {}; the page shows:\n{shown}",
                self.current_url().await
            );
        }
        actix_web::rt::time::sleep(POLL).await;
    }
}

/// One rule that axe found broken, with the elements that break it.
#[derive(Debug, Deserialize)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<ViolatingNode>,
}

#[derive(Debug, Deserialize)]
pub struct ViolatingNode {
    /// CSS selectors of the element; more than one when it sits in a frame or shadow root.
    pub target: Vec<String>,
}

impl Violation {
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "- {} ({}): {} <{}>",
            self.id,
            self.impact.as_deref().unwrap_or("no impact"),
            self.help,
            self.help_url
        )?;
        for node in &self.nodes {
            writeln!(f, "    {}", node.target.join(" >>> "))?;
        }
        Ok(())
    }
}

/// What a session test checks of a cookie.
#[derive(Debug)]
pub struct CookieAttributes {
    pub value: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, as the browser recorded it; `None` when it recorded nothing.
    pub same_site: Option<String>,
    pub path: Option<String>,
}

/// chromedriver on a port it chose itself, in its own process group so that ending the group ends
/// the browser it started too.
struct Chromedriver {
    child: Child,
    port: u16,
    session: Option<String>,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {CHROMEDRIVER} (apt-get install chromium-driver): {e}")
            });
        let stdout = child.stdout.take().expect("chromedriver's output");
        let mut driver = Chromedriver {
            child,
            port: 0,
            session: None,
        };
        // "ChromeDriver was started successfully on port 36115."
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("chromedriver's output");
            if let Some(port) = line.split("successfully on port ").nth(1) {
                driver.port = port.trim_end_matches('.').parse().expect("a port number");
                return driver;
            }
        }
        panic!("chromedriver ended before it listened");
    }
}

impl Chromedriver {
    /// Asks chromedriver to close the browser, which it does and then waits for its processes.
    /// Blocking, so that it also runs while a failing test unwinds.
    fn end_session(&self, session: &str) -> std::io::Result<()> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(WAIT))?;
        write!(
            stream,
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        // chromedriver answers once the browser has gone, and keeps the connection open: the
        // first bytes are enough.
        stream.read(&mut [0; 64]).map(drop)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Killing the group alone would also end the browser, but would leave its processes to
        // be reaped by whoever adopts them.
        if let Some(session) = &self.session {
            let _ = self.end_session(session);
        }
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) with the negated id of the process group this value started.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A Chrome DevTools command, through chromedriver's extension endpoint.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// A control's accessible names, and the controls whose name is `arguments[0]`.
const FIND_FIELD: &str = r#"
const wanted = arguments[0];
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const textOf = el => {
  const copy = el.cloneNode(true);
  copy.querySelectorAll('input, select, textarea').forEach(c => c.remove());
  return norm(copy.textContent);
};
const namesOf = c => {
  const names = [...(c.labels || [])].map(textOf);
  if (c.hasAttribute('aria-label')) names.push(norm(c.getAttribute('aria-label')));
  const ids = c.getAttribute('aria-labelledby');
  if (ids) names.push(norm(ids.split(/\s+/).map(id => document.getElementById(id)?.textContent).join(' ')));
  return names;
};
const controls = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
return {
  matches: controls.filter(c => namesOf(c).includes(wanted)),
  names: controls.flatMap(namesOf),
};
"#;

const FIND_BUTTON: &str = r#"
const wanted = arguments[0];
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const visible = el => el.getClientRects().length > 0;
const nameOf = b => norm(b.getAttribute('aria-label') || b.innerText || b.value);
const buttons = [...document.querySelectorAll(
  'button, input[type=submit], input[type=button], input[type=reset], [role=button]'
)].filter(visible);
return { matches: buttons.filter(b => nameOf(b) === wanted), names: buttons.map(nameOf) };
"#;

const FIND_LINK: &str = r#"
const wanted = arguments[0];
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const visible = el => el.getClientRects().length > 0;
const nameOf = a => norm(a.getAttribute('aria-label') || a.innerText);
const links = [...document.querySelectorAll('a[href], [role=link]')].filter(visible);
return { matches: links.filter(a => nameOf(a) === wanted), names: links.map(nameOf) };
"#;

/// Runs axe and keeps what the report needs; targets in frames or shadow roots are flattened.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] })
  .then(r => done(r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({ target: n.target.map(t => [].concat(t).join(' ')) })),
  }))))
  .catch(e => done({ error: String(e) }));
"#;
