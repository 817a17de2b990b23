//! OCR: PP-OCR text detection -> text boxes -> line crops -> angle check ->
//! recognition, as plain Rust around the ONNX models in `inference::text`.

/// A corner of a text box in picture pixels.
pub type Point = [f32; 2];

/// One recognised text line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OcrLine {
    /// Normalised text (full-width forms folded, see `normalize`).
    pub text: String,
    /// Mean character probability, 0..1.
    pub confidence: f32,
    /// Corners in picture pixels: top-left, top-right, bottom-right, bottom-left
    /// in reading direction (a rotated line's "top-left" is where its text starts).
    pub quad: [Point; 4],
}

impl OcrLine {
    /// Axis-aligned bounds: x0, y0, x1, y1.
    pub fn bounds(&self) -> [f32; 4] {
        let xs = self.quad.map(|p| p[0]);
        let ys = self.quad.map(|p| p[1]);
        let min = |v: [f32; 4]| v.iter().copied().fold(f32::INFINITY, f32::min);
        let max = |v: [f32; 4]| v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        [min(xs), min(ys), max(xs), max(ys)]
    }
}

pub mod boxes;
pub mod crop;
pub mod normalize;

use crate::inference::text::{TextAngleClassifier, TextDetector, TextRecognizer};
use crate::inference::{InferenceError, ModelPool};
use boxes::DbParams;
use image::RgbImage;
use std::time::Instant;

/// Lines read below this mean character probability are dropped (RapidOCR's `text_score`).
pub const MIN_LINE_CONFIDENCE: f32 = 0.5;
/// Lines recognised per model run. One: PP-OCRv6's recogniser mixes globally
/// along the line, so on a CPU padding lines to a common width costs more than
/// the runs it saves (30 label lines: 186 ms one by one, 312 ms in eights).
const RECOGNITION_BATCH: usize = 1;
/// Recognition threads at most.
const MAX_WORKERS: usize = 4;
/// Lines that vote on a rigid label's orientation.
const VOTERS: usize = 5;
/// The angle classifier must be this sure before a line is turned over (RapidOCR's `cls_thresh`).
const TURN_CONFIDENCE: f32 = 0.9;

/// Milliseconds spent in each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct OcrTimings {
    pub detect_ms: f64,
    pub classify_ms: f64,
    pub recognise_ms: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OcrOutput {
    pub lines: Vec<OcrLine>,
    pub timings: OcrTimings,
}

/// The three PP-OCR models and the glue between them.
pub struct OcrEngine {
    detector: TextDetector,
    angle: Option<TextAngleClassifier>,
    /// One recogniser per worker thread (see [`OcrEngine::new`]).
    recognizers: Vec<TextRecognizer>,
    params: DbParams,
    uniform_orientation: bool,
    /// Shorter side the detector sees, if set (else the manifest's rule).
    detection_short_side: Option<u32>,
}

impl OcrEngine {
    /// Model names as in `models/`; `angle` None skips the 0°/180° check
    /// (cameras that never see labels upside down).
    ///
    /// Lines are recognised on several threads, each with its own single-threaded
    /// session: a text line is too small for ONNX Runtime to spread over cores
    /// (30 label lines: 259 ms on one thread, 215 ms on two inside each run).
    /// With a GPU provider, or `intra_threads` set in the config, one shared session is used.
    pub fn new(models: &ModelPool, detector: &str, angle: Option<&str>, recognizer: &str) -> Result<Self, InferenceError> {
        let det = models.session(detector)?;
        let mut params = DbParams::default();
        let p = &det.manifest.params;
        let get = |k: &str, default: f32| p.get(k).map(|v| *v as f32).unwrap_or(default);
        params.binary_threshold = get("binary_threshold", params.binary_threshold);
        params.box_threshold = get("box_threshold", params.box_threshold);
        params.unclip_ratio = get("unclip_ratio", params.unclip_ratio);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS);
        let parallel = cores > 1 && models.config.provider == crate::inference::Provider::Cpu && models.config.intra_threads == 0;
        let sessions = if parallel { models.replicas(recognizer, cores, 1)? } else { vec![models.session(recognizer)?] };
        Ok(Self {
            detector: TextDetector::new(det)?,
            angle: angle.map(|a| models.session(a).and_then(TextAngleClassifier::new)).transpose()?,
            recognizers: sessions.into_iter().map(TextRecognizer::new).collect::<Result<_, _>>()?,
            params,
            uniform_orientation: false,
            detection_short_side: None,
        })
    }

    /// Every text line in the picture, in reading order.
    pub fn read(&self, img: &RgbImage) -> Result<OcrOutput, InferenceError> {
        let mut timings = OcrTimings::default();
        let t = Instant::now();
        let probability = self.detector.probability_at(img, self.detection_short_side)?;
        let g = probability.geometry;
        let mut quads: Vec<[Point; 4]> = boxes::text_boxes(&probability.map, &self.params)
            .into_iter()
            .map(|b| {
                b.quad.map(|[x, y]| {
                    let (sx, sy) = g.to_source(x, y);
                    [sx, sy]
                })
            })
            .collect();
        crop::reading_order(&mut quads);
        let mut crops = Vec::with_capacity(quads.len());
        for quad in quads {
            if let Some(c) = crop::crop_quad(img, &quad) {
                crops.push((quad, c));
            }
        }
        timings.detect_ms = ms(t);

        let t = Instant::now();
        if let Some(angle) = &self.angle {
            self.turn_upside_down_lines(angle, &mut crops)?;
        }
        timings.classify_ms = ms(t);

        let t = Instant::now();
        let pictures: Vec<&RgbImage> = crops.iter().map(|(_, c)| c).collect();
        let texts = self.recognise_all(&pictures)?;
        timings.recognise_ms = ms(t);

        let lines = crops
            .into_iter()
            .zip(texts)
            .filter_map(|((quad, _), text)| {
                let normalised = normalize::normalize(&text.text);
                (text.confidence >= MIN_LINE_CONFIDENCE && !normalised.is_empty())
                    .then_some(OcrLine { text: normalised, confidence: text.confidence, quad })
            })
            .collect();
        Ok(OcrOutput { lines, timings })
    }
}

