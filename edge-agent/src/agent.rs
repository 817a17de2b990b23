//! The long-running agent: cameras -> tasks -> results. One capture thread per
//! camera and one worker thread per camera, so a slow camera or model never
//! stalls the others; inference runs on these blocking threads, not on an
//! async executor. Results are written as JSON lines (the MQTT issue routes
//! them through the outbox instead).

use crate::capture::{self, CameraHandle, CameraState, backoff::Backoff, slot::Take};
use crate::config::Config;
use crate::inference::{InferenceError, ModelPool};
use crate::task::{self, Task, TaskOutput};
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once every camera has had this many frames processed.
    pub max_frames: Option<u64>,
}

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

struct Worker {
    camera: CameraHandle,
    camera_stop: Arc<AtomicBool>,
    processed: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<f64>>>,
    thread: std::thread::JoinHandle<()>,
}

/// Runs until stopped (Ctrl-C / SIGTERM via `stop`) or a limit is reached.
pub fn run(
    config: &Config,
    limits: &RunLimits,
    stop: Arc<AtomicBool>,
    out: Box<dyn Write + Send>,
) -> Result<Vec<CameraSummary>, AgentError> {
    let models = ModelPool::load(&config.models_dir, config.inference.clone())?;
    // Build every task before any camera starts: a model that fails to load stops the start.
    let mut tasks: Vec<(String, Arc<dyn Task>)> = Vec::new();
    for t in &config.tasks {
        tasks.push((t.id.clone(), Arc::from(task::build_task(t, &models)?)));
    }
    let (tx, rx) = mpsc::channel::<TaskOutput>();
    let writer = std::thread::Builder::new()
        .name("results".into())
        .spawn(move || write_results(rx, out))
        .expect("spawning a thread");

    let started = Instant::now();
    let mut workers = Vec::new();
    for camera_config in &config.cameras {
        let source = capture::open_source(camera_config).map_err(|e| AgentError::Camera(camera_config.id.clone(), e.to_string()))?;
        // Each camera has its own stop flag: a worker that reached --max-frames
        // stops its camera without stopping the others.
        let camera_stop = Arc::new(AtomicBool::new(false));
        let camera = capture::spawn_camera(&camera_config.id, source, camera_stop.clone(), Backoff::default());
        let camera_tasks: Vec<Arc<dyn Task>> = camera_config
            .tasks
            .iter()
            .filter_map(|id| tasks.iter().find(|(tid, _)| tid == id).map(|(_, t)| t.clone()))
            .collect();
        let processed = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (latest, stop, tx) = (camera.latest.clone(), camera_stop.clone(), tx.clone());
            let (processed, errors, latencies) = (processed.clone(), errors.clone(), latencies.clone());
            let id = camera_config.id.clone();
            let max_frames = limits.max_frames;
            std::thread::Builder::new()
                .name(format!("tasks-{id}"))
                .spawn(move || loop {
                    if stop.load(Ordering::Relaxed) || max_frames.is_some_and(|m| processed.load(Ordering::Relaxed) >= m) {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    let frame = match latest.take(Duration::from_millis(200)) {
                        Take::Frame(f) => f,
                        Take::TimedOut => continue,
                        Take::Closed => break,
                    };
                    let t0 = Instant::now();
                    for task in &camera_tasks {
                        match task.process(&frame) {
                            Ok(result) => {
                                let _ = tx.send(TaskOutput::new(task.id(), &frame, result));
                            }
                            Err(error) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(camera = %id, task = task.id(), %error, "task failed on a frame");
                            }
                        }
                    }
                    latencies.lock().unwrap_or_else(|e| e.into_inner()).push(t0.elapsed().as_secs_f64() * 1000.0);
                    processed.fetch_add(1, Ordering::Relaxed);
                })
                .expect("spawning a thread")
        };
        workers.push(Worker { camera, camera_stop, processed, errors, latencies, thread });
    }
    drop(tx);

    // Supervise: stop on signal, time limit, or when every worker is done.
    loop {
        let all_done = workers.iter().all(|w| w.thread.is_finished());
        let timed_out = limits.duration.is_some_and(|d| started.elapsed() >= d);
        if all_done || timed_out || stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for w in &workers {
        w.camera_stop.store(true, Ordering::Relaxed);
    }

    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut summaries = Vec::new();
    for w in workers {
        let _ = w.thread.join();
        let stats = w.camera.stats.clone();
        let id = w.camera.id.to_string();
        w.camera.join();
        let mut lat = w.latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lat.sort_by(f64::total_cmp);
        let processed = w.processed.load(Ordering::Relaxed);
        summaries.push(CameraSummary {
            camera: id,
            captured: stats.captured.load(Ordering::Relaxed),
            processed,
            dropped: stats.dropped.load(Ordering::Relaxed),
            corrupt: stats.corrupt.load(Ordering::Relaxed),
            reconnects: stats.reconnects.load(Ordering::Relaxed),
            task_errors: w.errors.load(Ordering::Relaxed),
            fps: processed as f64 / elapsed,
            latency_p50_ms: percentile(&lat, 0.50),
            latency_p95_ms: percentile(&lat, 0.95),
            state: stats.state(),
        });
    }
    let _ = writer.join();
    Ok(summaries)
}

fn write_results(rx: mpsc::Receiver<TaskOutput>, mut out: Box<dyn Write + Send>) {
    for output in rx {
        match serde_json::to_string(&output) {
            Ok(line) => {
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    tracing::error!("cannot write results (output closed); results are being discarded");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot serialise a result"),
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("camera `{0}`: {1}")]
    Camera(String, String),
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
    }
}
