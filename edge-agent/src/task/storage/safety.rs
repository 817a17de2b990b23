//! Fixed safety items: the fire extinguishers and the warning sign at the
//! door are calibrated as "must stay present" regions. Each region is compared
//! with the reference picture by normalised correlation (blind to the light
//! level); unlike it for longer than a set time (not a person walking past)
//! means the item is gone or covered. Extinguisher expiry dates come from the
//! configuration, with a reminder before they lapse.

use crate::calibration::{Calibration, ZoneKind};
use chrono::NaiveDate;
use image::{GrayImage, RgbImage};
use serde::Serialize;

/// Items are compared at this size.
const SIDE: u32 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Extinguisher,
    Sign,
}

impl ItemKind {
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Extinguisher => "灭火器",
            Self::Sign => "警示标志",
        }
    }
}

struct Item {
    zone: String,
    kind: ItemKind,
    crop: [u32; 4],
    reference: Vec<f32>,
    unlike_since: Option<f64>,
    open: bool,
    similarity: f32,
}

/// An item found gone (opened) or back (closed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetyChange {
    pub zone: String,
    pub kind: ItemKind,
    pub opened: bool,
    pub similarity: f32,
    /// How long it has been unlike its reference (s).
    pub absent_for_s: f64,
    /// x, y, w, h in frame pixels.
    #[serde(skip)]
    pub region_px: [u32; 4],
}

/// An item's state, for the daily report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemState {
    pub zone: String,
    pub kind: ItemKind,
    pub present: bool,
    pub similarity: f32,
}

pub struct SafetyWatch {
    items: Vec<Item>,
    /// Unlike for this long means absent (s).
    absent_after_s: f64,
    /// Correlation with the reference below this is "unlike".
    min_similarity: f32,
}

impl SafetyWatch {
    pub fn new(calibration: &Calibration, reference: &RgbImage, absent_after_s: f64, min_similarity: f32) -> Result<Self, String> {
        let (w, h) = reference.dimensions();
        let mut items = Vec::new();
        for z in &calibration.file.zones {
            let kind = match z.kind {
                ZoneKind::Extinguisher => ItemKind::Extinguisher,
                ZoneKind::Sign => ItemKind::Sign,
                _ => continue,
            };
            let xs = z.polygon.iter().map(|p| p[0]);
            let ys = z.polygon.iter().map(|p| p[1]);
            let x0 = xs.clone().fold(f64::MAX, f64::min).max(0.0) as u32;
            let x1 = (xs.fold(f64::MIN, f64::max).ceil() as u32).min(w);
            let y0 = ys.clone().fold(f64::MAX, f64::min).max(0.0) as u32;
            let y1 = (ys.fold(f64::MIN, f64::max).ceil() as u32).min(h);
            if x1 < x0 + 8 || y1 < y0 + 8 {
                return Err(format!("safety zone `{}` is smaller than 8x8 pixels: draw it around the whole item", z.name));
            }
            let crop = [x0, y0, x1 - x0, y1 - y0];
            let reference = patch(reference, crop);
            if spread(&reference) < 4.0 {
                return Err(format!(
                    "safety zone `{}` is nearly uniform in the reference picture: is the {} in place? Take the reference with it there",
                    z.name,
                    kind.name_zh()
                ));
            }
            items.push(Item { zone: z.name.clone(), kind, crop, reference, unlike_since: None, open: false, similarity: 1.0 });
        }
        Ok(Self { items, absent_after_s, min_similarity })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn observe(&mut self, t: f64, frame: &RgbImage) -> Vec<SafetyChange> {
        let mut changes = Vec::new();
        for item in &mut self.items {
            let now = patch(frame, item.crop);
            item.similarity = correlation(&item.reference, &now);
            let unlike = item.similarity < self.min_similarity;
            let since = match (unlike, item.unlike_since) {
                (false, _) => None,
                (true, None) => Some(t),
                (true, Some(s)) => Some(s),
            };
            item.unlike_since = since;
            let absent_for = since.map(|s| t - s).unwrap_or(0.0);
            let change = |opened| SafetyChange { zone: item.zone.clone(), kind: item.kind, opened, similarity: item.similarity, absent_for_s: absent_for, region_px: item.crop };
            if !item.open && absent_for >= self.absent_after_s {
                item.open = true;
                changes.push(change(true));
            } else if item.open && !unlike {
                item.open = false;
                changes.push(change(false));
            }
        }
        changes
    }

    /// The view was lost: nothing is known about the items until it is back.
    pub fn reset(&mut self) {
        for item in &mut self.items {
            item.unlike_since = None;
        }
    }

    pub fn states(&self) -> Vec<ItemState> {
        self.items.iter().map(|i| ItemState { zone: i.zone.clone(), kind: i.kind, present: !i.open, similarity: (i.similarity * 100.0).round() / 100.0 }).collect()
    }
}

/// The region, grey, at [`SIDE`]x[`SIDE`], lightly smoothed (noise is not structure).
fn patch(image: &RgbImage, [x, y, w, h]: [u32; 4]) -> Vec<f32> {
    let (fw, fh) = image.dimensions();
    let (w, h) = (w.min(fw.saturating_sub(x)), h.min(fh.saturating_sub(y)));
    if w == 0 || h == 0 {
        return vec![0.0; (SIDE * SIDE) as usize];
    }
    let crop = image::imageops::crop_imm(image, x, y, w, h).to_image();
    let grey: GrayImage = image::DynamicImage::ImageRgb8(crop).to_luma8();
    let small = image::imageops::resize(&grey, SIDE, SIDE, image::imageops::FilterType::Triangle);
    small.pixels().map(|p| f32::from(p.0[0])).collect()
}

fn spread(v: &[f32]) -> f32 {
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len().max(1) as f32).sqrt()
}

