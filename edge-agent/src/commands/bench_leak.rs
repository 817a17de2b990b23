//! `edge-agent bench-leak`: the leak detector on seeded synthetic pod footage
//! (real photos as floors, rendered spills and distractors; see `simulate`).
//! Reports detection rate and time to detect for spills of at least 100 cm²,
//! false alarms per hour of spill-free footage, and frames per second per
//! camera at 1080p on one core, with JPEG decoding as the in-process baseline.

use crate::calibration::{Calibration, CalibrationFile, HomographyRecord, Zone, ZoneKind};
use crate::cli::BenchLeakArgs;
use crate::simulate::{PodScene, SceneGeometry, Script, Truth};
use crate::task::leak::{LeakRun, LeakTaskConfig};
use crate::vision::Frame;
use image::RgbImage;
use serde::Serialize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Floors for the scenes: Debian opencv-doc photos, rescaled to floor size.
pub const FLOOR_PHOTOS: [&str; 6] = ["building.jpg", "home.jpg", "board.jpg", "aero1.jpg", "graf1.png", "blox.jpg"];
/// A spill must reach this to count for the target.
pub const TARGET_CM2: f64 = 100.0;
/// ...and be reported within this long of reaching it.
pub const TARGET_S: f64 = 10.0;

pub fn floor_photo(index: usize) -> anyhow::Result<RgbImage> {
    Ok(crate::simulate::opencv_photo(FLOOR_PHOTOS[index % FLOOR_PHOTOS.len()])?)
}

/// The calibration a technician would make for a simulated scene.
pub fn scene_calibration(g: &SceneGeometry) -> anyhow::Result<Calibration> {
    let mut zones = vec![Zone { name: "floor".into(), kind: ZoneKind::Floor, polygon: g.floor.clone(), category: None, allow: Vec::new() }];
    for (i, tray) in g.trays.iter().enumerate() {
        zones.push(Zone { name: format!("tray-{}", i + 1), kind: ZoneKind::SpillTray, polygon: tray.clone(), category: None, allow: Vec::new() });
    }
    for (name, polygon) in &g.containers {
        zones.push(Zone { name: name.clone(), kind: ZoneKind::Container, polygon: polygon.clone(), category: None, allow: Vec::new() });
    }
    let file = CalibrationFile {
        camera: "sim-pod".into(),
        resolution: [g.width, g.height],
        homography: Some(HomographyRecord { px_to_mm: g.px_to_mm, method: "simulated".into(), rms_px: 0.0, computed_at: String::new() }),
        references: vec![],
        zones,
    };
    let text = toml::to_string(&file)?;
    Ok(Calibration::parse(&text, std::path::Path::new("<simulated scene>"))?)
}

/// What one clip gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClipResult {
    pub seed: u64,
    pub seconds: f64,
    pub frames: u64,
    /// When the true spill first reached 100 cm² (None: it never did, or no spill).
    pub reached_target_s: Option<f64>,
    pub spill_final_cm2: f64,
    /// The first `leak.suspected` on the spill, and its reported area.
    pub detected_s: Option<f64>,
    pub detected_cm2: Option<f64>,
    /// `leak.suspected` not on a spill.
    pub false_alarms: u32,
    pub camera_events: u32,
    pub events: u32,
}

/// Runs one clip through the camera watch and the leak task.
pub fn run_clip(seed: u64, floor: &RgbImage, size: (u32, u32), seconds: f64, fps: f64, spill: bool, settings: &LeakTaskConfig) -> anyhow::Result<ClipResult> {
    run_script(seed, floor, size, Script::random(seed, seconds, spill), fps, settings)
}

/// Runs one clip of a given script.
pub fn run_script(seed: u64, floor: &RgbImage, size: (u32, u32), script: Script, fps: f64, settings: &LeakTaskConfig) -> anyhow::Result<ClipResult> {
    let seconds = script.duration_s;
    let mut scene = PodScene::new(seed, floor, size.0, size.1, script)?;
    let calibration = Arc::new(scene_calibration(scene.geometry())?);
    let reference = scene.reference();
    let mut run = LeakRun::with_reference("leak", calibration.clone(), &reference, settings).map_err(anyhow::Error::msg)?;
    let camera: Arc<str> = Arc::from("sim-pod");
    let origin: Arc<str> = Arc::from(format!("sim seed {seed}"));
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut result = ClipResult { seed, seconds, ..Default::default() };
    let frames = (seconds * fps).floor() as u64;
    for k in 0..frames {
        let t = k as f64 / fps;
        let (image, truth) = scene.frame(t);
        if truth.spill_cm2 >= TARGET_CM2 && result.reached_target_s.is_none() {
            result.reached_target_s = Some(t);
        }
        result.spill_final_cm2 = truth.spill_cm2;
        let frame = Frame { camera: camera.clone(), seq: k, captured_at: start + Duration::from_secs_f64(t), image: Arc::new(image), origin: origin.clone() };
        for draft in run.frame(&frame).map_err(anyhow::Error::msg)? {
            result.events += 1;
            match (draft.kind.as_str(), draft.verdict.as_str()) {
                ("camera", _) => result.camera_events += 1,
                ("leak", "suspected") => {
                    if on_spill(&draft.details, &truth) && result.detected_s.is_none() {
                        result.detected_s = Some(t);
                        result.detected_cm2 = draft.details["area_cm2"].as_f64();
                    } else if !on_spill(&draft.details, &truth) {
                        result.false_alarms += 1;
                    }
                }
                _ => {}
            }
        }
        result.frames += 1;
    }
    Ok(result)
}

