//! `edge-agent storage`: the pod storage watch offline on a sequence of
//! frames, the events printed as JSON lines (what the agent would publish);
//! `edge-agent simulate-storage`: seeded storage-room footage to run it on.

use crate::calibration::Calibration;
use crate::cli::{SimulateStorageArgs, StorageArgs};
use crate::simulate::storage::{self as sim, Fault, LedgerAct, StorageScene};
use crate::task::site::SiteBoard;
use crate::task::storage::detect::View;
use crate::task::storage::ledger::{Ledger, LedgerRecord};
use crate::task::storage::{StorageRun, StorageTaskConfig};
use crate::vision::Frame;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One line of `--ledger-acts`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerActLine {
    pub at_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<LedgerRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_out: Option<TransferLine>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferLine {
    pub manifest_no: String,
    pub containers: Vec<String>,
}

fn read_acts(path: &Path) -> anyhow::Result<Vec<LedgerActLine>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut acts = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let act: LedgerActLine = serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!("{} line {}: {e}; write {{\"at_s\": 600, \"intake\": {{...}}}} or {{\"at_s\": 600, \"transfer_out\": {{\"manifest_no\": \"20261101000001\", \"containers\": [...]}}}}", path.display(), i + 1)
        })?;
        anyhow::ensure!(act.intake.is_some() != act.transfer_out.is_some(), "{} line {}: give exactly one of `intake` and `transfer_out`", path.display(), i + 1);
        acts.push(act);
    }
    acts.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    Ok(acts)
}

fn apply(ledger: &Ledger, act: &LedgerActLine, at: SystemTime) -> anyhow::Result<()> {
    if let Some(record) = &act.intake {
        ledger.record_intake(record.clone()).map_err(anyhow::Error::msg)?;
    }
    if let Some(t) = &act.transfer_out {
        ledger.transfer_out(&t.manifest_no, &t.containers, &crate::event::rfc3339_millis(at)).map_err(|e| anyhow::anyhow!("transfer at {} s: {e}", act.at_s))?;
    }
    Ok(())
}

pub fn storage(args: &StorageArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.interval.is_zero() && args.interval <= Duration::from_secs(3600), "--interval: give the time between frames, above 0 and at most 1h");
    let settings: StorageTaskConfig = toml::from_str(&args.settings).map_err(|e| anyhow::anyhow!("--settings: {}", e.message()))?;
    if let Some((key, message)) = settings.check().into_iter().next() {
        anyhow::bail!("--settings: {key}: {message}");
    }
    let calibration = Arc::new(Calibration::load(&args.calibration)?);
    let reference = calibration.reference_image().map_err(anyhow::Error::msg)?;
    let ledger = Arc::new(match &args.ledger {
        Some(path) => Ledger::read_only(path).map_err(anyhow::Error::msg)?,
        None => Ledger::in_memory(),
    });
    let acts = args.ledger_acts.as_deref().map(read_acts).transpose()?.unwrap_or_default();
    let mut run = StorageRun::new(calibration.clone(), &reference, &settings, ledger.clone(), Arc::new(SiteBoard::default())).map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.evidence {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let start = match &args.start {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t).map_err(|e| anyhow::anyhow!("--start `{t}`: {e}; give an RFC 3339 time like 2026-12-07T09:00:00+08:00"))?.into(),
        None => SystemTime::now(),
    };
    let camera: Arc<str> = Arc::from(calibration.file.camera.as_str());
    let (mut events, mut skipped, mut next_act) = (0usize, 0usize, 0usize);
    let mut last_frame = None;
    let mut out = super::EventPrinter { evidence: args.evidence.as_deref(), count: &mut events };
    for (i, path) in args.frames.iter().enumerate() {
        let t = args.interval.as_secs_f64() * i as f64;
        let at = start + Duration::from_secs_f64(t);
        while let Some(act) = acts.get(next_act).filter(|a| a.at_s <= t) {
            apply(&ledger, act, at)?;
            next_act += 1;
        }
        let image = match std::fs::read(path).map_err(|e| e.to_string()).and_then(|b| crate::vision::decode_image(&b).map_err(|e| e.to_string())) {
            Ok(image) => image,
            Err(e) => {
                // A corrupt frame is skipped, as a camera's would be.
                tracing::warn!(frame = %path.display(), error = %e, "skipping a frame that cannot be read");
                skipped += 1;
                continue;
            }
        };
        let frame = Frame { camera: camera.clone(), seq: i as u64, captured_at: at, image: Arc::new(image), origin: Arc::from(path.display().to_string()) };
        let (drafts, _) = run.frame(&frame).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for draft in drafts {
            out.print(&draft, &path.display().to_string(), t)?;
        }
        last_frame = Some((frame, t));
    }
    if args.report
        && let Some((frame, t)) = &last_frame
    {
        let draft = run.task.report_now(frame, "command");
        out.print(&draft, &frame.origin, *t)?;
    }
    eprintln!("{} frames, {events} events, {skipped} unreadable frames skipped", args.frames.len());
    Ok(ExitCode::SUCCESS)
}

