//! Guards a calibrated camera before its tasks see a frame: a camera that has
//! been knocked or turned (`camera` `tampered`) or whose picture has gone bad
//! (`camera` `degraded`: lost sharpness, glare, covered, frozen) is reported,
//! so a pod is never silently blind. While the view is lost or the picture
//! unusable, tasks are paused instead of raising false alarms against zones
//! that no longer line up.

use crate::calibration::Calibration;
use crate::event::{EventDraft, Priority, evidence};
use crate::vision::Frame;
use crate::vision::analysis::AnalysisFrame;
use crate::vision::quality::{EdgeMap, Quality, measure};
use image::RgbImage;
use std::time::SystemTime;

/// Thresholds and delays; the defaults suit a fixed pod camera.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// A fault must last this long before it is reported...
    pub confirm_s: f64,
    /// ...and be gone this long before `restored`.
    pub restore_s: f64,
    /// Frames identical for this long are frozen.
    pub frozen_s: f64,
    /// Sharpness below this share of the reference's is a dirty or fogged lens.
    pub min_sharpness: f32,
    /// Clipped pixels beyond the reference's by this share is glare.
    pub max_glare: f32,
    /// View similarity (edge correlation with the reference) below this is a lost view.
    pub min_view: f32,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self { confirm_s: 5.0, restore_s: 10.0, frozen_s: 10.0, min_sharpness: 0.45, max_glare: 0.25, min_view: 0.35 }
    }
}

/// The analysis width for these measures: fine enough for focus, cheap enough for every frame.
const WIDTH: u32 = 480;
/// The view search runs on a half-size copy, ±12 px there (±48 px at 1080p).
const SEARCH_RADIUS: i32 = 12;

/// What a fault is, with the figure that tripped it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The view moved by about `shift_px` (full-resolution), or changed beyond recognition (`shift_px` None).
    ViewLost { similarity: f32, best_similarity: f32, shift_px: Option<[f64; 2]> },
    Degraded { measure: &'static str, value: f32, reference: f32, threshold: f32 },
}

impl Fault {
    fn verdict(&self) -> &'static str {
        match self {
            Self::ViewLost { .. } => "tampered",
            Self::Degraded { .. } => "degraded",
        }
    }
}

/// A fault condition with its onset and whether it was reported.
#[derive(Default)]
struct Condition {
    since: Option<f64>,
    clear_since: Option<f64>,
    raised: Option<Fault>,
}

impl Condition {
    /// Returns a fault to raise, or a fault that is now restored.
    fn step(&mut self, now: Option<Fault>, t: f64, s: &WatchSettings) -> Option<(bool, Fault)> {
        match now {
            Some(fault) => {
                self.clear_since = None;
                let since = *self.since.get_or_insert(t);
                if self.raised.is_none() && t - since >= s.confirm_s {
                    self.raised = Some(fault.clone());
                    return Some((true, fault));
                }
                None
            }
            None => {
                self.since = None;
                let clear = *self.clear_since.get_or_insert(t);
                if t - clear >= s.restore_s {
                    return self.raised.take().map(|f| (false, f));
                }
                None
            }
        }
    }
}

pub struct WatchOutcome {
    /// Tasks may judge this frame.
    pub usable: bool,
    /// The view was lost on this frame: what tasks learnt of the scene is stale.
    pub lost_now: bool,
    pub drafts: Vec<EventDraft>,
}

pub struct CameraWatch {
    camera: String,
    settings: WatchSettings,
    reference: Quality,
    reference_edges: EdgeMap,
    previous: Option<Vec<[u8; 3]>>,
    frozen_since: Option<f64>,
    view: Condition,
    picture: Condition,
    started: Option<SystemTime>,
}

impl CameraWatch {
    pub fn new(calibration: &Calibration, settings: WatchSettings) -> Result<Self, String> {
        let reference = calibration.reference_image()?;
        Self::with_reference(&calibration.file.camera, &reference, settings)
    }

    pub fn with_reference(camera: &str, reference: &RgbImage, settings: WatchSettings) -> Result<Self, String> {
        let a = AnalysisFrame::new(reference, WIDTH)?;
        Ok(Self {
            camera: camera.into(),
            settings,
            reference: measure(&a),
            reference_edges: EdgeMap::new(&half(&a)?),
            previous: None,
            frozen_since: None,
            view: Condition::default(),
            picture: Condition::default(),
            started: None,
        })
    }

    /// Checks a frame from the pipeline; the events carry the frame as evidence.
    pub fn check(&mut self, frame: &Frame) -> WatchOutcome {
        let started = *self.started.get_or_insert(frame.captured_at);
        let t = frame.captured_at.duration_since(started).unwrap_or_default().as_secs_f64();
        let (usable_before, changes) = (self.usable(), self.assess(&frame.image, t));
        let drafts = changes.into_iter().map(|(raised, fault)| self.draft(raised, &fault, frame)).collect();
        let usable = self.usable();
        WatchOutcome { usable, lost_now: usable_before && !usable, drafts }
    }

    /// Whether tasks may judge frames now.
    pub fn usable(&self) -> bool {
        self.view.raised.is_none()
            && !matches!(&self.picture.raised, Some(Fault::Degraded { measure: "covered" | "frozen", .. }))
    }

