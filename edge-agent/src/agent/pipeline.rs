//! The cameras of one config and their task workers; started and stopped as
//! a whole (at start, on a config reload, at stop).

use super::{AgentError, RunLimits, percentile};
use crate::backoff::Backoff;
use crate::capture::{self, CameraHandle, CameraState, CameraStats, slot::Take};
use crate::config::Config;
use crate::event::{StampedEvent, Stamper};
use crate::mqtt::health::{CameraHealth, HealthSource, ModelHealth};
use crate::telemetry::liveness::Liveness;
use crate::task::camera_watch::{CameraWatch, WatchSettings};

/// Cameras whose intake zones cover this share of the view or more are not
/// watched for a moved or degraded view (their picture changes by design).
const MAX_WATCHED_INTAKE_SHARE: f64 = 0.5;
use crate::task::{Task, TaskOutput};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Latencies kept per camera for percentiles: recent enough to mean "now".
const LATENCY_WINDOW: usize = 2048;

/// Per-camera figures at the end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct CameraSummary {
    pub camera: String,
    pub captured: u64,
    pub processed: u64,
    pub dropped: u64,
    pub corrupt: u64,
    pub reconnects: u64,
    pub task_errors: u64,
    pub fps: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub state: Option<CameraState>,
}

/// The live counters of one camera's worker.
#[derive(Default)]
pub struct WorkerStats {
    pub processed: AtomicU64,
    pub errors: AtomicU64,
    latencies: Mutex<VecDeque<f64>>,
}

impl WorkerStats {
    fn record_latency(&self, ms: f64) {
        let mut l = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() == LATENCY_WINDOW {
            l.pop_front();
        }
        l.push_back(ms);
    }

    fn percentiles(&self) -> (f64, f64) {
        let mut l: Vec<f64> = self.latencies.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        l.sort_by(f64::total_cmp);
        (percentile(&l, 0.50), percentile(&l, 0.95))
    }
}

/// fps is measured over at least this long, however often it is read
/// (heartbeat, /metrics, STATUS): readers never shorten each other's window.
const FPS_WINDOW: Duration = Duration::from_secs(2);

struct LiveCamera {
    id: String,
    capture: Arc<CameraStats>,
    worker: Arc<WorkerStats>,
    /// (when, frames processed, fps) at the last measure.
    last: Mutex<(Instant, u64, f64)>,
}

/// The running cameras (and their models) as the heartbeat and /metrics see
/// them; replaced on reload.
#[derive(Default)]
pub struct LiveCameras {
    cameras: Mutex<Vec<Arc<LiveCamera>>>,
    sorting: Arc<crate::task::sorting::tally::SortingTallies>,
    models: Mutex<Option<Arc<crate::inference::ModelPool>>>,
    liveness: Arc<Liveness>,
}

impl LiveCameras {
    pub fn new(sorting: Arc<crate::task::sorting::tally::SortingTallies>, liveness: Arc<Liveness>) -> Self {
        Self { cameras: Mutex::default(), sorting, models: Mutex::default(), liveness }
    }

    pub fn set_models(&self, pool: Arc<crate::inference::ModelPool>) {
        *self.models.lock().unwrap_or_else(|e| e.into_inner()) = Some(pool);
    }
}

