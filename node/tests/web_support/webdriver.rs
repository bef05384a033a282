//! A small W3C WebDriver client (over ureq, already a test dependency)
//! driving Debian's Chromium through chromedriver: navigation, scripts,
//! keyboard actions. Chromium runs headless, without sandbox (root), with
//! background networking off and a fresh profile, as the machine's notes
//! say; a missing browser fails the test with the command that installs it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// WebDriver's key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// A chromedriver process and one browser session; both end when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// Fails the test, saying how to install what is missing.
fn require(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the browser tests need Debian's chromium and chromium-driver \
         (run `bash .ci/tools` as root, which CI does)"
    );
}

impl Browser {
    pub fn start() -> Browser {
        require(CHROMIUM);
        require(CHROMEDRIVER);
        let port = mutua_tests::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        mutua_tests::wait_for("chromedriver to answer", || {
            let mut answer = agent.get(format!("{base}/status")).call().ok()?;
            let status: Value = answer.body_mut().read_json().ok()?;
            status["value"]["ready"].as_bool()?.then_some(())
        });
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,1024".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let created = browser.command(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        browser
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut answer = match method {
            "POST" => self.agent.post(&url).send_json(&body),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        }
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value: Value = answer
            .body_mut()
            .read_json()
            .expect("WebDriver answers JSON");
        if value["value"]["error"].is_string() {
            panic!("WebDriver {method} {path}: {}", value["value"]);
        }
        value["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", &self.session_path("/url"), json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.command("GET", &self.session_path("/url"), Value::Null)
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until the page's address satisfies `check` and it has loaded
    /// (a key press that submits a form returns before the navigation).
    pub fn wait_for_page(&self, what: &str, check: impl Fn(&str) -> bool) {
        mutua_tests::wait_for(what, || {
            let url = self.url();
            let ready = self.run("return document.readyState;", json!([]));
            (check(&url) && ready == "complete").then_some(())
        });
    }

    /// Runs `script` (a function body; a returned promise is awaited).
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            json!({ "script": script, "args": args }),
        )
    }

    /// Chooses `path` in the file field `css` (what the file dialog does
    /// once a keyboard user picks the file).
    pub fn choose_file(&self, css: &str, path: &std::path::Path) {
        let found = self.command(
            "POST",
            &self.session_path("/element"),
            json!({"using": "css selector", "value": css}),
        );
        let id = found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned();
        self.command(
            "POST",
            &self.session_path(&format!("/element/{id}/value")),
            json!({"text": path.display().to_string()}),
        );
    }

    /// Presses Enter on the focused control and waits for the new document
    /// (which may have the same address).
    pub fn enter_and_wait(&self, what: &str) {
        self.run("window.before = true;", json!([]));
        self.keys(ENTER);
        mutua_tests::wait_for(what, || {
            (self.run(
                "return window.before === undefined && document.readyState;",
                json!([]),
            ) == "complete")
                .then_some(())
        });
    }

    /// The viewport as a PNG, at `width` × `height` CSS pixels.
    pub fn screenshot(&self, width: u32, height: u32) -> Vec<u8> {
        self.command(
            "POST",
            &self.session_path("/window/rect"),
            json!({"width": width, "height": height}),
        );
        let png = self.command("GET", &self.session_path("/screenshot"), Value::Null);
        data_encoding::BASE64
            .decode(png.as_str().expect("a base64 PNG").as_bytes())
            .expect("a base64 PNG")
    }

    /// Presses then releases each key of `keys` (text or key codes).
    pub fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for c in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.command(
            "POST",
            &self.session_path("/actions"),
            json!({"actions": [{"type": "key", "id": "clavier", "actions": actions}]}),
        );
    }

    /// A description of the focused element: `tag#id[name]` and its text.
    pub fn focused(&self) -> Value {
        self.run(
            "const e = document.activeElement; \
             return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name') || '', \
                     href: e.getAttribute('href') || '', text: (e.innerText || e.value || '').trim(), \
                     outline: getComputedStyle(e).outlineStyle, \
                     outlineWidth: parseFloat(getComputedStyle(e).outlineWidth)};",
            json!([]),
        )
    }

    /// Tabs until `is_target` holds for the focused element (at most 60 presses).
    pub fn tab_to(&self, what: &str, is_target: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..60 {
            self.keys(TAB);
            let focused = self.focused();
            if is_target(&focused) {
                return focused;
            }
        }
        panic!("Tab never reached {what} on {}", self.url());
    }

    /// Runs axe-core on the page; the violations, one line each.
    pub fn axe(&self, axe_source: &str) -> Vec<String> {
        self.run(axe_source, json!([]));
        let violations = self.run(
            "return axe.run(document, {runOnly: {type: 'tag', values: \
               ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}}) \
             .then(r => r.violations.map(v => v.id + ': ' + v.help + ' @ ' + \
               v.nodes.map(n => n.target.join(' ')).join(' | ')));",
            json!([]),
        );
        violations
            .as_array()
            .expect("axe answers a list")
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.session_path("");
            let _ = self.agent.delete(format!("{}{path}", self.base)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
