//! Text models (PP-OCR): the detector's probability map, the line-orientation
//! classifier and the CTC recogniser. Box extraction from the map and label
//! parsing live with the intake task; this is the model contract.

use super::classifier::softmax;
use super::session::{InferenceError, ModelSession};
use crate::vision::preprocess::Geometry;
use image::RgbImage;
use ndarray::Array2;
use std::sync::Arc;

/// Text probability map at the tensor's resolution, with the mapping back to the picture.
pub struct TextProbability {
    pub map: Array2<f32>,
    pub geometry: Geometry,
}

pub struct TextDetector {
    pub session: Arc<ModelSession>,
    output: String,
}

impl TextDetector {
    pub fn new(session: Arc<ModelSession>) -> Result<Self, InferenceError> {
        let output = session.manifest.outputs["probability"].name.clone();
        Ok(Self { session, output })
    }

    pub fn probability(&self, img: &RgbImage) -> Result<TextProbability, InferenceError> {
        self.probability_at(img, None)
    }

    /// As [`Self::probability`], but with the picture's shorter side scaled to
    /// `short_side` (up or down) instead of the manifest's rule: for text whose
    /// size is known to suit a smaller input.
    pub fn probability_at(&self, img: &RgbImage, short_side: Option<u32>) -> Result<TextProbability, InferenceError> {
        let m = &self.session.manifest;
        let prepared = match (short_side, m.preprocess.resize) {
            (Some(side), crate::inference::manifest::ResizeMode::LimitSide { multiple, .. }) => {
                let mut pre = m.preprocess.clone();
                let short = img.width().min(img.height()).max(1);
                let long = img.width().max(img.height());
                // Scale the shorter side to `side`: a lower limit of `side`, and an upper limit on the longer side to match.
                let max_long = (long as f64 * side as f64 / short as f64).round() as u32;
                pre.resize = crate::inference::manifest::ResizeMode::LimitSide { min_short: side, max_long, multiple };
                crate::vision::prepare(img, &pre, &m.input).map_err(|e| InferenceError::model(&m.name, e))?
            }
            _ => self.session.prepare(img)?,
        };
        let out = self.session.run(prepared.tensor.view().into_dyn(), &[&self.output])?.remove(&self.output).unwrap_or_default();
        let shape = out.shape().to_vec();
        let (h, w) = match shape.as_slice() {
            [.., h, w] => (*h, *w),
            _ => return Err(InferenceError::model(&m.name, format!("probability map has shape {shape:?}"))),
        };
        let map = Array2::from_shape_vec((h, w), out.iter().take(h * w).copied().collect())
            .map_err(|e| InferenceError::model(&m.name, e))?;
        Ok(TextProbability { map, geometry: prepared.geometry })
    }
}

/// 0° or 180°, with the classifier's confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineOrientation {
    pub upside_down: bool,
    pub confidence: f32,
}

pub struct TextAngleClassifier {
    pub session: Arc<ModelSession>,
    output: String,
}

impl TextAngleClassifier {
    pub fn new(session: Arc<ModelSession>) -> Result<Self, InferenceError> {
        let output = session.manifest.outputs["logits"].name.clone();
        Ok(Self { session, output })
    }

    pub fn orientation(&self, line: &RgbImage) -> Result<LineOrientation, InferenceError> {
        Ok(self.orientations(&[line])?.remove(0))
    }

