//! Image classifier (+ embedding) and the label -> waste-category mapping.

use super::manifest::{CategoryMap, ResizeMode};
use super::session::{InferenceError, ModelSession};
use crate::vision;
use crate::waste::WasteCategory;
use image::RgbImage;
use ndarray::ArrayD;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelScore {
    pub index: usize,
    pub label: String,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CategoryScore {
    pub category: WasteCategory,
    pub name_zh: &'static str,
    /// Probability mass of the labels that map to this category.
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemScore {
    /// The item as the rules table names it (塑料瓶 ...).
    pub name: String,
    pub category: WasteCategory,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub top: Vec<LabelScore>,
    /// The winning category, or None when too little of the probability mass
    /// falls on labels that say anything about waste.
    pub category: Option<CategoryScore>,
    /// Mass per category, in `WasteCategory::ALL` order.
    pub category_scores: [f32; 4],
    /// The most likely item (fine class) and its probability mass, when labels map to items.
    pub item: Option<ItemScore>,
    /// Mass per item, in the order of [`ImageClassifier::items`].
    #[serde(skip)]
    pub item_scores: Vec<f32>,
    /// L2-normalised pooled features, when the model exports them.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
}

pub struct ImageClassifier {
    pub session: Arc<ModelSession>,
    labels: Vec<String>,
    categories: Option<CategoryMap>,
    logits: String,
    embedding: Option<String>,
    softmax: bool,
    min_category_confidence: f32,
}

impl ImageClassifier {
    pub fn new(session: Arc<ModelSession>) -> Result<Self, InferenceError> {
        let m = session.manifest.clone();
        let labels = m.file_labels()?.ok_or_else(|| InferenceError::model(&m.name, "classifier manifest has no labels file"))?;
        let categories = m.category_map(&labels, crate::waste::RulesTable::builtin())?;
        let logits = m.outputs["logits"].clone();
        Ok(Self {
            labels,
            categories,
            softmax: logits.activation.as_deref() == Some("softmax"),
            logits: logits.name,
            embedding: m.outputs.get("embedding").map(|o| o.name.clone()),
            min_category_confidence: m.param("min_category_confidence", 0.25) as f32,
            session,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The items (fine classes) the labels map to, with their built-in category.
    pub fn items(&self) -> &[(String, WasteCategory)] {
        self.categories.as_ref().map_or(&[], |m| m.items.as_slice())
    }

    /// The smallest decoded size that loses nothing for this model's resize.
    pub fn min_source_size(&self) -> (u32, u32) {
        let m = &self.session.manifest;
        let (h, w) = m.input.fixed_hw().unwrap_or((0, 0));
        match m.preprocess.resize {
            ResizeMode::CenterCrop { crop_fraction } => {
                let side = (w.min(h) as f32 / crop_fraction.clamp(0.05, 1.0)).ceil() as u32;
                (side, side)
            }
            _ => (w, h),
        }
    }

    /// Decode (shrinking JPEGs in the DCT where it loses nothing) and classify.
    pub fn classify_bytes(&self, bytes: &[u8], top_k: usize) -> Result<Classification, ClassifyError> {
        let (w, h) = self.min_source_size();
        let img = vision::decode_image_at_least(bytes, w, h)?;
        Ok(self.classify(&img, top_k)?)
    }

    pub fn classify(&self, img: &RgbImage, top_k: usize) -> Result<Classification, InferenceError> {
        let tensor = self.prepare(img)?;
        self.classify_tensor(tensor.view(), top_k)
    }

    /// Resize + normalise a picture into this model's input tensor.
    pub fn prepare(&self, img: &RgbImage) -> Result<ndarray::Array4<f32>, InferenceError> {
        Ok(self.session.prepare(img)?.tensor)
    }

    /// Run + map on an already prepared tensor.
    pub fn classify_tensor(&self, tensor: ndarray::ArrayView4<'_, f32>, top_k: usize) -> Result<Classification, InferenceError> {
        let mut names = vec![self.logits.as_str()];
        if let Some(e) = &self.embedding {
            names.push(e);
        }
        let outputs = self.session.run(tensor.into_dyn(), &names)?;
        let scores = self.scores(&outputs[&self.logits])?;
        let embedding = self.embedding.as_ref().map(|e| l2_normalised(outputs[e].iter().copied()));
        Ok(self.interpret(&scores, top_k, embedding))
    }

    fn scores(&self, logits: &ArrayD<f32>) -> Result<Vec<f32>, InferenceError> {
        let values: Vec<f32> = logits.iter().copied().collect();
        if values.len() != self.labels.len() {
            return Err(InferenceError::model(
                self.session.name(),
                format!("model gives {} scores but the labels file has {} labels", values.len(), self.labels.len()),
            ));
        }
        Ok(if self.softmax { softmax(&values) } else { values })
    }

    /// Top-k labels and the category decision from per-label probabilities.
    pub fn interpret(&self, probs: &[f32], top_k: usize, embedding: Option<Vec<f32>>) -> Classification {
        let top = top_k_indices(probs, top_k)
            .into_iter()
            .map(|i| LabelScore { index: i, label: self.labels[i].clone(), score: probs[i] })
            .collect();
        let mut category_scores = [0f32; 4];
        let mut item_scores = vec![0f32; self.items().len()];
        if let Some(map) = &self.categories {
            for ((p, c), item) in probs.iter().zip(&map.by_label).zip(&map.item_by_label) {
                if let Some(c) = c {
                    category_scores[c.index()] += p;
                }
                if let Some(i) = item {
                    item_scores[*i] += p;
                }
            }
        }
        let item = top_k_indices(&item_scores, 1).first().filter(|&&i| item_scores[i] > 0.0).map(|&i| {
            let (name, category) = &self.items()[i];
            ItemScore { name: name.clone(), category: *category, score: item_scores[i] }
        });
        let category = WasteCategory::ALL
            .into_iter()
            .max_by(|a, b| category_scores[a.index()].total_cmp(&category_scores[b.index()]))
            .filter(|c| category_scores[c.index()] >= self.min_category_confidence)
            .map(|c| CategoryScore { category: c, name_zh: c.name_zh(), confidence: category_scores[c.index()] });
        Classification { top, category, category_scores, item, item_scores, embedding }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Decode(#[from] vision::DecodeError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

pub fn softmax(values: &[f32]) -> Vec<f32> {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = values.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

pub fn top_k_indices(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    idx.select_nth_unstable_by(k - 1, |a, b| values[*b].total_cmp(&values[*a]));
    idx.truncate(k);
    idx.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
    idx
}

pub fn l2_normalised(values: impl Iterator<Item = f32>) -> Vec<f32> {
    let v: Vec<f32> = values.collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 { v.into_iter().map(|x| x / norm).collect() } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(p[1] > p[2] && p[2] > p[0]);
        // Large logits do not overflow.
        let big = softmax(&[1000.0, 0.0]);
        assert!(big[0] > 0.999 && big.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn top_k_is_sorted_best_first() {
        assert_eq!(top_k_indices(&[0.1, 0.5, 0.2, 0.9, 0.0], 3), vec![3, 1, 2]);
        assert_eq!(top_k_indices(&[0.1, 0.5], 5), vec![1, 0]);
        assert!(top_k_indices(&[0.3], 0).is_empty());
    }

    #[test]
    fn l2_normalised_has_unit_length() {
        let v = l2_normalised([3.0, 4.0].into_iter());
        assert_eq!(v, vec![0.6, 0.8]);
    }
}
