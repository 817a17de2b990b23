//! YOLOv8 / YOLO11 format detector, so a site can drop in its own trained model.
//! Output layout [1, 4 + classes, anchors]: cx, cy, w, h in input pixels, then
//! one score per class (no objectness). Letterboxed input.

use super::session::{InferenceError, ModelSession};
use crate::vision::preprocess::Geometry;
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Detection {
    pub class: usize,
    pub label: String,
    pub score: f32,
    /// Box in source picture pixels: x0, y0, x1, y1.
    pub bbox: [f32; 4],
}

pub struct YoloDetector {
    pub session: Arc<ModelSession>,
    labels: Vec<String>,
    output: String,
    score_threshold: f32,
    iou_threshold: f32,
}

impl YoloDetector {
    pub fn new(session: Arc<ModelSession>) -> Result<Self, InferenceError> {
        let m = session.manifest.clone();
        let labels = m.file_labels()?.ok_or_else(|| InferenceError::model(&m.name, "detector manifest has no labels"))?;
        Ok(Self {
            output: m.outputs["detections"].name.clone(),
            score_threshold: m.param("score_threshold", 0.25) as f32,
            iou_threshold: m.param("iou_threshold", 0.45) as f32,
            labels,
            session,
        })
    }

    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>, InferenceError> {
        let m = &self.session.manifest;
        let prepared = self.session.prepare(img)?;
        let out = self.session.run(prepared.tensor.view().into_dyn(), &[&self.output])?;
        let raw = &out[&self.output];
        let shape = raw.shape();
        let (rows, anchors) = match shape {
            [1, rows, anchors] => (*rows, *anchors),
            _ => return Err(InferenceError::model(&m.name, format!("output shape {shape:?} is not YOLOv8 [1, 4+classes, anchors]"))),
        };
        if rows != 4 + self.labels.len() {
            return Err(InferenceError::model(
                &m.name,
                format!("output has {} class rows but the manifest lists {} labels", rows.saturating_sub(4), self.labels.len()),
            ));
        }
        let values: Vec<f32> = raw.iter().copied().collect();
        let dets = decode_yolo(&values, rows, anchors, self.score_threshold, self.iou_threshold, &prepared.geometry);
        Ok(dets
            .into_iter()
            .map(|(class, score, bbox)| Detection { class, label: self.labels[class].clone(), score, bbox })
            .collect())
    }
}

/// Decode a row-major [4 + classes, anchors] tensor: threshold, map to the
/// source picture, per-class non-maximum suppression. Best score first.
pub fn decode_yolo(
    values: &[f32],
    rows: usize,
    anchors: usize,
    score_threshold: f32,
    iou_threshold: f32,
    geometry: &Geometry,
) -> Vec<(usize, f32, [f32; 4])> {
    let at = |r: usize, a: usize| values[r * anchors + a];
    let mut candidates = Vec::new();
    for a in 0..anchors {
        let (class, score) = (4..rows).map(|r| (r - 4, at(r, a))).fold((0, f32::MIN), |b, c| if c.1 > b.1 { c } else { b });
        if score < score_threshold {
            continue;
        }
        let (cx, cy, w, h) = (at(0, a), at(1, a), at(2, a), at(3, a));
        let (x0, y0) = geometry.to_source(cx - w / 2.0, cy - h / 2.0);
        let (x1, y1) = geometry.to_source(cx + w / 2.0, cy + h / 2.0);
        candidates.push((class, score, [x0, y0, x1, y1]));
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept: Vec<(usize, f32, [f32; 4])> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| k.0 != c.0 || iou(&k.2, &c.2) < iou_threshold) {
            kept.push(c);
        }
    }
    kept
}

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Geometry {
        Geometry { crop_x: 0.0, crop_y: 0.0, scale_x: 1.0, scale_y: 1.0, pad_x: 0.0, pad_y: 0.0 }
    }

    /// Builds a [4 + classes, anchors] tensor from (cx, cy, w, h, class scores) per anchor.
    fn tensor(anchors: &[([f32; 4], Vec<f32>)]) -> (Vec<f32>, usize, usize) {
        let rows = 4 + anchors[0].1.len();
        let n = anchors.len();
        let mut v = vec![0.0; rows * n];
        for (a, (b, scores)) in anchors.iter().enumerate() {
            for r in 0..4 {
                v[r * n + a] = b[r];
            }
            for (c, s) in scores.iter().enumerate() {
                v[(4 + c) * n + a] = *s;
            }
        }
        (v, rows, n)
    }

    #[test]
    fn overlapping_boxes_of_one_class_are_suppressed_but_other_classes_kept() {
        let (v, rows, n) = tensor(&[
            ([50.0, 50.0, 20.0, 20.0], vec![0.9, 0.0]),
            ([51.0, 50.0, 20.0, 20.0], vec![0.8, 0.0]), // same object, lower score
            ([50.0, 50.0, 20.0, 20.0], vec![0.0, 0.7]), // same place, other class
            ([10.0, 10.0, 4.0, 4.0], vec![0.1, 0.1]),   // below threshold
        ]);
        let d = decode_yolo(&v, rows, n, 0.25, 0.45, &identity());
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].0, d[0].1), (0, 0.9));
        assert_eq!(d[0].2, [40.0, 40.0, 60.0, 60.0]);
        assert_eq!(d[1].0, 1);
    }

    #[test]
    fn boxes_map_back_through_the_letterbox() {
        let (v, rows, n) = tensor(&[([320.0, 320.0, 64.0, 32.0], vec![0.9])]);
        // Source 1280x640 letterboxed into 640x640: scale 0.5, 160 px bands top and bottom.
        let g = Geometry { crop_x: 0.0, crop_y: 0.0, scale_x: 0.5, scale_y: 0.5, pad_x: 0.0, pad_y: 160.0 };
        let d = decode_yolo(&v, rows, n, 0.25, 0.45, &g);
        assert_eq!(d[0].2, [576.0, 288.0, 704.0, 352.0]);
    }

    #[test]
    fn iou_of_disjoint_and_identical_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[0.0, 0.0, 2.0, 2.0]), 1.0);
    }
}
