//! Events: what the agent tells the platform. A task returns an
//! [`EventDraft`] (what it saw); the [`Stamper`] turns it into an [`Event`]
//! with an id, times and provenance (which models, config and calibration
//! judged it). The outbox gives it its sequence number when it commits it.
//! The wire format is `mqtt-schemas/event.schema.json`.

pub mod evidence;

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Version of every JSON payload's layout; bumped with the schemas.
pub const SCHEMA_VERSION: &str = "1.0";
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Delivery class: a backlog drains alerts first, and under disk pressure
/// telemetry goes first. The discriminant is the outbox's sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Somebody must act: wrong bin, mislabeled drum, leak.
    Alert = 0,
    Normal = 1,
    /// Statistics and per-frame observations; may be dropped under pressure.
    Telemetry = 2,
}

impl Priority {
    pub fn rank(self) -> u8 {
        self as u8
    }

    pub fn from_rank(rank: u8) -> Option<Self> {
        [Self::Alert, Self::Normal, Self::Telemetry].into_iter().find(|p| p.rank() == rank)
    }
}

/// What a task found on one frame, before it is stamped.
#[derive(Debug, Clone)]
pub struct EventDraft {
    /// The event id, when the task must know it before stamping (to keep the
    /// item's picture under it); otherwise a new UUIDv7.
    pub id: Option<uuid::Uuid>,
    /// Topic segment: `classification`, `sorting`, `intake`, `leak`, ...
    pub kind: String,
    pub priority: Priority,
    pub camera: String,
    pub task: String,
    pub captured_at: SystemTime,
    pub verdict: String,
    pub confidence: f32,
    /// The prompt people read, in Chinese.
    pub message_zh: Option<String>,
    pub details: serde_json::Value,
    pub evidence: Option<evidence::EvidenceImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibrationRef {
    pub camera: String,
    pub sha256: String,
}

/// Exactly what judged an event, so an audit can reproduce the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub agent_version: String,
    pub schema_version: String,
    pub config_sha256: String,
    pub models: Vec<ModelRef>,
    pub calibration: Vec<CalibrationRef>,
}

/// Where the event's picture went and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    pub topic: String,
    pub sha256: String,
    pub bytes: u64,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
}

/// One event as published on `events/<kind>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub schema_version: String,
    pub event_id: uuid::Uuid,
    /// Per-device, gapless; 0 until the outbox commits the event.
    pub seq: u64,
    pub kind: String,
    pub priority: Priority,
    pub time: String,
    pub captured_at: String,
    pub site: String,
    pub device_id: String,
    pub camera: String,
    pub task: String,
    pub verdict: String,
    pub confidence: f32,
    pub message_zh: Option<String>,
    pub details: serde_json::Value,
    pub evidence: Option<EvidenceRef>,
    pub provenance: Provenance,
    /// Set at publish time: true when sent after an outage or resent.
    pub replayed: bool,
}

/// An event with its picture, ready for the outbox.
#[derive(Debug, Clone)]
pub struct StampedEvent {
    pub event: Event,
    pub evidence_jpeg: Option<Vec<u8>>,
}

/// Gives drafts their identity and provenance. One per running config.
#[derive(Debug, Clone)]
pub struct Stamper {
    pub site: String,
    pub device_id: String,
    /// `<prefix>/<site>/<device>/evidence/`, to name the evidence topic in the event.
    pub evidence_topic_base: String,
    pub provenance: Provenance,
    /// The running models: an update swaps a model's version while the
    /// cameras run, and every event names the version that judged it.
    pub models: Option<std::sync::Arc<crate::inference::ModelPool>>,
}

impl Stamper {
    pub fn stamp(&self, draft: EventDraft) -> StampedEvent {
        let event_id = draft.id.unwrap_or_else(uuid::Uuid::now_v7);
        let (evidence, evidence_jpeg) = match draft.evidence {
            Some(image) => (
                Some(EvidenceRef {
                    topic: format!("{}{event_id}", self.evidence_topic_base),
                    sha256: crate::inference::manifest::sha256_hex(&image.jpeg),
                    bytes: image.jpeg.len() as u64,
                    content_type: "image/jpeg".into(),
                    width: image.width,
                    height: image.height,
                }),
                Some(image.jpeg),
            ),
            None => (None, None),
        };
        let event = Event {
            schema_version: SCHEMA_VERSION.into(),
            event_id,
            seq: 0,
            kind: draft.kind,
            priority: draft.priority,
            time: rfc3339_millis(SystemTime::now()),
            captured_at: rfc3339_millis(draft.captured_at),
            site: self.site.clone(),
            device_id: self.device_id.clone(),
            camera: draft.camera,
            task: draft.task,
            verdict: draft.verdict,
            confidence: if draft.confidence.is_finite() { draft.confidence.clamp(0.0, 1.0) } else { 0.0 },
            message_zh: draft.message_zh,
            details: draft.details,
            evidence,
            provenance: match &self.models {
                Some(pool) => Provenance { models: pool.loaded(), ..self.provenance.clone() },
                None => self.provenance.clone(),
            },
            replayed: false,
        };
        StampedEvent { event, evidence_jpeg }
    }
}

/// `2026-11-29T05:48:01.123Z`: the one timestamp format on the wire.
pub fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamper() -> Stamper {
        Stamper {
            site: "bda-pod-07".into(),
            device_id: "edge-pod07-01".into(),
            evidence_topic_base: "zwaste/v1/bda-pod-07/edge-pod07-01/evidence/".into(),
            provenance: Provenance {
                agent_version: AGENT_VERSION.into(),
                schema_version: SCHEMA_VERSION.into(),
                config_sha256: "0".repeat(64),
                models: vec![],
                calibration: vec![],
            },
            models: None,
        }
    }

    fn draft() -> EventDraft {
        EventDraft {
            id: None,
            kind: "classification".into(),
            priority: Priority::Telemetry,
            camera: "cam-1".into(),
            task: "classify".into(),
            captured_at: SystemTime::now(),
            verdict: "classified".into(),
            confidence: f32::NAN,
            message_zh: None,
            details: serde_json::json!({}),
            evidence: Some(evidence::EvidenceImage { jpeg: vec![0xff, 0xd8, 0xff, 0xd9], width: 2, height: 1 }),
        }
    }

    #[test]
    fn stamped_events_get_distinct_time_ordered_ids_and_an_evidence_topic_naming_them() {
        let s = stamper();
        let a = s.stamp(draft());
        let b = s.stamp(draft());
        assert_ne!(a.event.event_id, b.event.event_id);
        assert!(a.event.event_id < b.event.event_id, "UUIDv7 ids sort by creation time");
        let evidence = a.event.evidence.as_ref().expect("evidence reference");
        assert_eq!(evidence.topic, format!("zwaste/v1/bda-pod-07/edge-pod07-01/evidence/{}", a.event.event_id));
        assert_eq!(evidence.bytes, 4);
        assert_eq!(a.evidence_jpeg.as_deref(), Some(&[0xff, 0xd8, 0xff, 0xd9][..]));
        assert_eq!(a.event.confidence, 0.0, "a NaN confidence never reaches the wire");
    }

    #[test]
    fn priorities_round_trip_through_their_rank() {
        for p in [Priority::Alert, Priority::Normal, Priority::Telemetry] {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
        }
        assert_eq!(Priority::from_rank(9), None);
        assert!(Priority::Alert < Priority::Telemetry);
    }
}
