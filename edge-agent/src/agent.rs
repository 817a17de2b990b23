//! The long-running agent: cameras -> tasks -> events -> outbox -> MQTT.
//!
//! Threads, and why:
//! - one capture thread per camera (in `capture`) and one task worker per
//!   camera, so a slow camera or model never stalls the others; inference
//!   runs on these blocking threads, not on an async executor;
//! - one `events` thread that group-commits events to the outbox (one fsync
//!   per batch, whatever the number of cameras);
//! - the `mqtt` thread (see `mqtt::driver`), which alone talks to the broker;
//! - this thread, the supervisor: stop signals, limits, config reloads.

mod commands;
mod pipeline;

pub use pipeline::CameraSummary;

use crate::config::Config;
use crate::event::{AGENT_VERSION, CalibrationRef, Provenance, SCHEMA_VERSION, StampedEvent, Stamper};
use crate::inference::{InferenceError, ModelPool};
use crate::model_update::{CurrentPool, ModelUpdater};
use crate::telemetry::notify::Notifier;
use crate::telemetry::{Figures, Phase};
use crate::mqtt::health::Identity;
use crate::mqtt::{DriverSettings, MqttService, Topics};
use crate::outbox::Outbox;
use crate::task::intake::slips::SlipBook;
use crate::task::sorting::tally::SortingTallies;
use crate::web::WebServer;
use crate::web::station::StationHub;
use crate::task::{self, Task};
use pipeline::{LiveCameras, Pipeline};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once every camera has had this many frames processed.
    pub max_frames: Option<u64>,
}

/// Everything one config needs to run its cameras: built before any camera
/// starts, so a model that fails to load stops the start (or the reload).
struct Plan {
    config: Config,
    tasks: Vec<(String, Arc<dyn Task>)>,
    stamper: Stamper,
    pool: Arc<ModelPool>,
}

/// What outlives a config reload: the slips, the sorting counts, the display,
/// and a handle on the running models (for model updates).
#[derive(Clone)]
struct Shared {
    slips: Arc<SlipBook>,
    tallies: Arc<SortingTallies>,
    display: Option<Arc<StationHub>>,
    pool: CurrentPool,
    ledger: Arc<crate::task::storage::ledger::Ledger>,
    board: Arc<crate::task::site::SiteBoard>,
}

impl Plan {
    fn build(config: Config, shared: &Shared) -> Result<Self, AgentError> {
        // Installed model updates (state folder) take the place of the shipped files.
        let pool = Arc::new(ModelPool::load_with_updates(&config.models_dir, config.inference.clone(), &config.storage.dir)?);
        let ctx = task::TaskContext {
            models: &pool,
            slips: &shared.slips,
            state_dir: Some(&config.storage.dir),
            display: shared.display.clone(),
            tallies: shared.tallies.clone(),
            ledger: shared.ledger.clone(),
            board: shared.board.clone(),
        };
        let mut tasks: Vec<(String, Arc<dyn Task>)> = Vec::new();
        for t in &config.tasks {
            let cameras: Vec<_> = config
                .cameras
                .iter()
                .filter(|c| c.tasks.contains(&t.id))
                .filter_map(|c| c.calibrated.clone().map(|cal| (c.id.clone(), cal)))
                .collect();
            tasks.push((t.id.clone(), Arc::from(task::build_task(t, &cameras, &ctx)?)));
        }
        let topics = topics_of(&config);
        let stamper = Stamper {
            site: config.site.clone(),
            device_id: config.device_id.clone(),
            evidence_topic_base: topics.evidence_base(),
            provenance: Provenance {
                agent_version: AGENT_VERSION.into(),
                schema_version: SCHEMA_VERSION.into(),
                config_sha256: config.sha256.clone(),
                models: pool.loaded(),
                calibration: config
                    .cameras
                    .iter()
                    .filter_map(|c| c.calibrated.as_ref().map(|cal| CalibrationRef { camera: c.id.clone(), sha256: cal.sha256.clone() }))
                    .collect(),
            },
            models: Some(pool.clone()),
        };
        Ok(Self { config, tasks, stamper, pool })
    }
}

