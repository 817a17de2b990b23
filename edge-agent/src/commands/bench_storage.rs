//! `edge-agent bench-storage`: the storage watch on seeded rooms
//! (`simulate::storage`), one planted fault per room (or a harmless
//! look-alike, or none) with people passing and light changes. Reports, per
//! finding kind, the detection rate and false alarms per simulated day, the
//! QR identification rate of containers at the camera's distance, and frames
//! per second per camera.

use super::bench_leak::{parse_size, run_jobs};
use crate::calibration::Calibration;
use crate::cli::BenchStorageArgs;
use crate::simulate::storage::{self as sim, Fault, LedgerAct, StorageScene};
use crate::task::site::SiteBoard;
use crate::task::storage::detect::View;
use crate::task::storage::ledger::Ledger;
use crate::task::storage::{StorageRun, StorageTaskConfig};
use crate::vision::Frame;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The finding kinds scored.
const KINDS: [&str; 5] = ["storage.missing", "storage.unregistered", "storage.segregation", "storage.unlabelled", "safety.missing"];
/// Safety zones of the simulated room by item index.
const ITEM_ZONES: [&str; 3] = ["extinguisher-1", "door-sign", "extinguisher-2"];

#[derive(Debug, Default, Clone)]
struct RoomResult {
    /// Per due finding: its event and whether (and how soon) it was raised.
    due: Vec<(&'static str, Option<f64>)>,
    false_alarms: BTreeMap<String, usize>,
    camera_events: usize,
    qr_read: usize,
    qr_visible: usize,
    /// False alarms and misses in words, for `--verbose`.
    notes: Vec<String>,
    frames: usize,
    process_s: f64,
    simulated_s: f64,
}

pub fn bench_storage(args: &BenchStorageArgs) -> anyhow::Result<ExitCode> {
    let (w, h) = parse_size(&args.size)?;
    let views: Vec<View> = match args.view.as_str() {
        "both" => vec![View::Top, View::Side],
        v => vec![super::storage::parse_view(v)?],
    };
    anyhow::ensure!(args.rooms >= 1 && args.minutes >= 5.0, "--rooms at least 1, --minutes at least 5 (a finding needs minutes to settle)");
    let threads = if args.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { args.threads };
    let mut jobs = Vec::new();
    for view in &views {
        for fault in Fault::ALL {
            for r in 0..args.rooms {
                jobs.push((*view, fault, args.seed.wrapping_mul(1000).wrapping_add(r as u64 * 31 + fault as u64)));
            }
        }
    }
    let started = Instant::now();
    let results = run_jobs(&jobs, threads, |(view, fault, seed)| room(*seed, *fault, *view, w, h, args.minutes * 60.0, args.interval))?;
    eprintln!("{} rooms in {:.0} s on {threads} threads", jobs.len(), started.elapsed().as_secs_f64());
    if args.verbose {
        for ((view, fault, seed), r) in jobs.iter().zip(&results) {
            for note in &r.notes {
                eprintln!("{view:?} {} seed {seed}: {note}", fault.name());
            }
            if r.due.is_empty() && *fault != Fault::None && !matches!(fault, Fault::Transferred | Fault::RegisteredAdd | Fault::BriefCover) {
                eprintln!("{view:?} {} seed {seed}: the scenario planted nothing (no free spot)", fault.name());
            }
        }
    }
    let sweep: Vec<(String, usize, usize)> = [(1280u32, 720u32), (1920, 1080), (2560, 1440)]
        .into_iter()
        .map(|(sw, sh)| {
            let (read, seen) = qr_sweep(args.seed, sw, sh, 6).unwrap_or((0, 0));
            (format!("{sw}x{sh}"), read, seen)
        })
        .collect();

    let mut report = serde_json::Map::new();
    let mut text = String::new();
    for view in &views {
        let rs: Vec<&RoomResult> = jobs.iter().zip(&results).filter(|((v, _, _), _)| v == view).map(|(_, r)| r).collect();
        let days = rs.iter().map(|r| r.simulated_s).sum::<f64>() / 86_400.0;
        let frames: usize = rs.iter().map(|r| r.frames).sum();
        let process_s: f64 = rs.iter().map(|r| r.process_s).sum();
        let (qr_read, qr_visible) = (rs.iter().map(|r| r.qr_read).sum::<usize>(), rs.iter().map(|r| r.qr_visible).sum::<usize>());
        let name = match view {
            View::Top => "top",
            View::Side => "side",
        };
        text.push_str(&format!(
            "\n{name} view, {w}x{h}, a frame every {}: {} rooms, {:.2} simulated days, {frames} frames\n",
            humantime::format_duration(args.interval),
            rs.len(),
            days
        ));
        text.push_str(&format!("{:<22} {:>5} {:>9} {:>10} {:>12} {:>14}\n", "finding", "due", "detected", "rate", "false alarms", "per sim. day"));
        let mut kinds = serde_json::Map::new();
        for kind in KINDS {
            let due: Vec<Option<f64>> = rs.iter().flat_map(|r| r.due.iter().filter(|d| d.0 == kind).map(|d| d.1)).collect();
            let detected = due.iter().filter(|d| d.is_some()).count();
            let fa: usize = rs.iter().map(|r| r.false_alarms.get(kind).copied().unwrap_or(0)).sum();
            let mut delays: Vec<f64> = due.iter().flatten().copied().collect();
            delays.sort_by(f64::total_cmp);
            let rate = if due.is_empty() { f64::NAN } else { detected as f64 / due.len() as f64 };
            text.push_str(&format!("{kind:<22} {:>5} {detected:>9} {:>9.1}% {fa:>12} {:>14.2}\n", due.len(), rate * 100.0, fa as f64 / days.max(1e-9)));
            kinds.insert(
                kind.into(),
                serde_json::json!({
                    "due": due.len(), "detected": detected, "rate": rate, "false_alarms": fa,
                    "false_alarms_per_day": fa as f64 / days.max(1e-9),
                    "median_delay_s": delays.get(delays.len() / 2),
                }),
            );
        }
        let cam: usize = rs.iter().map(|r| r.camera_events).sum();
        let qr_rate = qr_read as f64 / qr_visible.max(1) as f64;
        let fps = frames as f64 / process_s.max(1e-9);
        text.push_str(&format!("camera-watch events (light changes, people): {cam}\n"));
        text.push_str(&format!("QR identification (containers with a code, frames without people): {qr_read}/{qr_visible} = {:.1}%\n", qr_rate * 100.0));
        text.push_str(&format!("frames per second per camera (one core, watch + detection + QR + findings): {fps:.2} ({:.0} ms a frame)\n", 1000.0 / fps));
        report.insert(
            name.into(),
            serde_json::json!({"rooms": rs.len(), "simulated_days": days, "frames": frames, "kinds": kinds, "camera_events": cam, "qr_read": qr_read, "qr_visible": qr_visible, "qr_rate": qr_rate, "fps_per_camera": fps}),
        );
    }
    text.push_str("\nQR identification of lids by resolution (top view, the 4.0 m x 2.25 m floor across the frame, 150 mm code):\n");
    for (size, read, seen) in &sweep {
        let mm_px = 4000.0 / size.split('x').next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(1920.0);
        text.push_str(&format!("  {size:<10} {:.2} mm/px  {read}/{seen} = {:.1}%\n", mm_px, *read as f64 * 100.0 / (*seen).max(1) as f64));
    }
    report.insert("qr_by_resolution".into(), serde_json::json!(sweep.iter().map(|(s, r, n)| serde_json::json!({"size": s, "read": r, "seen": n})).collect::<Vec<_>>()));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(report))?);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The calibration of a simulated room, written where `Calibration::load` can check it.
