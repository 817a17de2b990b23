//! The sorting station: per calibrated bin zone, an item entering or landing
//! is found by change against a background model, looked at on a few frames
//! while visible (cut out with U²-Net-p, classified, weighed against the
//! site's enrolled examples), decided once by agreement over those frames,
//! and judged against the bin's category. A wrong item prompts the attendant
//! (the station display, at once) and becomes a `sorting` event for the
//! platform; every decided item is counted for the heartbeat.
//!
//! Parts: `background` (what changed where), `item` (what it is), `decide`
//! (one decision per item, the verdict, the cooldown), `tally` (per-bin
//! counts), `feedback` (a manager's verdict becomes an enrolled example).

pub mod background;
pub mod decide;
pub mod feedback;
pub mod item;
pub mod tally;

use super::{Task, TaskError, TaskResult};
use crate::calibration::{Calibration, ZoneKind};
use crate::enroll::knn::FusionSettings;
use crate::event::{EventDraft, Priority, evidence};
use crate::vision::Frame;
use crate::waste::{RuleItem, WasteCategory};
use crate::web::station::{PromptBin, PromptItem, StationHub, StationPrompt};
use background::{BackgroundModel, ChangeSettings};
use decide::{Cooldown, Decision, DecisionSettings, Verdict, Vote};
use item::{ItemClassifier, Look};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tally::SortingTallies;

/// Frames without the item before it counts as gone (one missed frame is noise).
const GONE_AFTER_FRAMES: u32 = 2;
/// Item pictures kept on the box for feedback; the oldest go first.
pub const MAX_ITEM_PICTURES: usize = 5_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortingTaskConfig {
    /// Image classifier with an `embedding` output (labels -> items via its manifest).
    #[serde(default = "default_classifier")]
    pub classifier: String,
    /// Salient-object segmenter that cuts the item out of its crop; "" to use the crop as is.
    #[serde(default = "default_segmenter")]
    pub segmenter: String,
    /// A site rules file laid over the built-in Beijing table.
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// Agreement over frames and the confidence of a prompt / an "unsure" hint.
    #[serde(default)]
    pub decision: DecisionSettings,
    /// No second prompt for the same bin and kind of item within this long.
    #[serde(default = "default_cooldown", with = "humantime_serde")]
    pub cooldown: Duration,
    /// The station display clears a prompt after this long.
    #[serde(default = "default_clear_after", with = "humantime_serde")]
    pub clear_after: Duration,
    /// How enrolled examples are weighed against the generic mapping.
    #[serde(default)]
    pub fusion: FusionSettings,
    /// Change detection: analysis width, thresholds, smallest item (share of the zone).
    #[serde(default = "default_analysis_width")]
    pub analysis_width: u32,
    #[serde(default = "default_min_item_area")]
    pub min_item_area: f32,
    /// Attach the frame (item outlined) to each event.
    #[serde(default = "yes")]
    pub evidence: bool,
}

fn default_classifier() -> String {
    "efficientnet-lite0".into()
}
fn default_segmenter() -> String {
    "u2netp".into()
}
fn default_cooldown() -> Duration {
    Duration::from_secs(10)
}
fn default_clear_after() -> Duration {
    Duration::from_secs(8)
}
fn default_analysis_width() -> u32 {
    320
}
fn default_min_item_area() -> f32 {
    0.03
}
fn yes() -> bool {
    true
}

impl SortingTaskConfig {
    /// Out-of-range settings, as (key, what is wrong and what would do).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let d = &self.decision;
        let mut out = Vec::new();
        if !(1..=10).contains(&d.min_agreeing_frames) {
            out.push(("decision.min_agreeing_frames", format!("{} is out of range: use 1-10 (2 is usual)", d.min_agreeing_frames)));
        }
        if d.max_looks < d.min_agreeing_frames || d.max_looks > 30 {
            out.push(("decision.max_looks", format!("{} must be at least min_agreeing_frames and at most 30", d.max_looks)));
        }
        if !(0.0..=1.0).contains(&d.unsure_confidence) || !(d.unsure_confidence..=1.0).contains(&d.prompt_confidence) {
            out.push(("decision", "need 0 <= unsure_confidence <= prompt_confidence <= 1".to_string()));
        }
        let f = &self.fusion;
        if !(f.far < f.near && (-1.0..=1.0).contains(&f.far) && f.near <= 1.0) || f.k == 0 {
            out.push(("fusion", format!("need k >= 1 and -1 <= far < near <= 1 (cosine similarities), got k = {}, far = {}, near = {}", f.k, f.far, f.near)));
        }
        if !(64..=1920).contains(&self.analysis_width) {
            out.push(("analysis_width", format!("{} is out of range: use 64-1920 (320 is usual)", self.analysis_width)));
        }
        if !(0.001..=0.9).contains(&self.min_item_area) {
            out.push(("min_item_area", format!("{} is out of range: a share of the bin zone, 0.001-0.9", self.min_item_area)));
        }
        out
    }
}

