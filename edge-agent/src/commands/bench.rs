//! `edge-agent bench`: in one process and one run, times (a) the bare
//! `Session::run` of the classifier and (b) the whole classify path (decode +
//! resize + normalise + run + map) on the same 1080p JPEG, and reports the ratio.

use crate::agent::percentile;
use crate::cli::BenchArgs;
use crate::inference::{ImageClassifier, InferenceConfig, ModelPool};
use crate::vision::{self, preprocess};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;

const DEFAULT_SOURCE: &str = "demo/frames/01-fruits.jpg";

#[derive(Serialize)]
struct Timing {
    median_ms: f64,
    mean_ms: f64,
    p95_ms: f64,
}

#[derive(Serialize)]
struct BenchReport {
    model: String,
    provider: &'static str,
    image: String,
    width: u32,
    height: u32,
    jpeg_bytes: usize,
    iterations: usize,
    raw_session_run: Timing,
    classify_path: Timing,
    /// classify_path / raw_session_run, medians.
    ratio: f64,
    /// The same path pipelined as in `run` (decode on the capture thread while
    /// the model runs): milliseconds per frame, and that over (a).
    pipelined_ms_per_frame: f64,
    pipelined_ratio: f64,
    /// Parts of the path, for finding what to speed up.
    decode_scaled: Timing,
    decode_full: Timing,
    preprocess: Timing,
}

fn timing(mut v: Vec<f64>) -> Timing {
    v.sort_by(f64::total_cmp);
    Timing {
        median_ms: percentile(&v, 0.5),
        mean_ms: v.iter().sum::<f64>() / v.len().max(1) as f64,
        p95_ms: percentile(&v, 0.95),
    }
}

fn time_ms<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64() * 1000.0, out)
}

/// A 1920x1080 JPEG as an IP or USB camera sends it (4:2:0, quality 85), made
/// from any picture; a JPEG that already is 1080p is used as it is.
fn make_1080p_jpeg(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let img = vision::decode_image(&bytes)?;
    if img.dimensions() == (1920, 1080) && bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(bytes);
    }
    let big = image::imageops::resize(&img, 1920, 1080, image::imageops::FilterType::Triangle);
    let view = turbojpeg::Image { pixels: big.as_raw().as_slice(), width: 1920, pitch: 1920 * 3, height: 1080, format: turbojpeg::PixelFormat::RGB };
    Ok(turbojpeg::compress(view, 85, turbojpeg::Subsamp::Sub2x2)?.to_vec())
}

/// Frames per second of the classify path as the agent runs it: one thread
/// decodes and prepares frame i+1 while another runs the model on frame i.
fn pipelined_ms_per_frame(classifier: &ImageClassifier, jpeg: &[u8], n: usize) -> anyhow::Result<f64> {
    let (min_w, min_h) = classifier.min_source_size();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let producer = scope.spawn(move || -> anyhow::Result<()> {
            for _ in 0..n {
                let img = vision::decode_image_at_least(jpeg, min_w, min_h)?;
                if tx.send(classifier.prepare(&img)?).is_err() {
                    break;
                }
            }
            Ok(())
        });
        for tensor in rx {
            classifier.classify_tensor(tensor.view(), 5)?;
        }
        producer.join().map_err(|_| anyhow::anyhow!("decoder thread panicked"))?
    })?;
    Ok(started.elapsed().as_secs_f64() * 1000.0 / n as f64)
}

pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let config = InferenceConfig { intra_threads: args.threads, ..InferenceConfig::default() };
    let pool = ModelPool::load(&args.models.models_dir, config)?;
    let classifier = pool.classifier(&args.model)?;
    let session = classifier.session.clone();
    let source = args.image.clone().unwrap_or_else(|| DEFAULT_SOURCE.into());
    let jpeg = make_1080p_jpeg(&source)?;
    let full = vision::decode_image(&jpeg)?;
    let m = &session.manifest;
    let tensor = preprocess::prepare(&full, &m.preprocess, &m.input)?.tensor.into_dyn();
    let (min_w, min_h) = classifier.min_source_size();

    // Warm up both paths (first runs allocate arenas and caches).
    for _ in 0..5 {
        session.run_raw(tensor.view())?;
        classifier.classify_bytes(&jpeg, 5)?;
    }
    let n = args.iterations.max(1);
    let (mut raw, mut whole, mut dec_s, mut dec_f, mut pre) = (vec![], vec![], vec![], vec![], vec![]);
    // Interleaved, so drift (thermal, other load) hits both alike.
    for _ in 0..n {
        let (ms, r) = time_ms(|| session.run_raw(tensor.view()));
        r?;
        raw.push(ms);
        let (ms, r) = time_ms(|| classifier.classify_bytes(&jpeg, 5));
        r?;
        whole.push(ms);
        let (ms, small) = time_ms(|| vision::decode_image_at_least(&jpeg, min_w, min_h));
        let small = small?;
        dec_s.push(ms);
        let (ms, r) = time_ms(|| vision::decode_image(&jpeg));
        r?;
        dec_f.push(ms);
        let (ms, r) = time_ms(|| preprocess::prepare(&small, &m.preprocess, &m.input));
        r?;
        pre.push(ms);
    }
    let report = BenchReport {
        model: m.name.clone(),
        provider: session.provider.active,
        image: source.display().to_string(),
        width: full.width(),
        height: full.height(),
        jpeg_bytes: jpeg.len(),
        iterations: n,
        ratio: 0.0,
        pipelined_ms_per_frame: pipelined_ms_per_frame(&classifier, &jpeg, n)?,
        pipelined_ratio: 0.0,
        raw_session_run: timing(raw),
        classify_path: timing(whole),
        decode_scaled: timing(dec_s),
        decode_full: timing(dec_f),
        preprocess: timing(pre),
    };
    let raw_median = report.raw_session_run.median_ms;
    let report = BenchReport {
        ratio: report.classify_path.median_ms / raw_median,
        pipelined_ratio: report.pipelined_ms_per_frame / raw_median,
        ..report
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "bench {} on {} · {}x{} JPEG ({} KiB) · {} iterations",
            report.model,
            report.provider,
            report.width,
            report.height,
            report.jpeg_bytes / 1024,
            n
        );
        let row = |name: &str, t: &Timing| println!("  {name:<34} median {:>7.2} ms  mean {:>7.2}  p95 {:>7.2}", t.median_ms, t.mean_ms, t.p95_ms);
        row("(a) raw Session::run", &report.raw_session_run);
        row("(b) classify path (bytes -> category)", &report.classify_path);
        println!("  ratio (b)/(a) = {:.3}  (target <= 1.30)", report.ratio);
        println!(
            "  (c) pipelined, as `run` does it      {:>7.2} ms/frame  ratio (c)/(a) = {:.3}",
            report.pipelined_ms_per_frame, report.pipelined_ratio
        );
        row("    decode, DCT-scaled", &report.decode_scaled);
        row("    decode, full size (for reference)", &report.decode_full);
        row("    resize + normalise", &report.preprocess);
    }
    Ok(ExitCode::SUCCESS)
}
