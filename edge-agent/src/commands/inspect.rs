//! `edge-agent inspect IMAGE [--slip SLIP.json]`: read a container's label
//! and check it, as the intake task does, on one picture.

use crate::cli::InspectArgs;
use crate::inference::{InferenceConfig, ModelPool};
use crate::label::catalogue::Catalogue;
use crate::label::checks::{CheckSettings, QrRead, Severity};
use crate::label::{Inspection, Inspector};
use crate::mqtt::commands::{Command, CommandParser, IntakeSlip};
use crate::ocr::OcrEngine;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn inspect(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let settings: CheckSettings = toml::from_str(&args.settings).map_err(|e| anyhow::anyhow!("--settings: {}", e.message()))?;
    if let Some((key, message)) = settings.check().into_iter().next() {
        anyhow::bail!("--settings: {key}: {message}");
    }
    let slip = args.slip.as_deref().map(read_slip).transpose()?;
    let bytes = std::fs::read(&args.image).map_err(|e| anyhow::anyhow!("cannot read {} ({e})", args.image.display()))?;
    let frame = crate::vision::decode_image(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a picture that can be read ({e}); give a JPEG or PNG", args.image.display()))?;
    let catalogue = Arc::new(match &args.catalogue {
        Some(path) => Catalogue::load(path, &args.catalogue_version).map_err(anyhow::Error::msg)?,
        None => Catalogue::builtin(),
    });
    let at = match &args.at {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t).map_err(|e| anyhow::anyhow!("--at `{t}`: {e}; give an RFC 3339 time like 2026-11-29T10:00:00+08:00"))?,
        None => chrono::Local::now().fixed_offset(),
    };
    let pool = ModelPool::load(&args.ocr.models.models_dir, InferenceConfig { intra_threads: args.ocr.threads, ..Default::default() })?;
    let ocr = OcrEngine::new(&pool, &args.ocr.detector, (!args.ocr.no_angle).then_some(args.ocr.angle.as_str()), &args.ocr.recognizer)?;
    let inspector = Inspector::new(ocr, catalogue, settings);
    let inspection = inspector.inspect(&frame, slip.as_ref(), at.date_naive())?;
    if let Some(out) = &args.evidence {
        let picture = inspection.evidence(&frame)?;
        std::fs::write(out, &picture.jpeg).map_err(|e| anyhow::anyhow!("cannot write the evidence picture {} ({e})", out.display()))?;
    }
    if args.json {
        let doc = serde_json::json!({
            "image": args.image.display().to_string(),
            "slip": slip.as_ref().map(|s| &s.slip_id),
            "inspection": inspection,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_report(&inspection);
    }
    Ok(ExitCode::SUCCESS)
}

/// A slip file is the `cmd/intake-slip` payload; `request_id` may be left out.
pub fn read_slip(path: &Path) -> anyhow::Result<IntakeSlip> {
    let text = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the slip {} ({e})", path.display()))?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("the slip {} is not JSON: {e}", path.display()))?;
    if let Some(object) = value.as_object_mut() {
        object.entry("request_id").or_insert_with(|| "inspect".into());
    }
    let payload = serde_json::to_vec(&value)?;
    match CommandParser::new().parse("intake-slip", &payload, false) {
        Ok(Command::IntakeSlip(slip)) => Ok(slip),
        Ok(_) => unreachable!("the intake-slip parser only returns slips"),
        Err(refusal) => anyhow::bail!(
            "the slip {} does not fit mqtt-schemas/cmd-intake-slip.schema.json: {}",
            path.display(),
            refusal.error.message
        ),
    }
}

fn print_report(i: &Inspection) {
    let verdict = serde_json::to_value(i.verdict).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    println!("verdict: {verdict} ({})", i.verdict.name_zh());
    match i.label_region {
        Some(r) => println!("label:   found at {r:?}{}", if i.label.title_found { ", title 危险废物 read" } else { "" }),
        None => println!("label:   no label-orange region seen"),
    }
    println!("fields:");
    for f in &i.label.fields {
        let mark = if f.well_formed { "" } else { "  (format?)" };
        println!("  {:<14} {:<40} {:.2}{mark}", f.field.key_zh(), f.value, f.confidence);
    }
    match &i.qr {
        QrRead::NotFound => println!("qr:      not read"),
        QrRead::BadPayload { text, reason } => println!("qr:      `{}`: {reason}", text.chars().take(60).collect::<String>()),
        QrRead::Decoded(p) => println!("qr:      {}", p.text.chars().take(80).collect::<String>()),
    }
    println!("findings:");
    if i.findings.is_empty() {
        println!("  none");
    }
    for f in &i.findings {
        let sev = match f.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        println!("  {sev:<7} {:<26} {}", f.code, f.message_zh);
        println!("  {:<7} {:<26} {}", "", "", f.message_en);
    }
    let t = &i.timings;
    println!(
        "time:    {:.0} ms (locate {:.1}, detect {:.0}, angle {:.0}, recognise {:.0}, qr {:.0}, checks {:.1})",
        t.total_ms, t.locate_ms, t.ocr.detect_ms, t.ocr.classify_ms, t.ocr.recognise_ms, t.qr_ms, t.check_ms
    );
}
