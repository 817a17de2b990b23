//! Ingest: what arrives from the brokers, checked before anything is stored.
//! `accept` is pure (topic + payload -> a row to store, or a rejection with
//! its reason), so every hostile case is tested without a broker; the
//! subscriber loop (`subscriber.rs`) only moves messages and acks them after
//! the store commits.

pub mod schemas;
pub mod subscriber;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use schemas::Schemas;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_evidence_bytes: usize,
    pub max_json_bytes: usize,
}

/// Where a topic points, after `<prefix>/<site>/<device>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    Event(String),
    Evidence(String),
    Status,
    Heartbeat,
    Reply(String),
    IntakeSlip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub site: String,
    pub device: String,
    pub channel: Channel,
}

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn is_event_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { c.is_ascii_digit() || (b'a'..=b'f').contains(c) })
}

/// Parses `<prefix>/<site>/<device>/<channel...>`; `None` for anything else.
pub fn parse_topic(prefix: &str, topic: &str) -> Option<Topic> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (site, device) = (*parts.first()?, *parts.get(1)?);
    if !is_id(site) || !is_id(device) {
        return None;
    }
    let channel = match parts[2..] {
        ["status"] => Channel::Status,
        ["heartbeat"] => Channel::Heartbeat,
        ["events", kind] if !kind.is_empty() && kind.len() <= 32 => Channel::Event(kind.to_string()),
        ["evidence", id] if is_event_id(id) => Channel::Evidence(id.to_string()),
        ["reply", command] if is_id(command) => Channel::Reply(command.to_string()),
        ["cmd", "intake-slip"] => Channel::IntakeSlip,
        _ => return None,
    };
    Some(Topic { site: site.into(), device: device.into(), channel })
}

/// An event as stored: the facts the queue filters and the overview count,
/// and the payload exactly as received.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub event_id: String,
    pub site: String,
    pub device_id: String,
    pub camera: String,
    pub task: String,
    pub kind: String,
    pub verdict: String,
    pub priority: String,
    pub flagged: bool,
    pub seq: i64,
    pub time_ms: i64,
    pub captured_ms: i64,
    pub confidence: f64,
    pub message_zh: Option<String>,
    pub item_label: Option<String>,
    pub item_category: Option<String>,
    pub bin_zone: Option<String>,
    pub bin_category: Option<String>,
    pub track: Option<String>,
    pub evidence_sha256: Option<String>,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceRow {
    pub event_id: String,
    pub site: String,
    pub device_id: String,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub site: String,
    pub device_id: String,
    pub state: String,
    pub graceful: bool,
    pub time_ms: i64,
    pub agent_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatRow {
    pub site: String,
    pub device_id: String,
    pub time_ms: i64,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRow {
    pub command: String,
    pub request_id: Option<String>,
    pub ok: bool,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlipRow {
    pub site: String,
    pub device_id: String,
    pub slip_id: String,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    Event(EventRow),
    Evidence(EvidenceRow),
    Status(StatusRow),
    Heartbeat(HeartbeatRow),
    Reply(ReplyRow),
    Slip(SlipRow),
}

/// A message refused at ingest. Logged and kept in `rejects` (reason and a
/// short escaped sample), never stored as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub topic: String,
    pub reason: String,
    pub size: usize,
    pub sample: String,
}

impl Rejected {
    fn new(topic: &str, payload: &[u8], reason: impl Into<String>) -> Self {
        let text = String::from_utf8_lossy(&payload[..payload.len().min(160)]);
        Rejected {
            topic: topic.chars().take(300).collect(),
            reason: reason.into(),
            size: payload.len(),
            sample: text.escape_debug().take(240).collect(),
        }
    }
}

pub fn rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

/// Whether an event needs a person: alerts, and every verdict that is not an all-clear.
pub fn is_flagged(kind: &str, verdict: &str, priority: &str) -> bool {
    priority == "alert"
        || match kind {
            "sorting" => true,
            "intake" => verdict != "accept",
            "leak" => verdict != "cleared",
            "camera" => verdict != "restored",
            _ => false,
        }
}

fn text_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).map(|s| s.chars().take(200).collect())
}

