//! Real brokers, a real agent process and a real subscriber for the MQTT
//! tests. Mosquitto is the one at 127.0.0.1:1883 (CI starts one if none is
//! listening) or a private one on a free port for tests that stop it or need
//! special settings.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SHARED_MOSQUITTO: &str = "127.0.0.1:1883";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn shared_mosquitto() -> &'static str {
    assert!(
        std::net::TcpStream::connect(SHARED_MOSQUITTO).is_ok(),
        "no MQTT broker at {SHARED_MOSQUITTO}: start Mosquitto (apt-get install mosquitto; .ci/run starts one)"
    );
    SHARED_MOSQUITTO
}

/// A private Mosquitto on a free port; stopped on drop.
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    /// `extra` is appended to the listener's config (TLS, auth ...).
    pub fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Self { port: free_port(), dir, child: None };
        std::fs::write(
            m.dir.path().join("mosquitto.conf"),
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nlog_dest stderr\n{extra}\n",
                m.port,
                m.dir.path().display()
            ),
        )
        .unwrap();
        m.restart();
        m
    }

    /// Configured on a free port but not running: a broker that is down.
    pub fn down() -> Self {
        let mut m = Self::start("");
        m.stop();
        m
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| Path::new(p).exists());
        let binary = binary.expect("mosquitto is not installed: apt-get install mosquitto");
        let child = Command::new(binary)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        assert!(wait_for_port(self.port, Duration::from_secs(10)), "mosquitto did not start on {}", self.port);
    }

    /// A clean stop (SIGTERM): Mosquitto saves its sessions to disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

/// Options for an agent config.
pub struct AgentSpec {
    pub broker: String,
    pub device: String,
    pub fps: f64,
    pub evidence: bool,
    pub quota_mb: u64,
    pub heartbeat: &'static str,
    pub extra_mqtt: String,
}

impl AgentSpec {
    pub fn new(broker: &str) -> Self {
        Self {
            broker: broker.into(),
            device: format!("test-{:08x}", fastrand::u32(..)),
            fps: 10.0,
            evidence: false,
            quota_mb: 64,
            heartbeat: "1s",
            extra_mqtt: String::new(),
        }
    }
}

/// An `edge-agent run` process over the demo frames, emitting a
/// classification event for every frame.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub device: String,
    pub base: String,
    child: Option<Child>,
}

impl Agent {
    pub fn new(spec: &AgentSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = super::repo_root();
        let broker_line = if spec.broker == "embedded" {
            format!("broker = \"embedded\"\nembedded_listen = \"127.0.0.1:{}\"", free_port())
        } else {
            format!("broker = \"{}\"", spec.broker)
        };
        let config = format!(
            r#"site = "test-site"
device_id = "{device}"
models_dir = "{models}"

[inference]
intra_threads = 1

[[tasks]]
id = "classify"
kind = "classify"
model = "efficientnet-lite0"
top_k = 3
emit = "every"
evidence = {evidence}

[[cameras]]
id = "cam-1"
source = {{ kind = "replay", path = "{frames}", fps = {fps} }}
tasks = ["classify"]

[mqtt]
{broker_line}
heartbeat_interval = "{heartbeat}"
reconnect_min = "100ms"
reconnect_max = "1s"
keep_alive = "5s"
drain_timeout = "10s"
{extra}

[storage]
dir = "{state}"
outbox_quota_mb = {quota}
"#,
            device = spec.device,
            models = root.join("models").display(),
            frames = root.join("demo/frames").display(),
            fps = spec.fps,
            evidence = spec.evidence,
            heartbeat = spec.heartbeat,
            extra = spec.extra_mqtt,
            state = dir.path().join("state").display(),
            quota = spec.quota_mb,
        );
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, config).unwrap();
        Self {
            base: format!("zwaste/v1/test-site/{}", spec.device),
            device: spec.device.clone(),
            config: path,
            dir,
            child: None,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn embedded_address(&self) -> String {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let line = text.lines().find(|l| l.starts_with("embedded_listen")).expect("an embedded broker config");
        line.split('"').nth(1).unwrap().to_string()
    }

    pub fn start(&mut self, extra_args: &[&str]) {
        self.spawn(Command::new(super::bin()), extra_args);
    }

    /// Starts the agent unable to grow any file past `kib` KiB: a real
    /// "disk full" (EFBIG) for the outbox, with no mock. SIGXFSZ is ignored
    /// so the write fails instead of killing the process.
    pub fn start_with_file_size_limit(&mut self, kib: u64, extra_args: &[&str]) {
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\"")).arg(super::bin());
        self.spawn(cmd, extra_args);
    }

    fn spawn(&mut self, mut command: Command, extra_args: &[&str]) {
        assert!(self.child.is_none());
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("agent.log")).unwrap();
        let child = command
            .args(["run", "--config"])
            .arg(&self.config)
            .arg("--output")
            .arg(self.dir.path().join("results.jsonl"))
            .args(extra_args)
            .env("EDGE_AGENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        wait_exit(&mut child, Duration::from_secs(30))
    }

    /// Waits for the agent to end by itself (e.g. `--duration`).
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_exit(&mut child, timeout)
    }

    /// The last sequence number the agent committed (it must not be running).
    pub fn committed(&self) -> u64 {
        let outbox = edge_agent::outbox::Outbox::open(&self.state_dir(), u64::MAX)
            .expect("outbox opens after the agent stopped");
        outbox.tally().next_seq - 1
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub at: Instant,
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| panic!("{} is not JSON: {e}", self.topic))
    }
}