/// Serves the station display, /healthz, /readyz and /metrics when `[web] listen` is set.
fn start_web(config: &Config, display: &Arc<StationHub>, figures: &Arc<Figures>) -> Option<WebServer> {
    if config.web.listen.is_empty() {
        return None;
    }
    let addr = config.web.listen.parse().ok()?;
    match WebServer::start_with_health(addr, display.clone(), Some(figures.clone())) {
        Ok(server) => {
            tracing::info!(url = %format!("http://{}/", server.local_addr()), "local pages served: /station, /healthz, /readyz, /metrics");
            Some(server)
        }
        Err(e) => {
            tracing::error!(error = %e, "the station display is not served; the agent runs on without it");
            None
        }
    }
}

pub fn topics_of(config: &Config) -> Topics {
    Topics::new(&config.mqtt.prefix, &config.site, &config.device_id)
}

/// Runs until stopped (Ctrl-C / SIGTERM via `stop`) or a limit is reached.
/// `results` receives every task result as a JSON line (for people and tests;
/// the platform gets events over MQTT).
pub fn run(
    config: &Config,
    limits: &RunLimits,
    stop: Arc<AtomicBool>,
    results: Box<dyn Write + Send>,
) -> Result<Vec<CameraSummary>, AgentError> {
    let started_at = crate::event::rfc3339_millis(std::time::SystemTime::now());
    let mut notifier = Notifier::from_env();
    notifier.status("loading models");
    std::fs::create_dir_all(&config.storage.dir)
        .map_err(|e| AgentError::Start(format!("cannot create the state folder {} ({e})", config.storage.dir.display())))?;
    let slips = Arc::new(SlipBook::open(&config.storage.dir).map_err(AgentError::Start)?);
    let outbox = Arc::new(
        Outbox::open(&config.storage.dir, config.storage.outbox_quota_mb.saturating_mul(1024 * 1024))
            .map_err(|e| AgentError::Start(e.to_string()))?,
    );
    let tallies = Arc::new(SortingTallies::default());
    let liveness = Arc::new(crate::telemetry::liveness::Liveness::default());
    let live = Arc::new(LiveCameras::new(tallies.clone(), liveness.clone()));
    let figures = {
        let mut f = Figures::new(&config.site, &config.device_id, live.clone(), outbox.clone(), config.storage.dir.clone());
        f.liveness = liveness;
        if let Some(timeout) = notifier.watchdog_timeout() {
            f.stall_after_ms = timeout.as_millis() as u64;
        }
        Arc::new(f)
    };
    let display = Arc::new(StationHub::new(config.storage.dir.join("sorting").join("items")));
    // The local pages come up first, so /healthz answers while the models load;
    // a busy port is reported and the agent runs on without them.
    let web = start_web(config, &display, &figures);
    let ledger = Arc::new(crate::task::storage::ledger::Ledger::open(&config.storage.dir).map_err(AgentError::Start)?);
    let board = Arc::new(crate::task::site::SiteBoard::default());
    let shared = Shared {
        slips: slips.clone(),
        tallies,
        display: web.as_ref().map(|_| display.clone()),
        pool: CurrentPool::default(),
        ledger: ledger.clone(),
        board: board.clone(),
    };
    let plan = Plan::build(config.clone(), &shared)?;
    live.set_models(plan.pool.clone());
    *shared.pool.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan.pool.clone());
    figures.set_phase(Phase::Starting);
    notifier.status("models loaded; waiting for the first frames");
    if config.mqtt.is_embedded() {
        crate::mqtt::broker::start_embedded(&config.mqtt.embedded_listen, config.mqtt.protocol)
            .map_err(|e| AgentError::Start(e.to_string()))?;
    }
    let link = crate::mqtt::options::LinkSettings::from_config(&config.mqtt, &config.site, &config.device_id)
        .map_err(|e| AgentError::Start(e.to_string()))?;
    let topics = topics_of(config);
    let identity = Identity {
        site: config.site.clone(),
        device_id: config.device_id.clone(),
        started_at,
        agent_version: AGENT_VERSION.into(),
        config_sha256: config.sha256.clone(),
        models: plan.stamper.provenance.models.clone(),
        cameras: config.cameras.iter().map(|c| c.id.clone()).collect(),
        tasks: config.tasks.iter().map(|t| t.id.clone()).collect(),
    };
    let (reload_tx, reload_rx) = mpsc::channel();
    let updater = ModelUpdater::new(&config.model_updates, &config.storage.dir, &config.models_dir, shared.pool.clone()).map_err(AgentError::Start)?;
    let handler = Arc::new(commands::AgentCommands::new(config, reload_tx, slips, updater).with_storage(ledger, board));
    let mqtt = MqttService::start(
        DriverSettings {
            link,
            topics: topics.clone(),
            identity,
            heartbeat_interval: config.mqtt.heartbeat_interval,
            reconnect_min: config.mqtt.reconnect_min,
            reconnect_max: config.mqtt.reconnect_max,
            drain_timeout: config.mqtt.drain_timeout,
        },
        outbox.clone(),
        figures.clone(),
        handler.clone(),
    )
    .map_err(|e| AgentError::Start(format!("cannot start the MQTT thread: {e}")))?;

    let (event_tx, event_rx) = mpsc::channel::<StampedEvent>();
    let writer = {
        let (outbox, wake, topics, figures) = (outbox.clone(), mqtt.wake(), topics.clone(), figures.clone());
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || write_events(event_rx, &outbox, &wake, &topics, &figures))
            .map_err(|e| AgentError::Start(e.to_string()))?
    };
    let (result_tx, result_rx) = mpsc::channel::<task::TaskOutput>();
    let result_writer = std::thread::Builder::new()
        .name("results".into())
        .spawn(move || write_results(result_rx, results))
        .map_err(|e| AgentError::Start(e.to_string()))?;

    let started = Instant::now();
    let mut pipeline = Pipeline::start(&plan.config, &plan.tasks, &plan.stamper, &event_tx, &result_tx, limits, &live)?;
    let mut plan = plan;
    let mut summaries = Vec::new();
    loop {
        let timed_out = limits.duration.is_some_and(|d| started.elapsed() >= d);
        if pipeline.all_done() || timed_out || stop.load(Ordering::Relaxed) {
            break;
        }
        notifier.tick(&figures);
        // SIGHUP (systemctl reload) and cmd/reload-config take the same path.
        let request = match reload_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(request) => Some(request),
            Err(_) if HANGUP.swap(false, Ordering::Relaxed) => {
                let (reply, _) = mpsc::channel();
                tracing::info!(config = %plan.config.path.display(), "SIGHUP: reloading the config");
                Some(ReloadRequest { path: plan.config.path.clone(), reply })
            }
            Err(_) => None,
        };
        if let Some(request) = request {
            notifier.reloading();
            figures.set_phase(Phase::Reloading);
            // Loading the new models can take long (a TensorRT engine build takes
            // minutes): the supervisor keeps pinging the watchdog meanwhile, as
            // long as the cameras' loops make progress.
            let (outcome, next) = std::thread::scope(|scope| {
                let reloading = scope.spawn(|| reload(&plan, &shared, pipeline, request.path.as_path(), &event_tx, &result_tx, limits, &live));
                while !reloading.is_finished() {
                    notifier.tick(&figures);
                    std::thread::sleep(Duration::from_millis(50));
                }
                reloading.join()
            })
            .map_err(|_| AgentError::Start("the config reload panicked; the agent stops so systemd restarts it".into()))?;
            pipeline = next.0;
            summaries.extend(next.1);
            if let Some(new_plan) = next.2 {
                plan = new_plan;
                live.set_models(plan.pool.clone());
                *shared.pool.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan.pool.clone());
            }
            match &outcome {
                Ok(result) => tracing::info!(result = %result, "config reload done"),
                Err(message) => tracing::error!(%message, "config reload refused; the previous config runs on"),
            }
            figures.set_phase(if notifier.is_ready() { Phase::Running } else { Phase::Starting });
            notifier.reloaded(&figures);
            let _ = request.reply.send(outcome);
        }
    }
    figures.set_phase(Phase::Stopping);
    notifier.stopping();
    // Refuse reloads from now on: a queued request's handler gets its answer
    // (the channel closed) instead of waiting out its timeout.
    drop(reload_rx);
    summaries.extend(pipeline.stop());
    drop(event_tx);
    drop(result_tx);
    // Every event the tasks produced is committed before the link drains.
    let _ = writer.join();
    let _ = result_writer.join();
    mqtt.stop();
    if let Some(web) = web {
        web.stop();
    }
    let tally = outbox.tally();
    tracing::info!(waiting = tally.depth(), next_seq = tally.next_seq, evicted_events = tally.evicted_events, "outbox at stop");
    Ok(summaries)
}

