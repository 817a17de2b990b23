//! `edge-agent bench-sorting`: the sorting station measured on real photos.
//!
//! 1. Enrollment against the generic mapping: every labelled crop of real
//!    item photos (Debian opencv-doc, see `simulate::station`) is cut out,
//!    classified and embedded once; then each is judged by the generic
//!    ImageNet mapping alone and by the mapping plus the nearest *other*
//!    enrolled crops (leave one out), and again leaving out every crop of
//!    the same source photo (stricter: the neighbours never share its light).
//! 2. Items per second on one core (one intra-op thread): cut-out + classify.
//! 3. Prompt latency at 1080p: seeded station footage with items dropped into
//!    bins, fed at the camera rate through the real task to the real station
//!    display; an SSE client measures from the capture of the frame in which
//!    the item landed to the prompt's arrival.

use crate::calibration::Calibration;
use crate::cli::BenchSortingArgs;
use crate::enroll::knn::{EnrolledIndex, fuse};
use crate::enroll::{EmbeddingModel, Enrollment, Example, NewExample};
use crate::inference::{InferenceConfig, ModelPool};
use crate::simulate::station::{self, ItemPhoto, StationScene};
use crate::task::sorting::SortingTaskConfig;
use crate::task::TaskContext;
use crate::vision::Frame;
use crate::waste::WasteCategory;
use crate::web::WebServer;
use crate::web::station::StationHub;
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Serialize)]
struct Accuracy {
    crops: usize,
    source_photos: usize,
    per_category: Vec<(String, usize)>,
    /// Category right with the generic ImageNet mapping alone ("not recognised" counts as wrong).
    generic_correct: usize,
    /// ... with the nearest other enrolled crops weighed in (leave one out).
    enrolled_correct: usize,
    /// ... leaving out every crop of the same photo as well (stricter: other light, other objects).
    enrolled_other_photos_correct: usize,
    /// Fine label right with enrollment, leave one out (the generic mapping names few of these items).
    enrolled_label_correct: usize,
    generic_accuracy: f64,
    enrolled_accuracy: f64,
    enrolled_other_photos_accuracy: f64,
}

#[derive(Debug, Serialize)]
struct Throughput {
    items: usize,
    cutout_ms_mean: f64,
    classify_ms_mean: f64,
    items_per_s_one_core: f64,
}

#[derive(Debug, Default, Serialize)]
struct Latency {
    fps: f64,
    frames: usize,
    frames_dropped: u64,
    drops_wrong: usize,
    drops_right: usize,
    nuisance_passes: usize,
    prompted_wrong: usize,
    unsure_on_wrong: usize,
    prompts_on_right: usize,
    prompts_on_nuisance: usize,
    /// Every prompt (firm and unsure), from the landing frame's capture to arrival at the display.
    latency_ms_p50: f64,
    latency_ms_p95: f64,
    latency_ms_max: f64,
    /// Firm prompts only (a wrong item decided by agreeing frames); unsure hints wait
    /// for more looks or for the item to leave, by design.
    firm_prompts: usize,
    firm_latency_ms_p50: f64,
    firm_latency_ms_p95: f64,
    task_ms_p50: f64,
    task_ms_p95: f64,
}

