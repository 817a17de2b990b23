//! `/metrics`: one [`Scrape`] (the heartbeat's figures plus the latency
//! histograms) written in the Prometheus text format by prometheus-client.

use super::Scrape;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

/// The scrape as Prometheus text (`text/plain; version=0.0.4` / OpenMetrics).
pub fn encode(scrape: Scrape) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("edge_agent");
    registry.register_collector(Box::new(ScrapeCollector(scrape)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

#[derive(Debug)]
struct ScrapeCollector(Scrape);

/// A gauge family: one value per label set.
fn gauges(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<&Unit>, rows: Vec<(Labels, f64)>) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (l, v) in rows {
        ConstGauge::new(v).encode(family.encode_family(&l)?)?;
    }
    Ok(())
}

fn counters(e: &mut DescriptorEncoder, name: &str, help: &str, rows: Vec<(Labels, u64)>) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (l, v) in rows {
        ConstCounter::new(v).encode(family.encode_family(&l)?)?;
    }
    Ok(())
}

impl Collector for ScrapeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Scrape { heartbeat: hb, readiness, histograms } = &self.0;
        let none = Labels::new;
        gauges(&mut e, "up", "1 while the agent runs (0 is never exported: absence means down)", None, vec![(none(), 1.0)])?;
        gauges(&mut e, "ready", "1 once models are loaded and every camera delivered a frame", None, vec![(none(), f64::from(u8::from(readiness.ready)))])?;
        gauges(&mut e, "uptime", "Time since the agent started", Some(&Unit::Seconds), vec![(none(), hb.uptime_s)])?;
        let info = labels(&[("version", crate::event::AGENT_VERSION), ("site", &hb.site), ("device_id", &hb.device_id)]);
        gauges(&mut e, "build_info", "The agent's version and identity", None, vec![(info, 1.0)])?;

        // Cameras.
        let cam = |c: &crate::mqtt::health::CameraHealth| labels(&[("camera", &c.camera)]);
        gauges(&mut e, "camera_fps", "Frames processed per second, recently", None, hb.cameras.iter().map(|c| (cam(c), c.fps)).collect())?;
        let state_rows = hb.cameras.iter().flat_map(|c| {
            ["connecting", "streaming", "reconnecting", "finished", "failed"]
                .into_iter()
                .map(move |s| (labels(&[("camera", &c.camera), ("state", s)]), f64::from(u8::from(c.state == s))))
        });
        gauges(&mut e, "camera_state", "1 for the state each camera is in", None, state_rows.collect())?;
        type Pick = fn(&crate::mqtt::health::CameraHealth) -> u64;
        let per_camera: [(&str, &str, Pick); 6] = [
            ("camera_frames_captured", "Frames read from the camera", |c| c.frames_captured),
            ("camera_frames_processed", "Frames run through the camera's tasks", |c| c.frames_processed),
            ("camera_frames_dropped", "Frames replaced by a newer one before the tasks got to them", |c| c.frames_dropped),
            ("camera_frames_corrupt", "Frames that could not be decoded", |c| c.frames_corrupt),
            ("camera_reconnects", "Times the camera was reconnected", |c| c.reconnects),
            ("camera_task_errors", "Frames on which a task failed", |c| c.task_errors),
        ];
        for (name, help, pick) in per_camera {
            counters(&mut e, name, help, hb.cameras.iter().map(|c| (cam(c), pick(c))).collect())?;
        }

        // Models: what runs where, and how long each run takes.
        let model_info = hb.models.iter().map(|m| {
            (labels(&[("model", &m.name), ("version", &m.version), ("sha256", &m.sha256), ("provider", &m.provider), ("requested_provider", &m.requested_provider)]), 1.0)
        });
        gauges(&mut e, "model_info", "Loaded models, their version and the execution provider really in use", None, model_info.collect())?;
        {
            let mut family = e.encode_descriptor("inference_duration", "Time of one model run (Session::run)", Some(&Unit::Seconds), MetricType::Histogram)?;
            for (m, h) in histograms {
                let l = labels(&[("model", &m.name), ("provider", &m.provider)]);
                family.encode_family(&l)?.encode_histogram::<prometheus_client::encoding::NoLabelSet>(h.sum_s, h.count, &h.buckets, None)?;
            }
        }

        // Events, outbox, MQTT, commands, disk.
        counters(&mut e, "events", "Events committed to the outbox, by kind", hb.events.iter().map(|(k, n)| (labels(&[("kind", k)]), *n)).collect())?;
        let o = &hb.outbox;
        gauges(&mut e, "outbox_depth", "Records (events and pictures) waiting for the broker's PUBACK", None, vec![(none(), o.depth as f64)])?;
        gauges(&mut e, "outbox_alerts_waiting", "Alert events waiting", None, vec![(none(), o.alerts_waiting as f64)])?;
        gauges(&mut e, "outbox_size", "Bytes the outbox holds on disk", Some(&Unit::Bytes), vec![(none(), o.bytes as f64)])?;
        gauges(&mut e, "outbox_quota", "The outbox's disk quota", Some(&Unit::Bytes), vec![(none(), o.quota_bytes as f64)])?;
        gauges(&mut e, "outbox_oldest_age", "Age of the oldest waiting record", Some(&Unit::Seconds), vec![(none(), o.oldest_age_s.unwrap_or(0.0))])?;
        let evicted = vec![
            (labels(&[("what", "evidence")]), o.evicted_evidence),
            (labels(&[("what", "events")]), o.evicted_events),
            (labels(&[("what", "telemetry")]), o.evicted_telemetry),
        ];
        counters(&mut e, "outbox_evicted", "Records dropped to stay within the quota", evicted)?;
        counters(&mut e, "outbox_write_errors", "Failed outbox writes (full disk, I/O)", vec![(none(), o.write_errors)])?;
        let m = &hb.mqtt;
        gauges(&mut e, "mqtt_connected", "1 while connected to the broker", None, vec![(none(), f64::from(u8::from(m.connected)))])?;
        counters(&mut e, "mqtt_connects", "Connections made to the broker", vec![(none(), m.connects)])?;
        counters(&mut e, "mqtt_published", "Records published", vec![(none(), m.published)])?;
        counters(&mut e, "mqtt_acked", "Records acknowledged by the broker", vec![(none(), m.acked)])?;
        let commands = vec![(labels(&[("outcome", "accepted")]), hb.commands.accepted), (labels(&[("outcome", "rejected")]), hb.commands.rejected)];
        counters(&mut e, "commands", "Commands answered, by outcome", commands)?;
        let d = &hb.disk;
        gauges(&mut e, "disk_free", "Free space on the state folder's file system", Some(&Unit::Bytes), vec![(none(), d.free_bytes as f64)])?;
        gauges(&mut e, "disk_total", "Size of the state folder's file system", Some(&Unit::Bytes), vec![(none(), d.total_bytes as f64)])?;

        // Sorting stations.
        let bins = |pick: fn(&crate::task::sorting::tally::BinReport) -> f64| {
            hb.sorting.iter().map(move |b| (labels(&[("camera", &b.camera), ("bin", &b.zone)]), pick(b))).collect::<Vec<_>>()
        };
        if !hb.sorting.is_empty() {
            gauges(&mut e, "sorting_contamination_ratio", "Share of items in the wrong bin", None, bins(|b| b.contamination_rate))?;
            let bin_counts = |pick: fn(&crate::task::sorting::tally::BinReport) -> u64| {
                hb.sorting.iter().map(move |b| (labels(&[("camera", &b.camera), ("bin", &b.zone)]), pick(b))).collect::<Vec<_>>()
            };
            counters(&mut e, "sorting_items", "Items seen per bin", bin_counts(|b| b.items))?;
            counters(&mut e, "sorting_wrong_items", "Items in the wrong bin", bin_counts(|b| b.wrong))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::histogram::LatencyHistogram;
    use crate::telemetry::{Phase, Readiness};
    use std::time::Duration;

    #[test]
    fn the_heartbeats_figures_come_out_as_prometheus_text() {
        let heartbeat: crate::mqtt::health::Heartbeat =
            serde_json::from_str(include_str!("../../../mqtt-schemas/examples/heartbeat.json")).unwrap();
        let h = LatencyHistogram::default();
        h.observe(Duration::from_millis(8));
        h.observe(Duration::from_millis(9));
        h.observe(Duration::from_millis(40));
        let scrape = Scrape {
            histograms: vec![(heartbeat.models[0].clone(), h.snapshot())],
            readiness: Readiness { ready: true, phase: Phase::Running, cameras_without_frames: vec![], mqtt_connected: true },
            heartbeat,
        };
        let text = encode(scrape).unwrap();
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        has("edge_agent_camera_frames_processed_total{camera=\"station-bin-a\"} 108902");
        has("edge_agent_outbox_depth 3.0");
        has("edge_agent_mqtt_connected 1.0");
        has("edge_agent_mqtt_published_total 31488");
        has("edge_agent_ready 1.0");
        has("edge_agent_events_total{kind=\"sorting\"} 3");
        // Buckets are cumulative and end at +Inf; the count matches.
        has("edge_agent_inference_duration_seconds_bucket{le=\"0.005\",model=\"efficientnet-lite0\",provider=\"cpu\"} 0");
        has("edge_agent_inference_duration_seconds_bucket{le=\"0.01\",model=\"efficientnet-lite0\",provider=\"cpu\"} 2");
        has("edge_agent_inference_duration_seconds_bucket{le=\"0.05\",model=\"efficientnet-lite0\",provider=\"cpu\"} 3");
        has("edge_agent_inference_duration_seconds_bucket{le=\"+Inf\",model=\"efficientnet-lite0\",provider=\"cpu\"} 3");
        has("edge_agent_inference_duration_seconds_count{model=\"efficientnet-lite0\",provider=\"cpu\"} 3");
        assert!(text.contains("# TYPE edge_agent_inference_duration_seconds histogram"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("edge_agent_model_info{model=\"efficientnet-lite0\"") && l.contains("provider=\"cpu\"")),
            "{text}"
        );
    }
}