/// Set by SIGHUP; the supervisor loop reloads the config file.
static HANGUP: AtomicBool = AtomicBool::new(false);

/// Asks the running agent to reload its config file (the SIGHUP handler calls this).
pub fn request_reload() {
    HANGUP.store(true, Ordering::Relaxed);
}

/// What a reload request gets back.
pub type ReloadOutcome = Result<serde_json::Value, String>;

pub struct ReloadRequest {
    pub path: std::path::PathBuf,
    pub reply: mpsc::Sender<ReloadOutcome>,
}

/// Swaps cameras and tasks to the config now on disk. The new config is read,
/// validated and its models loaded while the old pipeline keeps running; only
/// then is the old one stopped. On any error the old one runs on untouched.
#[allow(clippy::type_complexity)]
fn reload(
    plan: &Plan,
    shared: &Shared,
    pipeline: Pipeline,
    path: &std::path::Path,
    events: &mpsc::Sender<StampedEvent>,
    results: &mpsc::Sender<task::TaskOutput>,
    limits: &RunLimits,
    live: &Arc<LiveCameras>,
) -> (ReloadOutcome, (Pipeline, Vec<CameraSummary>, Option<Plan>)) {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return (Err(e.to_string()), (pipeline, vec![], None)),
    };
    let mut restart_required = Vec::new();
    let old = &plan.config;
    if config.site != old.site || config.device_id != old.device_id {
        restart_required.push("site/device_id");
    }
    if format!("{:?}", config.mqtt) != format!("{:?}", old.mqtt) {
        restart_required.push("mqtt");
    }
    if format!("{:?}", config.storage) != format!("{:?}", old.storage) {
        restart_required.push("storage");
    }
    if config.web.listen != old.web.listen {
        restart_required.push("web");
    }
    if format!("{:?}", config.model_updates) != format!("{:?}", old.model_updates) {
        restart_required.push("model_updates");
    }
    // What this reload changes live (cameras and tasks restart; models reload).
    let mut applied = Vec::new();
    if format!("{:?}", config.cameras) != format!("{:?}", old.cameras) {
        applied.push("cameras");
    }
    if format!("{:?}", config.tasks) != format!("{:?}", old.tasks) {
        applied.push("tasks");
    }
    if format!("{:?}", config.inference) != format!("{:?}", old.inference) || config.models_dir != old.models_dir {
        applied.push("inference");
    }
    let new_plan = match Plan::build(config, shared) {
        Ok(p) => p,
        Err(e) => return (Err(format!("the new config cannot start: {e}")), (pipeline, vec![], None)),
    };
    let summaries = pipeline.stop();
    match Pipeline::start(&new_plan.config, &new_plan.tasks, &new_plan.stamper, events, results, limits, live) {
        Ok(next) => {
            tracing::info!(config_sha256 = %new_plan.config.sha256, "config reloaded");
            let outcome = serde_json::json!({
                "config_sha256": new_plan.config.sha256,
                "cameras": new_plan.config.cameras.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                "tasks": new_plan.config.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                "applied": applied,
                "restart_required": restart_required,
            });
            (Ok(outcome), (next, summaries, Some(new_plan)))
        }
        Err(e) => {
            // Put the old cameras back.
            let restored = Pipeline::start(&plan.config, &plan.tasks, &plan.stamper, events, results, limits, live);
            match restored {
                Ok(p) => (Err(format!("the new cameras cannot start ({e}); the previous config runs on")), (p, summaries, None)),
                Err(e2) => {
                    tracing::error!(error = %e2, "cannot restart the previous cameras either");
                    (Err(format!("the new cameras cannot start ({e}) and the previous ones neither ({e2})")), (Pipeline::empty(), summaries, None))
                }
            }
        }
    }
}

