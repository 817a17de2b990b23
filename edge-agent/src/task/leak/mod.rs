//! Leaks and spills on pod floors and spill trays (GB 18597-2023: leaking
//! containers are replaced; liquid areas need containment). No spill model
//! exists, and a pod is a fixed, known scene, so this is calibration plus
//! change detection: [`detector`] finds liquid-like regions against the
//! clean reference, [`tracker`] gives them a life (suspected, growing,
//! cleared), and this module turns that into events with evidence.

pub mod detector;
pub mod tracker;

use super::{Task, TaskError, TaskResult};
use crate::calibration::Calibration;
use crate::event::{EventDraft, Priority, evidence};
use crate::vision::Frame;
use detector::{DetectorSettings, LeakDetector, Observation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracker::{LeakState, LeakTracker, LeakUpdate, TrackerSettings};

/// `[[tasks]] kind = "leak"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakTaskConfig {
    /// How long a new dark / tinted / glossy region must stay before it counts.
    #[serde(default = "default_persist", with = "humantime_serde")]
    pub persist: Duration,
    /// The same for a region that appeared while something moved there (a
    /// person, a trolley); such a region must then also spread to be a leak.
    #[serde(default = "default_persist_after_motion", with = "humantime_serde")]
    pub persist_after_motion: Duration,
    /// Lasting changes that are not spills (a container moved) join the reference after this.
    #[serde(default = "default_absorb_after", with = "humantime_serde")]
    pub absorb_after: Duration,
    /// Smallest spill reported, in cm².
    #[serde(default = "default_min_area")]
    pub min_area_cm2: f64,
    /// A leak not seen for this long is cleared.
    #[serde(default = "default_clear_after", with = "humantime_serde")]
    pub clear_after: Duration,
    /// `leak` `growing` updates need the area up by this share (0.3 = 30 %).
    #[serde(default = "default_growth_step")]
    pub growth_step: f64,
    /// Width the frame is analysed at (1080p is analysed at 480x270).
    #[serde(default = "default_analysis_width")]
    pub analysis_width: u32,
    /// Darkening beyond the lighting that makes a candidate, in log-luminance (0.15 ≈ 14 % darker).
    #[serde(default = "default_darkening")]
    pub darkening: f32,
    /// Attach the frame with the spill outlined.
    #[serde(default = "default_true")]
    pub evidence: bool,
}

fn default_persist() -> Duration {
    Duration::from_secs(4)
}
fn default_persist_after_motion() -> Duration {
    Duration::from_secs(20)
}
fn default_absorb_after() -> Duration {
    Duration::from_secs(180)
}
fn default_min_area() -> f64 {
    30.0
}
fn default_clear_after() -> Duration {
    Duration::from_secs(20)
}
fn default_growth_step() -> f64 {
    0.3
}
fn default_analysis_width() -> u32 {
    480
}
fn default_darkening() -> f32 {
    0.15
}
fn default_true() -> bool {
    true
}

impl Default for LeakTaskConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl LeakTaskConfig {
    /// Problems with the values, as (key, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(16..=1920).contains(&self.analysis_width) {
            out.push(("analysis_width", format!("{} is out of range: use 160-1920 (480 suits 1080p)", self.analysis_width)));
        }
        if !(self.min_area_cm2.is_finite() && self.min_area_cm2 > 0.0) {
            out.push(("min_area_cm2", "must be a positive area in cm², e.g. 50".into()));
        }
        if !(self.growth_step.is_finite() && self.growth_step > 0.0) {
            out.push(("growth_step", "must be a positive share, e.g. 0.3 for 30 %".into()));
        }
        if !(self.darkening.is_finite() && (0.03..=1.5).contains(&self.darkening)) {
            out.push(("darkening", format!("{} is out of range: use 0.03-1.5 (0.15 ≈ 14 % darker)", self.darkening)));
        }
        if self.persist_after_motion < self.persist {
            out.push(("persist_after_motion", "must be at least `persist`".into()));
        }
        out
    }

    fn detector(&self) -> DetectorSettings {
        DetectorSettings {
            analysis_width: self.analysis_width,
            persist_s: self.persist.as_secs_f64(),
            persist_after_motion_s: self.persist_after_motion.as_secs_f64(),
            absorb_after_s: self.absorb_after.as_secs_f64(),
            min_area_cm2: self.min_area_cm2,
            darkening: self.darkening,
        }
    }

    fn tracker(&self) -> TrackerSettings {
        TrackerSettings { clear_after_s: self.clear_after.as_secs_f64(), growth_step: self.growth_step, ..TrackerSettings::default() }
    }
}

/// One camera's detector and tracker, and its clock.
pub struct CameraLeaks {
    pub calibration: Arc<Calibration>,
    detector: LeakDetector,
    tracker: LeakTracker,
    started: Option<SystemTime>,
}