/// A report is on the spill if its centre is within 0.5 m of the true one.
fn on_spill(details: &serde_json::Value, truth: &Truth) -> bool {
    let (Some(true_mm), Some(x), Some(y)) = (truth.spill_centroid_mm, details["location"]["centroid_mm"][0].as_f64(), details["location"]["centroid_mm"][1].as_f64()) else {
        return false;
    };
    ((x - true_mm[0]).powi(2) + (y - true_mm[1]).powi(2)).sqrt() <= 500.0
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub spill_clips: usize,
    pub spills_reaching_100cm2: usize,
    pub detected_within_10s: usize,
    pub detection_rate: f64,
    pub detected_at_all: usize,
    pub time_to_detect_s_median: Option<f64>,
    pub time_to_detect_s_p95: Option<f64>,
    pub spill_clip_false_alarms: u32,
    pub hours_without_spills: f64,
    pub false_alarms: u32,
    pub false_alarms_per_hour: f64,
    pub false_alarms_per_24h: f64,
    pub camera_events_without_faults: u32,
    pub fps_1080p_one_core: f64,
    pub fps_1080p_with_jpeg_decode: f64,
    pub jpeg_decode_ms: f64,
    pub detect_ms: f64,
    pub detect_cost_in_jpeg_decodes: f64,
    pub clips: Vec<ClipResult>,
}

pub fn bench_leak(args: &BenchLeakArgs) -> anyhow::Result<ExitCode> {
    let size = parse_size(&args.size)?;
    if !(args.fps > 0.0 && args.fps <= 30.0) || !(args.hours >= 0.0 && args.hours <= 10_000.0) {
        anyhow::bail!("--fps must be in (0, 30] and --hours in [0, 10000]");
    }
    let threads = if args.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { args.threads };
    let floors: Vec<RgbImage> = (0..FLOOR_PHOTOS.len()).map(floor_photo).collect::<anyhow::Result<_>>()?;
    let settings = LeakTaskConfig { evidence: false, ..LeakTaskConfig::default() };

    // Jobs: spill clips of 3 minutes, then spill-free hours in 1 h clips.
    let mut jobs: Vec<(u64, f64, bool)> = (0..args.spills).map(|i| (args.seed * 100_000 + i as u64, 180.0, true)).collect();
    let full_hours = args.hours.floor() as u64;
    jobs.extend((0..full_hours).map(|h| (args.seed * 100_000 + 50_000 + h, 3600.0, false)));
    if args.hours.fract() > 0.0 {
        jobs.push((args.seed * 100_000 + 99_999, args.hours.fract() * 3600.0, false));
    }
    let started = Instant::now();
    let results = run_jobs(&jobs, threads, |(seed, seconds, spill)| {
        run_clip(*seed, &floors[(*seed % floors.len() as u64) as usize], size, *seconds, args.fps, *spill, &settings)
    })?;
    eprintln!("{} clips in {:.0} s on {threads} threads", jobs.len(), started.elapsed().as_secs_f64());

    let (spills, quiet): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| jobs.iter().any(|j| j.0 == r.seed && j.2));
    let reaching: Vec<&ClipResult> = spills.iter().filter(|r| r.reached_target_s.is_some()).collect();
    let mut delays: Vec<f64> = reaching.iter().filter_map(|r| Some(r.detected_s? - r.reached_target_s?)).map(|d| d.max(0.0)).collect();
    delays.sort_by(f64::total_cmp);
    let within = delays.iter().filter(|d| **d <= TARGET_S).count();
    let hours: f64 = quiet.iter().map(|r| r.seconds).sum::<f64>() / 3600.0;
    let false_alarms: u32 = quiet.iter().map(|r| r.false_alarms).sum();
    let (detect_ms, decode_ms) = time_1080p(&floors[0], &settings)?;
    let report = Report {
        spill_clips: spills.len(),
        spills_reaching_100cm2: reaching.len(),
        detected_within_10s: within,
        detection_rate: within as f64 / reaching.len().max(1) as f64,
        detected_at_all: delays.len(),
        time_to_detect_s_median: percentile(&delays, 0.5),
        time_to_detect_s_p95: percentile(&delays, 0.95),
        spill_clip_false_alarms: spills.iter().map(|r| r.false_alarms).sum(),
        hours_without_spills: hours,
        false_alarms,
        false_alarms_per_hour: if hours > 0.0 { f64::from(false_alarms) / hours } else { 0.0 },
        false_alarms_per_24h: if hours > 0.0 { 24.0 * f64::from(false_alarms) / hours } else { 0.0 },
        camera_events_without_faults: quiet.iter().chain(spills.iter()).map(|r| r.camera_events).sum(),
        fps_1080p_one_core: 1000.0 / detect_ms,
        fps_1080p_with_jpeg_decode: 1000.0 / (detect_ms + decode_ms),
        jpeg_decode_ms: decode_ms,
        detect_ms,
        detect_cost_in_jpeg_decodes: detect_ms / decode_ms,
        clips: spills.into_iter().chain(quiet).collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report, args: &BenchLeakArgs) {
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} s"));
    println!("leak detection on simulated pod footage ({} fps, {}, seed {})", args.fps, args.size, args.seed);
    println!("  spills >= 100 cm²        {:>4} of {} clips", r.spills_reaching_100cm2, r.spill_clips);
    println!("  detected within 10 s     {:>4}  ({:.1} %; target >= 95 %)", r.detected_within_10s, 100.0 * r.detection_rate);
    println!("  detected at all          {:>4}", r.detected_at_all);
    println!("  time to detect           median {}, p95 {}", pct(r.time_to_detect_s_median), pct(r.time_to_detect_s_p95));
    println!("  false alarms             {} in {:.1} h without spills = {:.2} per 24 h (target <= 1)", r.false_alarms, r.hours_without_spills, r.false_alarms_per_24h);
    println!("  false alarms, spill clips {}", r.spill_clip_false_alarms);
    println!("  camera events (no fault)  {}", r.camera_events_without_faults);
    println!(
        "  1080p, one core          {:.1} fps detection ({:.1} ms), {:.1} fps with JPEG decode; detection costs {:.2}x a JPEG decode ({:.1} ms)",
        r.fps_1080p_one_core, r.detect_ms, r.fps_1080p_with_jpeg_decode, r.detect_cost_in_jpeg_decodes, r.jpeg_decode_ms
    );
}