impl Schemas {
    /// Checks one message; `Ok` is safe to store as it is.
    pub fn accept(&self, prefix: &str, topic: &str, payload: &[u8], limits: &Limits) -> Result<Accepted, Rejected> {
        let reject = |reason: String| Rejected::new(topic, payload, reason);
        let t = parse_topic(prefix, topic).ok_or_else(|| reject(format!("topic is not <{prefix}>/<site>/<device>/events|evidence|status|heartbeat|reply/...")))?;
        if let Channel::Evidence(event_id) = &t.channel {
            return self.evidence(&t, event_id, payload, limits).map_err(reject);
        }
        if payload.len() > limits.max_json_bytes {
            return Err(reject(format!("JSON payload of {} bytes is over the {} byte limit", payload.len(), limits.max_json_bytes)));
        }
        let json: Value = serde_json::from_slice(payload).map_err(|e| reject(format!("not JSON: {e}")))?;
        let schema = match &t.channel {
            Channel::Event(_) => "event",
            Channel::Status => "status",
            Channel::Heartbeat => "heartbeat",
            Channel::Reply(_) => "reply",
            Channel::IntakeSlip => "cmd-intake-slip",
            Channel::Evidence(_) => unreachable!("handled above"),
        };
        self.check(schema, &json).map_err(|e| reject(format!("does not match {schema}.schema.json: {e}")))?;
        // The payload must name the device its topic names: one box cannot speak for another.
        if schema != "cmd-intake-slip" {
            let (site, device) = (text_at(&json, "/site"), text_at(&json, "/device_id"));
            if site.as_deref() != Some(&t.site) || device.as_deref() != Some(&t.device) {
                return Err(reject(format!("payload names {}/{} but the topic names {}/{}", site.unwrap_or_default(), device.unwrap_or_default(), t.site, t.device)));
            }
        }
        let raw = String::from_utf8_lossy(payload).into_owned();
        match t.channel {
            Channel::Event(ref kind) => event_row(&t, kind, &json, raw).map(Accepted::Event).map_err(reject),
            Channel::Status => Ok(Accepted::Status(StatusRow {
                site: t.site,
                device_id: t.device,
                state: text_at(&json, "/state").unwrap_or_default(),
                graceful: json["graceful"].as_bool().unwrap_or(false),
                time_ms: json["time"].as_str().and_then(rfc3339_ms).unwrap_or_default(),
                agent_version: text_at(&json, "/agent_version"),
            })),
            Channel::Heartbeat => Ok(Accepted::Heartbeat(HeartbeatRow {
                site: t.site,
                device_id: t.device,
                time_ms: json["time"].as_str().and_then(rfc3339_ms).unwrap_or_default(),
                payload: raw,
            })),
            Channel::Reply(command) => {
                if json["command"].as_str() != Some(command.as_str()) {
                    return Err(reject(format!("reply on reply/{command} is for command {}", json["command"])));
                }
                Ok(Accepted::Reply(ReplyRow { command, request_id: text_at(&json, "/request_id"), ok: json["ok"].as_bool().unwrap_or(false), payload: raw }))
            }
            Channel::IntakeSlip => Ok(Accepted::Slip(SlipRow { site: t.site, device_id: t.device, slip_id: text_at(&json, "/slip_id").unwrap_or_default(), payload: raw })),
            Channel::Evidence(_) => unreachable!("handled above"),
        }
    }

    fn evidence(&self, t: &Topic, event_id: &str, payload: &[u8], limits: &Limits) -> Result<Accepted, String> {
        if payload.len() > limits.max_evidence_bytes {
            return Err(format!("evidence picture of {} bytes is over the {} byte limit (ingest.max_evidence_mb)", payload.len(), limits.max_evidence_bytes));
        }
        if !payload.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Err("evidence is not a JPEG (no FF D8 FF start)".into());
        }
        let reader = image::ImageReader::with_format(std::io::Cursor::new(payload), image::ImageFormat::Jpeg);
        let (width, height) = reader.into_dimensions().map_err(|e| format!("evidence JPEG header does not decode: {e}"))?;
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(format!("evidence picture is {width}x{height}: not a camera frame"));
        }
        Ok(Accepted::Evidence(EvidenceRow {
            event_id: event_id.into(),
            site: t.site.clone(),
            device_id: t.device.clone(),
            sha256: hex::encode(Sha256::digest(payload)),
            width,
            height,
            jpeg: payload.to_vec(),
        }))
    }
}

