//! `edge-agent bench-intake`: label reading and checking on a seeded set of
//! generated intake cases (rendered HJ 1276 labels, a share deliberately
//! wrong), with Python rapidocr 3.10.0 run on the same pictures in the same
//! run for the side-by-side: field accuracy, verdict precision / recall,
//! false rejects, time per picture.

use crate::cli::BenchIntakeArgs;
use crate::inference::{InferenceConfig, ModelPool};
use crate::label::catalogue::Catalogue;
use crate::label::checks::{CheckSettings, Verdict};
use crate::label::fields::LabelField;
use crate::label::parse::{ParsedLabel, parse_label};
use crate::label::Inspector;
use crate::ocr::{OcrEngine, OcrLine, normalize::normalize};
use crate::simulate::intake::{Defect, IntakeCase, case, intake_day};
use crate::simulate::label::load_font;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The fields the targets name.
const SCORED: [LabelField; 5] = [LabelField::WasteCode, LabelField::Category, LabelField::Date, LabelField::WasteName, LabelField::Company];

pub fn bench_intake(args: &BenchIntakeArgs) -> anyhow::Result<ExitCode> {
    if args.images == 0 || args.images > 100_000 {
        anyhow::bail!("--images {} is out of range: use 1-100000 (200 or more for the README's figures)", args.images);
    }
    if !(0.0..=1.0).contains(&args.wrong_share) {
        anyhow::bail!("--wrong-share {} is not a share between 0 and 1", args.wrong_share);
    }
    let font = load_font().map_err(anyhow::Error::msg)?;
    let catalogue = Arc::new(Catalogue::builtin());
    let scratch;
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {} ({e})", dir.display()))?;

    eprintln!("generating {} intake cases (seed {}) in {}", args.images, args.seed, dir.display());
    let t = Instant::now();
    let mut cases = Vec::with_capacity(args.images);
    let mut paths = Vec::with_capacity(args.images);
    for i in 0..args.images {
        let c = case(args.seed, i, args.wrong_share, &catalogue, &font);
        let path = dir.join(format!("case-{i:04}.jpg"));
        std::fs::write(&path, &c.jpeg).map_err(|e| anyhow::anyhow!("cannot write {} ({e})", path.display()))?;
        std::fs::write(dir.join(format!("case-{i:04}.slip.json")), serde_json::to_vec_pretty(&c.slip)?)?;
        std::fs::write(dir.join(format!("case-{i:04}.truth.json")), serde_json::to_vec_pretty(&c)?)?;
        paths.push(path);
        cases.push(c);
    }
    let generate_s = t.elapsed().as_secs_f64();

    let pool = ModelPool::load(&args.ocr.models.models_dir, InferenceConfig { intra_threads: args.ocr.threads, ..Default::default() })?;
    let ocr = OcrEngine::new(&pool, &args.ocr.detector, (!args.ocr.no_angle).then_some(args.ocr.angle.as_str()), &args.ocr.recognizer)?;
    let inspector = Inspector::new(ocr, catalogue.clone(), CheckSettings::default());
    // Warm-up (first-run allocations) outside the timings, as for rapidocr.
    let first = crate::vision::decode_image(&cases[0].jpeg)?;
    inspector.inspect(&first, Some(&cases[0].slip), intake_day())?;

    eprintln!("inspecting with the agent's pipeline ...");
    let mut ours = Vec::with_capacity(cases.len());
    for c in &cases {
        let t = Instant::now();
        let frame = crate::vision::decode_image(&c.jpeg)?;
        let inspection = inspector.inspect(&frame, Some(&c.slip), intake_day())?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let o = inspection.timings.ocr;
        ours.push(Run { ms, ocr_ms: o.detect_ms + o.classify_ms + o.recognise_ms, stages: [o.detect_ms, o.classify_ms, o.recognise_ms], label: inspection.label.clone(), verdict: Some(inspection.verdict), findings: inspection.findings.iter().map(|f| f.code).collect() });
    }

    let rapid = if args.rapidocr { Some(run_rapidocr(&args.ocr.models.models_dir, &dir, &paths)?) } else { None };

    let report = Report::new(&cases, &ours, rapid.as_deref(), generate_s);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json)?);
    } else {
        report.print();
    }
    Ok(ExitCode::SUCCESS)
}

