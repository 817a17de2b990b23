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
        let m = &self.session.manifest;
        let prepared = self.session.prepare(img)?;
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
        let m = &self.session.manifest;
        let prepared = self.session.prepare(line)?;
        let out = self.session.run(prepared.tensor.view().into_dyn(), &[&self.output])?;
        let values: Vec<f32> = out[&self.output].iter().copied().collect();
        if values.len() < 2 {
            return Err(InferenceError::model(&m.name, "angle classifier gave fewer than 2 scores"));
        }
        // PP-OCR's classifier already ends in softmax; normalise anyway in case a site model does not.
        let sum: f32 = values.iter().sum();
        let probs = if (sum - 1.0).abs() < 1e-3 { values } else { softmax(&values) };
        Ok(LineOrientation { upside_down: probs[1] > probs[0], confidence: probs[0].max(probs[1]) })
    }
}

#[derive(Debug, Clone, PartialEq)]
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
        let m = &self.session.manifest;
        let prepared = self.session.prepare(line)?;
        let out = self.session.run(prepared.tensor.view().into_dyn(), &[&self.output])?;
        let seq = &out[&self.output];
        let shape = seq.shape();
        let (t, c) = match shape {
            [_, t, c] => (*t, *c),
            _ => return Err(InferenceError::model(&m.name, format!("sequence output has shape {shape:?}, expected [N, T, C]"))),
        };
        if c != self.alphabet.len() {
            return Err(InferenceError::model(
                &m.name,
                format!("model has {c} classes but the dictionary gives {} (with blank and space)", self.alphabet.len()),
            ));
        }
        let values: Vec<f32> = seq.iter().take(t * c).copied().collect();
        Ok(ctc_greedy_decode(&values, c, &self.alphabet))
    }
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
