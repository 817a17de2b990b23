//! Leak detection on seeded synthetic pod footage: real photos as floors,
//! rendered spills and distractors (`edge_agent::simulate`), through the
//! same camera watch + leak task the agent runs.

mod common;

use common::*;
use edge_agent::commands::bench_leak::{floor_photo, run_clip, scene_calibration};
use edge_agent::simulate::{Happening, LiquidKind, Person, PodScene, Script, Shadow, ShadowShape, Spill, Trolley, LightSwitch, Pause};
use edge_agent::task::leak::LeakTaskConfig;
use std::process::Command;

const SIZE: (u32, u32) = (480, 270);

fn settings() -> LeakTaskConfig {
    LeakTaskConfig { evidence: false, ..LeakTaskConfig::default() }
}

#[test]
fn seeded_spills_are_reported_within_10_s_of_reaching_100_cm2() {
    let floors: Vec<_> = (0..6).map(|i| floor_photo(i).expect("apt-get install opencv-doc")).collect();
    let mut reaching = 0;
    let mut in_time = Vec::new();
    // The benchmark's first eight spill clips (`edge-agent bench-leak`).
    for seed in 100_000..100_008u64 {
        let clip = run_clip(seed, &floors[seed as usize % 6], SIZE, 180.0, 1.0, true, &settings()).unwrap();
        if let Some(reached) = clip.reached_target_s {
            reaching += 1;
            if clip.detected_s.is_some_and(|d| d - reached <= 10.0) {
                in_time.push(seed);
            }
        }
        assert_eq!(clip.camera_events, 0, "no camera fault was staged: {clip:?}");
    }
    assert!(reaching >= 6, "the scripts make spills of 100 cm² and more");
    assert!(in_time.len() + 1 >= reaching, "{} of {reaching} spills reported in time (seeds {in_time:?})", in_time.len());
}

fn script(duration_s: f64, events: Vec<Happening>) -> Script {
    Script { duration_s, events, jpeg_quality: None }
}

#[test]
fn people_pausing_a_parked_trolley_a_standing_shadow_and_light_switches_raise_no_leak() {
    let floor = floor_photo(1).unwrap();
    let cases = vec![
        ("person pausing", Happening::Person(Person { start_s: 5.0, from_mm: [-900.0, 800.0], to_mm: [3900.0, 900.0], speed_mps: 0.8, pause: Some(Pause { at_fraction: 0.4, secs: 8.0 }), height_mm: 1700.0, seed: 3 })),
        ("trolley parked", Happening::Trolley(Trolley { start_s: 5.0, from_mm: [-900.0, 1200.0], to_mm: [3900.0, 1100.0], speed_mps: 0.7, park: Some(Pause { at_fraction: 0.45, secs: 60.0 }), seed: 4 })),
        (
            "standing shadow",
            Happening::Shadow(Shadow {
                start_s: 5.0,
                duration_s: 60.0,
                moving: false,
                from_mm: [1500.0, 2300.0],
                to_mm: [1500.0, 1900.0],
                heading_deg: 270.0,
                shape: ShadowShape::Person,
                length_mm: 1600.0,
                width_mm: 500.0,
                darkness: 0.6,
                softness_mm: 100.0,
            }),
        ),
        ("lights dimmed", Happening::LightSwitch(LightSwitch { at_s: 10.0, gain: 0.6, tint: [1.0, 1.0, 1.0] })),
    ];
    for (name, happening) in cases {
        let clip = edge_agent::commands::bench_leak::run_script(11, &floor, SIZE, script(120.0, vec![happening]), 1.0, &settings()).unwrap();
        assert_eq!(clip.false_alarms, 0, "{name}: {clip:?}");
        assert_eq!(clip.camera_events, 0, "{name}: {clip:?}");
    }
}

/// Frames of a pod where oil leaks from a drum, spreads, and is then mopped up.
fn leak_then_mopped(dir: &std::path::Path) -> (std::path::PathBuf, Vec<std::path::PathBuf>, f64, String) {
    let floor = floor_photo(3).unwrap();
    let spill = Spill { start_s: 5.0, kind: LiquidKind::Oil, container: 0, direction_deg: 90.0, start_cm2: 40.0, final_cm2: 900.0, grow_s: 40.0, seed: 9 };
    let mut scene = PodScene::new(21, &floor, 640, 360, script(80.0, vec![Happening::Spill(spill)])).unwrap();
    let mut mopped = PodScene::new(21, &floor, 640, 360, Script::quiet(60.0)).unwrap();
    let mut calibration = scene_calibration(scene.geometry()).unwrap().file;
    scene.reference().save(dir.join("reference.png")).unwrap();
    calibration.references.push(edge_agent::calibration::ReferenceImage { image: "reference.png".into(), taken_at: "2026-11-29T08:00:00Z".into() });
    let cal = dir.join("pod.toml");
    edge_agent::calibration::Calibration::write(&calibration, &cal).unwrap();
    let mut frames = Vec::new();
    let (mut final_cm2, mut source) = (0.0, String::new());
    for k in 0..110u32 {
        let (img, truth) = if k < 70 { scene.frame(f64::from(k)) } else { mopped.frame(f64::from(k - 70)) };
        if k < 70 {
            final_cm2 = truth.spill_cm2;
            source = truth.spill_source.clone().unwrap_or_default();
        }
        let path = dir.join(format!("f{k:03}.jpg"));
        std::fs::write(&path, jpeg_bytes(&img, 90)).unwrap();
        frames.push(path);
    }
    (cal, frames, final_cm2, source)
}