pub fn bench_sorting(args: &BenchSortingArgs) -> anyhow::Result<ExitCode> {
    let photos = station::item_photos()?;
    // One intra-op thread: the figures are per core.
    let pool = ModelPool::load(&args.models.models_dir, InferenceConfig { intra_threads: 1, ..Default::default() })?;
    let config = SortingTaskConfig::default();
    let classifier = crate::task::sorting_classifier("bench", &config, &pool, None)?;
    eprintln!("bench-sorting: {} crops of real item photos", photos.len());

    // Looks at every crop once: cut-out, classify, embed.
    let mut looks = Vec::new();
    let (mut cut_ms, mut cls_ms) = (0.0, 0.0);
    let started = Instant::now();
    for p in &photos {
        let look = classifier.look(&p.image)?;
        cut_ms += look.cutout_ms;
        cls_ms += look.classify_ms;
        looks.push(look);
    }
    let total_s = started.elapsed().as_secs_f64();
    let n = photos.len().max(1) as f64;
    let throughput = Throughput { items: photos.len(), cutout_ms_mean: cut_ms / n, classify_ms_mean: cls_ms / n, items_per_s_one_core: n / total_s };

    // Leave one photo out: a crop never meets a crop of its own photo.
    let examples: Vec<Example> = photos
        .iter()
        .zip(&looks)
        .map(|(p, l)| Example {
            id: p.id.clone(),
            label: p.label_zh.clone(),
            category: p.category,
            added_at: String::new(),
            source: p.source.clone(),
            picture: String::new(),
            embedding: l.embedding.clone(),
        })
        .collect();
    let index = EnrolledIndex::from_examples(&examples, 1);
    let source_of: std::collections::HashMap<&str, &str> = photos.iter().map(|p| (p.id.as_str(), p.source.as_str())).collect();
    let mut acc = Accuracy {
        crops: photos.len(),
        source_photos: photos.iter().map(|p| &p.source).collect::<std::collections::BTreeSet<_>>().len(),
        per_category: WasteCategory::ALL.iter().map(|c| (c.code().to_string(), photos.iter().filter(|p| p.category == *c).count())).collect(),
        generic_correct: 0,
        enrolled_correct: 0,
        enrolled_other_photos_correct: 0,
        enrolled_label_correct: 0,
        generic_accuracy: 0.0,
        enrolled_accuracy: 0.0,
        enrolled_other_photos_accuracy: 0.0,
    };
    println!("{:<26} {:<8} {:<10} {:<22} {:<22}", "crop", "truth", "label", "generic", "with enrollment");
    for (p, look) in photos.iter().zip(&looks) {
        // Without neighbours the fused result is the generic one.
        let generic = look.fused.category.filter(|_| look.fused.confidence >= config.decision.unsure_confidence);
        let gi = look.generic_item.as_ref().map(|(n, c, _)| (n.as_str(), *c));
        let judged = |skip: &dyn Fn(&str) -> bool| {
            let fused = fuse(look.fused.scores, gi, &index.nearest(&look.embedding, config.fusion.k, skip), &config.fusion);
            let category = fused.category.filter(|_| fused.confidence >= config.decision.unsure_confidence);
            (fused, category)
        };
        let (fused, enrolled) = judged(&|id| id == p.id);
        let (_, other_photos) = judged(&|id| source_of.get(id) == Some(&p.source.as_str()));
        acc.generic_correct += usize::from(generic == Some(p.category));
        acc.enrolled_correct += usize::from(enrolled == Some(p.category));
        acc.enrolled_other_photos_correct += usize::from(other_photos == Some(p.category));
        acc.enrolled_label_correct += usize::from(fused.item.as_deref() == Some(p.label_zh.as_str()));
        let show = |c: Option<WasteCategory>, conf: f32, item: Option<&str>| {
            format!("{} {:.2} {}", c.map_or("-", |c| c.code()), conf, item.unwrap_or("-"))
        };
        println!(
            "{:<26} {:<8} {:<10} {:<22} {:<22}",
            p.id,
            p.category.code(),
            p.label_zh,
            show(generic, look.fused.confidence, look.fused.item.as_deref()),
            show(enrolled, fused.confidence, fused.item.as_deref())
        );
    }
    acc.generic_accuracy = acc.generic_correct as f64 / n;
    acc.enrolled_accuracy = acc.enrolled_correct as f64 / n;
    acc.enrolled_other_photos_accuracy = acc.enrolled_other_photos_correct as f64 / n;

    let latency = if args.no_latency { None } else { Some(latency_run(args, &photos, &classifier.model, &looks)?) };
    let report = serde_json::json!({"accuracy": acc, "throughput": throughput, "latency": latency});
    println!("{}", serde_json::to_string_pretty(&report)?);
    println!(
        "\nenrollment (leave one out) {:.1} %, leaving the whole photo out {:.1} %, vs generic ImageNet mapping {:.1} % ({} crops, {} photos); {:.1} items/s on one core; prompt latency p50 {} ms, p95 {} ms (firm prompts: p50 {} ms, p95 {} ms)",
        acc.enrolled_accuracy * 100.0,
        acc.enrolled_other_photos_accuracy * 100.0,
        acc.generic_accuracy * 100.0,
        acc.crops,
        acc.source_photos,
        throughput.items_per_s_one_core,
        latency.as_ref().map_or("-".into(), |l| format!("{:.0}", l.latency_ms_p50)),
        latency.as_ref().map_or("-".into(), |l| format!("{:.0}", l.latency_ms_p95)),
        latency.as_ref().map_or("-".into(), |l| format!("{:.0}", l.firm_latency_ms_p50)),
        latency.as_ref().map_or("-".into(), |l| format!("{:.0}", l.firm_latency_ms_p95)),
    );
    Ok(ExitCode::SUCCESS)
}

