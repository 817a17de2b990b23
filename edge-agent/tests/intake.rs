//! Pod intake on seeded generated labels (`edge_agent::simulate::intake`):
//! the real PP-OCRv6 models and rxing read them, every check is exercised by a
//! deliberately wrong label or slip, and the agent reads a container once it
//! stands still and publishes the intake event over MQTT.

mod common;

use common::*;
use edge_agent::inference::{InferenceConfig, ModelPool};
use edge_agent::label::Inspector;
use edge_agent::label::catalogue::Catalogue;
use edge_agent::label::checks::{CheckSettings, Verdict};
use edge_agent::label::fields::LabelField;
use edge_agent::ocr::OcrEngine;
use edge_agent::simulate::intake::{Defect, IntakeCase, case_with, intake_day};
use edge_agent::simulate::label::load_font;
use std::process::Command;
use std::sync::Arc;

const SEED: u64 = 2026;

fn inspector() -> Inspector {
    let pool = ModelPool::load(&models_dir(), InferenceConfig::default()).unwrap();
    let ocr = OcrEngine::new(&pool, "ppocr-v6-det", Some("ppocr-cls"), "ppocr-v6-rec").unwrap();
    Inspector::new(ocr, Arc::new(Catalogue::builtin()), CheckSettings::default())
}

/// A case with light damage (severity 0.3), so every field can be read.
fn light_case(index: usize, defect: Option<Defect>) -> IntakeCase {
    case_with(SEED, index, defect, Some(0.3), &Catalogue::builtin(), &load_font().unwrap())
}

#[test]
fn correct_labels_are_read_field_by_field_and_accepted_against_their_slips() {
    let inspector = inspector();
    for index in 0..3 {
        let c = light_case(index, None);
        let truth = c.content.clone().unwrap();
        let frame = edge_agent::vision::decode_image(&c.jpeg).unwrap();
        let i = inspector.inspect(&frame, Some(&c.slip), intake_day()).unwrap();
        let codes: Vec<_> = i.findings.iter().map(|f| f.code).collect();
        if c.occluded.is_empty() {
            assert_eq!(i.verdict, Verdict::Accept, "case {index}: {codes:?}");
        }
        assert!(i.label.title_found, "case {index}: the title 危险废物");
        for (field, expected) in [
            (LabelField::WasteCode, &truth.waste_code),
            (LabelField::Category, &truth.category),
            (LabelField::Date, &truth.date),
        ] {
            if !c.occluded.contains(&field) {
                assert_eq!(i.label.value(field), Some(expected.as_str()), "case {index}: {field:?}");
            }
        }
        assert!(i.label.get(LabelField::WasteCode).unwrap().bounds[2] > 0.0, "each field has its box");
        // The printed id code is 37 small characters: when OCR reads all of them they are right.
        if let Some(id) = i.label.get(LabelField::IdCode).filter(|f| f.well_formed) {
            assert_eq!(id.value, truth.id_code, "case {index}");
        }
        match &i.qr {
            edge_agent::label::checks::QrRead::Decoded(p) => assert_eq!(p.id_code.as_deref(), Some(truth.id_code.as_str())),
            other => panic!("case {index}: QR not read: {other:?}"),
        }
    }
}

#[test]
fn every_kind_of_wrong_label_or_slip_is_rejected_with_its_own_finding() {
    let inspector = inspector();
    let mut missed = Vec::new();
    for (k, defect) in Defect::ALL.into_iter().enumerate() {
        let c = light_case(100 + k, Some(defect));
        let frame = edge_agent::vision::decode_image(&c.jpeg).unwrap();
        let i = inspector.inspect(&frame, Some(&c.slip), intake_day()).unwrap();
        let codes: Vec<_> = i.findings.iter().map(|f| f.code).collect();
        if i.verdict != Verdict::Reject || !codes.contains(&defect.finding()) {
            missed.push(format!("{defect:?}: {:?} {codes:?} (covered: {:?})", i.verdict, c.occluded));
        }
    }
    assert!(missed.is_empty(), "not caught:\n{}", missed.join("\n"));
}

#[test]
fn medical_waste_is_referred_to_hj_421_not_failed() {
    use edge_agent::label::checks::{Observed, QrRead, check};
    use edge_agent::label::parse::parse_label;
    use edge_agent::ocr::OcrLine;
    let line = |text: &str, y: f32| OcrLine { text: text.into(), confidence: 0.98, quad: [[10.0, y], [300.0, y], [300.0, y + 30.0], [10.0, y + 30.0]] };
    let label = parse_label(&[line("危险废物", 0.0), line("废物名称:感染性废物", 40.0), line("废物类别:HW01", 80.0), line("废物代码:841-001-01", 120.0)]);
    let seen = Observed { label: &label, label_colour_seen: true, qr: &QrRead::NotFound };
    let (findings, verdict) = check(&seen, None, intake_day(), &Catalogue::builtin(), &CheckSettings::default());
    assert_eq!(verdict, Verdict::Review);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, "label.medical_hj421");
    assert!(findings[0].message_zh.contains("HJ 421"));
}

