//! The `edge-agent` binary as a user runs it.

mod common;

use common::*;
use std::process::Command;

fn edge_agent() -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(repo_root()).env("EDGE_AGENT_MODELS_DIR", models_dir()).env_remove("ORT_DYLIB_PATH");
    cmd
}

#[test]
fn classify_json_says_kitchen_for_the_fruit_photos_and_reports_a_bad_file_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.jpg");
    let good = std::fs::read(opencv_photo("orange.jpg")).unwrap();
    std::fs::write(&broken, &good[..500]).unwrap();
    let out = edge_agent()
        .arg("classify")
        .arg("--json")
        .arg(opencv_photo("fruits.jpg"))
        .arg(&broken)
        .arg(opencv_photo("apple.jpg"))
        .arg(opencv_photo("orange.jpg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed file makes the exit code 1");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[1]["error"].as_str().unwrap().contains("corrupt or truncated JPEG"), "{}", results[1]);
    for i in [0, 2, 3] {
        let r = &results[i];
        assert_eq!(r["category"]["category"], "kitchen", "{r}");
        assert_eq!(r["category"]["name_zh"], "厨余垃圾");
        assert_eq!(r["top"].as_array().unwrap().len(), 5);
        assert!(r["ms"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(report["provider"]["active"], "cpu");
}

#[test]
fn classify_table_is_readable() {
    let out = edge_agent().arg("classify").arg(opencv_photo("fruits.jpg")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("厨余垃圾 (kitchen)") && text.contains("lemon"), "{text}");
}

#[test]
fn a_missing_runtime_library_names_the_path_and_the_fix() {
    let out = edge_agent()
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .arg("classify")
        .arg(opencv_photo("fruits.jpg"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ONNX Runtime library not found at /nonexistent/libonnxruntime.so"), "{stderr}");
    assert!(stderr.contains("ORT_DYLIB_PATH") && stderr.contains("models/setup.py"), "{stderr}");
}

#[test]
fn a_file_that_is_not_onnx_runtime_is_refused_clearly() {
    let out = edge_agent().env("ORT_DYLIB_PATH", "/etc/hostname").arg("classify").arg(opencv_photo("fruits.jpg")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not load ONNX Runtime from /etc/hostname"));
}

#[test]
fn models_verify_prints_every_model_ok() {
    let out = edge_agent().args(["models", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["efficientnet-lite0", "ppocr-v6-det", "ppocr-v6-rec", "ppocr-cls", "u2netp"] {
        assert!(text.lines().any(|l| l.starts_with(name) && l.contains(" ok ")), "{name} in\n{text}");
    }
}

#[test]
fn models_verify_flags_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("u2netp");
    std::fs::create_dir(&m).unwrap();
    std::fs::copy(models_dir().join("u2netp/model.toml"), m.join("model.toml")).unwrap();
    std::fs::write(m.join("u2netp.onnx"), b"tampered").unwrap();
    let out = edge_agent().args(["models", "verify", "--models-dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BAD"), "{text}");
}

#[test]
fn the_demo_runs_end_to_end() {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let out = edge_agent()
        .args(["run", "--config", "demo/config.toml", "--max-frames", "4", "--output"])
        .arg(out_file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(out_file.path()).unwrap();
    let results: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), 8, "two cameras x four frames");
    for camera in ["station-bin-a", "station-bin-b"] {
        let fruit = results
            .iter()
            .find(|r| r["camera"] == camera && r["origin"].as_str().unwrap().ends_with("01-fruits.jpg"))
            .unwrap_or_else(|| panic!("{camera} saw the fruit"));
        assert_eq!(fruit["category"]["category"], "kitchen");
        assert_eq!(fruit["model"], "efficientnet-lite0");
        assert_eq!(fruit["provider"]["active"], "cpu");
    }
}

#[test]
fn simulate_station_writes_replayable_footage_and_its_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("station");
    let o = edge_agent().args(["simulate-station", "--seconds", "6", "--fps", "5", "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("30 frames at 5 fps; items dropped: 1, into the wrong bin: 1"), "{}", String::from_utf8_lossy(&o.stdout));
    let list = std::fs::read_to_string(out.join("frames.txt")).unwrap();
    assert_eq!(list.lines().count(), 30);
    assert!(list.lines().all(|l| std::path::Path::new(l).is_absolute() && std::path::Path::new(l).is_file()));
    let cal = edge_agent::calibration::Calibration::load(&out.join("station-bins.toml")).unwrap();
    assert_eq!(cal.file.zones.iter().filter(|z| z.category.is_some()).count(), 4, "four bins with their categories");
    let bad = edge_agent().args(["simulate-station", "--seconds", "0", "--out"]).arg(&out).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--seconds"));
}