struct Run {
    ms: f64,
    ocr_ms: f64,
    /// Detection, angle, recognition (the agent only).
    stages: [f64; 3],
    label: ParsedLabel,
    verdict: Option<Verdict>,
    findings: Vec<&'static str>,
}

/// Makes (once) a venv with rapidocr 3.10.0 under target/bench-venv and runs it on the pictures.
fn run_rapidocr(models: &Path, dir: &Path, paths: &[PathBuf]) -> anyhow::Result<Vec<Run>> {
    let venv = PathBuf::from("target/bench-venv");
    let python = venv.join("bin/python");
    let run = |cmd: &mut std::process::Command, what: &str| -> anyhow::Result<()> {
        let status = cmd.status().map_err(|e| anyhow::anyhow!("cannot run {what} ({e}); install python3-venv"))?;
        anyhow::ensure!(status.success(), "{what} failed ({status})");
        Ok(())
    };
    if !python.exists() {
        eprintln!("making {} with rapidocr==3.10.0 (once) ...", venv.display());
        run(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv")?;
    }
    let installed = std::process::Command::new(&python).args(["-c", "import rapidocr, onnxruntime"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        run(
            std::process::Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "rapidocr==3.10.0", "onnxruntime"]),
            "pip install rapidocr==3.10.0 onnxruntime",
        )?;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/rapidocr_bench.py");
    let out = dir.join("rapidocr.json");
    eprintln!("inspecting with Python rapidocr 3.10.0 ...");
    run(std::process::Command::new(&python).arg(&script).arg(models).arg(&out).args(paths), "rapidocr_bench.py")?;
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
        score: f32,
        quad: Vec<[f32; 2]>,
    }
    #[derive(serde::Deserialize)]
    struct One {
        ms: f64,
        lines: Vec<Line>,
    }
    let results: Vec<One> = serde_json::from_slice(&std::fs::read(&out)?)?;
    Ok(results
        .into_iter()
        .map(|r| {
            let lines: Vec<OcrLine> = r
                .lines
                .into_iter()
                .filter(|l| l.quad.len() == 4)
                .map(|l| OcrLine { text: normalize(&l.text), confidence: l.score, quad: [l.quad[0], l.quad[1], l.quad[2], l.quad[3]] })
                .collect();
            Run { ms: r.ms, ocr_ms: r.ms, stages: [0.0; 3], label: parse_label(&lines), verdict: None, findings: Vec::new() }
        })
        .collect())
}

struct Report {
    json: serde_json::Value,
    lines: Vec<String>,
}

fn field_truth(c: &IntakeCase, f: LabelField) -> Option<String> {
    let t = c.content.as_ref()?;
    Some(match f {
        LabelField::WasteCode => t.waste_code.clone(),
        LabelField::Category => t.category.clone(),
        LabelField::Date => t.date.clone(),
        LabelField::WasteName => t.waste_name.clone(),
        LabelField::Company => t.company.clone(),
        _ => return None,
    })
}

fn field_read(run: &Run, f: LabelField) -> Option<String> {
    match f {
        LabelField::Date => run.label.date().map(|d| d.to_string()),
        _ => run.label.value(f).map(|v| v.chars().filter(|c| !c.is_whitespace()).collect()),
    }
}