fn latency_run(args: &BenchSortingArgs, photos: &[ItemPhoto], model: &EmbeddingModel, looks: &[crate::task::sorting::item::Look]) -> anyhow::Result<Latency> {
    let scene = StationScene::new(1920, 1080, args.seed);
    let calibration = Arc::new(Calibration::parse(&toml::to_string(&scene.calibration("bench-station"))?, std::path::Path::new("<station scene>"))?);
    let drops = station::drop_sequence(photos, args.drops, 0.5, 3.0, args.seed);
    let fps = args.fps.clamp(1.0, 60.0);
    let end_s = drops.iter().map(|d| d.start_s + d.hold_s + 2.0).fold(2.0, f64::max);
    let n_frames = (end_s * fps).ceil() as usize;
    eprintln!("bench-sorting: rendering {n_frames} frames at 1920x1080 ({} drops)", drops.len());
    // Frames as the camera delivers them (JPEG), and the first frame each drop is landed in.
    let mut jpegs = Vec::with_capacity(n_frames);
    let mut landed_frame: Vec<Option<usize>> = vec![None; drops.len()];
    for i in 0..n_frames {
        let (img, truth) = scene.frame(&drops, i as f64 / fps);
        for t in truth.iter().filter(|t| t.landed) {
            landed_frame[t.drop_index].get_or_insert(i);
        }
        jpegs.push(crate::event::evidence::encode_jpeg(&img)?);
    }

    // The site has enrolled its items (the same photos the scene drops).
    let state = tempfile::tempdir()?;
    let mut store = Enrollment::open(state.path())?;
    for (p, l) in photos.iter().zip(looks) {
        store.add(NewExample { label: p.label_zh.clone(), category: p.category, source: format!("bench:{}", p.id), picture_jpeg: vec![0xff, 0xd8, 0xff, 0xd9], embedding: l.embedding.clone() }, model)?;
    }
    let pool = ModelPool::load(&args.models.models_dir, InferenceConfig::default())?;
    let hub = Arc::new(StationHub::new(state.path().join("sorting").join("items")));
    let server = WebServer::start("127.0.0.1:0".parse()?, hub.clone())?;
    let slips = Arc::new(crate::task::intake::slips::SlipBook::in_memory());
    let ctx = TaskContext { models: &pool, slips: &slips, state_dir: Some(state.path()), display: Some(hub.clone()), tallies: Default::default(), ledger: Default::default(), board: Default::default() };
    let task_config = crate::config::TaskConfig { id: "sorting".into(), kind: crate::config::TaskKind::Sorting(Box::default()) };
    let task = crate::task::build_task(&task_config, &[("bench-station".into(), calibration)], &ctx)?;

    // The display's client: when each prompt arrives.
    let (prompt_tx, prompt_rx) = mpsc::channel::<(serde_json::Value, Instant)>();
    let addr = server.local_addr();
    let client = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut s = std::net::TcpStream::connect(addr)?;
        write!(s, "GET /station/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")?;
        let mut event = String::new();
        for line in BufReader::new(s).lines() {
            let line = line?;
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                if event == "prompt" {
                    let _ = prompt_tx.send((serde_json::from_str(d.trim())?, Instant::now()));
                }
            }
        }
        Ok(())
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub.subscribers() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }

    // The camera: frames at their times into a one-frame mailbox, newest wins.
    let slot = Arc::new(crate::capture::slot::LatestFrame::default());
    let t0 = Instant::now() + Duration::from_millis(200);
    let wall0 = SystemTime::now() + Duration::from_millis(200);
    let at = move |i: usize| t0 + Duration::from_secs_f64(i as f64 / fps);
    let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let feeder = {
        let (slot, dropped) = (slot.clone(), dropped.clone());
        std::thread::spawn(move || {
            for (i, jpeg) in jpegs.iter().enumerate() {
                if let Some(wait) = at(i).checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let Ok(image) = crate::vision::decode_image(jpeg) else { continue };
                let frame = Frame {
                    camera: Arc::from("bench-station"),
                    seq: i as u64,
                    captured_at: wall0 + Duration::from_secs_f64(i as f64 / fps),
                    image: Arc::new(image),
                    origin: Arc::from("bench"),
                };
                if slot.put(frame) {
                    dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            slot.close();
        })
    };
    let mut task_ms = Vec::new();
    loop {
        match slot.take(Duration::from_millis(500)) {
            crate::capture::slot::Take::Frame(frame) => {
                let started = Instant::now();
                let result = task.process(&frame)?;
                task.events(&frame, &result);
                task_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            crate::capture::slot::Take::TimedOut => continue,
            crate::capture::slot::Take::Closed => break,
        }
    }
    let _ = feeder.join();
    std::thread::sleep(Duration::from_millis(300));
    server.stop();
    let _ = client.join();

    // Each prompt belongs to the drop whose item was in view at its frame.
    let mut out = Latency { fps, frames: n_frames, frames_dropped: dropped.load(std::sync::atomic::Ordering::Relaxed), ..Default::default() };
    let zones: Vec<String> = scene.calibration("bench-station").zones.into_iter().map(|z| z.name).collect();
    let mut latencies = Vec::new();
    let mut firm_latencies = Vec::new();
    let mut prompted = vec![false; drops.len()];
    for (prompt, received) in prompt_rx.try_iter() {
        let captured_ms = prompt["captured_at_ms"].as_u64().unwrap_or(0);
        let wall0_ms = crate::event::unix_millis(wall0);
        let t_s = captured_ms.saturating_sub(wall0_ms) as f64 / 1000.0;
        let zone = prompt["bin"]["zone"].as_str().unwrap_or_default().to_string();
        let bin = zones.iter().position(|z| *z == zone);
        let Some(d) = drops.iter().position(|d| Some(d.bin) == bin && t_s >= d.start_s - 0.2 && t_s <= d.start_s + d.hold_s + 1.0) else {
            continue;
        };
        if std::mem::replace(&mut prompted[d], true) {
            continue;
        }
        let drop = &drops[d];
        let wrong = !drop.nuisance && scene.bin_categories()[drop.bin] != drop.item.category;
        let firm = prompt["verdict"] == "misclassification";
        match (drop.nuisance, wrong, firm) {
            (true, _, _) => out.prompts_on_nuisance += 1,
            (false, true, true) => out.prompted_wrong += 1,
            (false, true, false) => out.unsure_on_wrong += 1,
            (false, false, _) => out.prompts_on_right += 1,
        }
        if let Some(i) = landed_frame[d] {
            let ms = received.saturating_duration_since(at(i)).as_secs_f64() * 1000.0;
            latencies.push(ms);
            if firm {
                firm_latencies.push(ms);
            }
        }
    }
    out.drops_wrong = drops.iter().filter(|d| !d.nuisance && scene.bin_categories()[d.bin] != d.item.category).count();
    out.nuisance_passes = drops.iter().filter(|d| d.nuisance).count();
    out.drops_right = drops.len() - out.drops_wrong - out.nuisance_passes;
    latencies.sort_by(f64::total_cmp);
    firm_latencies.sort_by(f64::total_cmp);
    task_ms.sort_by(f64::total_cmp);
    out.firm_prompts = firm_latencies.len();
    out.firm_latency_ms_p50 = crate::agent::percentile(&firm_latencies, 0.5);
    out.firm_latency_ms_p95 = crate::agent::percentile(&firm_latencies, 0.95);
    out.latency_ms_p50 = crate::agent::percentile(&latencies, 0.5);
    out.latency_ms_p95 = crate::agent::percentile(&latencies, 0.95);
    out.latency_ms_max = latencies.last().copied().unwrap_or(0.0);
    out.task_ms_p50 = crate::agent::percentile(&task_ms, 0.5);
    out.task_ms_p95 = crate::agent::percentile(&task_ms, 0.95);
    Ok(out)
}