impl Default for SortingTaskConfig {
    fn default() -> Self {
        toml::from_str("").expect("every sorting key has a default")
    }
}

/// What the task needs from the agent around it.
pub struct SortingContext {
    pub classifier: Arc<ItemClassifier>,
    /// Bin zones per camera, from the calibrations.
    pub cameras: Vec<(String, Arc<Calibration>)>,
    /// Where item pictures are kept for the display and for feedback.
    pub items_dir: Option<PathBuf>,
    pub display: Option<Arc<StationHub>>,
    pub tallies: Arc<SortingTallies>,
}

#[derive(Debug, Clone)]
struct Bin {
    zone: String,
    category: WasteCategory,
    polygon: Vec<[f64; 2]>,
}

enum Phase {
    Empty,
    Watching,
    Decided,
}

struct SeenLook {
    look: Look,
    crop: image::RgbImage,
    bbox: [u32; 4],
}

struct ZoneState {
    bin: Bin,
    phase: Phase,
    looks: Vec<SeenLook>,
    missing: u32,
    landed: Option<(u64, SystemTime)>,
}

struct CameraState {
    background: Option<BackgroundModel>,
    zones: Vec<ZoneState>,
    cooldown: Cooldown,
}

/// One decided item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemOutcome {
    pub id: uuid::Uuid,
    pub zone: String,
    pub bin: WasteCategory,
    pub decision: Decision,
    pub verdict: Verdict,
    /// A prompt the cooldown held back (counted, not told).
    pub suppressed: bool,
    pub bbox: [u32; 4],
    pub landed_frame_seq: u64,
    #[serde(skip)]
    pub landed_at: SystemTime,
    pub decided_frame_seq: u64,
    pub enrolled_weight: f32,
    pub nearest: Option<crate::enroll::knn::Neighbour>,
    pub generic_item: Option<(String, WasteCategory, f32)>,
    pub top_labels: Vec<(String, f32)>,
    #[serde(skip)]
    pub crop: Option<Arc<image::RgbImage>>,
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SortingResult {
    /// Zones with an item in view now.
    pub watching: Vec<String>,
    pub decided: Vec<ItemOutcome>,
    pub looks: usize,
    pub look_ms: f64,
}

pub struct SortingTask {
    id: String,
    config: SortingTaskConfig,
    classifier: Arc<ItemClassifier>,
    bins: HashMap<String, Vec<Bin>>,
    cameras: Mutex<HashMap<String, CameraState>>,
    items_dir: Option<PathBuf>,
    display: Option<Arc<StationHub>>,
    tallies: Arc<SortingTallies>,
    saved: std::sync::atomic::AtomicUsize,
}

