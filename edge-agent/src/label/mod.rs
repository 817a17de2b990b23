//! Hazardous-waste container labels (HJ 1276-2022) at pod intake: find the
//! label, read it (OCR + QR), parse its fields and check them against the
//! catalogue, themselves and the declared slip.
//!
//! `locate` → `ocr` → `qr` → `parse` → `checks`; [`Inspector`] runs them in order.

pub mod catalogue;
pub mod checks;
pub mod fields;
pub mod idcode;
pub mod locate;
pub mod parse;
pub mod qr;

use crate::event::evidence::{self, Contour, EvidenceImage};
use crate::inference::InferenceError;
use crate::mqtt::commands::IntakeSlip;
use crate::ocr::{OcrEngine, OcrLine, OcrTimings};
use catalogue::Catalogue;
use checks::{CheckSettings, Finding, Observed, QrRead, Verdict};
use fields::LabelField;
use image::RgbImage;
use parse::ParsedLabel;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct InspectTimings {
    pub locate_ms: f64,
    #[serde(flatten)]
    pub ocr: OcrTimings,
    pub qr_ms: f64,
    pub check_ms: f64,
    pub total_ms: f64,
}

/// Everything one look at a container gave.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The orange label region, if one was seen (frame pixels x0, y0, x1, y1).
    pub label_region: Option<[u32; 4]>,
    pub label: ParsedLabel,
    pub qr: QrRead,
    pub findings: Vec<Finding>,
    pub verdict: Verdict,
    pub catalogue: String,
    pub lines: Vec<OcrLine>,
    pub timings: InspectTimings,
}

impl Inspection {
    /// Moves every position by (dx, dy): the inspection ran on a crop of a larger frame.
    pub fn shift(&mut self, dx: f32, dy: f32) {
        if let Some(r) = &mut self.label_region {
            *r = [r[0] + dx as u32, r[1] + dy as u32, r[2] + dx as u32, r[3] + dy as u32];
        }
        for line in &mut self.lines {
            for p in &mut line.quad {
                p[0] += dx;
                p[1] += dy;
            }
        }
        for f in &mut self.label.fields {
            f.bounds = [f.bounds[0] + dx, f.bounds[1] + dy, f.bounds[2] + dx, f.bounds[3] + dy];
        }
        if let QrRead::Decoded(p) = &mut self.qr {
            for c in &mut p.corners {
                c[0] += dx;
                c[1] += dy;
            }
        }
    }

    /// Fields that a finding points at (drawn red on the evidence).
    pub fn flagged_fields(&self) -> Vec<LabelField> {
        self.findings.iter().filter(|f| f.severity > checks::Severity::Info).filter_map(|f| f.field).collect()
    }

    /// The frame with every text line outlined (green; red where a finding
    /// points at its field) and the label region in blue.
    pub fn evidence(&self, frame: &RgbImage) -> Result<EvidenceImage, evidence::EvidenceError> {
        let flagged = self.flagged_fields();
        let mut contours = Vec::new();
        if let Some([x0, y0, x1, y1]) = self.label_region {
            let (x0, y0, x1, y1) = (x0 as f32, y0 as f32, x1 as f32, y1 as f32);
            contours.push(Contour { points: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]], rgb: [40, 120, 255] });
        }
        for line in &self.lines {
            contours.push(Contour { points: line.quad.to_vec(), rgb: [0, 200, 0] });
        }
        // Field boxes last, so red is drawn over green.
        for field in &self.label.fields {
            let bad = flagged.contains(&field.field);
            let [x0, y0, x1, y1] = field.bounds;
            let rgb = if bad { [255, 0, 0] } else { [0, 200, 0] };
            contours.push(Contour { points: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]], rgb });
        }
        evidence::render_with_contours(frame, &[], &contours)
    }
}

/// The label crop's shorter side as the text detector sees it. A label's
/// smallest text is about 1/35 of its height (3 mm on 100 mm), so this keeps
/// it ~15 px tall, plenty for the detector, at 0.3 MP instead of RapidOCR's
/// 736-px minimum (detection 80 -> 45 ms, same fields read on 60 cases).
pub const LABEL_DETECTION_SIDE: u32 = 544;

