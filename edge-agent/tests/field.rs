//! The agent in the field, as systemd and an operator see it: three replay
//! cameras at once (one of them too fast for its task), READY / STATUS /
//! WATCHDOG on a real notify socket, /healthz /readyz /metrics beside the
//! MQTT heartbeat, SIGHUP reloading the config; and model updates from the
//! platform over real HTTP (sha256, ed25519, self-test, swap, rollback).

mod common;

use common::mqtt::{Collector, assert_valid, free_port, signal, wait_for_port};
use ed25519_dalek::{Signer, SigningKey};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// systemd's side of `Type=notify`: a datagram socket collecting what the agent says.
struct NotifySocket {
    path: PathBuf,
    said: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let said = Arc::new(Mutex::new(Vec::new()));
        let sink = said.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                for line in text.lines() {
                    sink.lock().unwrap().push((Instant::now(), line.to_string()));
                }
            }
        });
        Self { path, said }
    }

    fn lines(&self) -> Vec<String> {
        self.said.lock().unwrap().iter().map(|(_, l)| l.clone()).collect()
    }

    fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }

    fn wait_for_count(&self, line: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(line) < n {
            assert!(Instant::now() < deadline, "no {n}x `{line}` within {timeout:?}; the agent said {:?}", self.lines());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A plain HTTP GET (status, body): the probe Kubernetes or Prometheus would make.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // axum answers small bodies with Content-Length; chunked ones only for streams.
    (status, body)
}

/// `name{labels} value` lines of a Prometheus text page, by metric name and label text.
fn metrics(port: u16) -> BTreeMap<String, f64> {
    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN))))
        .collect()
}

fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key).unwrap_or_else(|| panic!("no `{key}` in /metrics: {:?}", m.keys().collect::<Vec<_>>()))
}

struct FieldAgent {
    child: Option<Child>,
    dir: tempfile::TempDir,
    config: PathBuf,
    broker: String,
    web: u16,
    base: String,
}