impl SortingTask {
    pub fn new(id: &str, config: &SortingTaskConfig, ctx: SortingContext) -> Result<Self, String> {
        let mut bins = HashMap::new();
        for (camera, cal) in &ctx.cameras {
            let camera_bins: Vec<Bin> = cal
                .file
                .zones
                .iter()
                .filter(|z| z.kind == ZoneKind::Bin)
                .filter_map(|z| z.category.map(|category| Bin { zone: z.name.clone(), category, polygon: z.polygon.clone() }))
                .collect();
            if camera_bins.is_empty() {
                return Err(format!(
                    "task `{id}`: camera `{camera}`'s calibration {} has no bin zones; add `[[zone]]` entries with kind = \"bin\" and a category",
                    cal.path.display()
                ));
            }
            bins.insert(camera.clone(), camera_bins);
        }
        if let Some(dir) = &ctx.items_dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
        }
        Ok(Self {
            id: id.to_string(),
            config: config.clone(),
            classifier: ctx.classifier,
            bins,
            cameras: Mutex::new(HashMap::new()),
            items_dir: ctx.items_dir,
            display: ctx.display,
            tallies: ctx.tallies,
            saved: Default::default(),
        })
    }

    fn change_settings(&self) -> ChangeSettings {
        ChangeSettings { analysis_width: self.config.analysis_width, min_area: self.config.min_item_area, ..Default::default() }
    }

    /// Looks at the item in `bbox`: crop (with a margin), cut out, classify.
    fn look_at(&self, frame: &image::RgbImage, bbox: [u32; 4]) -> Result<SeenLook, TaskError> {
        let (fw, fh) = frame.dimensions();
        let [x, y, w, h] = bbox;
        let margin = (w.max(h) / 5).max(8);
        let (x0, y0) = (x.saturating_sub(margin), y.saturating_sub(margin));
        let (x1, y1) = ((x + w + margin).min(fw), (y + h + margin).min(fh));
        let crop = image::imageops::crop_imm(frame, x0, y0, (x1 - x0).max(1), (y1 - y0).max(1)).to_image();
        let look = self.classifier.look(&crop)?;
        Ok(SeenLook { look, crop, bbox })
    }

    fn outcome(&self, camera: &str, zone: &mut ZoneState, decision: Decision, seq: u64, cooldown: &mut Cooldown) -> ItemOutcome {
        let s = &self.config.decision;
        let verdict = decide::judge(&decision, zone.bin.category, s);
        let (landed_frame_seq, landed_at) = zone.landed.unwrap_or((seq, SystemTime::now()));
        let at_ms = crate::event::unix_millis(landed_at);
        let suppressed = matches!(verdict, Verdict::Misclassification | Verdict::Unsure)
            && !cooldown.allow(&zone.bin.zone, decision.category, at_ms, self.config.cooldown.as_millis() as u64);
        self.tallies.count(camera, &zone.bin.zone, zone.bin.category, verdict, suppressed, at_ms);
        let best = zone.looks.get(decision.best_look).or(zone.looks.last());
        ItemOutcome {
            id: uuid::Uuid::now_v7(),
            zone: zone.bin.zone.clone(),
            bin: zone.bin.category,
            verdict,
            suppressed,
            bbox: best.map_or([0; 4], |b| b.bbox),
            landed_frame_seq,
            landed_at,
            decided_frame_seq: seq,
            enrolled_weight: best.map_or(0.0, |b| b.look.fused.enrolled_weight),
            nearest: best.and_then(|b| b.look.fused.nearest.clone()),
            generic_item: best.and_then(|b| b.look.generic_item.clone()),
            top_labels: best.map(|b| b.look.top.iter().take(3).map(|l| (l.label.clone(), l.score)).collect()).unwrap_or_default(),
            crop: best.map(|b| Arc::new(b.crop.clone())),
            embedding: best.map(|b| b.look.embedding.clone()).unwrap_or_default(),
            decision,
        }
    }

    fn bin_of(&self, camera: &str, category: WasteCategory) -> PromptBin {
        let zone = self.bins.get(camera).and_then(|b| b.iter().find(|b| b.category == category)).map(|b| b.zone.clone()).unwrap_or_default();
        PromptBin::of(&zone, category)
    }

    /// Keeps the item's picture and what was decided, for the display and for feedback.
    fn keep_item(&self, camera: &str, o: &ItemOutcome, rules_version: &str, enrollment_version: u64) {
        let (Some(dir), Some(crop)) = (&self.items_dir, &o.crop) else { return };
        let keep = || -> Result<(), String> {
            let jpeg = evidence::encode_jpeg(crop).map_err(|e| e.to_string())?;
            crate::fsutil::write_atomic(&dir.join(format!("{}.jpg", o.id)), &jpeg).map_err(|e| e.to_string())?;
            let record = feedback::ItemRecord {
                event_id: o.id.to_string(),
                camera: camera.to_string(),
                zone: o.zone.clone(),
                bin: o.bin,
                category: o.decision.category,
                item: o.decision.item.clone(),
                confidence: o.decision.confidence,
                model: self.classifier.model.clone(),
                rules_version: rules_version.to_string(),
                enrollment_version,
                embedding: crate::enroll::embedding_b64::encode(&o.embedding),
                feedback: None,
            };
            crate::fsutil::write_atomic(&dir.join(format!("{}.json", o.id)), &serde_json::to_vec(&record).unwrap_or_default()).map_err(|e| e.to_string())
        };
        if let Err(e) = keep() {
            tracing::warn!(camera, event_id = %o.id, error = %e, "the item's picture is not kept: feedback on this event cannot enroll it");
        }
        if self.saved.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 200 == 199 {
            feedback::prune(dir, MAX_ITEM_PICTURES);
        }
    }
}

