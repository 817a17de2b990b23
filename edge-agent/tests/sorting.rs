//! The sorting station end to end: an agent watches four bins on a replayed
//! camera (seeded footage of real item photos dropped into bins), prompts the
//! station display over SSE for an item in the wrong bin, tells the platform
//! (a `sorting` event with its picture, counts in the heartbeat), and turns a
//! manager's `cmd/label-feedback` into an enrolled example. Also the
//! `enroll` command on real photos.

mod common;

use common::mqtt::{Collector, ReplayAgent, assert_valid, wait_for_port};
use edge_agent::enroll::Enrollment;
use edge_agent::simulate::station::{self, Drop, StationScene};
use edge_agent::waste::WasteCategory;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const FPS: f64 = 10.0;

/// Reads prompts off the station display's event stream.
fn station_prompts(port: u16) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return };
        let _ = write!(s, "GET /station/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
        let mut event = String::new();
        for line in BufReader::new(s).lines().map_while(Result::ok) {
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                if event == "prompt" {
                    let _ = tx.send(serde_json::from_str(d.trim()).unwrap_or_default());
                }
            }
        }
    });
    rx
}

/// Renders the drops as a replay list at 10 fps; returns the list file.
fn render(dir: &Path, scene: &StationScene, drops: &[Drop], seconds: f64) -> std::path::PathBuf {
    let mut names = Vec::new();
    for i in 0..(seconds * FPS) as usize {
        let (img, _) = scene.frame(drops, i as f64 / FPS);
        let path = dir.join(format!("f{i:04}.jpg"));
        img.save(&path).unwrap();
        names.push(path.display().to_string());
    }
    let list = dir.join("frames.txt");
    std::fs::write(&list, names.join("\n")).unwrap();
    list
}

