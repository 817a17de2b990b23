//! Exports: the period's events and verdicts as CSV (the monthly report a
//! manager hands upward), and the reviewed household-waste items as a
//! training set: ImageFolder (`<category>/<event_id>.jpg`, the item cut out
//! of the evidence frame by its box) plus `manifest.json` and `manifest.csv`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::store::Store;

/// A period in Beijing days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
}

const BEIJING_MS: i64 = 8 * 3_600_000;

/// Midnight of a Beijing date (YYYY-MM-DD) in Unix ms.
pub fn beijing_midnight(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis() - BEIJING_MS)
}

pub fn format_beijing(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms + BEIJING_MS).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

impl Period {
    pub fn parse(from: &str, to: &str) -> Result<Period, String> {
        let from_ms = beijing_midnight(from).ok_or_else(|| format!("from `{}`: a date as YYYY-MM-DD", from.chars().take(20).collect::<String>()))?;
        let to_ms = beijing_midnight(to).ok_or_else(|| format!("to `{}`: a date as YYYY-MM-DD", to.chars().take(20).collect::<String>()))? + 86_400_000;
        if to_ms <= from_ms {
            return Err("the period ends before it starts".into());
        }
        if to_ms - from_ms > 400 * 86_400_000 {
            return Err("export at most 400 days at a time".into());
        }
        Ok(Period { from_ms, to_ms })
    }
}

/// Spreadsheet formula injection: a cell starting with = + - @ is taken as text.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

pub const CSV_HEADER: [&str; 20] = [
    "event_id", "time_beijing", "site", "device_id", "camera", "kind", "verdict", "priority", "confidence", "item", "category", "bin", "message_zh",
    "review", "corrected_category", "corrected_label", "reviewer", "reviewed_beijing", "review_comment", "feedback",
];

pub async fn events_csv(store: &Store, period: Period, all: bool) -> Result<Vec<u8>> {
    let rows = sqlx::query(&format!(
        "SELECT event_id, time_ms, site, device_id, camera, kind, verdict, priority, confidence, item_label, item_category, bin_category, message_zh,
                review, corrected_category, corrected_label, reviewer, reviewed_ms, review_comment, feedback_state
         FROM events WHERE time_ms >= $1 AND time_ms < $2 {} ORDER BY time_ms, event_id",
        if all { "" } else { "AND flagged = 1" }
    ))
    .bind(period.from_ms)
    .bind(period.to_ms)
    .fetch_all(&store.pool)
    .await?;
    // A BOM so that spreadsheet programs read the Chinese as UTF-8.
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(CSV_HEADER)?;
        for r in &rows {
            let text = |i: usize| -> Result<String> { Ok(cell(&r.try_get::<Option<String>, _>(i)?.unwrap_or_default())) };
            let reviewed: Option<i64> = r.try_get(17)?;
            w.write_record([
                text(0)?,
                format_beijing(r.try_get(1)?),
                text(2)?,
                text(3)?,
                text(4)?,
                text(5)?,
                text(6)?,
                text(7)?,
                format!("{:.3}", r.try_get::<f64, _>(8)?),
                text(9)?,
                text(10)?,
                text(11)?,
                text(12)?,
                text(13)?,
                text(14)?,
                text(15)?,
                text(16)?,
                reviewed.map(format_beijing).unwrap_or_default(),
                text(18)?,
                text(19)?,
            ])?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainingItem {
    pub file: String,
    pub event_id: String,
    pub category: String,
    pub label: Option<String>,
    /// confirmed | corrected | false_alarm (the item belonged in the bin it went into)
    pub review: String,
    pub site: String,
    pub device_id: String,
    pub camera: String,
    pub time: String,
    pub reviewer: Option<String>,
    /// The item's box in the evidence frame, when the event gives one.
    pub box_px: Option<[i64; 4]>,
    pub sha256: String,
}

/// The labelled class of a reviewed event, or `None` if it teaches nothing.
pub fn training_class(kind: &str, review: &str, item_category: Option<&str>, bin_category: Option<&str>, corrected: Option<&str>) -> Option<String> {
    if kind != "sorting" && kind != "classification" {
        return None;
    }
    let class = match review {
        "confirmed" => item_category,
        "corrected" => corrected,
        "false_alarm" if kind == "sorting" => bin_category,
        _ => None,
    }?;
    crate::review::CATEGORIES.contains(&class).then(|| class.to_string())
}

/// The item cut out of the frame (box plus a 10 % margin), as JPEG.
pub fn crop_item(jpeg: &[u8], b: [i64; 4]) -> Result<Vec<u8>> {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).context("evidence JPEG")?.to_rgb8();
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (mx, my) = (b[2] / 10, b[3] / 10);
    let (x0, y0) = ((b[0] - mx).clamp(0, w - 1), (b[1] - my).clamp(0, h - 1));
    let (x1, y1) = ((b[0] + b[2] + mx).clamp(x0 + 1, w), (b[1] + b[3] + my).clamp(y0 + 1, h));
    let crop = image::imageops::crop_imm(&img, x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32).to_image();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92).encode_image(&crop)?;
    Ok(out)
}

