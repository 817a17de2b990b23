//! Config mistakes are reported with the file, the key and what would be valid,
//! all at once, and the binary exits with EX_CONFIG (78).

mod common;

use common::*;
use edge_agent::config::Config;
use std::path::{Path, PathBuf};

/// Writes a config next to a replay folder, with models_dir pointing at the real models.
fn write_config(dir: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("frames")).unwrap();
    let models = models_dir();
    let text = format!("models_dir = {:?}\n{body}", models.display().to_string());
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const VALID: &str = r#"
site = "pod-01"
device_id = "edge-1"

[[tasks]]
id = "classify"
kind = "classify"
model = "efficientnet-lite0"

[[cameras]]
id = "intake"
source = { kind = "replay", path = "frames", fps = 5 }
tasks = ["classify"]
"#;

fn problems(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), body);
    let err = Config::load(&path).expect_err("config should be rejected");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "the file is named: {text}");
    text
}

#[test]
fn a_valid_config_loads_with_paths_resolved_against_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), VALID);
    let config = Config::load(&path).unwrap();
    assert_eq!(config.site, "pod-01");
    match &config.cameras[0].source {
        edge_agent::config::SourceConfig::Replay(r) => assert_eq!(r.path, dir.path().join("frames")),
        other => panic!("{other:?}"),
    }
    assert_eq!(config.mqtt.prefix, "zwaste/v1");
}

#[test]
fn an_unknown_key_is_named_with_its_path_and_the_valid_keys() {
    let text = problems(&VALID.replace("fps = 5", "fps = 5, frame_rate = 3"));
    assert!(text.contains("cameras[0].source"), "{text}");
    assert!(text.contains("unknown field `frame_rate`") && text.contains("`fps`"), "{text}");
    assert!(text.contains("line "), "position given: {text}");
}

#[test]
fn a_wrong_type_names_the_key() {
    let text = problems(&VALID.replace("fps = 5", "fps = \"fast\""));
    assert!(text.contains("cameras[0].source.fps"), "{text}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let body = VALID
        .replace("device_id = \"edge-1\"", "device_id = \"edge 1/#\"")
        .replace("model = \"efficientnet-lite0\"", "model = \"resnet-9000\"")
        .replace("fps = 5", "fps = 0")
        .replace("path = \"frames\"", "path = \"no-such-folder\"")
        .replace("tasks = [\"classify\"]", "tasks = [\"classify\", \"sorting\"]");
    let text = problems(&body);
    for expected in [
        "device_id: `edge 1/#` is not a valid id",
        "tasks[0].model: no model manifest named `resnet-9000`",
        "efficientnet-lite0",
        "cameras[0].source.fps: 0 is out of range",
        "cameras[0].source.path:",
        "no-such-folder does not exist",
        "cameras[0].tasks[1]: no task with id `sorting`",
        "5 problems",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn a_model_of_the_wrong_kind_is_refused() {
    let text = problems(&VALID.replace("efficientnet-lite0", "u2netp"));
    assert!(text.contains("`u2netp` is a salient-segmenter, but a classify task needs an image-classifier"), "{text}");
}

#[test]
fn rtsp_credentials_in_the_url_and_bad_brokers_are_refused() {
    let body = VALID.replace(
        "source = { kind = \"replay\", path = \"frames\", fps = 5 }",
        "source = { kind = \"rtsp\", url = \"rtsp://admin:secret@10.0.0.5/stream1\" }",
    ) + "\n[mqtt]\nbroker = \"localhost\"\n";
    let text = problems(&body);
    assert!(text.contains("move them to `username` and `password`"), "{text}");
    assert!(text.contains("mqtt.broker: `localhost` is not `embedded` or host:port"), "{text}");
}

#[test]
fn the_binary_exits_78_and_lists_the_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &VALID.replace("fps = 5", "fps = -1"));
    let out = std::process::Command::new(bin()).args(["check-config", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cameras[0].source.fps: -1 is out of range"), "{stderr}");

    let good = write_config(dir.path(), VALID);
    let out = std::process::Command::new(bin()).args(["check-config", "--config"]).arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_missing_config_file_says_so() {
    let out = std::process::Command::new(bin()).args(["run", "--config", "/nonexistent/agent.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the file"));
}

#[test]
fn the_demo_config_is_valid() {
    models_dir();
    Config::load(&repo_root().join("demo/config.toml")).unwrap();
}

#[test]
fn mqtt_settings_rumqttc_would_panic_on_are_config_errors_instead() {
    let text = problems(&format!(
        r#"{VALID}
[mqtt]
broker = "embedded"
embedded_listen = "nowhere"
keep_alive = "1500ms"
inflight = 0
reconnect_min = "1m"
reconnect_max = "1s"
password_file = "pw"
password_env = "PW"
client_id = "a/b"
[mqtt.tls]
ca_file = "ca.pem"
client_cert = "client.pem"
[storage]
outbox_quota_mb = 0
"#
    ));
    for key in [
        "mqtt.embedded_listen",
        "mqtt.keep_alive",
        "mqtt.inflight",
        "mqtt.reconnect_min",
        "mqtt.password_file",
        "mqtt.username",
        "mqtt.client_id",
        "mqtt.tls",
        "storage.outbox_quota_mb",
    ] {
        assert!(text.contains(key), "{key} not reported:\n{text}");
    }
    let text = problems(&format!("{VALID}\n[mqtt]\nprotocol = \"4\"\n"));
    assert!(text.contains("mqtt.protocol") && text.contains("3.1.1"), "{text}");
}

/// The systemd example config, with its paths pointed at this checkout (it names
/// /usr/local/share/... and /var/lib/..., which a build box does not have).
#[test]
fn the_systemd_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("systemd/agent.example.toml"))
        .unwrap()
        .replace("/usr/local/share/edge-agent/models", &repo_root().join("models").display().to_string())
        .replace("/var/lib/edge-agent", &dir.path().join("state").display().to_string());
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.web.listen, "127.0.0.1:8088");
    assert_eq!(config.cameras.len(), 1);
}

/// `[model_updates]`: a key that cannot be read, or a zero size limit, is refused at load.
#[test]
fn model_update_settings_are_checked_at_load() {
    let text = problems(&format!("{VALID}\n[model_updates]\npublic_key = \"no-such.pub\"\nmax_mb = 0\n"));
    assert!(text.contains("model_updates.public_key") && text.contains("model_updates.max_mb"), "{text}");
}