#[test]
fn a_wrong_item_prompts_the_attendant_tells_the_platform_and_feedback_enrolls_it() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    // Items set down into the openings (no hand in view; `bench-sorting` has hands).
    let scene = StationScene::new(1280, 720, 7).with_hands(false);
    let photos = station::item_photos().unwrap();
    let fruit = Arc::new(photos.iter().find(|p| p.id.starts_with("apple")).or_else(|| photos.iter().find(|p| p.label_zh == "水果")).unwrap().clone());
    assert_eq!(fruit.category, WasteCategory::Kitchen);
    let bins = scene.bin_categories();
    let (green, blue) = (bins.iter().position(|c| *c == WasteCategory::Kitchen).unwrap(), bins.iter().position(|c| *c == WasteCategory::Recyclable).unwrap());
    // A fruit into the blue bin (wrong), later one into the green bin (right).
    let drops = vec![
        Drop { item: fruit.clone(), bin: blue, start_s: 2.0, hold_s: 1.5, nuisance: false },
        Drop { item: fruit.clone(), bin: green, start_s: 6.0, hold_s: 1.5, nuisance: false },
    ];
    let list = render(&frames, &scene, &drops, 10.0);
    let cal = dir.path().join("station.toml");
    edge_agent::calibration::Calibration::write(&scene.calibration("station-bins"), &cal).unwrap();

    // The site has enrolled its items: photos of fruit and of paper goods, with `edge-agent enroll`.
    let enroll = |label: &str, pick: &dyn Fn(&station::ItemPhoto) -> bool| {
        let files: Vec<_> = photos
            .iter()
            .filter(|p| pick(p))
            .map(|p| {
                let f = dir.path().join(format!("{}.png", p.id));
                p.image.save(&f).unwrap();
                f
            })
            .collect();
        let o = std::process::Command::new(common::bin())
            .args(["enroll", "--label", label, "--state-dir"])
            .arg(dir.path().join("state"))
            .args(["--models-dir"])
            .arg(common::models_dir())
            .args(&files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    enroll("水果", &|p| p.label_zh == "水果");
    enroll("纸盒", &|p| p.label_zh == "纸盒");
    enroll("纸牌", &|p| p.label_zh == "纸牌");
    let task = "id = \"sorting\"\nkind = \"sorting\"\ncooldown = \"5s\"";
    let mut agent = ReplayAgent::start(dir.path(), task, "sorting", "station-bins", &list, &cal, 100);
    assert!(wait_for_port(agent.web_port, Duration::from_secs(30)), "the station display is not served:\n{}", agent.log_text());
    let prompts = station_prompts(agent.web_port);
    let base = "zwaste/v1/pod-07/edge-1";
    let sub = Collector::start(&agent.broker(), &format!("{base}/#"), false);

    let prompt = prompts.recv_timeout(Duration::from_secs(40)).unwrap_or_else(|_| {
        let results = std::fs::read_to_string(dir.path().join("results.jsonl")).unwrap_or_default();
        let decided: Vec<&str> = results.lines().filter(|l| !l.contains("\"decided\":[]") || l.contains("\"watching\":[\"")).collect();
        panic!("no prompt on the display:\n{}\nframes with an item:\n{}", agent.log_text(), decided.join("\n"))
    });
    assert_eq!(prompt["verdict"], "misclassification", "{prompt}");
    assert_eq!(prompt["bin"]["category"], "recyclable");
    assert_eq!(prompt["expected_bin"]["category"], "kitchen");
    assert_eq!(prompt["expected_bin"]["colour"], "green");
    assert!(prompt["headline_zh"].as_str().unwrap().contains("厨余垃圾"), "{prompt}");
    assert!(prompt["message_zh"].as_str().unwrap().contains("绿色"), "{prompt}");
    let id = prompt["id"].as_str().unwrap().to_string();
    // The item's picture is served to the screen.
    let picture = prompt["picture"].as_str().unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", agent.web_port)).unwrap();
    write!(s, "GET {picture} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200") && response.windows(2).any(|w| w == [0xff, 0xd8]), "no JPEG at {picture}");

    // The platform gets the same item as one `sorting` event, with its picture.
    let got = sub.wait_for("the sorting event and its picture", Duration::from_secs(30), |m| {
        m.iter().any(|x| x.topic.ends_with("/events/sorting")) && m.iter().any(|x| x.topic.ends_with(&format!("/evidence/{id}")))
    });
    let events: Vec<_> = got.iter().filter(|x| x.topic.ends_with("/events/sorting")).map(|x| x.json()).collect();
    let event = &events[0];
    assert_valid("event", event);
    assert_eq!(event["event_id"], id.as_str(), "the display and the platform name the same item");
    assert_eq!((event["verdict"].as_str(), event["priority"].as_str()), (Some("misclassification"), Some("alert")));
    let d = &event["details"];
    assert_eq!(d["event"], "sorting.misclassification");
    assert_eq!(d["bin"]["zone"], "bin-recyclable");
    assert_eq!(d["expected_bin"]["zone"], "bin-kitchen");
    assert!(d["frames"]["agreeing"].as_u64().unwrap() >= 2, "decided by agreement over frames: {d}");
    assert_eq!(d["rules_version"], edge_agent::waste::RulesTable::builtin().version.as_str());
    assert_eq!(d["item"]["decided_by"], "enrolled", "{d}");
    assert!(d["enrollment"]["examples"].as_u64().unwrap() >= 10, "{d}");

    // The heartbeat counts per bin; the right drop is counted, not prompted.
    let beats = sub.wait_for("a heartbeat counting both items", Duration::from_secs(30), |m| {
        m.iter().filter(|x| x.topic.ends_with("/heartbeat")).any(|x| {
            let s = &x.json()["sorting"];
            s.as_array().is_some_and(|bins| bins.iter().map(|b| b["items"].as_u64().unwrap_or(0)).sum::<u64>() >= 2)
        })
    });
    let beat = beats.iter().rev().find(|x| x.topic.ends_with("/heartbeat")).unwrap().json();
    assert_valid("heartbeat", &beat);
    let blue_bin = beat["sorting"].as_array().unwrap().iter().find(|b| b["zone"] == "bin-recyclable").expect("the blue bin is counted").clone();
    assert_eq!((blue_bin["items"].as_u64(), blue_bin["wrong"].as_u64()), (Some(1), Some(1)), "{beat}");
    assert_eq!(blue_bin["contamination_rate"], 1.0);
    let sorting_events = sub.snapshot().iter().filter(|x| x.topic.ends_with("/events/sorting")).count();
    assert_eq!(sorting_events, 1, "one item, one decision; the right one is silent:\n{}", agent.log_text());

    // A manager confirms it: the item becomes an enrolled example, once.
    let feedback = serde_json::json!({"request_id": "review-1", "event_id": id, "verdict": "correct", "reviewer": "zhang.wei"});
    for _ in 0..2 {
        sub.publish(&format!("{base}/cmd/label-feedback"), feedback.to_string().into_bytes(), false);
    }
    let got = sub.wait_for("two feedback replies", Duration::from_secs(20), |m| m.iter().filter(|x| x.topic.ends_with("/reply/label-feedback")).count() >= 2);
    let replies: Vec<_> = got.iter().filter(|x| x.topic.ends_with("/reply/label-feedback")).map(|x| x.json()).collect();
    for r in &replies {
        assert_valid("reply", r);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["result"]["category"], "kitchen");
    }
    assert_eq!(replies.iter().filter(|r| r["result"]["enrolled"] == true).count(), 1, "a redelivery enrolls nothing twice: {replies:?}");
    // Feedback on an event whose picture is not on the box changes nothing and says why.
    let unknown = serde_json::json!({"request_id": "review-2", "event_id": "019ad0f2-5e07-7c33-8a4d-2f91b6e0c718", "verdict": "wrong", "category": "other"});
    sub.publish(&format!("{base}/cmd/label-feedback"), unknown.to_string().into_bytes(), false);
    let got = sub.wait_for("the refusal", Duration::from_secs(20), |m| m.iter().any(|x| x.topic.ends_with("/reply/label-feedback") && x.json()["request_id"] == "review-2"));
    let refusal = got.iter().filter(|x| x.topic.ends_with("/reply/label-feedback")).map(|x| x.json()).find(|r| r["request_id"] == "review-2").unwrap();
    assert_eq!(refusal["error"]["code"], "not_applicable", "{refusal}");

    let status = agent.child.wait().unwrap();
    assert!(status.success(), "{}", agent.log_text());
    let store = Enrollment::open(&dir.path().join("state")).unwrap();
    let from_feedback: Vec<_> = store.examples().iter().filter(|e| e.source == format!("feedback:{id}")).collect();
    assert_eq!(from_feedback.len(), 1, "{:?}", store.examples());
    assert_eq!(from_feedback[0].category, WasteCategory::Kitchen);
}