impl CameraLeaks {
    pub fn new(calibration: Arc<Calibration>, config: &LeakTaskConfig) -> Result<Self, String> {
        let reference = calibration.reference_image()?;
        Self::with_reference(calibration, &reference, config)
    }

    pub fn with_reference(calibration: Arc<Calibration>, reference: &image::RgbImage, config: &LeakTaskConfig) -> Result<Self, String> {
        let detector = LeakDetector::new(&calibration, reference, config.detector()).map_err(|e| e.to_string())?;
        Ok(Self { calibration, detector, tracker: LeakTracker::new(config.tracker()), started: None })
    }

    /// Looks at a frame taken at `at`; returns the regions seen and the leak updates.
    pub fn observe(&mut self, image: &image::RgbImage, at: SystemTime) -> Result<(Vec<Observation>, Vec<LeakUpdate>), String> {
        self.calibration.check_frame_size(image.width(), image.height())?;
        let started = *self.started.get_or_insert(at);
        let t = at.duration_since(started).unwrap_or_default().as_secs_f64();
        self.detector.protect(self.tracker.open_boxes());
        let observations = self.detector.observe(image, t).map_err(|e| e.to_string())?;
        let updates = self.tracker.update(t, observations.clone());
        Ok((observations, updates))
    }

    /// The view was lost (camera knocked, covered): start afresh when it is back.
    pub fn reset(&mut self) {
        self.detector.reset();
        self.tracker.reset();
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LeakResult {
    pub open_leaks: usize,
    pub regions: Vec<RegionSummary>,
    /// The updates as their event details (`leak.suspected`, ...).
    pub updates: Vec<serde_json::Value>,
    #[serde(skip)]
    pub raw_updates: Vec<LeakUpdate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionSummary {
    pub area_cm2: f64,
    pub centroid_px: [f64; 2],
    pub zone: String,
    pub spill_score: f32,
}

pub struct LeakTask {
    id: String,
    evidence: bool,
    cameras: HashMap<String, Mutex<CameraLeaks>>,
    /// Open leaks are posted here for the storage watch's daily report.
    board: Option<Arc<crate::task::site::SiteBoard>>,
}

impl LeakTask {
    /// `cameras`: each camera that runs this task, with its calibration.
    pub fn new(id: &str, config: &LeakTaskConfig, cameras: &[(String, Arc<Calibration>)]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (camera, calibration) in cameras {
            let leaks = CameraLeaks::new(calibration.clone(), config).map_err(|e| format!("leak task `{id}` on camera `{camera}`: {e}"))?;
            map.insert(camera.clone(), Mutex::new(leaks));
        }
        Ok(Self { id: id.into(), evidence: config.evidence, cameras: map, board: None })
    }

    pub fn with_board(self, board: Arc<crate::task::site::SiteBoard>) -> Self {
        Self { board: Some(board), ..self }
    }

}

impl Task for LeakTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn process(&self, frame: &Frame) -> Result<TaskResult, TaskError> {
        let camera = self.cameras.get(&*frame.camera).ok_or_else(|| {
            TaskError::Input(format!("camera `{}` has no calibration for the leak task: set `calibration` on the camera", frame.camera))
        })?;
        let mut camera = camera.lock().unwrap_or_else(|e| e.into_inner());
        let (observations, updates) = camera.observe(&frame.image, frame.captured_at).map_err(TaskError::Input)?;
        Ok(TaskResult::Leak(LeakResult {
            open_leaks: camera.tracker.open_leaks(),
            regions: observations
                .iter()
                .map(|o| RegionSummary { area_cm2: round1(o.area_cm2), centroid_px: o.centroid_px.map(round1), zone: o.zone.clone(), spill_score: o.spill_score })
                .collect(),
            updates: updates.iter().map(details).collect(),
            raw_updates: updates,
        }))
    }

    fn events(&self, frame: &Frame, result: &TaskResult) -> Vec<EventDraft> {
        let TaskResult::Leak(leak) = result else { return vec![] };
        if let Some(board) = &self.board {
            for u in &leak.raw_updates {
                board.leak(&frame.camera, u.leak_id, u.state == LeakState::Cleared, details(u));
            }
        }
        leak.raw_updates.iter().map(|u| draft(u, &self.id, frame, self.evidence)).collect()
    }

    fn reset_camera(&self, camera: &str) {
        if let Some(c) = self.cameras.get(camera) {
            c.lock().unwrap_or_else(|e| e.into_inner()).reset();
        }
        if let Some(board) = &self.board {
            board.forget_leaks(camera);
        }
    }
}

/// The event for one leak update.
pub fn draft(update: &LeakUpdate, task: &str, frame: &Frame, with_evidence: bool) -> EventDraft {
    let evidence = with_evidence.then(|| evidence_picture(update, &frame.image)).flatten();
    EventDraft {
        id: None,
        kind: "leak".into(),
        priority: if update.state == LeakState::Cleared { Priority::Normal } else { Priority::Alert },
        camera: frame.camera.to_string(),
        task: task.into(),
        captured_at: frame.captured_at,
        verdict: update.state.as_str().into(),
        confidence: update.confidence,
        message_zh: Some(message_zh(update)),
        details: details(update),
        evidence,
    }
}

fn evidence_picture(update: &LeakUpdate, image: &image::RgbImage) -> Option<evidence::EvidenceImage> {
    let o = &update.observation;
    // Red while open; green once cleared, over the frame that shows it gone.
    let rgb = if update.state == LeakState::Cleared { [40, 200, 60] } else { [230, 30, 30] };
    let contour = evidence::Contour { points: o.outline_px.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(), rgb };
    let margin = 12.0;
    let [x, y, w, h] = o.bbox_px;
    let outline = evidence::Outline { x: (x - margin) as f32, y: (y - margin) as f32, width: (w + 2.0 * margin) as f32, height: (h + 2.0 * margin) as f32, rgb: [255, 200, 0] };
    match evidence::render_with_contours(image, &[outline], &[contour]) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(error = %e, "no evidence picture for a leak event");
            None
        }
    }
}