/// Reads and checks labels; shared by `inspect`, the intake task and the benchmark.
pub struct Inspector {
    ocr: OcrEngine,
    pub catalogue: Arc<Catalogue>,
    pub settings: CheckSettings,
}

impl Inspector {
    pub fn new(ocr: OcrEngine, catalogue: Arc<Catalogue>, settings: CheckSettings) -> Self {
        // A label is printed on one rigid sheet: its lines share one orientation.
        Self { ocr: ocr.with_uniform_orientation(true).with_detection_short_side(Some(LABEL_DETECTION_SIDE)), catalogue, settings }
    }

    /// Reads the label in `frame` and checks it; `intake_date` is the local date of the intake.
    pub fn inspect(&self, frame: &RgbImage, slip: Option<&IntakeSlip>, intake_date: chrono::NaiveDate) -> Result<Inspection, InferenceError> {
        let started = Instant::now();
        let region = locate::locate(frame);
        // Read the label's part of the frame only; the whole frame when no orange was seen
        // (a faded or unusual label still gets read).
        let (view, offset) = match region {
            Some(r) if (r.bounds[2] - r.bounds[0]) >= 32 && (r.bounds[3] - r.bounds[1]) >= 32 => {
                let [x0, y0, x1, y1] = r.bounds;
                (image::imageops::crop_imm(frame, x0, y0, x1 - x0, y1 - y0).to_image(), [x0 as f32, y0 as f32])
            }
            _ => (frame.clone(), [0.0, 0.0]),
        };
        let locate_ms = ms(started);

        let ocr = self.ocr.read(&view)?;
        let mut lines = ocr.lines;
        for line in &mut lines {
            for p in &mut line.quad {
                p[0] += offset[0];
                p[1] += offset[1];
            }
        }

        let t = Instant::now();
        let luma = image::DynamicImage::ImageRgb8(view).into_luma8();
        let qr = match qr::decode(&luma) {
            None => QrRead::NotFound,
            Some((text, corners)) => {
                let corners = corners.into_iter().map(|[x, y]| [x + offset[0], y + offset[1]]).collect();
                match qr::interpret(&text, &self.settings.qr, corners) {
                    Ok(p) => QrRead::Decoded(p),
                    Err(reason) => QrRead::BadPayload { text, reason },
                }
            }
        };
        let qr_ms = ms(t);

        // The QR code's modules read as glyphs ("回Y回") are not label text.
        if let QrRead::Decoded(p) = &qr {
            lines.retain(|l| !inside(&p.corners, l.quad));
        }
        let t = Instant::now();
        let label = parse::parse_label(&lines);
        let seen = Observed { label: &label, label_colour_seen: region.is_some(), qr: &qr };
        let (findings, verdict) = checks::check(&seen, slip, intake_date, &self.catalogue, &self.settings);
        let check_ms = ms(t);
        Ok(Inspection {
            label_region: region.map(|r| r.bounds),
            label,
            qr,
            findings,
            verdict,
            catalogue: self.catalogue.version.clone(),
            lines,
            timings: InspectTimings { locate_ms, ocr: ocr.timings, qr_ms, check_ms, total_ms: ms(started) },
        })
    }
}

/// The line's centre lies within the QR code: rxing gives the finder patterns'
/// centres, about 3.5 modules in from the edges, so their bounds are grown by a quarter.
fn inside(corners: &[[f32; 2]], quad: [[f32; 2]; 4]) -> bool {
    if corners.len() < 3 {
        return false;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for [x, y] in corners {
        (x0, y0, x1, y1) = (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y));
    }
    let (mx, my) = ((x1 - x0) * 0.25, (y1 - y0) * 0.25);
    let cx = quad.iter().map(|p| p[0]).sum::<f32>() / 4.0;
    let cy = quad.iter().map(|p| p[1]).sum::<f32>() / 4.0;
    cx >= x0 - mx && cx <= x1 + mx && cy >= y0 - my && cy <= y1 + my
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