/// Most events held in memory while the outbox cannot be written.
const MAX_UNCOMMITTED: usize = 10_000;

/// Group commit: everything waiting goes into one fsync'd transaction.
pub(crate) fn write_events(rx: mpsc::Receiver<StampedEvent>, outbox: &Outbox, wake: &tokio::sync::Notify, topics: &Topics, figures: &Figures) {
    let mut pending: Vec<StampedEvent> = Vec::new();
    let mut failures = 0u32;
    let mut closed = false;
    let mut window = CommitWindow::default();
    let beat = figures.liveness.register("events");
    loop {
        beat.beat();
        if pending.is_empty() {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(e) => pending.push(e),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(e) => pending.push(e),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
            if pending.len() >= CommitWindow::MAX {
                break;
            }
        }
        let take = window.size(pending.len());
        match outbox.commit(&mut pending[..take], &|kind| topics.event(kind)) {
            Ok(_) => {
                for e in pending.drain(..take) {
                    figures.count_event(&e.event.kind);
                }
                window.succeeded();
                failures = 0;
                wake.notify_one();
            }
            Err(e) => {
                window.failed();
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::error!(error = %e, waiting = pending.len(), "cannot commit events to the outbox");
                }
                shed_uncommitted(&mut pending);
                if closed && failures > 5 {
                    tracing::error!(lost = pending.len(), "stopping with events that could not be written to disk");
                    return;
                }
                std::thread::sleep(Duration::from_millis(200).saturating_mul(failures.min(10)));
            }
        }
        if closed && pending.is_empty() {
            break;
        }
    }
}

