use crate::cli::ClassifyArgs;
use crate::inference::classifier::{CategoryScore, LabelScore};
use crate::inference::{InferenceConfig, ModelPool};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Serialize)]
struct Report {
    model: String,
    model_version: String,
    provider: crate::inference::ProviderInUse,
    results: Vec<ImageReport>,
}

#[derive(Serialize)]
struct ImageReport {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    top: Vec<LabelScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<CategoryScore>,
    /// Read + decode + preprocess + inference + mapping.
    ms: f64,
}

/// Classifies each picture; a bad file gets its own error line and the rest still run.
/// Exit 1 if any picture failed.
pub fn classify(args: &ClassifyArgs) -> anyhow::Result<ExitCode> {
    let pool = ModelPool::load(&args.models.models_dir, InferenceConfig::default())?;
    let classifier = pool.classifier(&args.model)?;
    let mut results = Vec::new();
    for path in &args.images {
        let started = Instant::now();
        let outcome = std::fs::read(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| classifier.classify_bytes(&bytes, args.top_k as usize).map_err(|e| e.to_string()));
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let file = path.display().to_string();
        results.push(match outcome {
            Ok(c) => ImageReport { file, error: None, top: c.top, category: c.category, ms },
            Err(error) => ImageReport { file, error: Some(error), top: Vec::new(), category: None, ms },
        });
    }
    let failed = results.iter().any(|r| r.error.is_some());
    let session = &classifier.session;
    let report = Report {
        model: session.manifest.name.clone(),
        model_version: session.version(),
        provider: session.provider.clone(),
        results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_table(report: &Report) {
    println!("model {} {} on {}", report.model, report.model_version, report.provider.active);
    for r in &report.results {
        match (&r.error, &r.category) {
            (Some(e), _) => println!("{}: ERROR {e}", r.file),
            (None, Some(c)) => println!(
                "{}: {} ({}) {:.2} · {:.1} ms",
                r.file,
                c.name_zh,
                c.category.code(),
                c.confidence,
                r.ms
            ),
            (None, None) => println!("{}: 未识别 (not a recognised waste item) · {:.1} ms", r.file, r.ms),
        }
        for l in &r.top {
            println!("    {:<28} {:.3}", l.label, l.score);
        }
    }
}
