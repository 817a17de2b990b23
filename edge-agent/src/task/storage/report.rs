//! The daily inspection record (`inspection.daily`): zones and their
//! containers, open findings, leaks, camera health, safety items and stock
//! against the limit, with one composite picture of every storage camera:
//! what a pod manager files for the day.

use super::{CameraStorage, StorageTaskConfig, safety};
use crate::event::{EventDraft, Priority, evidence};
use crate::task::site::SiteBoard;
use crate::task::storage::ledger::Ledger;
use crate::vision::Frame;
use image::{Rgb, RgbImage};
use std::collections::HashMap;
use std::time::SystemTime;

/// Each camera's tile in the composite is this wide.
const TILE_WIDTH: u32 = 960;

#[allow(clippy::too_many_arguments)]
pub fn draft(
    task: &str,
    config: &StorageTaskConfig,
    cameras: &HashMap<String, CameraStorage>,
    ledger: &Ledger,
    board: &SiteBoard,
    frame: &Frame,
    trigger: &str,
    request_id: Option<String>,
) -> EventDraft {
    let at = frame.captured_at;
    let t = super::secs(at);
    let mut names: Vec<&String> = cameras.keys().collect();
    names.sort();
    let mut zones = Vec::new();
    let mut findings = Vec::new();
    let mut items = Vec::new();
    let mut health = Vec::new();
    let mut never_seen: Option<Vec<String>> = None;
    let (mut containers, mut identified) = (0usize, 0usize);
    let today = chrono::DateTime::<chrono::Local>::from(at).date_naive();
    let remind_days = (config.remind_before.as_secs() / 86_400) as i64;
    for name in &names {
        let w = &cameras[*name];
        for (zone, count) in w.inventory.zone_counts(t) {
            containers += count.containers;
            identified += count.identified.len();
            let allow = w.calibration.zone(&zone).map(|z| z.allow.clone()).unwrap_or_default();
            zones.push(serde_json::json!({ "camera": name, "zone": zone, "allow": allow, "containers": count.containers, "identified": count.identified, "unlabelled_groups": count.unlabelled_groups }));
        }
        for f in w.inventory.open_findings() {
            let mut v = serde_json::to_value(&f).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("camera".into(), (*name).clone().into());
            }
            findings.push(v);
        }
        for s in w.safety.states() {
            let expires = config.extinguishers.iter().find(|e| e.zone == s.zone).map(|e| e.expires);
            items.push(serde_json::json!({
                "camera": name, "zone": s.zone, "item": s.kind, "present": s.present, "similarity": s.similarity,
                "expires": expires, "expiry": expires.map(|d| safety::expiry(today, d, remind_days)),
            }));
        }
        // A code in stock is "never seen" when no storage camera has read it.
        let unseen = w.inventory.never_seen(ledger);
        never_seen = Some(match never_seen {
            None => unseen,
            Some(prev) => prev.into_iter().filter(|id| unseen.contains(id)).collect(),
        });
        let last = w.last.as_ref();
        health.push(serde_json::json!({
            "camera": name,
            "last_frame_at": last.map(|l| crate::event::rfc3339_millis(l.2)),
            "frames_since_last_report": w.frames_since_report,
            "views_lost": w.views_lost,
            "light_gain": last.map(|l| (l.1.light_gain * 100.0).round() / 100.0),
        }));
    }
    let (stock_kg, undeclared) = ledger.stock_kg();
    let in_stock = ledger.stock().len();
    let leaks = board.open_leaks();
    let present = items.iter().filter(|i| i["present"] == true).count();
    let share = stock_kg / config.capacity_kg;
    let message = format!(
        "每日巡检：贮存区共 {containers} 个容器（二维码识别 {identified} 个，台账在库 {in_stock} 个）；未结问题 {} 项；泄漏 {} 处；安全设施在位 {present}/{}；贮存量约 {:.0} 千克（限值的 {:.0}%）。",
        findings.len(),
        leaks.len(),
        items.len(),
        stock_kg,
        share * 100.0
    );
    let clean = findings.is_empty() && leaks.is_empty() && present == items.len();
    let evidence = composite(cameras, &names).and_then(|picture| evidence::render(&picture, &[]).map_err(|e| tracing::warn!(error = %e, "no composite picture for the inspection report")).ok());
    EventDraft {
        id: None,
        kind: "inspection".into(),
        priority: Priority::Normal,
        camera: frame.camera.to_string(),
        task: task.into(),
        captured_at: at,
        verdict: "daily".into(),
        confidence: 1.0,
        message_zh: Some(message),
        details: serde_json::json!({
            "event": "inspection.daily",
            "trigger": trigger,
            "request_id": request_id,
            "day": today.to_string(),
            "clean": clean,
            "zones": zones,
            "totals": { "containers": containers, "identified": identified, "ledger_in_stock": in_stock, "never_seen": never_seen.unwrap_or_default() },
            "capacity": { "stock_kg": (stock_kg * 10.0).round() / 10.0, "limit_kg": config.capacity_kg, "share": (share * 1000.0).round() / 1000.0, "undeclared_containers": undeclared },
            "findings": findings,
            "leaks": leaks,
            "safety": items,
            "cameras": health,
            "generated_at": crate::event::rfc3339_millis(SystemTime::now()),
        }),
        evidence,
    }
}

