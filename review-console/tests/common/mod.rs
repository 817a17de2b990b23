//! Shared helpers for the console's tests: the real PostgreSQL (a scratch
//! database per test), the real Mosquitto at 127.0.0.1:1883, the console and
//! agent binaries as processes, MQTT publishing.
#![allow(dead_code)]

#[path = "../../../edge-agent/tests/common/browser.rs"]
pub mod browser;
/// The agent's test helpers for brokers and ports (they call `bin`, `models_dir`, `repo_root` below).
#[path = "../../../edge-agent/tests/common/mqtt.rs"]
pub mod mqtt;

pub use mqtt::{free_port, wait_for_port};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{Client, MqttOptions, QoS};
use serde_json::Value;

pub const MOSQUITTO: &str = "127.0.0.1:1883";

/// The PostgreSQL server the tests create scratch databases on
/// (`REVIEW_TEST_POSTGRES`; `./dev.sh test` sets it, starting a private server if needed).
pub fn postgres() -> String {
    std::env::var("REVIEW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mosquitto() -> &'static str {
    assert!(std::net::TcpStream::connect(MOSQUITTO).is_ok(), "no MQTT broker at {MOSQUITTO}: start Mosquitto (./dev.sh test does)");
    MOSQUITTO
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The edge-agent binary (the name the agent's helpers use).
pub fn bin() -> PathBuf {
    agent_bin()
}

pub fn models_dir() -> PathBuf {
    repo_root().join("models")
}

/// The edge-agent binary of the same build (cargo builds it for the workspace's tests).
pub fn agent_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("edge-agent");
    assert!(bin.is_file(), "{} missing: build it with `cargo build --release -p edge-agent` (cargo test --workspace does)", bin.display());
    bin
}

pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

/// A `review-console serve` process; killed on drop.
pub struct Console {
    pub child: Option<Child>,
    pub port: u16,
    pub config: PathBuf,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Console {
    /// `brokers` is the TOML of `[[brokers]]` tables.
    pub fn start(database_url: &str, brokers: &str, extra: &str) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("console.toml");
        std::fs::write(&config, format!("[database]\nurl = \"{database_url}\"\n\n[web]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n\n{brokers}\n")).unwrap();
        let log = dir.path().join("console.log");
        let mut c = Console { child: None, port, config, log, dir };
        c.restart();
        c
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_review-console"))
                .args(["serve", "--config"])
                .arg(&self.config)
                .env("REVIEW_CONSOLE_LOG", "info,review_console=debug,sqlx=warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        assert!(wait_for_port(self.port, Duration::from_secs(30)), "the console did not start:\n{}", self.log_text());
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn user(&self, name: &str, role: &str, password: &str) {
        let o = Command::new(env!("CARGO_BIN_EXE_review-console"))
            .args(["user", "--config"])
            .arg(&self.config)
            .args(["add", "--role", role, name])
            .env("REVIEW_CONSOLE_PASSWORD", password)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A broker table for the console's config.
pub fn broker_toml(name: &str, address: &str, client_id: &str) -> String {
    format!("[[brokers]]\nname = \"{name}\"\naddress = \"{address}\"\nclient_id = \"{client_id}\"\n")
}

/// A plain MQTT client publishing with QoS 1 and waiting until the broker has them all.
pub struct Publisher {
    client: Client,
    thread: Option<std::thread::JoinHandle<()>>,
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    sent: usize,
}

impl Publisher {
    pub fn connect(address: &str) -> Publisher {
        let (host, port) = address.rsplit_once(':').unwrap();
        let mut o = MqttOptions::new(unique("test-pub"), host, port.parse().unwrap());
        o.set_max_packet_size(32 << 20, 32 << 20).set_keep_alive(Duration::from_secs(30));
        let (client, mut connection) = Client::new(o, 100);
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = acked.clone();
        let thread = std::thread::spawn(move || {
            for ev in connection.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Publisher { client, thread: Some(thread), acked, sent: 0 }
    }

    pub fn publish(&mut self, topic: &str, payload: Vec<u8>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).unwrap();
        self.sent += 1;
    }

    pub fn flush(&self) {
        wait_until("the broker to acknowledge every publish", Duration::from_secs(30), || self.acked.load(std::sync::atomic::Ordering::SeqCst) >= self.sent);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // The connection thread ends with the process; a disconnected iterator would retry forever.
        let _ = self.client.disconnect();
        let _ = self.thread.take();
    }
}

pub fn example(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("mqtt-schemas/examples").join(name)).unwrap()).unwrap()
}

/// A plain HTTP/1.1 request (no client library needed); returns (status, headers, body).
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, raw.get(split + 4..).unwrap_or_default().to_vec())
}
