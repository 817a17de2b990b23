//! The station / pod overview: devices online or offline (status + last
//! will, heartbeat age), outbox backlog, contamination per bin (from the
//! heartbeat's tallies), flagged events per day, and leaks still open.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Store, now_ms};

/// Open leaks listed on the overview, newest first.
pub const OPEN_LEAKS_SHOWN: i64 = 50;

/// A heartbeat older than this means the device has gone quiet, whatever its status says.
pub const SILENT_AFTER_MS: i64 = 180_000;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub site: String,
    pub device_id: String,
    /// online | offline | silent | unknown
    pub state: String,
    pub graceful: Option<bool>,
    pub status_ms: Option<i64>,
    pub agent_version: Option<String>,
    pub heartbeat_ms: Option<i64>,
    pub outbox_depth: Option<i64>,
    pub outbox_oldest_s: Option<f64>,
    pub cameras_streaming: Option<(usize, usize)>,
    pub bins: Vec<BinView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BinView {
    pub camera: String,
    pub zone: String,
    pub category: String,
    pub items: i64,
    pub wrong: i64,
    pub contamination_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenLeak {
    pub event_id: String,
    pub site: String,
    pub device_id: String,
    pub camera: String,
    pub verdict: String,
    pub time_ms: i64,
    pub area_cm2: Option<f64>,
    pub growth_cm2_per_min: Option<f64>,
    pub zone: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub devices: Vec<DeviceView>,
    /// site -> (day as "YYYY-MM-DD" in Beijing time, flagged events)
    pub per_day: BTreeMap<String, Vec<(String, i64)>>,
    pub open_leaks: Vec<OpenLeak>,
}

/// What a device's status and latest heartbeat say (pure).
pub fn device_view(site: String, device_id: String, state: Option<String>, graceful: Option<i64>, status_ms: Option<i64>, agent_version: Option<String>, heartbeat: Option<&str>, heartbeat_ms: Option<i64>, now: i64) -> DeviceView {
    let hb: Value = heartbeat.and_then(|h| serde_json::from_str(h).ok()).unwrap_or(Value::Null);
    let state = match state.as_deref() {
        Some("offline") => "offline",
        Some("online") if heartbeat_ms.is_some_and(|t| now - t > SILENT_AFTER_MS) => "silent",
        Some("online") => "online",
        _ if heartbeat_ms.is_some_and(|t| now - t <= SILENT_AFTER_MS) => "online",
        _ => "unknown",
    };
    let cameras = hb["cameras"].as_array().map(|c| (c.iter().filter(|c| c["state"] == "streaming").count(), c.len()));
    let bins = hb["sorting"]
        .as_array()
        .map(|bins| {
            bins.iter()
                .map(|b| BinView {
                    camera: b["camera"].as_str().unwrap_or_default().into(),
                    zone: b["zone"].as_str().unwrap_or_default().into(),
                    category: b["category"].as_str().unwrap_or_default().into(),
                    items: b["items"].as_i64().unwrap_or_default(),
                    wrong: b["wrong"].as_i64().unwrap_or_default(),
                    contamination_rate: b["contamination_rate"].as_f64(),
                })
                .collect()
        })
        .unwrap_or_default();
    DeviceView {
        site,
        device_id,
        state: state.into(),
        graceful: graceful.map(|g| g != 0),
        status_ms,
        agent_version,
        heartbeat_ms,
        outbox_depth: hb.pointer("/outbox/depth").and_then(Value::as_i64),
        outbox_oldest_s: hb.pointer("/outbox/oldest_age_s").and_then(Value::as_f64),
        cameras_streaming: cameras,
        bins,
    }
}

/// One open leak from its latest event's row (the SQL in `overview` picks the rows).
fn open_leak(event_id: String, site: String, device_id: String, camera: String, verdict: String, time_ms: i64, payload: &Value) -> OpenLeak {
    let d = &payload["details"];
    OpenLeak {
        event_id,
        site,
        device_id,
        camera,
        verdict,
        time_ms,
        area_cm2: d["area_cm2"].as_f64(),
        growth_cm2_per_min: d["growth_cm2_per_min"].as_f64(),
        zone: d.pointer("/location/zone").and_then(Value::as_str).map(str::to_string),
    }
}

pub fn beijing_day(day_number: i64) -> String {
    chrono::DateTime::from_timestamp(day_number * 86_400, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

impl Store {
    pub async fn overview(&self, days: i64) -> Result<Overview> {
        let now = now_ms();
        let rows = sqlx::query("SELECT site, device_id, state, graceful, status_ms, agent_version, heartbeat, heartbeat_ms FROM devices ORDER BY site, device_id").fetch_all(&self.pool).await?;
        let mut devices = Vec::new();
        for r in &rows {
            let heartbeat: Option<String> = r.try_get(6)?;
            devices.push(device_view(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, heartbeat.as_deref(), r.try_get(7)?, now));
        }
        // Days in Beijing time (UTC+8), counted in SQL both databases share.
        let since = now - days * 86_400_000;
        let rows = sqlx::query("SELECT site, (time_ms + 28800000) / 86400000 AS day, COUNT(*) AS n FROM events WHERE flagged = 1 AND time_ms >= $1 GROUP BY site, (time_ms + 28800000) / 86400000 ORDER BY site, day")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        let mut per_day: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for r in &rows {
            let (site, day, n): (String, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            per_day.entry(site).or_default().push((beijing_day(day), n));
        }
        // The latest event of each leak (device, camera, leak id) in the last week; open unless cleared.
        let rows = sqlx::query(
            "SELECT e.event_id, e.site, e.device_id, e.camera, e.verdict, e.time_ms, e.payload FROM events e
             JOIN (SELECT site, device_id, camera, track, MAX(time_ms) AS last_ms FROM events WHERE kind = 'leak' AND time_ms >= $1 GROUP BY site, device_id, camera, track) l
               ON e.site = l.site AND e.device_id = l.device_id AND e.camera = l.camera AND e.track = l.track AND e.time_ms = l.last_ms
             WHERE e.kind = 'leak' AND e.verdict <> 'cleared' ORDER BY e.time_ms DESC LIMIT $2",
        )
        .bind(now - 7 * 86_400_000)
        .bind(OPEN_LEAKS_SHOWN)
        .fetch_all(&self.pool)
        .await?;
        let mut open_leaks = Vec::new();
        for r in &rows {
            let payload: Value = serde_json::from_str(&r.try_get::<String, _>(6)?).unwrap_or(Value::Null);
            open_leaks.push(open_leak(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, &payload));
        }
        Ok(Overview { devices, per_day, open_leaks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_offline_by_its_last_will_and_silent_without_heartbeats() {
        let hb = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../mqtt-schemas/examples/heartbeat.json")).unwrap();
        let now = 1_000_000_000;
        let v = device_view("s".into(), "d".into(), Some("online".into()), Some(1), Some(now), None, Some(&hb), Some(now - 10_000), now);
        assert_eq!(v.state, "online");
        assert_eq!((v.outbox_depth, v.cameras_streaming), (Some(3), Some((1, 2))));
        assert_eq!(v.bins[0].zone, "bin-kitchen");
        assert_eq!(v.bins[0].contamination_rate, Some(0.129));
        let silent = device_view("s".into(), "d".into(), Some("online".into()), Some(1), Some(now), None, Some(&hb), Some(now - SILENT_AFTER_MS - 1), now);
        assert_eq!(silent.state, "silent");
        let will = device_view("s".into(), "d".into(), Some("offline".into()), Some(0), Some(now), None, Some(&hb), Some(now), now);
        assert_eq!((will.state.as_str(), will.graceful), ("offline", Some(false)));
    }
}