/// Every camera's latest frame, groups outlined (green: labelled; orange:
/// fewer labels than containers), findings in red, stacked top to bottom.
fn composite(cameras: &HashMap<String, CameraStorage>, names: &[&String]) -> Option<RgbImage> {
    let tiles: Vec<RgbImage> = names
        .iter()
        .filter_map(|n| {
            let w = &cameras[*n];
            let (image, detection, _) = w.last.as_ref()?;
            let scale = TILE_WIDTH as f32 / image.width().max(1) as f32;
            let height = ((image.height() as f32 * scale).round() as u32).max(1);
            let mut tile = image::imageops::thumbnail(image.as_ref(), TILE_WIDTH, height);
            let rect = |b: [f64; 4]| {
                imageproc::rect::Rect::at((b[0] as f32 * scale) as i32, (b[1] as f32 * scale) as i32)
                    .of_size(((b[2] as f32 * scale) as u32).max(1), ((b[3] as f32 * scale) as u32).max(1))
            };
            for b in &detection.blobs {
                let colour = if b.labels >= b.estimated { Rgb([40, 200, 60]) } else { Rgb([255, 150, 0]) };
                imageproc::drawing::draw_hollow_rect_mut(&mut tile, rect(b.bbox_px), colour);
                imageproc::drawing::draw_hollow_rect_mut(&mut tile, rect([b.bbox_px[0] + 1.0, b.bbox_px[1] + 1.0, b.bbox_px[2] - 2.0, b.bbox_px[3] - 2.0]), colour);
            }
            for f in w.inventory.open_findings() {
                for c in &f.containers {
                    let r = 0.6 * w.detector.container_diameter_mm() / w.detector.mm_per_px(c.at_px).max(0.1);
                    imageproc::drawing::draw_hollow_rect_mut(&mut tile, rect([c.at_px[0] - r, c.at_px[1] - r, 2.0 * r, 2.0 * r]), Rgb([230, 30, 30]));
                }
                if let Some(region) = f.region_px {
                    imageproc::drawing::draw_hollow_rect_mut(&mut tile, rect(region), Rgb([230, 30, 30]));
                }
            }
            Some(tile)
        })
        .collect();
    if tiles.is_empty() {
        return None;
    }
    let height = tiles.iter().map(|t| t.height() + 8).sum::<u32>();
    let mut out = RgbImage::from_pixel(TILE_WIDTH, height, Rgb([20, 20, 20]));
    let mut y = 0;
    for tile in tiles {
        image::imageops::replace(&mut out, &tile, 0, i64::from(y));
        y += tile.height() + 8;
    }
    Some(out)
}