/// How many waiting events go into one transaction. It halves after a
/// failed commit: after a full disk, the backlog (pictures included) can be
/// far bigger than the room that came free, and one all-or-nothing
/// transaction of it would never fit. It grows back after each success.
struct CommitWindow {
    size: usize,
}

impl CommitWindow {
    const MAX: usize = 1024;

    fn size(&self, waiting: usize) -> usize {
        self.size.min(waiting)
    }

    fn succeeded(&mut self) {
        self.size = (self.size * 2).min(Self::MAX);
    }

    fn failed(&mut self) {
        self.size = (self.size / 2).max(1);
    }
}

impl Default for CommitWindow {
    fn default() -> Self {
        Self { size: Self::MAX }
    }
}

/// Bounds memory while the disk refuses writes: pictures go first, then the
/// oldest telemetry, then the oldest events, each loudly.
fn shed_uncommitted(pending: &mut Vec<StampedEvent>) {
    if pending.len() <= MAX_UNCOMMITTED {
        return;
    }
    let mut dropped_pictures = 0;
    for e in pending.iter_mut() {
        if e.evidence_jpeg.take().is_some() {
            e.event.evidence = None;
            dropped_pictures += 1;
        }
    }
    let dropped_events = pending.len() - MAX_UNCOMMITTED;
    let mut excess = dropped_events;
    pending.retain(|e| {
        let shed = excess > 0 && e.event.priority == crate::event::Priority::Telemetry;
        excess -= usize::from(shed);
        !shed
    });
    pending.drain(..excess);
    tracing::error!(dropped_pictures, dropped_events, "the outbox cannot be written and memory is full: dropping the oldest unsent data");
}

fn write_results(rx: mpsc::Receiver<task::TaskOutput>, mut out: Box<dyn Write + Send>) {
    let mut broken = false;
    for output in rx {
        if broken {
            continue;
        }
        match serde_json::to_string(&output) {
            Ok(line) => {
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    tracing::warn!("the results output is closed; results are no longer written there (events still go to the outbox)");
                    broken = true;
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
    #[error(transparent)]
    Task(#[from] crate::task::TaskError),
    #[error("camera `{0}`: {1}")]
    Camera(String, String),
    #[error("{0}")]
    Start(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
    }

    #[test]
    fn the_commit_window_halves_to_one_after_failures_and_grows_back() {
        let mut w = CommitWindow::default();
        assert_eq!(w.size(5000), CommitWindow::MAX);
        assert_eq!(w.size(3), 3);
        for _ in 0..20 {
            w.failed();
        }
        assert_eq!(w.size(5000), 1, "a single event is still tried");
        w.succeeded();
        w.succeeded();
        assert_eq!(w.size(5000), 4);
        for _ in 0..20 {
            w.succeeded();
        }
        assert_eq!(w.size(5000), CommitWindow::MAX);
    }
}