impl OcrEngine {
    /// Recognises every line, spread over the recognisers' threads (longest
    /// lines first, each to the least loaded thread), in the given order.
    fn recognise_all(&self, lines: &[&RgbImage]) -> Result<Vec<crate::inference::text::RecognisedText>, InferenceError> {
        let workers = self.recognizers.len().min(lines.len()).max(1);
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(lines[i].width() * 48 / lines[i].height().max(1)));
        let mut shares: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); workers];
        for i in order {
            let least = shares.iter_mut().min_by_key(|s| s.0).expect("at least one worker");
            least.0 += u64::from(lines[i].width() * 48 / lines[i].height().max(1)).max(64);
            least.1.push(i);
        }
        let mut texts = vec![None; lines.len()];
        let results: Vec<Result<Vec<(usize, crate::inference::text::RecognisedText)>, InferenceError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .iter()
                .zip(&self.recognizers)
                .map(|((_, mine), recognizer)| {
                    scope.spawn(move || {
                        mine.chunks(RECOGNITION_BATCH)
                            .map(|chunk| {
                                let pictures: Vec<&RgbImage> = chunk.iter().map(|&i| lines[i]).collect();
                                Ok(chunk.iter().copied().zip(recognizer.recognise_batch(&pictures)?).collect::<Vec<_>>())
                            })
                            .collect::<Result<Vec<_>, InferenceError>>()
                            .map(|v| v.into_iter().flatten().collect())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(InferenceError::model("ocr", "a recognition thread panicked"))))
                .collect()
        });
        for r in results {
            for (i, text) in r? {
                texts[i] = Some(text);
            }
        }
        Ok(texts.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Lines the angle classifier is sure are upside down are turned over. With
    /// `uniform_orientation` (one rigid label) the widest lines vote for all.
    fn turn_upside_down_lines(&self, angle: &TextAngleClassifier, crops: &mut [([Point; 4], RgbImage)]) -> Result<(), InferenceError> {
        let turn = |(quad, crop): &mut ([Point; 4], RgbImage)| {
            image::imageops::rotate180_in_place(crop);
            // The text now starts at the other end of the box.
            quad.rotate_left(2);
        };
        if self.uniform_orientation {
            let mut widest: Vec<usize> = (0..crops.len()).collect();
            widest.sort_by_key(|&i| std::cmp::Reverse(crops[i].1.width()));
            widest.truncate(VOTERS);
            let voters: Vec<&RgbImage> = widest.iter().map(|&i| &crops[i].1).collect();
            let votes = angle.orientations(&voters)?;
            let upside_down = votes.iter().filter(|o| o.upside_down && o.confidence >= TURN_CONFIDENCE).count();
            if upside_down * 2 > votes.len() {
                crops.iter_mut().for_each(turn);
            }
            return Ok(());
        }
        for start in (0..crops.len()).step_by(RECOGNITION_BATCH) {
            let end = (start + RECOGNITION_BATCH).min(crops.len());
            let pictures: Vec<&RgbImage> = crops[start..end].iter().map(|(_, c)| c).collect();
            for (i, o) in angle.orientations(&pictures)?.into_iter().enumerate() {
                if o.upside_down && o.confidence >= TURN_CONFIDENCE {
                    turn(&mut crops[start + i]);
                }
            }
        }
        Ok(())
    }

    /// Detect text on a copy whose shorter side is at most `side` pixels (the
    /// recogniser still reads full-resolution crops). For pictures whose text is
    /// known to be large, such as a label filling a crop.
    pub fn with_detection_short_side(mut self, side: Option<u32>) -> Self {
        self.detection_short_side = side;
        self
    }

    /// All text in the pictures this engine reads shares one orientation (a
    /// label): the angle classifier then runs on a few lines, not all.
    pub fn with_uniform_orientation(mut self, uniform: bool) -> Self {
        self.uniform_orientation = uniform;
        self
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