#[test]
fn inspect_prints_fields_findings_and_timings_and_marks_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let c = light_case(7, Some(Defect::SlipCompany));
    let image = dir.path().join("drum.jpg");
    std::fs::write(&image, &c.jpeg).unwrap();
    let slip = dir.path().join("slip.json");
    let mut value = serde_json::to_value(&c.slip).unwrap();
    value.as_object_mut().unwrap().remove("request_id");
    std::fs::write(&slip, serde_json::to_vec(&value).unwrap()).unwrap();
    let evidence = dir.path().join("evidence.jpg");
    let out = Command::new(bin())
        .args(["inspect", "--json", "--at", "2026-11-29T10:00:00+08:00", "--models-dir"])
        .arg(models_dir())
        .arg(&image)
        .arg("--slip")
        .arg(&slip)
        .arg("--evidence")
        .arg(&evidence)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let i = &doc["inspection"];
    assert_eq!(i["verdict"], "reject", "{i}");
    let company = i["findings"].as_array().unwrap().iter().find(|f| f["code"] == "slip.company_mismatch").expect("the company finding");
    assert_eq!(company["severity"], "error");
    assert!(company["message_zh"].as_str().unwrap().contains("申报单"));
    assert!(!company["message_en"].as_str().unwrap().is_empty());
    assert_eq!(company["expected"], c.slip.company.name.as_str());
    assert!(i["timings"]["total_ms"].as_f64().unwrap() > 0.0);
    assert!(i["label"]["fields"].as_array().unwrap().iter().any(|f| f["field"] == "waste_code" && f["confidence"].as_f64().unwrap() > 0.5));
    let picture = std::fs::read(&evidence).unwrap();
    assert!(picture.starts_with(&[0xff, 0xd8]), "a JPEG");
    // The evidence marks the mismatching field in red.
    let marked = image::load_from_memory(&picture).unwrap().to_rgb8();
    assert!(marked.pixels().any(|p| p.0[0] > 230 && p.0[1] < 30 && p.0[2] < 30), "a red box");

    let text = Command::new(bin()).args(["inspect", "--models-dir"]).arg(models_dir()).arg(&image).output().unwrap();
    let report = String::from_utf8_lossy(&text.stdout);
    assert!(report.contains("verdict: review") && report.contains("slip.none") && report.contains("废物代码"), "{report}");
}

