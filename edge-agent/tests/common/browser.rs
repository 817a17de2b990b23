//! Headless Chromium for page tests, driven over WebDriver by fantoccini with
//! Debian's `chromium` and `chromium-driver` (no downloads, works offline).
//! The API is blocking: each call runs on the browser's own small runtime.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const INSTALL: &str = "apt-get install chromium chromium-driver";
const POLL: Duration = Duration::from_millis(25);

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// Chromium's profile and the driver's log; its path also names our browser processes.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a 1920x1080 headless Chromium (`CHROMIUM` and
    /// `CHROMEDRIVER` override where they are found).
    pub fn start() -> Result<Browser> {
        let chromium = find_program("CHROMIUM", &["/usr/lib/chromium/chromium"], &["chromium", "chromium-browser"])?;
        let chromedriver = find_program("CHROMEDRIVER", &["/usr/lib/chromium/chromedriver"], &["chromedriver"])?;
        let profile = tempfile::Builder::new().prefix("station-browser-").tempdir()?;
        let log = profile.path().join("chromedriver.log");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut browser = Browser { runtime, client: None, driver, profile };

        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline || browser.driver.try_wait()?.is_some() {
                bail!("chromedriver did not start: {}", browser.driver_log());
            }
            std::thread::sleep(POLL);
        }
        let user_data = browser.profile.path().join("chromium");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        let options = json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox", // tests run as root
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1920,1080",
                    "--force-device-scale-factor=1",
                    "--hide-scrollbars",
                    "--lang=zh-CN",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-sync",
                    "--disable-background-networking",
                    "--disable-component-update",
                    // Timers must fire on time even though no one looks at the window.
                    "--disable-background-timer-throttling",
                    "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows",
                    format!("--user-data-dir={}", user_data.display()),
                ],
        });
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let connected = browser.runtime.block_on(async {
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities)
                .connect(&url)
                .await
        });
        match connected {
            Ok(client) => browser.client = Some(client),
            Err(e) => bail!("chromium did not start through chromedriver: {e}\n{}", browser.driver_log()),
        }
        browser.set_viewport(1920, 1080)?;
        Ok(browser)
    }

    /// Sizes the window so the page gets `width`x`height` (a headless window
    /// still counts a hidden toolbar).
    pub fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        let frame = self.execute("return [outerWidth - innerWidth, outerHeight - innerHeight];")?;
        let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
        let client = self.client()?;
        self.runtime.block_on(client.set_window_size(width + extra(0), height + extra(1))).context("window size")
    }

    pub fn open(&self, url: &str) -> Result<()> {
        self.runtime.block_on(self.client()?.goto(url)).with_context(|| format!("opening {url}"))
    }

    /// Visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        let client = self.client()?;
        self.runtime
            .block_on(async { client.find(Locator::Css(css)).await?.text().await })
            .with_context(|| format!("text of {css}"))
    }

    /// Waits until the visible text of `css` contains `needle`; returns the whole text.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text(css);
            match &text {
                Ok(text) if text.contains(needle) => return Ok(text.clone()),
                _ if Instant::now() > deadline => {
                    bail!("`{css}` did not show {needle:?} within {timeout:?}; last seen: {text:?}")
                }
                _ => std::thread::sleep(POLL),
            }
        }
    }

    pub fn attribute(&self, css: &str, name: &str) -> Result<Option<String>> {
        let client = self.client()?;
        self.runtime
            .block_on(async { client.find(Locator::Css(css)).await?.attr(name).await })
            .with_context(|| format!("attribute {name} of {css}"))
    }

    /// Waits until attribute `name` of `css` equals `value`.
    pub fn wait_for_attribute(&self, css: &str, name: &str, value: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.attribute(css, name);
            match &seen {
                Ok(Some(v)) if v == value => return Ok(()),
                _ if Instant::now() > deadline => {
                    bail!("`{css}` [{name}] did not become {value:?} within {timeout:?}; last seen: {seen:?}")
                }
                _ => std::thread::sleep(POLL),
            }
        }
    }

    /// Clicks the first element matching `css` (a real user gesture for the page).
    pub fn click(&self, css: &str) -> Result<()> {
        let client = self.client()?;
        self.runtime
            .block_on(async { client.find(Locator::Css(css)).await?.click().await })
            .with_context(|| format!("clicking {css}"))?;
        Ok(())
    }

    /// Runs `script` (a function body: use `return`) in the page.
    pub fn execute(&self, script: &str) -> Result<Value> {
        self.runtime.block_on(self.client()?.execute(script, Vec::new())).with_context(|| format!("running {script}"))
    }

    /// Waits until the JavaScript expression `expr` is truthy; returns its value.
    pub fn wait_for_js(&self, expr: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let script = format!("return ({expr});");
        loop {
            let value = self.execute(&script);
            match &value {
                Ok(v) if truthy(v) => return Ok(v.clone()),
                _ if Instant::now() > deadline => bail!("`{expr}` was not true within {timeout:?}; last: {value:?}"),
                _ => std::thread::sleep(POLL),
            }
        }
    }

    /// Saves a PNG of the window (creating the folder).
    pub fn screenshot_png(&self, path: &Path) -> Result<()> {
        let png = self.runtime.block_on(self.client()?.screenshot()).context("screenshot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        std::fs::write(path, png).with_context(|| path.display().to_string())
    }

    fn client(&self) -> Result<&Client> {
        self.client.as_ref().ok_or_else(|| anyhow!("the browser is closed"))
    }

    fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.profile.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        format!("chromedriver log (last lines):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }

    /// Browser processes still running from our profile (found by its path).
    fn leftover_pids(&self) -> Vec<u32> {
        let marker = self.profile.path().as_os_str().as_encoded_bytes().to_vec();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmdline| cmdline.windows(marker.len()).any(|w| w == marker.as_slice()))
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; then the driver goes.
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), client.close()).await });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A Chromium the driver left behind (a test that panicked mid-command).
        for pid in self.leftover_pids() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// `$env`, else the first existing `paths`, else the first of `names` on PATH.
fn find_program(env: &str, paths: &[&str], names: &[&str]) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { bail!("{env}={} does not exist: fix it, or unset it and {INSTALL}", path.display()) };
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).flat_map(|dir| names.iter().map(move |n| dir.join(n))).collect::<Vec<_>>())
        .unwrap_or_default();
    paths
        .iter()
        .map(PathBuf::from)
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("{} not found: {INSTALL} (or set {env})", names[0]))
}