    /// Measures one frame at `t` seconds; returns the faults raised (true) or restored (false).
    pub fn assess(&mut self, image: &RgbImage, t: f64) -> Vec<(bool, Fault)> {
        let a = match AnalysisFrame::new(image, WIDTH) {
            Ok(a) => a,
            Err(_) => return vec![],
        };
        let picture = self.picture_fault(&a, t);
        // A covered or frozen picture says nothing about where the camera points.
        let view = if picture.as_ref().is_some_and(|f| matches!(f, Fault::Degraded { measure: "covered" | "frozen", .. })) {
            None
        } else {
            self.view_fault(&a)
        };
        let s = self.settings.clone();
        let mut out = Vec::new();
        out.extend(self.view.step(view, t, &s));
        out.extend(self.picture.step(picture, t, &s));
        out
    }

    fn picture_fault(&mut self, a: &AnalysisFrame, t: f64) -> Option<Fault> {
        let frozen = self.previous.as_ref().is_some_and(|p| *p == a.rgb);
        self.previous = Some(a.rgb.clone());
        self.frozen_since = if frozen { Some(self.frozen_since.unwrap_or(t)) } else { None };
        let q = measure(a);
        let r = self.reference;
        let s = &self.settings;
        if q.mean_luma < 12.0 || q.luma_spread < 4.0 {
            return Some(Fault::Degraded { measure: "covered", value: q.luma_spread.min(q.mean_luma), reference: r.luma_spread, threshold: 4.0 });
        }
        if self.frozen_since.is_some_and(|since| t - since >= s.frozen_s - s.confirm_s) {
            return Some(Fault::Degraded { measure: "frozen", value: (t - self.frozen_since.unwrap_or(t)) as f32, reference: 0.0, threshold: s.frozen_s as f32 });
        }
        if q.clipped - r.clipped > s.max_glare {
            return Some(Fault::Degraded { measure: "glare", value: q.clipped, reference: r.clipped, threshold: r.clipped + s.max_glare });
        }
        if q.sharpness < s.min_sharpness * r.sharpness {
            return Some(Fault::Degraded { measure: "sharpness", value: q.sharpness, reference: r.sharpness, threshold: s.min_sharpness * r.sharpness });
        }
        None
    }

    fn view_fault(&self, a: &AnalysisFrame) -> Option<Fault> {
        let small = half(a).ok()?;
        let edges = EdgeMap::new(&small);
        let similarity = edges.correlation(&self.reference_edges, 0, 0);
        if similarity >= self.settings.min_view {
            return None;
        }
        let ((dx, dy), best) = edges.best_shift(&self.reference_edges, SEARCH_RADIUS);
        let moved = best >= self.settings.min_view && (dx, dy) != (0, 0);
        let scale = small.scale;
        Some(Fault::ViewLost { similarity, best_similarity: best, shift_px: moved.then(|| [f64::from(dx) * scale, f64::from(dy) * scale]) })
    }

    fn draft(&self, raised: bool, fault: &Fault, frame: &Frame) -> EventDraft {
        let cam = &self.camera;
        let (verdict, message_zh, details) = if !raised {
            (
                "restored",
                format!("摄像头 {cam} 画面已恢复正常，检测继续。"),
                serde_json::json!({"event": "camera.restored", "after": fault.verdict(), "fault": fault_details(fault)}),
            )
        } else {
            let message = match fault {
                Fault::ViewLost { shift_px: Some([dx, dy]), .. } => {
                    format!("摄像头 {cam} 视角被移动（约 {dx:.0}, {dy:.0} 像素），检测已暂停：请把摄像头复位，必要时重新标定。")
                }
                Fault::ViewLost { .. } => format!("摄像头 {cam} 视角已改变或被遮挡，检测已暂停：请检查摄像头。"),
                Fault::Degraded { measure, .. } => format!("摄像头 {cam} 画面异常（{}），请{}。", measure_zh(measure), fix_zh(measure)),
            };
            (fault.verdict(), message, serde_json::json!({"event": format!("camera.{}", fault.verdict()), "fault": fault_details(fault)}))
        };
        EventDraft {
            id: None,
            kind: "camera".into(),
            priority: if raised { Priority::Alert } else { Priority::Normal },
            camera: frame.camera.to_string(),
            task: "camera-watch".into(),
            captured_at: frame.captured_at,
            verdict: verdict.into(),
            confidence: 1.0,
            message_zh: Some(message_zh),
            details,
            evidence: evidence::render(&frame.image, &[]).ok(),
        }
    }
}

fn half(a: &AnalysisFrame) -> Result<AnalysisFrame, String> {
    let img = RgbImage::from_raw(a.width, a.height, a.rgb.iter().flat_map(|p| *p).collect()).ok_or("bad analysis frame")?;
    let mut small = AnalysisFrame::new(&img, (a.width / 2).max(1))?;
    small.scale *= a.scale;
    Ok(small)
}

fn fault_details(f: &Fault) -> serde_json::Value {
    match f {
        Fault::ViewLost { similarity, best_similarity, shift_px } => serde_json::json!({
            "measure": "view", "similarity": similarity, "best_similarity": best_similarity, "shift_px": shift_px,
        }),
        Fault::Degraded { measure, value, reference, threshold } => serde_json::json!({
            "measure": measure, "value": value, "reference": reference, "threshold": threshold,
        }),
    }
}

fn measure_zh(measure: &str) -> &'static str {
    match measure {
        "sharpness" => "画面模糊",
        "glare" => "强光眩光",
        "covered" => "镜头被遮挡或无画面",
        "frozen" => "画面冻结",
        _ => "画面质量下降",
    }
}

fn fix_zh(measure: &str) -> &'static str {
    match measure {
        "sharpness" => "清洁镜头或检查对焦",
        "glare" => "调整照明或摄像头角度",
        "covered" => "移除遮挡物并检查摄像头",
        "frozen" => "检查摄像头及其连接",
        _ => "检查摄像头",
    }
}