fn event_row(t: &Topic, kind: &str, json: &Value, payload: String) -> Result<EventRow, String> {
    if json["kind"].as_str() != Some(kind) {
        return Err(format!("event of kind {} published on events/{kind}", json["kind"]));
    }
    let time = |key: &str| json[key].as_str().and_then(rfc3339_ms).ok_or_else(|| format!("`{key}` is not an RFC 3339 time"));
    let d = &json["details"];
    let (item_label, item_category, bin_zone, bin_category) = match kind {
        "sorting" => (text_at(d, "/item/label"), text_at(d, "/item/category"), text_at(d, "/bin/zone"), text_at(d, "/bin/category")),
        "classification" => (text_at(d, "/top/0/label"), text_at(d, "/category/category"), None, None),
        "intake" => (
            text_at(d, "/ledger/危险废物名称"),
            text_at(d, "/ledger/危险废物类别"),
            None,
            None,
        ),
        _ => (None, None, None, None),
    };
    let verdict = text_at(json, "/verdict").unwrap_or_default();
    let priority = text_at(json, "/priority").unwrap_or_default();
    Ok(EventRow {
        event_id: text_at(json, "/event_id").unwrap_or_default(),
        site: t.site.clone(),
        device_id: t.device.clone(),
        camera: text_at(json, "/camera").unwrap_or_default(),
        task: text_at(json, "/task").unwrap_or_default(),
        kind: kind.into(),
        flagged: is_flagged(kind, &verdict, &priority),
        verdict,
        priority,
        seq: json["seq"].as_i64().unwrap_or_default(),
        time_ms: time("time")?,
        captured_ms: time("captured_at")?,
        confidence: json["confidence"].as_f64().unwrap_or_default(),
        message_zh: json["message_zh"].as_str().map(|s| s.chars().take(500).collect()),
        item_label,
        item_category,
        bin_zone,
        bin_category,
        track: d.get("leak_id").filter(|v| !v.is_null()).map(|v| v.to_string().chars().take(64).collect()),
        evidence_sha256: text_at(json, "/evidence/sha256"),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_evidence_bytes: 200_000, max_json_bytes: 64 * 1024 };

    fn example(name: &str) -> Value {
        let path = format!("{}/../mqtt-schemas/examples/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn tiny_jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(32, 24, image::Rgb([90, 120, 200]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&img).unwrap();
        out
    }

    #[test]
    fn topics_are_parsed_strictly() {
        let t = parse_topic("zwaste/v1", "zwaste/v1/bda-pod-07/edge-pod07-01/events/leak").unwrap();
        assert_eq!((t.site.as_str(), t.device.as_str(), t.channel), ("bda-pod-07", "edge-pod07-01", Channel::Event("leak".into())));
        assert_eq!(parse_topic("zwaste/v1", "zwaste/v1/s/d/reply/label-feedback").unwrap().channel, Channel::Reply("label-feedback".into()));
        for bad in [
            "zwaste/v2/s/d/status",
            "zwaste/v1/s/d/events",
            "zwaste/v1/s'--/d/status",
            "zwaste/v1/s/d/evidence/not-a-uuid",
            "zwaste/v1/s/d/evidence/019AD0F2-5E07-7C33-8A4D-2F91B6E0C718",
            "zwaste/v1/s/d/cmd/reload-config",
            "zwaste/v1/s/d/status/extra",
        ] {
            assert_eq!(parse_topic("zwaste/v1", bad), None, "{bad}");
        }
    }

    #[test]
    fn each_example_is_accepted_with_its_facts() {
        let schemas = Schemas::load().unwrap();
        let e = example("event.sorting.json");
        let topic = "zwaste/v1/bda-station-12/edge-station12-01/events/sorting";
        let Accepted::Event(row) = schemas.accept("zwaste/v1", topic, e.to_string().as_bytes(), &LIMITS).unwrap() else { panic!() };
        assert_eq!((row.item_label.as_deref(), row.item_category.as_deref()), (Some("塑料瓶"), Some("recyclable")));
        assert_eq!((row.bin_zone.as_deref(), row.bin_category.as_deref()), (Some("bin-kitchen"), Some("kitchen")));
        assert!(row.flagged);
        assert_eq!(row.time_ms, rfc3339_ms("2026-11-29T05:48:09.652Z").unwrap());
        let c = example("event.classification.json");
        let topic = format!("zwaste/v1/{}/{}/events/classification", c["site"].as_str().unwrap(), c["device_id"].as_str().unwrap());
        let Accepted::Event(row) = schemas.accept("zwaste/v1", &topic, c.to_string().as_bytes(), &LIMITS).unwrap() else { panic!() };
        assert!(!row.flagged, "routine classifications are not queued for review");
        for (name, channel) in [("heartbeat.json", "heartbeat"), ("status.offline.json", "status"), ("reply.ok.json", "reply/ping")] {
            let v = example(name);
            let topic = format!("zwaste/v1/{}/{}/{channel}", v["site"].as_str().unwrap(), v["device_id"].as_str().unwrap());
            schemas.accept("zwaste/v1", &topic, v.to_string().as_bytes(), &LIMITS).unwrap_or_else(|r| panic!("{name}: {}", r.reason));
        }
        let jpeg = tiny_jpeg();
        let Accepted::Evidence(ev) = schemas.accept("zwaste/v1", &format!("zwaste/v1/s/d/evidence/{}", e["event_id"].as_str().unwrap()), &jpeg, &LIMITS).unwrap() else { panic!() };
        assert_eq!((ev.width, ev.height, ev.sha256.len()), (32, 24, 64));
    }

    #[test]
    fn hostile_messages_are_rejected_with_the_reason() {
        let schemas = Schemas::load().unwrap();
        let e = example("event.sorting.json");
        let topic = "zwaste/v1/bda-station-12/edge-station12-01/events/sorting";
        let reason = |topic: &str, payload: &[u8]| schemas.accept("zwaste/v1", topic, payload, &LIMITS).unwrap_err().reason;
        assert!(reason(topic, b"{not json").starts_with("not JSON"));
        let mut sql = e.clone();
        sql["event_id"] = "'; DROP TABLE events; --".into();
        assert!(reason(topic, sql.to_string().as_bytes()).contains("event.schema.json"));
        let mut extra = e.clone();
        extra["admin"] = true.into();
        assert!(reason(topic, extra.to_string().as_bytes()).contains("event.schema.json"));
        let mut spoof = e.clone();
        spoof["site"] = "other-site".into();
        assert!(reason(topic, spoof.to_string().as_bytes()).contains("the topic names"));
        assert!(reason("zwaste/v1/bda-station-12/edge-station12-01/events/leak", e.to_string().as_bytes()).contains("events/leak"));
        let big = vec![b' '; 70 * 1024];
        assert!(reason(topic, &big).contains("over the"));
        let ev_topic = format!("zwaste/v1/s/d/evidence/{}", e["event_id"].as_str().unwrap());
        assert!(reason(&ev_topic, b"GIF89a....").contains("not a JPEG"));
        let mut oversized = tiny_jpeg();
        oversized.resize(300_000, 0);
        assert!(reason(&ev_topic, &oversized).contains("over the 200000 byte limit"));
        let mut truncated = tiny_jpeg();
        truncated.truncate(12);
        assert!(reason(&ev_topic, &truncated).contains("does not decode"));
        let r = schemas.accept("zwaste/v1", "zwaste/v1/s/d/evil/topic", b"\x00\x01<script>", &LIMITS).unwrap_err();
        assert!(r.sample.contains("\\0") && r.reason.contains("topic"), "{r:?}");
    }
}
