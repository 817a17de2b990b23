//! The agent's live figures, from one source: the MQTT heartbeat, `/metrics`
//! (Prometheus text), `/healthz`, `/readyz` and the systemd STATUS line are
//! all read from [`Figures`], so they can never disagree.
//!
//! - `histogram`: per-model inference latency, recorded on every model run;
//! - `liveness`: whether the pipeline's loops are making progress (watchdog);
//! - `prometheus`: the text exposition of a [`Scrape`];
//! - `notify`: systemd's sd_notify (READY, STATUS, WATCHDOG), a no-op elsewhere.

pub mod histogram;
pub mod liveness;
pub mod notify;
pub mod prometheus;

use crate::mqtt::driver::LinkCounters;
use crate::mqtt::health::{CommandHealth, DiskHealth, HealthSource, Heartbeat, ModelHealth, OutboxHealth};
use crate::outbox::Outbox;
use histogram::{HistogramSnapshot, LatencyHistogram};
use liveness::Liveness;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Instant, SystemTime};

/// Per-model latency histograms, process-wide: a model's session records into
/// its model's histogram wherever the session was opened (and across reloads).
static INFERENCE: LazyLock<Mutex<BTreeMap<String, Arc<LatencyHistogram>>>> = LazyLock::new(Mutex::default);

pub fn inference_histogram(model: &str) -> Arc<LatencyHistogram> {
    INFERENCE.lock().unwrap_or_else(|e| e.into_inner()).entry(model.to_string()).or_default().clone()
}

pub fn inference_snapshot(model: &str) -> HistogramSnapshot {
    inference_histogram(model).snapshot()
}

/// Where the agent is in its life, for `/readyz`, READY=1 and STATUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    LoadingModels,
    /// Models are loaded; waiting for every camera's first frame.
    Starting,
    Running,
    Reloading,
    Stopping,
}

/// What `/readyz` answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Readiness {
    pub ready: bool,
    pub phase: Phase,
    /// Cameras that have not delivered a frame yet.
    pub cameras_without_frames: Vec<String>,
    pub mqtt_connected: bool,
}

/// What `/healthz` answers: the pipeline's loops are alive.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub healthy: bool,
    /// Loops silent for longer than the limit, with their silence in ms.
    pub stalled: BTreeMap<String, u64>,
    pub loops: Vec<String>,
}

/// The heartbeat and the per-model histograms taken together, for `/metrics`.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub heartbeat: Heartbeat,
    pub readiness: Readiness,
    pub histograms: Vec<(ModelHealth, HistogramSnapshot)>,
}

pub struct Figures {
    pub site: String,
    pub device_id: String,
    started: Instant,
    pub health: Arc<dyn HealthSource>,
    pub outbox: Arc<Outbox>,
    pub link: Arc<LinkCounters>,
    pub storage_dir: PathBuf,
    pub liveness: Arc<Liveness>,
    /// Loops silent for longer than this are stalled (the watchdog interval).
    pub stall_after_ms: u64,
    events: Mutex<BTreeMap<String, u64>>,
    phase: Mutex<Phase>,
}

impl Figures {
    pub fn new(site: &str, device_id: &str, health: Arc<dyn HealthSource>, outbox: Arc<Outbox>, storage_dir: PathBuf) -> Self {
        Self {
            site: site.into(),
            device_id: device_id.into(),
            started: Instant::now(),
            health,
            outbox,
            link: Arc::default(),
            storage_dir,
            liveness: Arc::default(),
            stall_after_ms: 30_000,
            events: Mutex::default(),
            phase: Mutex::new(Phase::LoadingModels),
        }
    }

    /// Events committed to the outbox, by kind.
    pub fn count_event(&self, kind: &str) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()).entry(kind.to_string()).or_default() += 1;
    }

    pub fn set_phase(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }

    pub fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn uptime_s(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    }

    pub fn heartbeat(&self) -> Heartbeat {
        let now = SystemTime::now();
        Heartbeat {
            schema_version: crate::event::SCHEMA_VERSION.into(),
            site: self.site.clone(),
            device_id: self.device_id.clone(),
            time: crate::event::rfc3339_millis(now),
            uptime_s: self.uptime_s(),
            cameras: self.health.cameras(),
            sorting: self.health.sorting(),
            models: self.health.models(),
            events: self.events.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            outbox: OutboxHealth::from_stats(&self.outbox.stats(), crate::event::unix_millis(now)),
            disk: DiskHealth::of(&self.storage_dir),
            mqtt: self.link.mqtt_health(),
            commands: CommandHealth {
                accepted: self.link.commands_accepted.load(Ordering::Relaxed),
                rejected: self.link.commands_rejected.load(Ordering::Relaxed),
            },
        }
    }

    pub fn readiness(&self) -> Readiness {
        let phase = self.phase();
        let cameras_without_frames: Vec<String> =
            self.health.cameras().into_iter().filter(|c| c.frames_captured == 0).map(|c| c.camera).collect();
        Readiness {
            ready: matches!(phase, Phase::Running | Phase::Reloading) && cameras_without_frames.is_empty(),
            phase,
            cameras_without_frames,
            mqtt_connected: self.link.connected.load(Ordering::Relaxed),
        }
    }

    pub fn health(&self) -> Health {
        let stalled: BTreeMap<String, u64> = self.liveness.stalled(self.stall_after_ms).into_iter().collect();
        Health { healthy: stalled.is_empty(), stalled, loops: self.liveness.loops() }
    }

    pub fn scrape(&self) -> Scrape {
        let heartbeat = self.heartbeat();
        let histograms = heartbeat.models.iter().map(|m| (m.clone(), inference_snapshot(&m.name))).collect();
        Scrape { readiness: self.readiness(), heartbeat, histograms }
    }

    /// One line for `systemctl status`.
    pub fn status_line(&self) -> String {
        let hb = self.heartbeat();
        let fps: f64 = hb.cameras.iter().map(|c| c.fps).sum();
        let streaming = hb.cameras.iter().filter(|c| c.state == "streaming").count();
        format!(
            "{}: {streaming}/{} cameras streaming, {fps:.1} fps, outbox {}, mqtt {}",
            match self.phase() {
                Phase::LoadingModels => "loading models",
                Phase::Starting => "waiting for first frames",
                Phase::Running => "running",
                Phase::Reloading => "reloading config",
                Phase::Stopping => "stopping",
            },
            hb.cameras.len(),
            hb.outbox.depth,
            if hb.mqtt.connected { "connected" } else { "disconnected" },
        )
    }
}