/// Median time per 1080p frame of the watch + leak task, and of decoding its JPEG (the baseline), on this thread.
fn time_1080p(floor: &RgbImage, settings: &LeakTaskConfig) -> anyhow::Result<(f64, f64)> {
    let mut scene = PodScene::new(7, floor, 1920, 1080, Script::random(7, 120.0, true))?;
    let calibration = Arc::new(scene_calibration(scene.geometry())?);
    let reference = scene.reference();
    let mut run = LeakRun::with_reference("leak", calibration, &reference, settings).map_err(anyhow::Error::msg)?;
    let frames: Vec<RgbImage> = (0..20).map(|k| scene.frame(f64::from(k) * 3.0).0).collect();
    let jpegs: Vec<Vec<u8>> = frames.iter().map(|f| encode_jpeg(f)).collect::<anyhow::Result<_>>()?;
    let (mut detect, mut decode) = (Vec::new(), Vec::new());
    let start = SystemTime::UNIX_EPOCH;
    for round in 0..3u64 {
        for (k, (image, jpeg)) in frames.iter().zip(&jpegs).enumerate() {
            let t0 = Instant::now();
            let decoded = crate::vision::decode_image(jpeg)?;
            decode.push(t0.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(decoded);
            let seq = round * 20 + k as u64;
            let frame = Frame { camera: Arc::from("sim"), seq, captured_at: start + Duration::from_secs(seq), image: Arc::new(image.clone()), origin: Arc::from("bench") };
            let t0 = Instant::now();
            std::hint::black_box(run.frame(&frame).map_err(anyhow::Error::msg)?);
            detect.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    detect.sort_by(f64::total_cmp);
    decode.sort_by(f64::total_cmp);
    Ok((percentile(&detect, 0.5).unwrap_or(0.0), percentile(&decode, 0.5).unwrap_or(0.0)))
}

fn encode_jpeg(img: &RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(img)?;
    Ok(out)
}

/// The agent's nearest-rank percentile; None for no samples.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| crate::agent::percentile(sorted, q))
}

pub(crate) fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let bad = || anyhow::anyhow!("--size `{s}`: write WIDTHxHEIGHT, e.g. 480x270, between 64x36 and 3840x2160");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(64..=3840).contains(&w) || !(36..=2160).contains(&h) {
        return Err(bad());
    }
    Ok((w, h))
}

/// Runs the jobs on `threads` threads, keeping their order.
pub(crate) fn run_jobs<J: Sync, R: Send>(jobs: &[J], threads: usize, work: impl Fn(&J) -> anyhow::Result<R> + Sync) -> anyhow::Result<Vec<R>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<anyhow::Result<R>>>> = jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(work(job));
                }
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(|| Err(anyhow::anyhow!("a job did not run")))).collect()
}