/// Builds the training set; `put(path, bytes)` writes each file.
pub async fn training_set(store: &Store, period: Period, mut put: impl FnMut(&str, &[u8]) -> Result<()>) -> Result<Vec<TrainingItem>> {
    let rows = sqlx::query(
        "SELECT e.event_id, e.kind, e.review, e.item_category, e.bin_category, e.corrected_category, e.corrected_label, e.item_label, e.site, e.device_id, e.camera, e.time_ms, e.reviewer, e.payload
         FROM events e JOIN evidence v ON v.event_id = e.event_id AND v.sha256 = e.evidence_sha256
         WHERE e.review IS NOT NULL AND e.time_ms >= $1 AND e.time_ms < $2 AND e.kind IN ('sorting', 'classification')
         ORDER BY e.time_ms, e.event_id",
    )
    .bind(period.from_ms)
    .bind(period.to_ms)
    .fetch_all(&store.pool)
    .await?;
    let mut items = Vec::new();
    for r in &rows {
        let s = |i: usize| -> Result<Option<String>> { Ok(r.try_get::<Option<String>, _>(i)?) };
        let (event_id, kind, review) = (s(0)?.unwrap_or_default(), s(1)?.unwrap_or_default(), s(2)?.unwrap_or_default());
        let Some(category) = training_class(&kind, &review, s(3)?.as_deref(), s(4)?.as_deref(), s(5)?.as_deref()) else { continue };
        let payload: Value = serde_json::from_str(&s(13)?.unwrap_or_default()).unwrap_or(Value::Null);
        let b = &payload["details"]["box"];
        let box_px = match (b["x"].as_i64(), b["y"].as_i64(), b["width"].as_i64(), b["height"].as_i64()) {
            (Some(x), Some(y), Some(w), Some(h)) if w > 0 && h > 0 => Some([x, y, w, h]),
            _ => None,
        };
        let jpeg: Vec<u8> = sqlx::query("SELECT jpeg FROM evidence WHERE event_id = $1").bind(&event_id).fetch_one(&store.pool).await?.try_get(0)?;
        let picture = match box_px {
            Some(b) => crop_item(&jpeg, b).with_context(|| format!("cutting out the item of {event_id}"))?,
            None => jpeg,
        };
        let file = format!("{category}/{event_id}.jpg");
        put(&file, &picture)?;
        let label = if review == "confirmed" { s(6)?.or(s(7)?) } else { s(6)? };
        items.push(TrainingItem {
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&picture)),
            file,
            event_id,
            category,
            label,
            review,
            site: s(8)?.unwrap_or_default(),
            device_id: s(9)?.unwrap_or_default(),
            camera: s(10)?.unwrap_or_default(),
            time: format_beijing(r.try_get(11)?),
            reviewer: s(12)?,
            box_px,
        });
    }
    let manifest = serde_json::json!({
        "format": "imagefolder",
        "classes": crate::review::CATEGORIES,
        "from_ms": period.from_ms,
        "to_ms": period.to_ms,
        "items": items,
    });
    put("manifest.json", &serde_json::to_vec_pretty(&manifest)?)?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["file", "category", "label", "review", "event_id", "site", "device_id", "time_beijing", "sha256"])?;
    for i in &items {
        csv.write_record([&i.file, &i.category, &cell(i.label.as_deref().unwrap_or_default()), &i.review, &i.event_id, &i.site, &i.device_id, &i.time, &i.sha256])?;
    }
    put("manifest.csv", &csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    Ok(items)
}

/// The training set as a zip (pictures stored, not deflated: they are JPEGs).
pub async fn training_zip(store: &Store, period: Period) -> Result<(Vec<u8>, usize)> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let items = training_set(store, period, |path, bytes| {
        zip.start_file(path, options)?;
        zip.write_all(bytes)?;
        Ok(())
    })
    .await?;
    Ok((zip.finish()?.into_inner(), items.len()))
}

/// The training set written into `dir` (created; must be empty or missing).
pub async fn training_folder(store: &Store, period: Period, dir: &Path) -> Result<usize> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!("{} is not empty: give a new folder", dir.display());
    }
    let items = training_set(store, period, |path, bytes| {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(dir))?;
        std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))
    })
    .await?;
    Ok(items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_beijing_days() {
        let p = Period::parse("2026-11-01", "2026-11-30").unwrap();
        assert_eq!(format_beijing(p.from_ms), "2026-11-01 00:00:00");
        assert_eq!(format_beijing(p.to_ms), "2026-12-01 00:00:00");
        assert!(Period::parse("2026-11-30", "2026-11-01").is_err());
        assert!(Period::parse("'; DROP TABLE events;--", "2026-11-01").unwrap_err().starts_with("from"));
    }

    #[test]
    fn classes_come_from_the_review() {
        assert_eq!(training_class("sorting", "confirmed", Some("recyclable"), Some("kitchen"), None).as_deref(), Some("recyclable"));
        assert_eq!(training_class("sorting", "false_alarm", Some("recyclable"), Some("kitchen"), None).as_deref(), Some("kitchen"));
        assert_eq!(training_class("sorting", "corrected", Some("recyclable"), Some("kitchen"), Some("other")).as_deref(), Some("other"));
        assert_eq!(training_class("leak", "confirmed", None, None, None), None);
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
    }

    #[test]
    fn the_item_is_cut_out_with_a_margin() {
        let img = image::RgbImage::from_pixel(200, 100, image::Rgb([10, 200, 30]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).unwrap();
        let out = image::load_from_memory(&crop_item(&jpeg, [50, 20, 100, 50]).unwrap()).unwrap();
        assert_eq!((out.width(), out.height()), (120, 60));
        let edge = image::load_from_memory(&crop_item(&jpeg, [180, 90, 100, 50]).unwrap()).unwrap();
        assert!(edge.width() >= 1 && edge.width() <= 30, "clamped to the frame");
    }
}