fn message_zh(u: &LeakUpdate) -> String {
    let o = &u.observation;
    let near = o.container.as_ref().map(|(name, d)| format!("，靠近容器 {name}（约 {:.0} 厘米）", d / 10.0)).unwrap_or_default();
    match u.state {
        LeakState::Suspected => format!("疑似泄漏：{} 区域出现约 {:.0} 平方厘米液体{near}。请立即检查，渗漏容器须更换。", o.zone, u.area_cm2),
        LeakState::Growing => format!("泄漏扩大：{} 区域液体增至约 {:.0} 平方厘米（每分钟约 {:.0} 平方厘米）{near}。请立即处置。", o.zone, u.area_cm2, u.growth_cm2_per_min.max(0.0)),
        LeakState::Cleared => format!("泄漏已清除：{} 区域的液体（最大约 {:.0} 平方厘米）已不再可见。", o.zone, u.peak_area_cm2),
    }
}

/// The event's `details`, also printed by `edge-agent leak`.
pub fn details(u: &LeakUpdate) -> serde_json::Value {
    let o = &u.observation;
    serde_json::json!({
        "event": format!("leak.{}", u.state.as_str()),
        "leak_id": u.leak_id,
        "area_cm2": round1(u.area_cm2),
        "peak_area_cm2": round1(u.peak_area_cm2),
        "growth_cm2_per_min": round1(u.growth_cm2_per_min),
        "open_for_s": round1(u.open_for_s),
        "location": {
            "zone": o.zone,
            "centroid_px": o.centroid_px.map(round1),
            "centroid_mm": o.centroid_mm.map(|p| p.map(round1)),
            "bbox_px": o.bbox_px.map(round1),
        },
        "container": o.container.as_ref().map(|(name, d)| serde_json::json!({"zone": name, "distance_mm": round1(*d)})),
        "spill_score": round1(f64::from(o.spill_score) * 10.0) / 10.0,
        "features": o.features,
    })
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A calibrated camera's watch and leak detection, in the agent's order:
/// the watch first, the leak task only on usable frames. For `edge-agent
/// leak` and the benchmark, which run without a pipeline.
pub struct LeakRun {
    task: String,
    evidence: bool,
    watch: crate::task::camera_watch::CameraWatch,
    leaks: CameraLeaks,
}

impl LeakRun {
    pub fn new(task: &str, calibration: Arc<Calibration>, config: &LeakTaskConfig) -> Result<Self, String> {
        let reference = calibration.reference_image()?;
        Self::with_reference(task, calibration, &reference, config)
    }

    /// With the reference picture given rather than read from the calibration's file.
    pub fn with_reference(task: &str, calibration: Arc<Calibration>, reference: &image::RgbImage, config: &LeakTaskConfig) -> Result<Self, String> {
        let watch = crate::task::camera_watch::CameraWatch::with_reference(&calibration.file.camera, reference, Default::default())?;
        Ok(Self { task: task.into(), evidence: config.evidence, watch, leaks: CameraLeaks::with_reference(calibration, reference, config)? })
    }

    /// The events this frame causes (camera faults and leak updates).
    pub fn frame(&mut self, frame: &Frame) -> Result<Vec<EventDraft>, String> {
        let outcome = self.watch.check(frame);
        let mut drafts = outcome.drafts;
        if outcome.lost_now {
            self.leaks.reset();
        }
        if outcome.usable {
            let (_, updates) = self.leaks.observe(&frame.image, frame.captured_at)?;
            drafts.extend(updates.iter().map(|u| draft(u, &self.task, frame, self.evidence)));
        }
        Ok(drafts)
    }
}