fn calibrate(scene: &StorageScene, dir: &std::path::Path) -> anyhow::Result<(Arc<Calibration>, image::RgbImage)> {
    let reference = scene.reference();
    reference.save(dir.join("reference.png"))?;
    let path = dir.join("calibration.toml");
    Calibration::write(&scene.calibration("storage-1", "reference.png"), &path)?;
    Ok((Arc::new(Calibration::load(&path)?), reference))
}

fn room(seed: u64, fault: Fault, view: View, w: u32, h: u32, duration: f64, interval: Duration) -> anyhow::Result<RoomResult> {
    let scenario = sim::scenario(seed, fault, view, w, h, duration);
    let expected = scenario.expected.clone();
    let mut acts = scenario.ledger_acts.clone();
    acts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut scene = StorageScene::new(seed, scenario.script).map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let (calibration, reference) = calibrate(&scene, dir.path())?;
    let ledger = Arc::new(Ledger::in_memory());
    for r in scenario.ledger {
        ledger.record_intake(r).map_err(anyhow::Error::msg)?;
    }
    let config = StorageTaskConfig { view, ..Default::default() };
    let mut run = StorageRun::new(calibration, &reference, &config, ledger.clone(), Arc::new(SiteBoard::default())).map_err(anyhow::Error::msg)?;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let camera: Arc<str> = Arc::from("storage-1");
    let mut result = RoomResult { due: expected.iter().map(|e| (e.event, None)).collect(), simulated_s: duration, ..Default::default() };
    let mut positions: HashMap<String, [f64; 2]> = HashMap::new();
    let (mut next_act, mut i) = (0, 0u64);
    loop {
        let t = interval.as_secs_f64() * i as f64;
        if t >= duration {
            break;
        }
        let at = start + Duration::from_secs_f64(t);
        while let Some((_, act)) = acts.get(next_act).filter(|a| a.0 <= t) {
            match act {
                LedgerAct::Intake(r) => {
                    ledger.record_intake(r.clone()).map_err(anyhow::Error::msg)?;
                }
                LedgerAct::TransferOut { manifest, ids } => {
                    ledger.transfer_out(manifest, ids, &crate::event::rfc3339_millis(at))?;
                }
            }
            next_act += 1;
        }
        let (image, truth) = scene.frame(t);
        for (d, px) in &truth.drums {
            positions.insert(d.id_code.clone(), *px);
        }
        let frame = Frame { camera: camera.clone(), seq: i, captured_at: at, image: Arc::new(image), origin: Arc::from("sim") };
        let began = Instant::now();
        let (drafts, outcome) = run.frame(&frame).map_err(anyhow::Error::msg)?;
        result.process_s += began.elapsed().as_secs_f64();
        result.frames += 1;
        if truth.people == 0
            && let Some(outcome) = &outcome
        {
            for (d, _) in truth.drums.iter().filter(|(d, _)| d.sticker) {
                result.qr_visible += 1;
                result.qr_read += usize::from(outcome.codes.contains(&d.id_code));
            }
        }
        for draft in drafts {
            let event = draft.details.get("event").and_then(|e| e.as_str()).unwrap_or_default().to_string();
            if event.starts_with("camera.") {
                result.camera_events += 1;
                continue;
            }
            if !KINDS.contains(&event.as_str()) {
                continue;
            }
            let named: Vec<String> = if event == "safety.missing" {
                let zone = draft.details.get("zone").and_then(|z| z.as_str()).unwrap_or_default();
                ITEM_ZONES.iter().position(|z| *z == zone).map(|i| vec![i.to_string()]).unwrap_or_default()
            } else {
                draft.details["containers"].as_array().map(|a| a.iter().filter_map(|c| c["id_code"].as_str().map(str::to_string)).collect()).unwrap_or_default()
            };
            let region = draft.details.get("region_px").and_then(|r| r.as_array()).map(|r| r.iter().filter_map(|v| v.as_f64()).collect::<Vec<_>>());
            let hit = expected.iter().enumerate().find(|(k, e)| {
                result.due[*k].1.is_none()
                    && e.event == event
                    && t + 1.0 >= e.at_s
                    && e.subjects.iter().all(|s| {
                        named.contains(s)
                            // An unlabelled group is named by its place when its code was not read.
                            || (event == "storage.unlabelled"
                                && region.as_ref().zip(positions.get(s)).is_some_and(|(r, p)| r.len() == 4 && p[0] >= r[0] && p[0] <= r[0] + r[2] && p[1] >= r[1] && p[1] <= r[1] + r[3]))
                    })
            });
            match hit {
                Some((k, e)) => result.due[k].1 = Some(t - e.at_s),
                None => {
                    let reason = draft.details.get("reason").and_then(|r| r.as_str()).unwrap_or_default();
                    result.notes.push(format!("false alarm at {t:.0} s: {event} {named:?} {reason}"));
                    *result.false_alarms.entry(event).or_default() += 1;
                }
            }
        }
        i += 1;
    }
    for (e, (_, found)) in expected.iter().zip(&result.due) {
        if found.is_none() {
            result.notes.push(format!("missed: {} {:?} planted at {:.0} s", e.event, e.subjects, e.at_s));
        }
    }
    Ok(result)
}

/// Codes read on still frames of stocked rooms (no people), top view at one size.
fn qr_sweep(seed: u64, w: u32, h: u32, rooms: u64) -> anyhow::Result<(usize, usize)> {
    let (mut read, mut seen) = (0, 0);
    for r in 0..rooms {
        let scenario = sim::scenario(seed.wrapping_add(7000 + r), Fault::None, View::Top, w, h, 600.0);
        let mut scene = StorageScene::new(seed + r, sim::StorageScript { happenings: Vec::new(), ..scenario.script }).map_err(anyhow::Error::msg)?;
        let dir = tempfile::tempdir()?;
        let (calibration, reference) = calibrate(&scene, dir.path())?;
        let detector = crate::task::storage::detect::ContainerDetector::new(&calibration, &reference, Default::default()).map_err(anyhow::Error::msg)?;
        let (image, truth) = scene.frame(0.0);
        let detection = detector.detect(&image);
        let codes: Vec<&str> = detection.blobs.iter().flat_map(|b| b.ids.iter().map(|i| i.id_code.as_str())).collect();
        for (d, _) in &truth.drums {
            seen += 1;
            read += usize::from(codes.contains(&d.id_code.as_str()));
        }
    }
    Ok((read, seen))
}