#[test]
fn bad_pictures_and_bad_slips_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, [0xff, 0xd8, 0xff, 0x00, 0x01, 0x02]).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(bin()).arg("inspect").arg("--models-dir").arg(models_dir()).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = run(&[broken.as_os_str()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("broken.jpg") && err.contains("JPEG or PNG"), "{err}");
    let (_, err) = run(&[dir.path().join("missing.jpg").as_os_str()]);
    assert!(err.contains("missing.jpg"), "{err}");

    let c = light_case(8, None);
    let image = dir.path().join("drum.jpg");
    std::fs::write(&image, &c.jpeg).unwrap();
    let slip = dir.path().join("slip.json");
    let mut value = serde_json::to_value(&c.slip).unwrap();
    value["waste_code"] = "900-249".into();
    std::fs::write(&slip, serde_json::to_vec(&value).unwrap()).unwrap();
    let (code, err) = run(&[image.as_os_str(), "--slip".as_ref(), slip.as_os_str()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("cmd-intake-slip.schema.json") && err.contains("/waste_code"), "{err}");
    std::fs::write(&slip, b"{ not json").unwrap();
    let (_, err) = run(&[image.as_os_str(), "--slip".as_ref(), slip.as_os_str()]);
    assert!(err.contains("not JSON"), "{err}");
    let (_, err) = run(&[image.as_os_str(), "--settings".as_ref(), "weight_tolerance = 3".as_ref()]);
    assert!(err.contains("weight_tolerance"), "{err}");
}

#[test]
fn the_agent_reads_a_container_once_it_stands_still_and_publishes_the_intake_with_its_slip() {
    use common::mqtt::{Collector, ReplayAgent, assert_valid};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let c = light_case(3, None);
    let container = dir.path().join("container.jpg");
    std::fs::write(&container, &c.jpeg).unwrap();
    // The empty intake spot: a plain concrete-grey floor at the camera's size.
    let empty = image::RgbImage::from_fn(1280, 960, |x, y| image::Rgb([118 + ((x / 7 + y / 5) % 9) as u8, 116, 112]));
    let empty_path = dir.path().join("empty.jpg");
    std::fs::write(&empty_path, jpeg_bytes(&empty, 90)).unwrap();
    let calibration = edge_agent::calibration::CalibrationFile {
        camera: "intake-1".into(),
        resolution: [1280, 960],
        homography: None,
        references: vec![edge_agent::calibration::ReferenceImage { image: "empty.jpg".into(), taken_at: "2026-11-29T08:00:00Z".into() }],
        zones: vec![edge_agent::calibration::Zone {
            name: "intake-spot".into(),
            kind: edge_agent::calibration::ZoneKind::Intake,
            polygon: vec![[20.0, 20.0], [1260.0, 20.0], [1260.0, 940.0], [20.0, 940.0]],
            category: None,
            allow: Vec::new(),
        }],
    };
    let cal = dir.path().join("intake-1.toml");
    edge_agent::calibration::Calibration::write(&calibration, &cal).unwrap();
    // 10 s of the empty spot (time to declare the slip), then the container for 4 s.
    let list = dir.path().join("frames.txt");
    let frames: Vec<String> = std::iter::repeat_n(empty_path.display().to_string(), 100).chain(std::iter::repeat_n(container.display().to_string(), 40)).collect();
    std::fs::write(&list, frames.join("\n")).unwrap();
    let task = "id = \"intake-check\"\nkind = \"intake\"\nstill_for = \"1s\"\nfacility_code = \"BDA-POD07-KU01\"\nfacility_type = \"贮存库\"";
    let mut agent = ReplayAgent::start(dir.path(), task, "intake-check", "intake-1", &list, &cal, 140);
    let base = "zwaste/v1/pod-07/edge-1";
    let sub = Collector::start(&agent.broker(), &format!("{base}/#"), false);
    // Declare the slip once the agent is online (it subscribes to its commands on connect).
    sub.wait_for("the agent online", Duration::from_secs(30), |m| m.iter().any(|x| x.topic.ends_with("/status") && x.json()["state"] == "online"));
    let mut slip = serde_json::to_value(&c.slip).unwrap();
    slip["declared_at"] = chrono::Utc::now().to_rfc3339().into();
    sub.publish(&format!("{base}/cmd/intake-slip"), serde_json::to_vec(&slip).unwrap(), false);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let done = |m: &[common::mqtt::Message]| m.iter().any(|x| x.topic.ends_with("/events/intake")) && m.iter().any(|x| x.topic.contains("/evidence/"));
    while !done(&sub.snapshot()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = sub.snapshot();
    let status = agent.child.wait().unwrap();
    let log = agent.log_text();
    let topics: Vec<_> = got.iter().map(|m| m.topic.as_str()).collect();
    assert!(done(&got), "no intake event and picture; received {topics:?}\n{log}");
    assert!(status.success(), "{log}");
    let reply = got.iter().find(|x| x.topic.ends_with("/reply/intake-slip")).expect("the slip was answered").json();
    assert_eq!(reply["ok"], true, "{reply}");
    let events: Vec<_> = sub.snapshot().into_iter().filter(|x| x.topic.ends_with("/events/intake")).collect();
    assert_eq!(events.len(), 1, "read once, not on every frame: {log}");
    let event = events[0].json();
    assert_valid("event", &event);
    assert_eq!(event["verdict"], "accept", "{event}");
    assert_eq!(event["priority"], "normal");
    let details = &event["details"];
    assert_eq!(details["slip_id"], c.slip.slip_id.as_str());
    let ledger = &details["ledger"];
    assert_eq!(ledger["危险废物代码"], c.slip.waste_code.as_str());
    assert_eq!(ledger["贮存设施编码"], "BDA-POD07-KU01");
    assert_eq!(ledger["计量单位"], "kg");
    assert!(ledger["入库批次编码"].as_str().unwrap().starts_with("HWRK"));
    assert!(details["label"]["fields"].as_array().unwrap().len() >= 10);
    assert_eq!(details["catalogue"], "2021");
    assert!(event["message_zh"].as_str().unwrap().contains("入库核验通过"));
    let picture = got.iter().find(|x| x.topic == event["evidence"]["topic"].as_str().unwrap()).expect("its picture");
    assert!(picture.payload.starts_with(&[0xff, 0xd8]));
    // The slip was used up: nothing waits on disk.
    let waiting: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("state/intake-slips.json")).unwrap()).unwrap();
    assert_eq!(waiting, serde_json::json!([]));
    // The accepted container is in the pod's ledger for the storage watch, under its code.
    let ledger: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("state/storage-ledger.json")).unwrap()).unwrap();
    let records = ledger["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{ledger:#}");
    assert_eq!(records[0]["waste_code"], c.slip.waste_code.as_str());
    assert_eq!(records[0]["slip_id"], c.slip.slip_id.as_str());
    assert_eq!(records[0]["id_code"].as_str().unwrap().len(), 37, "{ledger:#}");
    if std::env::var_os("INTAKE_EVENT_EXAMPLE").is_some() {
        std::fs::write(std::env::var_os("INTAKE_EVENT_EXAMPLE").unwrap(), serde_json::to_vec_pretty(&event).unwrap()).unwrap();
    }
}