impl HealthSource for LiveCameras {
    fn models(&self) -> Vec<ModelHealth> {
        let Some(pool) = self.models.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return vec![] };
        pool.models()
            .iter()
            .map(|s| {
                let latency = crate::telemetry::inference_snapshot(s.name());
                let m = s.model_ref();
                ModelHealth {
                    name: m.name,
                    version: m.version,
                    sha256: m.sha256,
                    provider: s.provider.active.into(),
                    requested_provider: s.provider.requested.into(),
                    fallback_reason: s.provider.fallback_reason.clone(),
                    runs: latency.count,
                    latency_mean_ms: latency.mean_ms(),
                    latency_p50_ms: latency.quantile_ms(0.5),
                    latency_p95_ms: latency.quantile_ms(0.95),
                }
            })
            .collect()
    }

    fn sorting(&self) -> Vec<crate::task::sorting::tally::BinReport> {
        self.sorting.report(crate::event::unix_millis(std::time::SystemTime::now()))
    }

    fn cameras(&self) -> Vec<CameraHealth> {
        let cameras = self.cameras.lock().unwrap_or_else(|e| e.into_inner()).clone();
        cameras
            .iter()
            .map(|c| {
                let processed = c.worker.processed.load(Ordering::Relaxed);
                let fps = {
                    let mut last = c.last.lock().unwrap_or_else(|e| e.into_inner());
                    let elapsed = last.0.elapsed();
                    if elapsed >= FPS_WINDOW {
                        let fps = processed.saturating_sub(last.1) as f64 / elapsed.as_secs_f64();
                        *last = (Instant::now(), processed, (fps * 100.0).round() / 100.0);
                    }
                    last.2
                };
                let (state, error) = match c.capture.state() {
                    Some(CameraState::Connecting) => ("connecting", None),
                    Some(CameraState::Streaming) => ("streaming", None),
                    Some(CameraState::Reconnecting { error, .. }) => ("reconnecting", Some(error)),
                    Some(CameraState::Finished) => ("finished", None),
                    Some(CameraState::Failed { error }) => ("failed", Some(error)),
                    None => ("unknown", None),
                };
                let (p50, p95) = c.worker.percentiles();
                CameraHealth {
                    camera: c.id.clone(),
                    state: state.into(),
                    error,
                    fps,
                    frames_captured: c.capture.captured.load(Ordering::Relaxed),
                    frames_processed: processed,
                    frames_dropped: c.capture.dropped.load(Ordering::Relaxed),
                    frames_corrupt: c.capture.corrupt.load(Ordering::Relaxed),
                    reconnects: c.capture.reconnects.load(Ordering::Relaxed),
                    task_errors: c.worker.errors.load(Ordering::Relaxed),
                    inference_p50_ms: p50,
                    inference_p95_ms: p95,
                }
            })
            .collect()
    }
}

struct Worker {
    camera: CameraHandle,
    camera_stop: Arc<AtomicBool>,
    stats: Arc<WorkerStats>,
    thread: std::thread::JoinHandle<()>,
    started: Instant,
}

pub struct Pipeline {
    workers: Vec<Worker>,
}

impl Pipeline {
    pub fn empty() -> Self {
        Self { workers: vec![] }
    }