/// Zero-mean normalised cross-correlation, -1..1 (a flat patch correlates 0).
pub fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len()).max(1) as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    if aa <= f32::EPSILON || bb <= f32::EPSILON { 0.0 } else { ab / (aa * bb).sqrt() }
}

/// Where an extinguisher's inspection date stands on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Expiry {
    InDate { days_left: i64 },
    /// Within the reminder window.
    Expiring { days_left: i64 },
    Expired { days_over: i64 },
}

pub fn expiry(today: NaiveDate, expires: NaiveDate, remind_days: i64) -> Expiry {
    let left = (expires - today).num_days();
    if left < 0 {
        Expiry::Expired { days_over: -left }
    } else if left <= remind_days {
        Expiry::Expiring { days_left: left }
    } else {
        Expiry::InDate { days_left: left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ignores_the_light_level_but_not_a_cover() {
        let a: Vec<f32> = (0..100).map(|i| ((i * 37) % 100) as f32).collect();
        let darker: Vec<f32> = a.iter().map(|v| v * 0.5 + 10.0).collect();
        assert!(correlation(&a, &darker) > 0.99);
        let cover: Vec<f32> = (0..100).map(|i| ((i * 13) % 7) as f32).collect();
        assert!(correlation(&a, &cover) < 0.5);
        assert_eq!(correlation(&a, &[5.0; 100]), 0.0);
    }

    #[test]
    fn expiry_is_reminded_within_the_window_and_flagged_after() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(expiry(d("2026-12-07"), d("2027-03-01"), 30), Expiry::InDate { days_left: 84 });
        assert_eq!(expiry(d("2027-02-01"), d("2027-03-01"), 30), Expiry::Expiring { days_left: 28 });
        assert_eq!(expiry(d("2027-03-01"), d("2027-03-01"), 30), Expiry::Expiring { days_left: 0 });
        assert_eq!(expiry(d("2027-03-03"), d("2027-03-01"), 30), Expiry::Expired { days_over: 2 });
    }
}
