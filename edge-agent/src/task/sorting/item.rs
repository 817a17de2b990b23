//! What an item is: its crop is cut out with the U²-Net-p mask, classified
//! (ImageNet labels -> item through the manifest, item -> category through the
//! rules table) and embedded; the nearest enrolled site examples are weighed
//! in. Enrollment uses the very same cut-out, so both sides compare alike.

use crate::enroll::knn::{EnrolledIndex, FusionSettings, Fused, Neighbour, fuse};
use crate::enroll::{EmbeddingModel, Enrollment, NewExample};
use crate::inference::classifier::LabelScore;
use crate::inference::segmenter::SalientSegmenter;
use crate::inference::{ImageClassifier, InferenceError};
use crate::waste::{RulesTable, WasteCategory};
use image::RgbImage;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Grey the cut-out item is laid on: the backdrop says nothing about the item.
const BACKDROP: [u8; 3] = [128, 128, 128];
/// How often a running agent looks for examples enrolled by someone else.
const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// One frame's look at an item.
#[derive(Debug, Clone)]
pub struct Look {
    pub fused: Fused,
    /// The generic item and category scores before enrolled examples were weighed in.
    pub generic_item: Option<(String, WasteCategory, f32)>,
    pub top: Vec<LabelScore>,
    pub embedding: Vec<f32>,
    pub cutout_ms: f64,
    pub classify_ms: f64,
}

pub struct ItemClassifier {
    classifier: ImageClassifier,
    segmenter: Option<SalientSegmenter>,
    pub rules: Arc<RulesTable>,
    pub fusion: FusionSettings,
    pub model: EmbeddingModel,
    store: Mutex<Option<(Enrollment, Instant)>>,
    index: RwLock<Arc<EnrolledIndex>>,
}

impl ItemClassifier {
    /// `state_dir` holds the enrollment store; None = no enrolled examples (generic mapping only).
    pub fn new(
        classifier: ImageClassifier,
        segmenter: Option<SalientSegmenter>,
        rules: Arc<RulesTable>,
        fusion: FusionSettings,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let m = &classifier.session.manifest;
        if !m.outputs.contains_key("embedding") {
            return Err(format!("model `{}` exports no `embedding` output; the sorting task needs one for enrolled examples", m.name));
        }
        let model = EmbeddingModel { name: m.name.clone(), sha256: m.sha256.clone() };
        let store = state_dir.map(Enrollment::open).transpose().map_err(|e| e.to_string())?;
        let index = store.as_ref().map(|s| Self::index_of(s, &model)).unwrap_or_default();
        Ok(Self {
            classifier,
            segmenter,
            rules,
            fusion,
            model,
            store: Mutex::new(store.map(|s| (s, Instant::now()))),
            index: RwLock::new(Arc::new(index)),
        })
    }

    fn index_of(store: &Enrollment, model: &EmbeddingModel) -> EnrolledIndex {
        if crate::enroll::same_model(store.model(), model) {
            EnrolledIndex::new(store)
        } else {
            tracing::error!(
                enrolled_with = ?store.model(),
                model = ?model,
                "the enrolled examples were made with another model and are ignored: run `edge-agent enroll rebuild`"
            );
            EnrolledIndex::from_examples(&[], store.version())
        }
    }