#[test]
fn enroll_adds_lists_exports_imports_and_removes_site_examples() {
    let photos = Path::new(edge_agent::simulate::OPENCV_DATA);
    let (a, b, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let models = common::models_dir();
    let run = |state: &Path, args: &[&str]| {
        let o = std::process::Command::new(common::bin())
            .arg("enroll")
            .args(args)
            .args(["--state-dir"])
            .arg(state)
            .args(["--models-dir"])
            .arg(&models)
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, stdout, stderr) = run(a.path(), &["--label", "苹果", photos.join("apple.jpg").to_str().unwrap(), photos.join("orange.jpg").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("苹果 → 厨余垃圾"), "the category comes from the rules table: {stdout}");
    // A category the Beijing rules contradict is refused with the reason.
    let (code, _, stderr) = run(a.path(), &["--label", "大棒骨", "--category", "kitchen", photos.join("stuff.jpg").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("其他垃圾") && stderr.contains("--override-rules"), "{stderr}");
    // An unknown label needs its category; a bad picture is named and the rest still enrolled.
    let (code, _, stderr) = run(a.path(), &["--label", "月饼盒", photos.join("box.png").to_str().unwrap()]);
    assert!(code == Some(1) && stderr.contains("--category"), "{stderr}");
    let corrupt = a.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8 not a picture").unwrap();
    let (code, stdout, stderr) = run(a.path(), &["--label", "月饼盒", "--category", "recyclable", corrupt.to_str().unwrap(), photos.join("box.png").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("corrupt.jpg") && stdout.contains("月饼盒 → 可回收物"), "{stdout}{stderr}");

    let (_, stdout, _) = run(a.path(), &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let examples = listed["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 3);
    assert_eq!(listed["version"], 3);
    assert!(Path::new(examples[0]["picture"].as_str().unwrap()).exists());

    let (code, _, stderr) = run(a.path(), &["export", out.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(out.path().join("kitchen/苹果").is_dir() && out.path().join("manifest.json").is_file());
    let (code, stdout, stderr) = run(b.path(), &["import", out.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(Enrollment::open(b.path()).unwrap().examples().len(), 3);

    let id = examples[0]["id"].as_str().unwrap();
    let (code, stdout, _) = run(a.path(), &["remove", id]);
    assert!(code == Some(0) && stdout.contains(id));
    let (code, _, stderr) = run(a.path(), &["remove", "nosuchid"]);
    assert!(code == Some(1) && stderr.contains("enroll list"), "{stderr}");
    let left = Enrollment::open(a.path()).unwrap();
    assert_eq!((left.examples().len(), left.version()), (2, 4));
}

#[test]
fn the_sorting_task_config_is_checked_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("cam.toml");
    let mut file = StationScene::new(640, 360, 1).calibration("cam");
    file.zones.clear();
    edge_agent::calibration::Calibration::write(&file, &cal).unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"s\"\ndevice_id = \"d\"\nmodels_dir = \"{}\"\n[[tasks]]\nid = \"sorting\"\nkind = \"sorting\"\nclassifier = \"u2netp\"\nrules = \"missing-rules.toml\"\ndecision = {{ min_agreeing_frames = 0, prompt_confidence = 0.2, unsure_confidence = 0.4 }}\n[[cameras]]\nid = \"cam\"\nsource = {{ kind = \"replay\", path = \"x\" }}\ncalibration = \"cam.toml\"\ntasks = [\"sorting\"]\n",
            common::models_dir().display()
        ),
    )
    .unwrap();
    let err = edge_agent::config::Config::load(&config).unwrap_err().to_string();
    for needle in ["decision.min_agreeing_frames", "unsure_confidence <= prompt_confidence", "tasks[0].classifier", "missing-rules.toml", "no bin zones"] {
        assert!(err.contains(needle), "`{needle}` not in:\n{err}");
    }
}