    /// One batched run for many lines.
    pub fn orientations(&self, lines: &[&RgbImage]) -> Result<Vec<LineOrientation>, InferenceError> {
        let m = &self.session.manifest;
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let batch = prepare_batch(&self.session, lines)?;
        let out = self.session.run(batch.view().into_dyn(), &[&self.output])?;
        let values: Vec<f32> = out[&self.output].iter().copied().collect();
        if values.len() < 2 * lines.len() {
            return Err(InferenceError::model(&m.name, "angle classifier gave fewer than 2 scores per line"));
        }
        let per_line = values.len() / lines.len();
        Ok(values
            .chunks_exact(per_line)
            .map(|v| {
                // PP-OCR's classifier already ends in softmax; normalise anyway in case a site model does not.
                let sum: f32 = v.iter().sum();
                let probs = if (sum - 1.0).abs() < 1e-3 { v.to_vec() } else { softmax(v) };
                LineOrientation { upside_down: probs[1] > probs[0], confidence: probs[0].max(probs[1]) }
            })
            .collect())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecognisedText {
    pub text: String,
    /// Mean probability of the kept characters.
    pub confidence: f32,
}

pub struct TextRecognizer {
    pub session: Arc<ModelSession>,
    output: String,
    /// Index 0 is the CTC blank.
    alphabet: Vec<String>,
}

impl TextRecognizer {
    /// The dictionary comes from the manifest's labels: a file, or the model's metadata.
    pub fn new(session: Arc<ModelSession>) -> Result<Self, InferenceError> {
        let m = session.manifest.clone();
        let chars = match m.file_labels()? {
            Some(chars) => chars,
            None => {
                let key = m.labels.as_ref().and_then(|l| l.metadata_key.clone()).unwrap_or_else(|| "character".into());
                let text = session
                    .metadata(&key)?
                    .ok_or_else(|| InferenceError::model(&m.name, format!("model has no `{key}` metadata for its dictionary")))?;
                text.lines().map(str::to_string).collect()
            }
        };
        // PP-OCR: blank first, the dictionary, then a space.
        let mut alphabet = Vec::with_capacity(chars.len() + 2);
        alphabet.push(String::new());
        alphabet.extend(chars);
        alphabet.push(" ".into());
        let output = m.outputs["sequence"].name.clone();
        Ok(Self { session, output, alphabet })
    }

    pub fn recognise(&self, line: &RgbImage) -> Result<RecognisedText, InferenceError> {
        Ok(self.recognise_batch(&[line])?.remove(0))
    }

    /// One batched run for many lines; lines of similar width batch best
    /// (each is padded to the widest).
    pub fn recognise_batch(&self, lines: &[&RgbImage]) -> Result<Vec<RecognisedText>, InferenceError> {
        let m = &self.session.manifest;
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let batch = prepare_batch(&self.session, lines)?;
        let alphabet = &self.alphabet;
        let decoded = self.session.run_with(batch.view().into_dyn(), &self.output, |seq| {
            let shape = seq.shape().to_vec();
            let (n, t, c) = match shape.as_slice() {
                [n, t, c] => (*n, *t, *c),
                _ => return Err(format!("sequence output has shape {shape:?}, expected [N, T, C]")),
            };
            if c != alphabet.len() {
                return Err(format!("model has {c} classes but the dictionary gives {} (with blank and space)", alphabet.len()));
            }
            if n != lines.len() {
                return Err(format!("{n} results for {} lines", lines.len()));
            }
            let values = seq.as_slice().map(std::borrow::Cow::Borrowed).unwrap_or_else(|| std::borrow::Cow::Owned(seq.iter().copied().collect()));
            Ok(values.chunks_exact(t * c).map(|one| ctc_greedy_decode(one, c, alphabet)).collect())
        })?;
        decoded.map_err(|e| InferenceError::model(&m.name, e))
    }
}

/// Prepares each line as the manifest says and stacks them into one tensor,
/// padding the narrower ones on the right with zeros (PaddleOCR pads the same way).
fn prepare_batch(session: &ModelSession, lines: &[&RgbImage]) -> Result<ndarray::Array4<f32>, InferenceError> {
    let prepared: Vec<_> = lines.iter().map(|l| session.prepare(l).map(|p| p.tensor)).collect::<Result<_, _>>()?;
    let (c, h) = (prepared[0].shape()[1], prepared[0].shape()[2]);
    let width = prepared.iter().map(|t| t.shape()[3]).max().unwrap_or(1);
    let mut batch = ndarray::Array4::<f32>::zeros((prepared.len(), c, h, width));
    for (i, t) in prepared.iter().enumerate() {
        if t.shape()[1] != c || t.shape()[2] != h {
            return Err(InferenceError::model(session.name(), "lines prepared to different heights cannot share a batch"));
        }
        batch.slice_mut(ndarray::s![i..i + 1, .., .., ..t.shape()[3]]).assign(t);
    }
    Ok(batch)
}

/// Best class per time step; collapse repeats; drop blanks (index 0).
pub fn ctc_greedy_decode(probs: &[f32], classes: usize, alphabet: &[String]) -> RecognisedText {
    let mut text = String::new();
    let mut scores = Vec::new();
    let mut previous = 0usize;
    for step in probs.chunks_exact(classes) {
        let (best, score) = step
            .iter()
            .enumerate()
            .fold((0usize, f32::MIN), |acc, (i, v)| if *v > acc.1 { (i, *v) } else { acc });
        if best != 0 && best != previous {
            if let Some(ch) = alphabet.get(best) {
                text.push_str(ch);
                scores.push(score);
            }
        }
        previous = best;
    }
    let confidence = if scores.is_empty() { 0.0 } else { scores.iter().sum::<f32>() / scores.len() as f32 };
    RecognisedText { text, confidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let alphabet: Vec<String> = ["", "H", "W", "0"].iter().map(|s| s.to_string()).collect();
        // Steps: H H blank W 0 0 blank 0  ->  "HW00"
        let best = [1, 1, 0, 2, 3, 3, 0, 3];
        let mut probs = Vec::new();
        for b in best {
            let mut step = vec![0.01f32; 4];
            step[b] = 0.9;
            probs.extend(step);
        }
        let r = ctc_greedy_decode(&probs, 4, &alphabet);
        assert_eq!(r.text, "HW00");
        assert!((r.confidence - 0.9).abs() < 1e-6);
    }
}