/// Share of labelled cases whose field was read exactly (deliberately
/// unreadable labels left out); `readable_only` also leaves out fields a hand
/// or tape covers in the picture.
fn field_accuracy(cases: &[IntakeCase], runs: &[Run], readable_only: bool) -> BTreeMap<&'static str, f64> {
    SCORED
        .iter()
        .map(|&f| {
            let (mut right, mut total) = (0usize, 0usize);
            for (c, r) in cases.iter().zip(runs) {
                // Labels made unreadable on purpose are no test of reading.
                if c.defect == Some(Defect::Unreadable) || (readable_only && c.occluded.contains(&f)) {
                    continue;
                }
                if let Some(truth) = field_truth(c, f) {
                    total += 1;
                    let truth: String = truth.chars().filter(|c| !c.is_whitespace()).collect();
                    if field_read(r, f).as_deref() == Some(truth.as_str()) {
                        right += 1;
                    }
                }
            }
            (f.code(), if total == 0 { 0.0 } else { right as f64 / total as f64 })
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn times(runs: &[Run], pick: fn(&Run) -> f64) -> (f64, f64, f64) {
    let mut v: Vec<f64> = runs.iter().map(pick).collect();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    (mean, percentile(&v, 50.0), percentile(&v, 95.0))
}

impl Report {
    fn new(cases: &[IntakeCase], ours: &[Run], rapid: Option<&[Run]>, generate_s: f64) -> Self {
        let mut lines = Vec::new();
        let wrong = cases.iter().filter(|c| c.defect.is_some()).count();
        let correct = cases.len() - wrong;
        let rejected = |i: usize| ours[i].verdict == Some(Verdict::Reject);
        let tp = (0..cases.len()).filter(|&i| cases[i].defect.is_some() && rejected(i)).count();
        let fp = (0..cases.len()).filter(|&i| cases[i].defect.is_none() && rejected(i)).count();
        let reviews = (0..cases.len()).filter(|&i| cases[i].defect.is_none() && ours[i].verdict == Some(Verdict::Review)).count();
        let recall = tp as f64 / wrong.max(1) as f64;
        let precision = if tp + fp == 0 { 0.0 } else { tp as f64 / (tp + fp) as f64 };
        let false_reject = fp as f64 / correct.max(1) as f64;
        let mut per_defect = BTreeMap::new();
        for d in Defect::ALL {
            let idx: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].defect == Some(d)).collect();
            let caught = idx.iter().filter(|&&i| rejected(i)).count();
            let named = idx.iter().filter(|&&i| ours[i].findings.contains(&d.finding())).count();
            per_defect.insert(format!("{d:?}"), serde_json::json!({"cases": idx.len(), "rejected": caught, "finding_raised": named, "finding": d.finding()}));
        }
        let false_reject_findings: BTreeMap<&str, usize> = (0..cases.len())
            .filter(|&i| cases[i].defect.is_none() && rejected(i))
            .flat_map(|i| ours[i].findings.clone())
            .fold(BTreeMap::new(), |mut m, f| {
                *m.entry(f).or_default() += 1;
                m
            });
        let acc = field_accuracy(cases, ours, false);
        let acc_readable = field_accuracy(cases, ours, true);
        let flagged = (0..cases.len()).filter(|&i| cases[i].defect.is_some() && ours[i].verdict != Some(Verdict::Accept)).count();
        let flagged_recall = flagged as f64 / wrong.max(1) as f64;
        let (mean, p50, p95) = times(ours, |r| r.ms);
        let (ocr_mean, _, _) = times(ours, |r| r.ocr_ms);
        let (detect_mean, _, _) = times(ours, |r| r.stages[0]);
        let (angle_mean, _, _) = times(ours, |r| r.stages[1]);
        let (recognise_mean, _, _) = times(ours, |r| r.stages[2]);
        lines.push(format!("{} cases ({} correct, {} with one defect each), generated in {generate_s:.1} s", cases.len(), correct, wrong));
        lines.push(String::new());
        let rapid_acc = rapid.map(|r| field_accuracy(cases, r, false));
        let rapid_readable = rapid.map(|r| field_accuracy(cases, r, true));
        let covered = cases.iter().filter(|c| !c.occluded.is_empty()).count();
        lines.push(format!("field read exactly: all fields | fields not under a hand or tape ({covered} pictures have some covered)"));
        lines.push(format!("{:<14} {:>10} {:>10} | {:>10} {:>10}", "", "agent", "rapidocr", "agent", "rapidocr"));
        for (k, v) in &acc {
            let pct = |m: &Option<BTreeMap<&str, f64>>| m.as_ref().map(|a| format!("{:.1} %", a[k] * 100.0)).unwrap_or_else(|| "-".into());
            lines.push(format!("{k:<14} {:>8.1} % {:>10} | {:>8.1} % {:>10}", v * 100.0, pct(&rapid_acc), acc_readable[k] * 100.0, pct(&rapid_readable)));
        }
        lines.push(String::new());
        lines.push(format!("mismatch recall     {:.1} % ({tp}/{wrong} wrong cases rejected); {:.1} % flagged (rejected or sent to review)", recall * 100.0, flagged_recall * 100.0));
        lines.push(format!("mismatch precision  {:.1} %", precision * 100.0));
        lines.push(format!("false rejects       {:.1} % ({fp}/{correct} correct cases); {reviews} sent to review", false_reject * 100.0));
        for (d, v) in &per_defect {
            lines.push(format!("  {d:<16} rejected {}/{}  finding `{}` raised {}", v["rejected"], v["cases"], v["finding"].as_str().unwrap_or(""), v["finding_raised"]));
        }
        lines.push(String::new());
        lines.push(format!(
            "agent     {mean:.0} ms per picture (median {p50:.0}, p95 {p95:.0}), decode + locate + OCR + QR + checks; OCR {ocr_mean:.0} ms of it (detect {detect_mean:.0}, angle {angle_mean:.0}, recognise {recognise_mean:.0})"
        ));
        let mut json = serde_json::json!({
            "cases": cases.len(), "correct": correct, "wrong": wrong,
            "field_accuracy": acc,
            "field_accuracy_readable": acc_readable,
            "mismatch": {"recall": recall, "flagged_recall": flagged_recall, "precision": precision, "false_reject_rate": false_reject, "reviews_of_correct": reviews, "per_defect": per_defect, "false_reject_findings": false_reject_findings},
            "agent_ms": {"mean": mean, "p50": p50, "p95": p95, "ocr_mean": ocr_mean, "detect_mean": detect_mean, "angle_mean": angle_mean, "recognise_mean": recognise_mean},
        });
        // What went wrong, case by case, for whoever tunes the reader.
        let mut misses = Vec::new();
        for (i, (c, r)) in cases.iter().zip(ours).enumerate() {
            let wrong_fields: Vec<serde_json::Value> = SCORED
                .iter()
                .filter_map(|&f| {
                    let truth: String = field_truth(c, f)?.chars().filter(|c| !c.is_whitespace()).collect();
                    let read = field_read(r, f);
                    (read.as_deref() != Some(truth.as_str())).then(|| serde_json::json!({"field": f.code(), "truth": truth, "read": read}))
                })
                .collect();
            let missed = c.defect.is_some() && r.verdict != Some(Verdict::Reject);
            let false_reject = c.defect.is_none() && r.verdict == Some(Verdict::Reject);
            if !wrong_fields.is_empty() || missed || false_reject {
                misses.push(serde_json::json!({"case": i, "defect": c.defect, "occluded": c.occluded, "severity": c.severity, "layout": c.layout, "verdict": r.verdict, "findings": r.findings, "fields": wrong_fields}));
            }
        }
        json["misses"] = serde_json::Value::Array(misses);
        if let Some(r) = rapid {
            let (rmean, rp50, rp95) = times(r, |r| r.ms);
            lines.push(format!("rapidocr  {rmean:.0} ms per picture (median {rp50:.0}, p95 {rp95:.0}), OCR only"));
            lines.push(format!("speed-up  {:.2}x (mean), {:.2}x (median)", rmean / mean.max(1e-9), rp50 / p50.max(1e-9)));
            json["rapidocr_ms"] = serde_json::json!({"mean": rmean, "p50": rp50, "p95": rp95});
            json["rapidocr_field_accuracy"] = serde_json::json!(rapid_acc);
            json["rapidocr_field_accuracy_readable"] = serde_json::json!(rapid_readable);
            json["speedup_mean"] = serde_json::json!(rmean / mean.max(1e-9));
        }
        if !false_reject_findings.is_empty() {
            lines.push(format!("false rejects by finding: {false_reject_findings:?}"));
        }
        Self { json, lines }
    }

    fn print(&self) {
        for l in &self.lines {
            println!("{l}");
        }
    }
}