#[test]
fn the_leak_command_reports_one_leak_that_grows_and_is_cleared_with_its_area_container_and_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (cal, frames, final_cm2, source) = leak_then_mopped(dir.path());
    let evidence = dir.path().join("evidence");
    let out = Command::new(bin()).arg("leak").arg("--calibration").arg(&cal).arg("--evidence").arg(&evidence).args(&frames).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"leak.suspected"), "{names:?}");
    assert_eq!(names.last(), Some(&"leak.cleared"), "{names:?}");
    assert!(names[1..names.len() - 1].iter().all(|n| *n == "leak.growing") && names.len() >= 3, "one leak, growth updates, cleared: {names:?}");
    assert!(names.len() <= 8, "no event storm: {names:?}");
    let ids: std::collections::HashSet<u64> = events.iter().map(|e| e["details"]["leak_id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 1, "all about the same leak");
    let last_growing = events.iter().rev().find(|e| e["event"] == "leak.growing").unwrap();
    let area = last_growing["details"]["area_cm2"].as_f64().unwrap();
    assert!(area > 0.6 * final_cm2 && area < 1.4 * final_cm2, "measured {area} cm², truth {final_cm2:.0} cm²");
    assert_eq!(events[0]["details"]["container"]["zone"], source.as_str(), "attributed to the drum it came from");
    assert!(events[0]["details"]["growth_cm2_per_min"].as_f64().unwrap() > 0.0);
    assert!(events[0]["message_zh"].as_str().unwrap().contains("疑似泄漏"));
    assert_eq!(events[0]["priority"], "alert");
    for e in &events {
        let file = e["evidence"].as_str().expect("an evidence picture per event");
        let img = image::open(file).expect("a JPEG");
        assert_eq!(img.width(), 640);
    }
}

#[test]
fn a_frame_of_another_size_or_a_corrupt_frame_is_named_not_fatal_or_silently_judged() {
    let dir = tempfile::tempdir().unwrap();
    let (cal, frames, _, _) = leak_then_mopped(dir.path());
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, &std::fs::read(&frames[0]).unwrap()[..300]).unwrap();
    let out = Command::new(bin()).arg("leak").arg("--calibration").arg(&cal).arg(&frames[0]).arg(&corrupt).arg(&frames[1]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 unreadable frames skipped"), "{}", String::from_utf8_lossy(&out.stderr));
    let small = dir.path().join("small.jpg");
    std::fs::write(&small, jpeg_bytes(&image::RgbImage::new(320, 180), 90)).unwrap();
    let out = Command::new(bin()).arg("leak").arg("--calibration").arg(&cal).arg(&small).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("320x180") && err.contains("640x360") && err.contains("recalibrate"), "{err}");
}

#[test]
fn the_agent_publishes_a_schema_valid_leak_alert_with_its_picture_and_calibration_over_mqtt() {
    use common::mqtt::{Collector, ReplayAgent, assert_valid};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (cal, frames, _, _) = leak_then_mopped(dir.path());
    // The replay runs ten times faster than the footage: the settings follow.
    let list = dir.path().join("frames.txt");
    std::fs::write(&list, frames.iter().take(70).map(|f| f.display().to_string()).collect::<Vec<_>>().join("\n")).unwrap();
    let task = "id = \"leak-watch\"\nkind = \"leak\"\npersist = \"400ms\"\npersist_after_motion = \"2s\"\nclear_after = \"2s\"";
    let mut agent = ReplayAgent::start(dir.path(), task, "leak-watch", "sim-pod", &list, &cal, 70);
    let sub = Collector::start(&agent.broker(), "zwaste/v1/pod-07/edge-1/#", false);
    let got = sub.wait_for("a leak alert and its picture", Duration::from_secs(60), |m| {
        m.iter().any(|x| x.topic.ends_with("/events/leak")) && m.iter().any(|x| x.topic.contains("/evidence/"))
    });
    let _ = agent.child.wait();
    let leak = got.iter().find(|x| x.topic.ends_with("/events/leak")).unwrap().json();
    assert_valid("event", &leak);
    assert_eq!((leak["verdict"].as_str(), leak["priority"].as_str()), (Some("suspected"), Some("alert")), "{leak}");
    let sha = edge_agent::calibration::Calibration::load(&cal).unwrap().sha256;
    assert_eq!(leak["provenance"]["calibration"][0]["sha256"], sha.as_str(), "the event names the calibration that judged it");
    let picture = got.iter().find(|x| x.topic == leak["evidence"]["topic"].as_str().unwrap()).expect("its picture");
    assert!(picture.payload.starts_with(&[0xff, 0xd8]), "a JPEG");
    assert!(got.iter().all(|x| !x.topic.ends_with("/events/camera")), "no camera fault on clean footage");
}