impl Task for SortingTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn process(&self, frame: &Frame) -> Result<TaskResult, TaskError> {
        let camera = frame.camera.to_string();
        let Some(bins) = self.bins.get(&camera) else {
            return Err(TaskError::Input(format!("camera `{camera}` has no calibration with bin zones for task `{}`", self.id)));
        };
        let mut cameras = self.cameras.lock().unwrap_or_else(|e| e.into_inner());
        let state = cameras.entry(camera.clone()).or_insert_with(|| CameraState {
            background: None,
            zones: bins.iter().map(|b| ZoneState { bin: b.clone(), phase: Phase::Empty, looks: vec![], missing: 0, landed: None }).collect(),
            cooldown: Cooldown::default(),
        });
        let mut result = SortingResult { watching: vec![], decided: vec![], looks: 0, look_ms: 0.0 };
        let Some(background) = state.background.as_mut() else {
            let polygons: Vec<_> = bins.iter().map(|b| b.polygon.clone()).collect();
            state.background = Some(BackgroundModel::new(&frame.image, &polygons, self.change_settings()).map_err(TaskError::Input)?);
            return Ok(TaskResult::Sorting(result));
        };
        let changes = background.update(&frame.image).map_err(TaskError::Input)?;
        let started = std::time::Instant::now();
        for (zone, change) in state.zones.iter_mut().zip(changes) {
            let mut finished = false;
            match (&zone.phase, change.item) {
                (Phase::Empty, Some(_)) => {
                    zone.phase = Phase::Watching;
                    zone.looks.clear();
                    zone.missing = 0;
                    zone.landed = Some((frame.seq, frame.captured_at));
                }
                (Phase::Watching | Phase::Decided, Some(_)) => zone.missing = 0,
                (Phase::Watching | Phase::Decided, None) => {
                    zone.missing += 1;
                    if zone.missing >= GONE_AFTER_FRAMES {
                        finished = matches!(zone.phase, Phase::Watching);
                        if !finished {
                            zone.phase = Phase::Empty;
                        }
                    }
                }
                (Phase::Empty, None) => {}
            }
            if let (Phase::Watching, Some(bbox), false) = (&zone.phase, change.item, finished) {
                result.watching.push(zone.bin.zone.clone());
                if zone.looks.len() < self.config.decision.max_looks {
                    zone.looks.push(self.look_at(&frame.image, bbox)?);
                    result.looks += 1;
                }
            }
            if matches!(zone.phase, Phase::Watching) {
                let votes: Vec<Vote> =
                    zone.looks.iter().map(|l| Vote { scores: l.look.fused.scores, item: l.look.fused.item.clone() }).collect();
                if let Some(d) = decide::decide(&votes, &self.config.decision, finished) {
                    let outcome = self.outcome(&camera, zone, d, frame.seq, &mut state.cooldown);
                    result.decided.push(outcome);
                    zone.phase = if finished { Phase::Empty } else { Phase::Decided };
                    zone.looks.clear();
                } else if finished {
                    zone.phase = Phase::Empty;
                    zone.looks.clear();
                }
            }
        }
        result.look_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(TaskResult::Sorting(result))
    }

    fn events(&self, frame: &Frame, result: &TaskResult) -> Vec<EventDraft> {
        let TaskResult::Sorting(r) = result else { return vec![] };
        let rules = &self.classifier.rules;
        let enrolled = self.classifier.enrolled();
        let mut drafts = Vec::new();
        for o in &r.decided {
            let told = matches!(o.verdict, Verdict::Misclassification | Verdict::Unsure) && !o.suppressed;
            if !told {
                continue;
            }
            let category = o.decision.category;
            let item_name = o.decision.item.clone().unwrap_or_else(|| category.name_zh().to_string());
            let rule: Option<&RuleItem> = rules.lookup(&item_name);
            let hint = rule.and_then(|r| r.why.clone());
            let expected = self.bin_of(&frame.camera, category);
            let into = PromptBin::of(&o.zone, o.bin);
            let item = PromptItem { label_zh: item_name.clone(), category: category.code().into(), category_zh: category.name_zh().into(), confidence: o.decision.confidence };
            let verdict = match o.verdict {
                Verdict::Misclassification => "misclassification",
                _ => "unsure",
            };
            let (headline_zh, message_zh) = crate::web::station::wording_zh(verdict, &item, &expected);
            self.keep_item(&frame.camera, o, &rules.version, enrolled.version);
            // The attendant first: the display gets it before the outbox does.
            if let Some(display) = &self.display {
                display.publish(StationPrompt {
                    id: o.id.to_string(),
                    camera: frame.camera.to_string(),
                    verdict: verdict.into(),
                    item,
                    bin: into.clone(),
                    expected_bin: expected.clone(),
                    headline_zh: headline_zh.clone(),
                    message_zh: message_zh.clone(),
                    hint_zh: hint.clone(),
                    picture: self.items_dir.as_ref().map(|_| format!("/station/items/{}.jpg", o.id)),
                    captured_at_ms: crate::event::unix_millis(o.landed_at),
                    clear_after_ms: self.config.clear_after.as_millis() as u64,
                });
            }
            let evidence = if self.config.evidence {
                let [x, y, w, h] = o.bbox;
                let outline = evidence::Outline { x: x as f32, y: y as f32, width: w as f32, height: h as f32, rgb: [230, 40, 40] };
                evidence::render(&frame.image, &[outline])
                    .inspect_err(|e| tracing::warn!(camera = %frame.camera, error = %e, "event sent without its picture"))
                    .ok()
            } else {
                None
            };
            let [x, y, w, h] = o.bbox;
            drafts.push(EventDraft {
                id: Some(o.id),
                kind: "sorting".into(),
                priority: if o.verdict == Verdict::Misclassification { Priority::Alert } else { Priority::Normal },
                camera: frame.camera.to_string(),
                task: self.id.clone(),
                captured_at: o.landed_at,
                verdict: verdict.into(),
                confidence: o.decision.confidence,
                message_zh: Some(message_zh),
                details: serde_json::json!({
                    "event": format!("sorting.{verdict}"),
                    "item": {
                        "label": item_name,
                        "category": category.code(),
                        "category_zh": category.name_zh(),
                        "confidence": o.decision.confidence,
                        "decided_by": if o.enrolled_weight >= 0.5 { "enrolled" } else { "generic" },
                        "enrolled_weight": o.enrolled_weight,
                        "nearest_example": o.nearest.as_ref().map(|n| serde_json::json!({"id": n.id, "label": n.label, "category": n.category.code(), "similarity": n.similarity})),
                        "generic": o.generic_item.as_ref().map(|(n, c, s)| serde_json::json!({"item": n, "category": c.code(), "score": s})),
                        "imagenet_top": o.top_labels.iter().map(|(l, s)| serde_json::json!({"label": l, "score": s})).collect::<Vec<_>>(),
                    },
                    "bin": {"zone": o.zone, "category": o.bin.code(), "colour": o.bin.bin_colour()},
                    "expected_bin": {"zone": if expected.zone.is_empty() { None } else { Some(expected.zone.clone()) }, "category": category.code(), "colour": category.bin_colour()},
                    "rule": rule.filter(|r| r.why.is_some() || r.mistaken_for.is_some()).map(|r| serde_json::json!({"item": r.name, "mistaken_for": r.mistaken_for.map(|c| c.code()), "why": r.why})),
                    "box": {"x": x, "y": y, "width": w, "height": h},
                    "frames": {
                        "looks": o.decision.looks,
                        "agreeing": o.decision.agreeing,
                        "landed_frame_seq": o.landed_frame_seq,
                        "decided_frame_seq": o.decided_frame_seq,
                        "decided_at": crate::event::rfc3339_millis(frame.captured_at),
                    },
                    "rules_version": rules.version,
                    "enrollment": {"version": enrolled.version, "examples": enrolled.len()},
                }),
                evidence,
            });
        }
        drafts
    }

    fn reset_camera(&self, camera: &str) {
        self.cameras.lock().unwrap_or_else(|e| e.into_inner()).remove(camera);
    }
}