pub fn parse_view(s: &str) -> anyhow::Result<View> {
    match s {
        "top" => Ok(View::Top),
        "side" => Ok(View::Side),
        _ => anyhow::bail!("--view `{s}`: write top or side"),
    }
}

pub fn simulate_storage(args: &SimulateStorageArgs) -> anyhow::Result<ExitCode> {
    let fault = Fault::from_name(&args.scenario)
        .ok_or_else(|| anyhow::anyhow!("--scenario `{}`: one of {}", args.scenario, Fault::ALL.map(Fault::name).join(", ")))?;
    let view = parse_view(&args.view)?;
    let (w, h) = super::bench_leak::parse_size(&args.size)?;
    anyhow::ensure!(args.minutes > 0.0 && args.minutes <= 24.0 * 60.0, "--minutes: above 0 and at most a day");
    anyhow::ensure!(!args.interval.is_zero(), "--interval: above 0");
    let duration = args.minutes * 60.0;
    let scenario = sim::scenario(args.seed, fault, view, w, h, duration);
    let mut scene = StorageScene::new(args.seed, scenario.script).map_err(anyhow::Error::msg)?;
    let frames = args.out.join("frames");
    std::fs::create_dir_all(&frames).with_context(|| format!("creating {}", frames.display()))?;
    scene.reference().save(args.out.join("reference.png")).context("writing reference.png")?;
    let cal = args.out.join("calibration.toml");
    Calibration::write(&scene.calibration(&args.camera, "reference.png"), &cal)?;
    let ledger = serde_json::json!({ "records": scenario.ledger });
    std::fs::write(args.out.join("ledger.json"), serde_json::to_vec_pretty(&ledger)?)?;
    let acts: Vec<String> = scenario
        .ledger_acts
        .iter()
        .map(|(at_s, act)| {
            let line = match act {
                LedgerAct::Intake(r) => LedgerActLine { at_s: *at_s, intake: Some(r.clone()), transfer_out: None },
                LedgerAct::TransferOut { manifest, ids } => {
                    LedgerActLine { at_s: *at_s, intake: None, transfer_out: Some(TransferLine { manifest_no: manifest.clone(), containers: ids.clone() }) }
                }
            };
            serde_json::to_string(&line).unwrap_or_default()
        })
        .collect();
    std::fs::write(args.out.join("ledger-acts.jsonl"), acts.join("\n"))?;
    let n = (duration / args.interval.as_secs_f64()).ceil() as usize;
    for i in 0..n {
        let (img, _) = scene.frame(i as f64 * args.interval.as_secs_f64());
        let path = frames.join(format!("f{i:04}.jpg"));
        img.save(&path).with_context(|| format!("writing {}", path.display()))?;
    }
    let truth: Vec<serde_json::Value> =
        scenario.expected.iter().map(|e| serde_json::json!({"event": e.event, "subjects": e.subjects, "at_s": e.at_s})).collect();
    std::fs::write(args.out.join("truth.json"), serde_json::to_vec_pretty(&truth)?)?;
    let interval = humantime::format_duration(args.interval);
    println!("{}: {n} frames every {interval}, scenario {}; due: {}", args.out.display(), fault.name(), if truth.is_empty() { "nothing".into() } else { truth.iter().map(|t| t["event"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>().join(", ") });
    println!(
        "run: edge-agent storage --calibration {} --ledger {} --ledger-acts {} --interval {interval} --report{} {}/f*.jpg",
        cal.display(),
        args.out.join("ledger.json").display(),
        args.out.join("ledger-acts.jsonl").display(),
        if view == View::Side { " --settings 'view = \"side\"'" } else { "" },
        frames.display()
    );
    Ok(ExitCode::SUCCESS)
}