impl FieldAgent {
    /// `cameras`: (id, fps, task id); every task classifies with the shared model.
    fn write_config(dir: &Path, broker_port: u16, web: u16, cameras: &[(&str, f64, &str)], extra: &str) -> PathBuf {
        let root = common::repo_root();
        let mut text = format!(
            "site = \"pod-07\"\ndevice_id = \"edge-field\"\nmodels_dir = \"{}\"\n[inference]\nintra_threads = 1\n",
            root.join("models").display()
        );
        for (_, _, task) in cameras {
            text += &format!("[[tasks]]\nid = \"{task}\"\nkind = \"classify\"\nmodel = \"efficientnet-lite0\"\ntop_k = 3\nemit = \"every\"\n");
        }
        for (id, fps, task) in cameras {
            text += &format!(
                "[[cameras]]\nid = \"{id}\"\nsource = {{ kind = \"replay\", path = \"{}\", fps = {fps} }}\ntasks = [\"{task}\"]\n",
                root.join("demo/frames").display()
            );
        }
        text += &format!(
            "[mqtt]\nbroker = \"embedded\"\nembedded_listen = \"127.0.0.1:{broker_port}\"\nheartbeat_interval = \"1s\"\n\
             [storage]\ndir = \"{}\"\n[web]\nlisten = \"127.0.0.1:{web}\"\n{extra}",
            dir.join("state").display()
        );
        let path = dir.join("agent.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn start(cameras: &[(&str, f64, &str)], extra: &str, notify: Option<&NotifySocket>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (broker_port, web) = (free_port(), free_port());
        let config = Self::write_config(dir.path(), broker_port, web, cameras, extra);
        let mut agent = Self {
            child: None,
            dir,
            config,
            broker: format!("127.0.0.1:{broker_port}"),
            web,
            base: "zwaste/v1/pod-07/edge-field".into(),
        };
        agent.spawn(notify);
        agent
    }

    fn spawn(&mut self, notify: Option<&NotifySocket>) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("agent.log")).unwrap();
        let mut cmd = Command::new(common::bin());
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .arg("--output")
            .arg(self.dir.path().join("results.jsonl"))
            .env("EDGE_AGENT_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(n) = notify {
            // Pings every 3 s; a loop silent for 6 s is a hang.
            cmd.env("NOTIFY_SOCKET", &n.path).env("WATCHDOG_USEC", "6000000");
        }
        self.child = Some(cmd.spawn().unwrap());
        assert!(wait_for_port(self.web, Duration::from_secs(60)), "the agent's pages did not come up: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    fn results(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("results.jsonl")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the agent did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if http_get(self.web, "/readyz").0 == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "not ready within {timeout:?}: {}", http_get(self.web, "/readyz").1);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for FieldAgent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn three_cameras_run_at_once_under_systemd_semantics_and_reload_on_sighup() {
    let scratch = tempfile::tempdir().unwrap();
    let notify = NotifySocket::bind(scratch.path());
    // cam-c gets 100 frames a second for a ~20 ms model: it falls behind by design.
    let cameras = [("cam-a", 5.0, "classify-a"), ("cam-b", 5.0, "classify-b"), ("cam-c", 100.0, "classify-c")];
    let mut agent = FieldAgent::start(&cameras, "", Some(&notify));

    // READY=1 only once models are loaded and every camera delivered a frame.
    notify.wait_for_count("READY=1", 1, Duration::from_secs(90));
    let said = notify.lines();
    let ready_at = said.iter().position(|l| l == "READY=1").unwrap();
    assert!(said[..ready_at].iter().any(|l| l == "STATUS=loading models"), "{said:?}");
    let (status, body) = http_get(agent.web, "/readyz");
    assert_eq!(status, 200, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readiness["cameras_without_frames"], serde_json::json!([]));

    let heartbeats = Collector::start(&agent.broker, &format!("{}/heartbeat", agent.base), false);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    let m = metrics(agent.web);
    let secs = t0.elapsed().as_secs_f64();

    // The slow camera drops frames (newest wins); the other two keep their pace.
    let dropped_c = metric(&m, "edge_agent_camera_frames_dropped_total{camera=\"cam-c\"}");
    assert!(dropped_c > 0.0, "cam-c should fall behind at 100 fps");
    for cam in ["cam-a", "cam-b"] {
        let processed = metric(&m, &format!("edge_agent_camera_frames_processed_total{{camera=\"{cam}\"}}"));
        let dropped = metric(&m, &format!("edge_agent_camera_frames_dropped_total{{camera=\"{cam}\"}}"));
        assert!(dropped <= 1.0, "{cam} dropped {dropped} frames beside a slow camera");
        assert!(processed >= 5.0 * secs * 0.7, "{cam} processed {processed} frames in ~{secs:.0}+ s at 5 fps");
        assert_eq!(metric(&m, &format!("edge_agent_camera_state{{camera=\"{cam}\",state=\"streaming\"}}")), 1.0);
    }
    // One session for the three tasks that use the model, and its latency histogram.
    let loaded = agent.log().lines().filter(|l| l.contains("model loaded") && l.contains("efficientnet-lite0")).count();
    assert_eq!(loaded, 1, "the classifier is opened once and shared by three cameras:\n{}", agent.log());
    let runs = metric(&m, "edge_agent_inference_duration_seconds_count{model=\"efficientnet-lite0\",provider=\"cpu\"}");
    assert!(runs > 50.0, "{runs} runs recorded");
    assert!(m.keys().any(|k| k.starts_with("edge_agent_model_info{model=\"efficientnet-lite0\"") && k.contains("provider=\"cpu\"")));
    assert!(metric(&m, "edge_agent_events_total{kind=\"classification\"}") > 0.0);
    assert_eq!(metric(&m, "edge_agent_mqtt_connected"), 1.0);
    assert_eq!(metric(&m, "edge_agent_ready"), 1.0);
    assert!(metric(&m, "edge_agent_disk_free_bytes") > 0.0);

    // The heartbeat carries the same figures, from the same source.
    let hb = heartbeats.wait_for("a heartbeat with three cameras", Duration::from_secs(10), |msgs| {
        msgs.iter().any(|m| m.json()["cameras"].as_array().is_some_and(|c| c.len() == 3))
    });
    let hb = hb.iter().rev().map(|m| m.json()).find(|h| h["cameras"].as_array().is_some_and(|c| c.len() == 3)).unwrap();
    assert_valid("heartbeat", &hb);
    assert_eq!(hb["models"][0]["name"], "efficientnet-lite0");
    assert_eq!(hb["models"][0]["provider"], "cpu");
    assert!(hb["models"][0]["runs"].as_u64().unwrap() > 0);
    assert!(hb["events"]["classification"].as_u64().unwrap() > 0);

    // Healthy: every loop beats, and the watchdog is pinged for it.
    let (status, body) = http_get(agent.web, "/healthz");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    for lp in ["tasks-cam-a", "tasks-cam-b", "tasks-cam-c", "events", "mqtt"] {
        assert!(health["loops"].as_array().unwrap().iter().any(|l| l == lp), "{lp} missing from {health}");
    }
    notify.wait_for_count("WATCHDOG=1", 2, Duration::from_secs(10));
    assert!(notify.lines().iter().any(|l| l.starts_with("STATUS=running: 3/3 cameras streaming")), "{:?}", notify.lines());

    // SIGHUP: the config without cam-c is applied live.
    let web = agent.web;
    FieldAgent::write_config(agent.dir.path(), agent.broker.rsplit(':').next().unwrap().parse().unwrap(), web, &cameras[..2], "");
    signal(agent.child.as_ref().unwrap().id(), "HUP");
    notify.wait_for_count("RELOADING=1", 1, Duration::from_secs(30));
    notify.wait_for_count("READY=1", 2, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics(web).keys().any(|k| k.contains("cam-c")) {
        assert!(Instant::now() < deadline, "cam-c still reported after the reload");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = agent.log();
    let done = log.lines().find(|l| l.contains("config reload done")).unwrap_or_else(|| panic!("no reload in the log:\n{log}"));
    assert!(done.contains("cameras") && done.contains("restart_required"), "{done}");

    assert!(agent.stop().success(), "{}", agent.log());
    assert!(notify.count("STOPPING=1") >= 1, "{:?}", notify.lines());
}

/// The platform's model store: serves files over real HTTP.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let files: Arc<BTreeMap<&str, Vec<u8>>> = Arc::new(files.into_iter().collect());
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let files = files.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut req = [0u8; 2048];
                let n = stream.read(&mut req).unwrap_or(0);
                let line = String::from_utf8_lossy(&req[..n]).lines().next().unwrap_or_default().to_string();
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                match files.get(path.as_str()) {
                    Some(body) => {
                        let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                        let _ = stream.write_all(body);
                    }
                    None => {
                        let _ = write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    port
}

fn sha256(bytes: &[u8]) -> String {
    edge_agent::inference::manifest::sha256_hex(bytes)
}

fn command(collector: &Collector, base: &str, name: &str, payload: serde_json::Value) -> serde_json::Value {
    let id = payload["request_id"].as_str().unwrap().to_string();
    collector.publish(&format!("{base}/cmd/{name}"), serde_json::to_vec(&payload).unwrap(), false);
    let msgs = collector.wait_for(&format!("reply {id}"), Duration::from_secs(120), |msgs| {
        msgs.iter().any(|m| m.topic.ends_with(&format!("/reply/{name}")) && m.json()["request_id"] == id.as_str())
    });
    let reply = msgs.iter().find(|m| m.topic.ends_with(&format!("/reply/{name}")) && m.json()["request_id"] == id.as_str()).unwrap().json();
    assert_valid("reply", &reply);
    reply
}

/// Events' model versions for efficientnet-lite0, in arrival order.
fn event_versions(collector: &Collector) -> Vec<String> {
    collector
        .events()
        .iter()
        .filter_map(|e| {
            e["provenance"]["models"].as_array()?.iter().find(|m| m["name"] == "efficientnet-lite0").map(|m| m["version"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn a_model_update_is_verified_self_tested_swapped_live_persisted_and_rolled_back() {
    let root = common::repo_root();
    let shipped_path = root.join("models/efficientnet-lite0/efficientnet-lite0.onnx");
    let shipped = std::fs::read(&shipped_path).unwrap();
    // The same weights with another doc_string (ModelProto field 6, appended:
    // protobuf keeps the last value), so a different file that must pass.
    let mut updated = shipped.clone();
    let doc = b"site model bj-etdz 2026.11";
    updated.extend_from_slice(&[0x32, doc.len() as u8]);
    updated.extend_from_slice(doc);
    let u2netp = edge_agent::inference::ModelManifest::load(&root.join("models/u2netp/model.toml")).unwrap();
    let other_model = std::fs::read(u2netp.model_path()).unwrap();
    let http = serve(vec![("/lite0-v2.onnx", updated.clone()), ("/u2netp.onnx", other_model.clone())]);
    let url = |p: &str| format!("http://127.0.0.1:{http}{p}");

    let key = SigningKey::from_bytes(&[7u8; 32]);
    let scratch = tempfile::tempdir().unwrap();
    let key_file = scratch.path().join("platform.pub");
    use base64::Engine as _;
    std::fs::write(&key_file, base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())).unwrap();
    let sign = |model: &str, version: &str, sha: &str| {
        let message = edge_agent::model_update::fetch::signed_message(model, version, sha);
        base64::engine::general_purpose::STANDARD.encode(key.sign(&message).to_bytes())
    };
    let extra = format!("[model_updates]\npublic_key = \"{}\"\n", key_file.display());
    let mut agent = FieldAgent::start(&[("cam-1", 5.0, "classify")], &extra, None);
    agent.wait_ready(Duration::from_secs(90));
    let platform = Collector::start(&agent.broker, &format!("{}/#", agent.base), false);
    let shipped_version = "lite0-imagenet-2020.06+onnx1";
    let v2 = "lite0-site-bj-2026.11";
    let v2_sha = sha256(&updated);

    // Refused, and the shipped model keeps running: unsigned, wrong hash, wrong model.
    let unsigned = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u1", "model": "efficientnet-lite0", "version": v2, "sha256": v2_sha, "url": url("/lite0-v2.onnx")
    }));
    assert_eq!(unsigned["ok"], false);
    assert!(unsigned["error"]["message"].as_str().unwrap().contains("not signed"), "{unsigned}");
    let wrong_sha = "0".repeat(64);
    let mismatch = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u2", "model": "efficientnet-lite0", "version": v2, "sha256": wrong_sha,
        "url": url("/lite0-v2.onnx"), "signature": sign("efficientnet-lite0", v2, &wrong_sha)
    }));
    assert_eq!(mismatch["ok"], false);
    assert!(mismatch["error"]["message"].as_str().unwrap().contains("keeps running"), "{mismatch}");
    let other_sha = sha256(&other_model);
    let wrong_model = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u3", "model": "efficientnet-lite0", "version": "3", "sha256": other_sha,
        "url": url("/u2netp.onnx"), "signature": sign("efficientnet-lite0", "3", &other_sha)
    }));
    assert_eq!(wrong_model["ok"], false, "{wrong_model}");
    assert!(wrong_model["error"]["message"].as_str().unwrap().contains("cannot be loaded"), "{wrong_model}");
    let missing = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u4", "model": "efficientnet-lite0", "version": v2, "sha256": v2_sha,
        "url": url("/nothing.onnx"), "signature": sign("efficientnet-lite0", v2, &v2_sha)
    }));
    assert_eq!(missing["ok"], false);
    assert!(missing["error"]["message"].as_str().unwrap().contains("404"), "{missing}");
    assert!(!agent.dir.path().join("state/models/installed.json").exists(), "nothing was installed");

    // The real update: fetched, checked, self-tested on the manifest's sample, swapped live.
    let frames_before = agent.results().len();
    let ok = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u5", "model": "efficientnet-lite0", "version": v2, "sha256": v2_sha,
        "url": url("/lite0-v2.onnx"), "signature": sign("efficientnet-lite0", v2, &v2_sha)
    }));
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["result"]["previous_version"], shipped_version);
    assert!(ok["result"]["sessions_swapped"].as_u64().unwrap() >= 1);
    assert_eq!(ok["result"]["self_test"]["category"], "kitchen", "{ok}");
    platform.wait_for("an event judged by the new version", Duration::from_secs(30), |_| event_versions(&platform).last().is_some_and(|v| v == v2));
    // No frame was lost to the swap: the camera's results run on without a gap.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (results, first_v2) = loop {
        let results = agent.results();
        if let Some(i) = results.iter().position(|r| r["model_version"] == v2) {
            break (results, i);
        }
        assert!(Instant::now() < deadline, "no results from the new model");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(first_v2 >= frames_before.saturating_sub(1) && first_v2 > 0, "the old model ran until the swap");
    let around: Vec<u64> = results[first_v2 - 1..(first_v2 + 3).min(results.len())].iter().map(|r| r["frame_seq"].as_u64().unwrap()).collect();
    assert!(around.windows(2).all(|w| w[1] == w[0] + 1), "a gap in the frames around the swap: {around:?}");

    // Redelivery changes nothing.
    let again = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u6", "model": "efficientnet-lite0", "version": v2, "sha256": v2_sha,
        "url": url("/lite0-v2.onnx"), "signature": sign("efficientnet-lite0", v2, &v2_sha)
    }));
    assert_eq!(again["result"]["unchanged"], true, "{again}");

    // A restart keeps the installed version.
    assert!(agent.stop().success());
    drop(platform);
    agent.spawn(None);
    agent.wait_ready(Duration::from_secs(90));
    let platform = Collector::start(&agent.broker, &format!("{}/#", agent.base), false);
    let m = metrics(agent.web);
    assert!(m.keys().any(|k| k.starts_with("edge_agent_model_info") && k.contains(&format!("version=\"{v2}\""))), "{m:?}");

    // Rollback to the shipped file, then nothing left to roll back.
    let back = command(&platform, &agent.base, "model-rollback", serde_json::json!({ "request_id": "r1", "model": "efficientnet-lite0" }));
    assert_eq!(back["ok"], true, "{back}");
    assert_eq!(back["result"]["version"], shipped_version);
    platform.wait_for("an event judged by the shipped version", Duration::from_secs(30), |_| {
        event_versions(&platform).last().is_some_and(|v| v == shipped_version)
    });
    let none = command(&platform, &agent.base, "model-rollback", serde_json::json!({ "request_id": "r2", "model": "efficientnet-lite0" }));
    assert_eq!(none["ok"], false);
    assert!(none["error"]["message"].as_str().unwrap().contains("shipped version"), "{none}");
    let unknown = command(&platform, &agent.base, "model-update", serde_json::json!({
        "request_id": "u7", "model": "no-such-model", "version": "1", "sha256": v2_sha, "url": url("/lite0-v2.onnx")
    }));
    assert_eq!(unknown["error"]["code"], "not_applicable", "{unknown}");
    assert!(agent.stop().success());
}
