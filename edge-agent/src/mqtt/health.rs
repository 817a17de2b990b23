//! The `status` and `heartbeat` payloads (`mqtt-schemas/status.schema.json`,
//! `heartbeat.schema.json`), built from snapshots so they are tested without
//! a broker.

use crate::event::{ModelRef, SCHEMA_VERSION};
use crate::outbox::OutboxStats;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Who this agent is, for `status` (set once per config).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    pub site: String,
    pub device_id: String,
    pub started_at: String,
    pub agent_version: String,
    pub config_sha256: String,
    pub models: Vec<ModelRef>,
    pub cameras: Vec<String>,
    pub tasks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub schema_version: String,
    pub state: String,
    pub graceful: bool,
    pub time: String,
    #[serde(flatten)]
    pub identity: Identity,
}

impl Status {
    pub fn online(identity: &Identity) -> Self {
        Self::new(identity, "online", true)
    }
    /// The last will (graceful = false) or a clean stop (true).
    pub fn offline(identity: &Identity, graceful: bool) -> Self {
        Self::new(identity, "offline", graceful)
    }
    fn new(identity: &Identity, state: &str, graceful: bool) -> Self {
        Self {
            schema_version: SCHEMA_VERSION.into(),
            state: state.into(),
            graceful,
            time: crate::event::rfc3339_millis(std::time::SystemTime::now()),
            identity: identity.clone(),
        }
    }
}

/// One camera's health, supplied by the running pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CameraHealth {
    pub camera: String,
    pub state: String,
    pub error: Option<String>,
    pub fps: f64,
    pub frames_captured: u64,
    pub frames_processed: u64,
    pub frames_dropped: u64,
    pub frames_corrupt: u64,
    pub reconnects: u64,
    pub task_errors: u64,
    pub inference_p50_ms: f64,
    pub inference_p95_ms: f64,
}

/// One loaded model: what runs, where, and how fast (from the latency histogram).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelHealth {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// The execution provider really in use (`cpu`, `cuda`, `tensorrt`).
    pub provider: String,
    pub requested_provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    pub runs: u64,
    pub latency_mean_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

/// Where the pipeline's live figures come from.
pub trait HealthSource: Send + Sync {
    fn cameras(&self) -> Vec<CameraHealth>;
    /// The models the running tasks use.
    fn models(&self) -> Vec<ModelHealth> {
        vec![]
    }
    /// Per-bin contamination counts of the sorting tasks (none elsewhere).
    fn sorting(&self) -> Vec<crate::task::sorting::tally::BinReport> {
        vec![]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxHealth {
    pub depth: u64,
    pub alerts_waiting: u64,
    pub evidence_waiting: u64,
    pub bytes: u64,
    pub quota_bytes: u64,
    pub oldest_age_s: Option<f64>,
    pub evicted_evidence: u64,
    pub evicted_events: u64,
    pub evicted_telemetry: u64,
    pub write_errors: u64,
    /// Over 95 % of the quota: evictions are happening or about to.
    pub full: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiskHealth {
    pub path: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub used_percent: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MqttHealth {
    pub connected: bool,
    pub connects: u64,
    pub published: u64,
    pub acked: u64,
    pub replayed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CommandHealth {
    pub accepted: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub schema_version: String,
    pub site: String,
    pub device_id: String,
    pub time: String,
    pub uptime_s: f64,
    pub cameras: Vec<CameraHealth>,
    pub outbox: OutboxHealth,
    pub disk: DiskHealth,
    pub mqtt: MqttHealth,
    pub commands: CommandHealth,
    /// Sorting stations: items, wrong items and contamination rate per bin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sorting: Vec<crate::task::sorting::tally::BinReport>,
    /// The models in use, their execution provider and latency.
    #[serde(default)]
    pub models: Vec<ModelHealth>,
    /// Events committed to the outbox since start, by kind.
    #[serde(default)]
    pub events: std::collections::BTreeMap<String, u64>,
}

impl OutboxHealth {
    pub fn from_stats(s: &OutboxStats, now_ms: u64) -> Self {
        let t = &s.tally;
        Self {
            depth: t.depth(),
            alerts_waiting: t.events[0],
            evidence_waiting: t.evidence.iter().sum(),
            bytes: t.bytes,
            quota_bytes: s.quota_bytes,
            oldest_age_s: s.oldest_created_ms.map(|c| now_ms.saturating_sub(c) as f64 / 1000.0),
            evicted_evidence: t.evicted_evidence,
            evicted_events: t.evicted_events,
            evicted_telemetry: t.evicted_telemetry,
            write_errors: s.write_errors,
            full: s.quota_bytes > 0 && t.bytes as f64 >= s.quota_bytes as f64 * 0.95,
        }
    }
}

impl DiskHealth {
    /// Figures for the file system holding `path`; zeros if it cannot be read.
    pub fn of(path: &Path) -> Self {
        let total = fs4::total_space(path).unwrap_or(0);
        let free = fs4::available_space(path).unwrap_or(0);
        let used_percent = if total == 0 { 0.0 } else { ((total - free.min(total)) as f64 * 100.0 / total as f64 * 100.0).round() / 100.0 };
        Self { path: path.display().to_string(), total_bytes: total, free_bytes: free, used_percent: used_percent.clamp(0.0, 100.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Tally;

    #[test]
    fn outbox_health_reports_depth_age_and_fullness() {
        let stats = OutboxStats {
            tally: Tally { bytes: 960, events: [1, 2, 3], evidence: [1, 0, 1], evicted_events: 4, ..Default::default() },
            quota_bytes: 1000,
            oldest_created_ms: Some(1_000),
            write_errors: 2,
        };
        let h = OutboxHealth::from_stats(&stats, 3_500);
        assert_eq!((h.depth, h.alerts_waiting, h.evidence_waiting), (8, 1, 2));
        assert_eq!(h.oldest_age_s, Some(2.5));
        assert!(h.full);
        assert_eq!((h.evicted_events, h.write_errors), (4, 2));
    }

    #[test]
    fn disk_health_reads_the_real_file_system() {
        let d = DiskHealth::of(Path::new("."));
        assert!(d.total_bytes > 0 && d.free_bytes <= d.total_bytes, "{d:?}");
        assert!((0.0..=100.0).contains(&d.used_percent));
    }
}