/// A subscriber on its own thread, keeping everything it receives. With a
/// fixed client id and `persistent`, the broker keeps its session (and the
/// QoS 1 messages for it) while it is away.
pub struct Collector {
    pub messages: Arc<Mutex<Vec<Message>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub client: rumqttc::AsyncClient,
}

impl Collector {
    pub fn start(broker: &str, filter: &str, persistent: bool) -> Self {
        let (host, port) = broker.rsplit_once(':').unwrap();
        let id = format!("collector-{:08x}", fastrand::u32(..));
        let mut o = rumqttc::MqttOptions::new(id, host, port.parse().unwrap());
        o.set_clean_session(!persistent).set_max_packet_size(16 << 20, 16 << 20).set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = rumqttc::AsyncClient::new(o, 1000);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (messages, stop, client, filter) = (messages.clone(), stop.clone(), client.clone(), filter.to_string());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match tokio::time::timeout(Duration::from_millis(100), events.poll()).await {
                            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(c)))) => {
                                if !c.session_present {
                                    let _ = client.subscribe(&filter, rumqttc::QoS::AtLeastOnce).await;
                                }
                            }
                            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(_)))) => {
                                let _ = ready_tx.send(());
                            }
                            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p)))) => {
                                messages.lock().unwrap().push(Message {
                                    topic: p.topic.clone(),
                                    payload: p.payload.to_vec(),
                                    retain: p.retain,
                                    at: Instant::now(),
                                });
                            }
                            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                            _ => {}
                        }
                    }
                });
            })
        };
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the collector subscribed");
        Self { messages, stop, thread: Some(thread), client }
    }

    pub fn snapshot(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until `pred` holds over everything received so far.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Message]) -> bool) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let snap = self.snapshot();
            if pred(&snap) {
                return snap;
            }
            if Instant::now() > deadline {
                let topics: BTreeMap<String, usize> = snap.iter().fold(BTreeMap::new(), |mut m, msg| {
                    *m.entry(msg.topic.clone()).or_default() += 1;
                    m
                });
                panic!("timed out waiting for {what}; received {topics:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Events received, in arrival order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.snapshot().iter().filter(|m| m.topic.contains("/events/")).map(Message::json).collect()
    }

    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client.try_publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload).unwrap();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn seqs(events: &[serde_json::Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
}

/// Every sequence number 1..=n arrived; any repeat carries the same event id;
/// first arrivals are in order.
pub fn assert_complete_in_order(events: &[serde_json::Value], n: u64) {
    let mut first: BTreeMap<u64, String> = BTreeMap::new();
    let mut order = Vec::new();
    for e in events {
        let seq = e["seq"].as_u64().unwrap();
        let id = e["event_id"].as_str().unwrap().to_string();
        match first.get(&seq) {
            Some(seen) => assert_eq!(seen, &id, "seq {seq} arrived twice with different event ids"),
            None => {
                first.insert(seq, id);
                order.push(seq);
            }
        }
    }
    let missing: Vec<u64> = (1..=n).filter(|s| !first.contains_key(s)).collect();
    assert!(missing.is_empty(), "events lost: seqs {missing:?} of 1..={n}");
    assert!(order.windows(2).all(|w| w[0] < w[1]), "first arrivals out of order: {order:?}");
}

/// Compiled schemas from `mqtt-schemas/`, by stem (`event`, `status`, ...).
pub fn schema(stem: &str) -> jsonschema::Validator {
    let path = super::repo_root().join("mqtt-schemas").join(format!("{stem}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::options().should_validate_formats(true).build(&value).unwrap()
}

pub fn assert_valid(stem: &str, value: &serde_json::Value) {
    let v = schema(stem);
    let errors: Vec<String> = v.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "payload does not match {stem}.schema.json: {errors:?}\n{value:#}");
}

/// An agent (`edge-agent run`) on one replayed camera at 10 fps with the embedded
/// broker, site `pod-07`, device `edge-1`; its state, log and results under `dir`.
pub struct ReplayAgent {
    pub child: std::process::Child,
    pub port: u16,
    /// Where its local pages (the station display) are served.
    pub web_port: u16,
    pub log: PathBuf,
}

impl ReplayAgent {
    /// `task` is the body of one `[[tasks]]` table (id, kind and settings) that the
    /// camera `camera` runs; `frames` a list file; it stops after `max_frames`.
    pub fn start(
        dir: &Path,
        task: &str,
        task_id: &str,
        camera: &str,
        frames: &Path,
        calibration: &Path,
        max_frames: u64,
    ) -> Self {
        let (port, web_port) = (free_port(), free_port());
        let config = format!(
            "site = \"pod-07\"\ndevice_id = \"edge-1\"\nmodels_dir = \"{models}\"\n[[tasks]]\n{task}\n\
             [[cameras]]\nid = \"{camera}\"\nsource = {{ kind = \"replay\", path = \"{list}\", fps = 10 }}\ncalibration = \"{cal}\"\ntasks = [\"{task_id}\"]\n\
             [mqtt]\nbroker = \"embedded\"\nembedded_listen = \"127.0.0.1:{port}\"\nheartbeat_interval = \"1s\"\n[storage]\ndir = \"{state}\"\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n",
            models = super::models_dir().display(),
            list = frames.display(),
            cal = calibration.display(),
            state = dir.join("state").display()
        );
        let config_path = dir.join("agent.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("agent.log");
        let child = std::process::Command::new(super::bin())
            .args(["run", "--config"])
            .arg(&config_path)
            .args(["--max-frames", &max_frames.to_string(), "--output"])
            .arg(dir.join("results.jsonl"))
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        assert!(wait_for_port(port, Duration::from_secs(30)), "the agent's embedded broker did not start");
        Self { child, port, web_port, log }
    }

    pub fn broker(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