    pub fn start(
        config: &Config,
        tasks: &[(String, Arc<dyn Task>)],
        stamper: &Stamper,
        events: &mpsc::Sender<StampedEvent>,
        results: &mpsc::Sender<TaskOutput>,
        limits: &RunLimits,
        live: &LiveCameras,
    ) -> Result<Self, AgentError> {
        let mut workers = Vec::new();
        let mut live_cameras = Vec::new();
        for camera_config in &config.cameras {
            let source = match capture::open_source(camera_config) {
                Ok(s) => s,
                Err(e) => {
                    Self { workers }.stop();
                    return Err(AgentError::Camera(camera_config.id.clone(), e.to_string()));
                }
            };
            // Each camera has its own stop flag: a worker that reached --max-frames
            // stops its camera without stopping the others.
            let camera_stop = Arc::new(AtomicBool::new(false));
            let camera = capture::spawn_camera(&camera_config.id, source, camera_stop.clone(), Backoff::default());
            let camera_tasks: Vec<Arc<dyn Task>> = camera_config
                .tasks
                .iter()
                .filter_map(|id| tasks.iter().find(|(tid, _)| tid == id).map(|(_, t)| t.clone()))
                .collect();
            let mut watch = match &camera_config.calibrated {
                // An intake camera looks down at the spot where containers are
                // put: its view changes by design, and the reference is the empty spot.
                Some(cal) if cal.intake_share() >= MAX_WATCHED_INTAKE_SHARE => {
                    tracing::info!(
                        camera = %camera_config.id,
                        intake_share = cal.intake_share(),
                        "no camera watch: intake zones cover most of the view, which changes with every container"
                    );
                    None
                }
                Some(cal) if !cal.file.references.is_empty() => match CameraWatch::new(cal, WatchSettings::default()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        Self { workers }.stop();
                        return Err(AgentError::Camera(camera_config.id.clone(), e));
                    }
                },
                _ => None,
            };
            let stats = Arc::new(WorkerStats::default());
            let thread = {
                let (latest, stop) = (camera.latest.clone(), camera_stop.clone());
                let (events, results, stamper, stats) = (events.clone(), results.clone(), stamper.clone(), stats.clone());
                let id = camera_config.id.clone();
                let max_frames = limits.max_frames;
                let beat = live.liveness.register(&format!("tasks-{id}"));
                std::thread::Builder::new()
                    .name(format!("tasks-{id}"))
                    .spawn(move || {
                        loop {
                            // Every pass beats, waiting ones too: only a stuck frame goes silent.
                            beat.beat();
                            if stop.load(Ordering::Relaxed) || max_frames.is_some_and(|m| stats.processed.load(Ordering::Relaxed) >= m) {
                                stop.store(true, Ordering::Relaxed);
                                break;
                            }
                            let frame = match latest.take(Duration::from_millis(200)) {
                                Take::Frame(f) => f,
                                Take::TimedOut => continue,
                                Take::Closed => break,
                            };
                            let t0 = Instant::now();
                            if let Some(watch) = &mut watch {
                                let outcome = watch.check(&frame);
                                for draft in outcome.drafts {
                                    let _ = events.send(stamper.stamp(draft));
                                }
                                if outcome.lost_now {
                                    camera_tasks.iter().for_each(|t| t.reset_camera(&id));
                                }
                                if !outcome.usable {
                                    stats.record_latency(t0.elapsed().as_secs_f64() * 1000.0);
                                    stats.processed.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                            }
                            for task in &camera_tasks {
                                match task.process(&frame) {
                                    Ok(result) => {
                                        for draft in task.events(&frame, &result) {
                                            let _ = events.send(stamper.stamp(draft));
                                        }
                                        let _ = results.send(TaskOutput::new(task.id(), &frame, result));
                                    }
                                    Err(error) => {
                                        stats.errors.fetch_add(1, Ordering::Relaxed);
                                        tracing::error!(camera = %id, task = task.id(), %error, "task failed on a frame");
                                    }
                                }
                            }
                            stats.record_latency(t0.elapsed().as_secs_f64() * 1000.0);
                            stats.processed.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .map_err(|e| AgentError::Start(format!("cannot start a worker thread: {e}")))?
            };
            live_cameras.push(Arc::new(LiveCamera {
                id: camera_config.id.clone(),
                capture: camera.stats.clone(),
                worker: stats.clone(),
                last: Mutex::new((Instant::now(), 0, 0.0)),
            }));
            workers.push(Worker { camera, camera_stop, stats, thread, started: Instant::now() });
        }
        *live.cameras.lock().unwrap_or_else(|e| e.into_inner()) = live_cameras;
        Ok(Self { workers })
    }

    pub fn all_done(&self) -> bool {
        self.workers.iter().all(|w| w.thread.is_finished())
    }

    pub fn stop(self) -> Vec<CameraSummary> {
        for w in &self.workers {
            w.camera_stop.store(true, Ordering::Relaxed);
        }
        let mut summaries = Vec::new();
        for w in self.workers {
            let _ = w.thread.join();
            let elapsed = w.started.elapsed().as_secs_f64().max(1e-9);
            let stats = w.camera.stats.clone();
            let id = w.camera.id.to_string();
            w.camera.join();
            let processed = w.stats.processed.load(Ordering::Relaxed);
            let (p50, p95) = w.stats.percentiles();
            summaries.push(CameraSummary {
                camera: id,
                captured: stats.captured.load(Ordering::Relaxed),
                processed,
                dropped: stats.dropped.load(Ordering::Relaxed),
                corrupt: stats.corrupt.load(Ordering::Relaxed),
                reconnects: stats.reconnects.load(Ordering::Relaxed),
                task_errors: w.stats.errors.load(Ordering::Relaxed),
                fps: processed as f64 / elapsed,
                latency_p50_ms: p50,
                latency_p95_ms: p95,
                state: stats.state(),
            });
        }
        summaries
    }
}
