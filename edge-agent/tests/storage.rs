//! The pod storage watch end to end: seeded storage-room footage from
//! `edge-agent simulate-storage`, run through `edge-agent storage` (the
//! offline command) and through a running agent on a real broker with
//! `cmd/transfer-out` and `cmd/inspect-now`.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Renders a room with one planted fault into `dir`; returns the truth (`due` findings).
fn simulate(dir: &Path, scenario: &str, view: &str, minutes: u32, seed: u32) -> Vec<Value> {
    let out = Command::new(common::bin())
        .args(["simulate-storage", "--out"])
        .arg(dir)
        .args(["--scenario", scenario, "--view", view, "--minutes", &minutes.to_string(), "--interval", "15s", "--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("edge-agent storage --calibration"), "it says how to run it: {stdout}");
    serde_json::from_slice::<Vec<Value>>(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

fn frames(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut f: Vec<_> = std::fs::read_dir(dir.join("frames")).unwrap().map(|e| e.unwrap().path()).collect();
    f.sort();
    f
}

/// Runs `edge-agent storage` on the room; returns the printed events.
fn watch(dir: &Path, extra: &[&str]) -> (Vec<Value>, String) {
    let out = Command::new(common::bin())
        .arg("storage")
        .arg("--calibration")
        .arg(dir.join("calibration.toml"))
        .arg("--ledger")
        .arg(dir.join("ledger.json"))
        .arg("--ledger-acts")
        .arg(dir.join("ledger-acts.jsonl"))
        .args(["--interval", "15s", "--start", "2026-12-07T09:00:00+08:00", "--report"])
        .args(extra)
        .args(frames(dir))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let events = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (events, stderr)
}

fn alerts(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["priority"] == "alert").collect()
}

fn named(event: &Value) -> Vec<String> {
    event["details"]["containers"].as_array().map(|a| a.iter().filter_map(|c| c["id_code"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

#[test]
fn a_drum_gone_without_a_manifest_is_missing_and_the_report_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let truth = simulate(dir.path(), "missing", "top", 10, 3);
    let (events, stderr) = watch(dir.path(), &[]);
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1, "one alert, the missing drum: {alerts:#?}\n{stderr}");
    let missing = alerts[0];
    assert_eq!(missing["event"], "storage.missing");
    assert_eq!(named(missing), vec![truth[0]["subjects"][0].as_str().unwrap().to_string()]);
    // Last seen on the frame before the removal (frames every 15 s), missing `missing_after` later.
    assert!(missing["t_s"].as_f64().unwrap() >= truth[0]["at_s"].as_f64().unwrap() + 300.0 - 15.0, "not before `missing_after`: {missing}");
    assert!(missing["message_zh"].as_str().unwrap().contains("容器缺失"), "{missing}");
    // The report: every zone, the drums still there counted, the finding open.
    let report = events.last().unwrap();
    assert_eq!(report["event"], "inspection.daily");
    let d = &report["details"];
    let ledger: Value = serde_json::from_slice(&std::fs::read(dir.path().join("ledger.json")).unwrap()).unwrap();
    let stocked = ledger["records"].as_array().unwrap().len() as u64;
    assert_eq!(d["totals"]["containers"], stocked - 1, "{d:#}");
    assert_eq!(d["totals"]["identified"], stocked - 1, "every lid code read: {d:#}");
    assert_eq!(d["zones"].as_array().unwrap().len(), 4);
    assert_eq!(d["findings"].as_array().unwrap().len(), 1);
    assert_eq!(d["findings"][0]["kind"], "missing");
    assert_eq!(d["safety"].as_array().unwrap().len(), 3);
    assert!(d["safety"].as_array().unwrap().iter().all(|s| s["present"] == true), "{d:#}");
    assert_eq!(d["clean"], false);
}

#[test]
fn a_drum_that_left_on_a_manifest_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(simulate(dir.path(), "transferred", "top", 10, 3).is_empty());
    let (events, stderr) = watch(dir.path(), &[]);
    assert!(alerts(&events).is_empty(), "{:#?}\n{stderr}", alerts(&events));
    let report = events.last().unwrap();
    assert_eq!(report["details"]["clean"], true, "{report:#}");
}

#[test]
fn an_acid_drum_next_to_an_alkali_drum_is_segregation_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let truth = simulate(dir.path(), "incompatible", "top", 8, 3);
    let (events, stderr) = watch(dir.path(), &[]);
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1, "{alerts:#?}\n{stderr}");
    assert_eq!(alerts[0]["event"], "storage.segregation");
    let mut got = named(alerts[0]);
    got.sort();
    let mut want: Vec<String> = truth[0]["subjects"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    let reason = alerts[0]["details"]["reason"].as_str().unwrap();
    assert!(reason.contains("HW34 (acids)") && reason.contains("HW35 (alkalis)"), "{reason}");
    assert!(alerts[0]["message_zh"].as_str().unwrap().contains("不相容"), "{}", alerts[0]);
}

#[test]
fn a_side_camera_flags_an_unregistered_drum_and_a_taken_sign() {
    let dir = tempfile::tempdir().unwrap();
    let truth = simulate(dir.path(), "unregistered", "side", 8, 4);
    let (events, stderr) = watch(dir.path(), &["--settings", "view = \"side\""]);
    let raised = alerts(&events);
    assert_eq!(raised.len(), 1, "{raised:#?}\n{stderr}");
    assert_eq!(raised[0]["event"], "storage.unregistered");
    assert_eq!(named(raised[0]), vec![truth[0]["subjects"][0].as_str().unwrap().to_string()]);

    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "sign-removed", "top", 8, 3);
    let evidence = dir.path().join("evidence");
    let (events, stderr) = watch(dir.path(), &["--evidence", evidence.to_str().unwrap()]);
    let raised = alerts(&events);
    assert_eq!(raised.len(), 1, "{raised:#?}\n{stderr}");
    assert_eq!(raised[0]["event"], "safety.missing");
    assert_eq!(raised[0]["details"]["zone"], "door-sign");
    assert_eq!(raised[0]["details"]["item"], "sign");
    let picture = std::fs::read(raised[0]["evidence"].as_str().unwrap()).unwrap();
    assert!(picture.starts_with(&[0xff, 0xd8]));
    let report = events.last().unwrap();
    let sign = report["details"]["safety"].as_array().unwrap().iter().find(|s| s["zone"] == "door-sign").unwrap().clone();
    assert_eq!(sign["present"], false, "{report:#}");
}

#[test]
fn bad_input_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "none", "top", 1, 3);
    let run = |args: &[&str]| Command::new(common::bin()).arg("storage").args(args).output().unwrap();
    let cal = dir.path().join("calibration.toml");
    let frame = frames(dir.path())[0].clone();
    // A corrupt frame is skipped and said so; the good one still runs.
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8 not really").unwrap();
    let out = run(&["--calibration", cal.to_str().unwrap(), corrupt.to_str().unwrap(), frame.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 unreadable frames skipped"), "{}", String::from_utf8_lossy(&out.stderr));
    // A ledger that is not one.
    let bad = dir.path().join("bad-ledger.json");
    std::fs::write(&bad, b"[1, 2]").unwrap();
    let out = run(&["--calibration", cal.to_str().unwrap(), "--ledger", bad.to_str().unwrap(), frame.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is not a ledger") && err.contains("storage-ledger.json"), "{err}");
    // Settings out of range, a table that names no real category.
    let out = run(&["--calibration", cal.to_str().unwrap(), "--settings", "separation_mm = -3", frame.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("separation_mm"), "{}", String::from_utf8_lossy(&out.stderr));
    let table = dir.path().join("table.toml");
    std::fs::write(&table, "[groups]\nacids = [\"HW99\"]\n").unwrap();
    let out = run(&["--calibration", cal.to_str().unwrap(), "--settings", &format!("incompatibility = \"{}\"", table.display()), frame.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HW99"), "{}", String::from_utf8_lossy(&out.stderr));
    // A calibration without storage zones, and one whose zone allows a category that does not exist.
    let text = std::fs::read_to_string(&cal).unwrap();
    let no_storage = dir.path().join("no-storage.toml");
    std::fs::write(&no_storage, text.replace("kind = \"storage\"", "kind = \"floor\"").replace("allow = [\"HW08\", \"HW09\", \"HW12\", \"HW49\"]\n", "").replace("allow = [\"HW34\"]\n", "").replace("allow = [\"HW35\"]\n", "")).unwrap();
    let out = run(&["--calibration", no_storage.to_str().unwrap(), frame.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("kind = \"storage\""), "{err}");
    let wrong = dir.path().join("wrong-allow.toml");
    std::fs::write(&wrong, text.replace("\"HW34\"", "\"HW42\"")).unwrap();
    let out = run(&["--calibration", wrong.to_str().unwrap(), frame.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("HW42") && err.contains("HW01-HW50"), "{err}");
}

#[test]
fn the_agent_takes_transfers_and_inspection_requests_over_mqtt() {
    use common::mqtt::{Collector, ReplayAgent, assert_valid};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let room = dir.path().join("room");
    simulate(&room, "none", "top", 1, 3);
    // A still of the stocked room, the ledger in the agent's state folder.
    let list = dir.path().join("frames.txt");
    let still = frames(&room)[0].display().to_string();
    std::fs::write(&list, std::iter::repeat_n(still, 3000).collect::<Vec<_>>().join("\n")).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::copy(room.join("ledger.json"), dir.path().join("state/storage-ledger.json")).unwrap();
    let ledger: Value = serde_json::from_slice(&std::fs::read(room.join("ledger.json")).unwrap()).unwrap();
    let stocked: Vec<String> = ledger["records"].as_array().unwrap().iter().map(|r| r["id_code"].as_str().unwrap().to_string()).collect();
    let task = "id = \"store\"\nkind = \"storage\"\nsettle = \"1s\"\nmissing_after = \"3s\"\nclear_after = \"2s\"\nsafety_after = \"2s\"\ninspection_at = \"03:00\"\ncapacity_kg = 400\ncapacity_levels = [0.8]";
    let mut agent = ReplayAgent::start(dir.path(), task, "store", "storage-1", &list, &room.join("calibration.toml"), 3000);
    let base = "zwaste/v1/pod-07/edge-1";
    let sub = Collector::start(&agent.broker(), &format!("{base}/#"), false);
    sub.wait_for("the agent online", Duration::from_secs(30), |m| m.iter().any(|x| x.topic.ends_with("/status") && x.json()["state"] == "online"));
    let send = |name: &str, body: Value| sub.publish(&format!("{base}/cmd/{name}"), serde_json::to_vec(&body).unwrap(), false);
    let reply = |request: &str| {
        let request = request.to_string();
        let wanted = request.clone();
        sub.wait_for(&format!("reply to {request}"), Duration::from_secs(30), move |m| m.iter().any(|x| x.topic.contains("/reply/") && x.json()["request_id"] == wanted.as_str()));
        sub.snapshot().into_iter().find(|x| x.topic.contains("/reply/") && x.json()["request_id"] == request).unwrap().json()
    };
    // Hostile and wrong transfers change nothing.
    send("transfer-out", serde_json::json!({"request_id": "t-bad", "manifest_no": "2026'; DROP", "containers": [stocked[0]]}));
    let r = reply("t-bad");
    assert_eq!((r["ok"].clone(), r["error"]["code"].clone()), (Value::Bool(false), Value::from("invalid")), "{r}");
    let stranger = format!("{}ZZZ", &stocked[0][..34]);
    send("transfer-out", serde_json::json!({"request_id": "t-unknown", "manifest_no": "20261201000077", "containers": [stocked[0], stranger]}));
    let r = reply("t-unknown");
    assert_eq!(r["error"]["code"], "rejected", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains(&stranger), "{r}");
    // A real transfer: the drum is out of the ledger, yet still stands there.
    send("transfer-out", serde_json::json!({"request_id": "t-ok", "manifest_no": "20261201000078", "containers": [stocked[0]]}));
    let r = reply("t-ok");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["result"]["transferred"], serde_json::json!([stocked[0]]));
    assert_eq!(r["result"]["in_stock"], stocked.len() - 1);
    let first = stocked[0].clone();
    sub.wait_for("storage.unregistered for the transferred drum", Duration::from_secs(60), move |m| {
        m.iter().any(|x| x.topic.ends_with("/events/storage") && x.json()["details"]["event"] == "storage.unregistered" && x.json()["details"]["containers"][0]["id_code"] == first.as_str())
    });
    send("inspect-now", serde_json::json!({"request_id": "inspect-1"}));
    assert_eq!(reply("inspect-1")["ok"], true);
    sub.wait_for("the inspection report", Duration::from_secs(60), |m| m.iter().any(|x| x.topic.ends_with("/events/inspection")));
    let got = sub.snapshot();
    let report = got.iter().find(|x| x.topic.ends_with("/events/inspection")).unwrap().json();
    assert_valid("event", &report);
    let d = &report["details"];
    assert_eq!((d["trigger"].clone(), d["request_id"].clone()), (Value::from("command"), Value::from("inspect-1")), "{d:#}");
    assert_eq!(d["totals"]["containers"], stocked.len(), "{d:#}");
    assert_eq!(d["totals"]["ledger_in_stock"], stocked.len() - 1);
    assert_eq!(d["findings"][0]["kind"], "unregistered");
    let picture = got.iter().find(|x| x.topic == report["evidence"]["topic"].as_str().unwrap()).expect("the composite picture");
    assert!(picture.payload.starts_with(&[0xff, 0xd8]));
    // 80 % of the 400 kg given: one warning when the ledger's stock starts above it, none otherwise.
    // The first frame may come before or after the transfer (the agent is online before its camera runs).
    let records = ledger["records"].as_array().unwrap();
    let kg: f64 = records.iter().map(|r| r["weight_kg"].as_f64().unwrap()).sum();
    let kg_after = kg - records[0]["weight_kg"].as_f64().unwrap();
    let capacity: Vec<Value> = got.iter().filter(|x| x.topic.ends_with("/events/storage")).map(|x| x.json()).filter(|e| e["verdict"] == "capacity").collect();
    if kg_after >= 320.0 {
        assert_eq!(capacity.len(), 1, "stock {kg} kg: {capacity:#?}");
    }
    assert!(capacity.len() <= usize::from(kg >= 320.0), "stock {kg} kg: {capacity:#?}");
    if let Some(c) = capacity.first() {
        assert_eq!(c["details"]["level"], 0.8);
        let stock = c["details"]["stock_kg"].as_f64().unwrap();
        assert!((stock - kg).abs() < 0.5 || (stock - kg_after).abs() < 0.5, "{c}");
    }
    for e in got.iter().filter(|x| x.topic.contains("/events/")) {
        assert_valid("event", &e.json());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && agent.child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    // The transfer is on disk.
    let kept: Value = serde_json::from_slice(&std::fs::read(dir.path().join("state/storage-ledger.json")).unwrap()).unwrap();
    let moved = kept["records"].as_array().unwrap().iter().find(|r| r["id_code"] == stocked[0].as_str()).unwrap().clone();
    assert_eq!(moved["transfer"]["manifest_no"], "20261201000078", "{kept:#}");
    assert!(kept["records"].as_array().unwrap().iter().filter(|r| r["transfer"].is_null()).count() == stocked.len() - 1);
}