    /// The enrolled examples now in use (re-read when the store changed on disk).
    pub fn enrolled(&self) -> Arc<EnrolledIndex> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, checked)) = store.as_mut() {
            if checked.elapsed() >= REFRESH_EVERY {
                *checked = Instant::now();
                match s.refresh() {
                    Ok(true) => {
                        let index = Self::index_of(s, &self.model);
                        tracing::info!(version = index.version, examples = index.len(), "enrolled examples reloaded");
                        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(index);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "cannot re-read the enrolled examples; the previous ones stay in use"),
                }
            }
        }
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The item without its surroundings, on a neutral grey, cropped to the mask.
    pub fn cut_out(&self, crop: &RgbImage) -> Result<RgbImage, InferenceError> {
        let Some(segmenter) = &self.segmenter else { return Ok(crop.clone()) };
        let mask = segmenter.mask(crop)?;
        let (w, h) = crop.dimensions();
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for (x, y, p) in mask.enumerate_pixels() {
            if p[0] >= 128 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
        // Nothing salient: keep the whole crop rather than invent an item.
        if x1 < x0 || (x1 - x0 + 1) * (y1 - y0 + 1) < (w * h) / 100 {
            return Ok(crop.clone());
        }
        let pad = ((x1 - x0).max(y1 - y0) / 12).max(2);
        let (x0, y0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
        let (x1, y1) = ((x1 + pad).min(w - 1), (y1 + pad).min(h - 1));
        Ok(RgbImage::from_fn(x1 - x0 + 1, y1 - y0 + 1, |x, y| {
            let (sx, sy) = (x + x0, y + y0);
            let a = f32::from(mask.get_pixel(sx, sy)[0]) / 255.0;
            let p = crop.get_pixel(sx, sy).0;
            image::Rgb(std::array::from_fn(|c| (a * f32::from(p[c]) + (1.0 - a) * f32::from(BACKDROP[c])).round() as u8))
        }))
    }

    /// One look: cut out, classify, embed, weigh in the enrolled examples.
    pub fn look(&self, crop: &RgbImage) -> Result<Look, InferenceError> {
        self.look_skipping(crop, &|_| false)
    }

    /// [`look`](Self::look) ignoring some enrolled examples (leave-one-out benchmarks).
    pub fn look_skipping(&self, crop: &RgbImage, skip: &dyn Fn(&str) -> bool) -> Result<Look, InferenceError> {
        let t0 = Instant::now();
        let item = self.cut_out(crop)?;
        let t1 = Instant::now();
        let c = self.classifier.classify(&item, 5)?;
        let classify_ms = t1.elapsed().as_secs_f64() * 1000.0;
        let embedding = c.embedding.clone().unwrap_or_default();
        // Categories through this task's rules table (a site may override the built-in one).
        let mut generic = [0f32; 4];
        let mut best: Option<(usize, f32)> = None;
        for (i, (&score, (name, builtin))) in c.item_scores.iter().zip(self.classifier.items()).enumerate() {
            let category = self.rules.category_of(name).unwrap_or(*builtin);
            generic[category.index()] += score;
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
        let generic_item = best.filter(|(_, s)| *s > 0.0).map(|(i, s)| {
            let (name, builtin) = &self.classifier.items()[i];
            (name.clone(), self.rules.category_of(name).unwrap_or(*builtin), s)
        });
        let neighbours: Vec<Neighbour> = self.enrolled().nearest(&embedding, self.fusion.k, skip);
        let fused = fuse(generic, generic_item.as_ref().map(|(n, c, _)| (n.as_str(), *c)), &neighbours, &self.fusion);
        Ok(Look { fused, generic_item, top: c.top, embedding, cutout_ms: (t1 - t0).as_secs_f64() * 1000.0, classify_ms })
    }

    /// The embedding of a picture of an item, as enrollment stores it.
    pub fn embed(&self, picture: &RgbImage) -> Result<Vec<f32>, InferenceError> {
        self.embed_cut_out(&self.cut_out(picture)?)
    }

    /// The embedding of an item already cut out with [`cut_out`](Self::cut_out).
    pub fn embed_cut_out(&self, item: &RgbImage) -> Result<Vec<f32>, InferenceError> {
        Ok(self.classifier.classify(item, 1)?.embedding.unwrap_or_default())
    }

    /// Adds an example to this box's store (feedback from a manager, say).
    pub fn enroll(&self, example: NewExample) -> Result<crate::enroll::Example, String> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let Some((s, _)) = store.as_mut() else { return Err("this task keeps no enrolled examples".into()) };
        let added = s.add(example, &self.model).map_err(|e| e.to_string())?;
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Self::index_of(s, &self.model));
        Ok(added)
    }
}
