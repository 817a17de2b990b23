//! Pod intake (收贮转方舱): a camera over the intake spot reads each
//! container's HJ 1276 label once it stands still, pairs it with the latest
//! declared slip, and publishes an `intake` event with the HJ 1259-2022
//! §6.3.2 ledger fields, the findings and the verdict.

pub mod presence;
pub mod slips;

use super::{Task, TaskError, TaskResult};
use crate::calibration::{Calibration, ZoneKind};
use crate::event::{EventDraft, Priority};
use crate::inference::ModelPool;
use crate::label::catalogue::Catalogue;
use crate::label::checks::{CheckSettings, Verdict};
use crate::label::fields::LabelField;
use crate::label::{Inspection, Inspector};
use crate::mqtt::commands::IntakeSlip;
use crate::ocr::OcrEngine;
use crate::vision::Frame;
use presence::{Presence, PresenceReading, PresenceSettings};
use serde::{Deserialize, Serialize};
use slips::SlipBook;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `[[tasks]] kind = "intake"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeTaskConfig {
    /// The calibration zone of kind `intake` to watch (default: the camera's first one).
    #[serde(default)]
    pub zone: Option<String>,
    /// How long a container must stand still before its label is read.
    #[serde(default = "default_still_for", with = "humantime_serde")]
    pub still_for: Duration,
    /// How long the spot must be empty before the next container.
    #[serde(default = "default_empty_for", with = "humantime_serde")]
    pub empty_for: Duration,
    /// Share of the spot unlike the empty reference that means "a container is there".
    #[serde(default = "default_occupied_share")]
    pub occupied_share: f32,
    /// A slip declared longer ago than this is stale and not paired.
    #[serde(default = "default_slip_max_age", with = "humantime_serde")]
    pub slip_max_age: Duration,
    #[serde(default = "default_detector")]
    pub detector: String,
    /// The 0°/180° line classifier; "" to skip it.
    #[serde(default = "default_angle")]
    pub angle: String,
    #[serde(default = "default_recognizer")]
    pub recognizer: String,
    /// A catalogue CSV (columns of edge-agent/catalogue/hw_codes_2021.csv); default the built-in 2021 edition.
    #[serde(default)]
    pub catalogue: Option<PathBuf>,
    /// The edition of `catalogue`, named in every event (e.g. "2025").
    #[serde(default)]
    pub catalogue_version: Option<String>,
    /// 贮存设施编码 / 类型 for the ledger record.
    #[serde(default)]
    pub facility_code: Option<String>,
    #[serde(default)]
    pub facility_type: Option<String>,
    #[serde(default)]
    pub checks: CheckSettings,
    /// Attach the frame with the text boxes and mismatching fields marked.
    #[serde(default = "default_true")]
    pub evidence: bool,
}

fn default_still_for() -> Duration {
    Duration::from_secs(2)
}
fn default_empty_for() -> Duration {
    Duration::from_secs(3)
}
fn default_occupied_share() -> f32 {
    0.2
}
fn default_slip_max_age() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_detector() -> String {
    "ppocr-v6-det".into()
}
fn default_angle() -> String {
    "ppocr-cls".into()
}
fn default_recognizer() -> String {
    "ppocr-v6-rec".into()
}
fn default_true() -> bool {
    true
}

impl IntakeTaskConfig {
    /// Setting errors as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut bad: Vec<(String, String)> = self.checks.check().into_iter().map(|(k, m)| (format!("checks.{k}"), m)).collect();
        if !(0.01..=0.95).contains(&self.occupied_share) {
            bad.push(("occupied_share".into(), format!("{} is not a share between 0.01 and 0.95", self.occupied_share)));
        }
        if self.catalogue_version.is_some() && self.catalogue.is_none() {
            bad.push(("catalogue_version".into(), "names the edition of `catalogue`; give the catalogue file too".into()));
        }
        if let Some(path) = &self.catalogue
            && let Err(e) = Catalogue::load(path, "check")
        {
            bad.push(("catalogue".into(), e));
        }
        bad
    }

    pub fn load_catalogue(&self) -> Result<Catalogue, String> {
        match &self.catalogue {
            Some(path) => Catalogue::load(path, self.catalogue_version.as_deref().unwrap_or("custom")),
            None => Ok(Catalogue::builtin()),
        }
    }
}

/// What the intake task saw in one frame.
#[derive(Debug, Clone, Serialize)]
pub struct IntakeResult {
    pub occupied: f32,
    pub moving: f32,
    /// Present when the label was read in this frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspection: Option<IntakeSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntakeSummary {
    pub verdict: Verdict,
    pub slip_id: Option<String>,
    pub findings: Vec<&'static str>,
    pub fields: HashMap<&'static str, String>,
    pub total_ms: f64,
}

/// One camera's intake spot.
struct Spot {
    /// The zone's bounding box in frame pixels: x, y, width, height.
    crop: [u32; 4],
    presence: Presence,
    /// The last inspection, held for `events` (same frame).
    last: Option<(Inspection, Option<IntakeSlip>)>,
}

/// Presence is judged on the spot shrunk to this width.
const PRESENCE_WIDTH: u32 = 96;

fn spot_small(image: &image::RgbImage, crop: [u32; 4]) -> image::RgbImage {
    let [x, y, w, h] = crop;
    let view = image::imageops::crop_imm(image, x, y, w, h).to_image();
    let height = ((h as f32 * PRESENCE_WIDTH as f32 / w.max(1) as f32).round() as u32).max(1);
    image::imageops::thumbnail(&view, PRESENCE_WIDTH, height)
}

pub struct IntakeTask {
    id: String,
    config: IntakeTaskConfig,
    inspector: Inspector,
    slips: Arc<SlipBook>,
    spots: Mutex<HashMap<String, Spot>>,
    /// Containers taken in are recorded here for the storage watch.
    ledger: Option<Arc<crate::task::storage::ledger::Ledger>>,
}

impl IntakeTask {
    pub fn new(
        id: &str,
        config: &IntakeTaskConfig,
        models: &ModelPool,
        cameras: &[(String, Arc<Calibration>)],
        slips: Arc<SlipBook>,
    ) -> Result<Self, TaskError> {
        let angle = (!config.angle.is_empty()).then_some(config.angle.as_str());
        let ocr = OcrEngine::new(models, &config.detector, angle, &config.recognizer)?;
        let catalogue = Arc::new(config.load_catalogue().map_err(TaskError::Input)?);
        let mut spots = HashMap::new();
        for (camera, calibration) in cameras {
            spots.insert(camera.clone(), Self::spot(config, calibration).map_err(|e| TaskError::Input(format!("camera `{camera}`: {e}")))?);
        }
        Ok(Self { id: id.into(), config: config.clone(), inspector: Inspector::new(ocr, catalogue, config.checks.clone()), slips, spots: Mutex::new(spots), ledger: None })
    }

    pub fn with_ledger(self, ledger: Arc<crate::task::storage::ledger::Ledger>) -> Self {
        Self { ledger: Some(ledger), ..self }
    }

    /// A container let in (accepted, or held for review) goes into the ledger,
    /// under the code its QR, label or slip gives; a rejected one does not.
    fn record_intake(&self, inspection: &Inspection, slip: Option<&IntakeSlip>, frame: &Frame) {
        let Some(ledger) = &self.ledger else { return };
        if inspection.verdict == Verdict::Reject {
            return;
        }
        let qr_id = match &inspection.qr {
            crate::label::checks::QrRead::Decoded(p) => p.id_code.clone(),
            _ => None,
        };
        let label_id = inspection.label.value(LabelField::IdCode).and_then(|v| crate::label::parse::canonical_id_code(v)).map(|(id, _)| id);
        let Some(id_code) = qr_id.or(label_id).or_else(|| slip.and_then(|s| s.container_code.clone())) else {
            tracing::warn!(camera = %frame.camera, "an intake container has no readable 数字识别码 (QR, label or slip): not recorded in the storage ledger");
            return;
        };
        let label = |f: LabelField| inspection.label.value(f).map(str::to_string);
        let waste_code = slip.map(|s| s.waste_code.clone()).or_else(|| label(LabelField::WasteCode));
        let record = crate::task::storage::ledger::LedgerRecord {
            category: slip.map(|s| s.category.clone()).or_else(|| label(LabelField::Category)).or_else(|| waste_code.as_deref().and_then(crate::task::storage::segregation::category_of_code)),
            waste_code,
            waste_name: slip.map(|s| s.waste_name.clone()).or_else(|| label(LabelField::WasteName)),
            weight_kg: slip.map(|s| s.weight_kg).or_else(|| inspection.label.weight_kg()),
            intake_at: crate::event::rfc3339_millis(frame.captured_at),
            slip_id: slip.map(|s| s.slip_id.clone()),
            verdict: serde_json::to_value(inspection.verdict).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            transfer: None,
            id_code,
        };
        if let Err(e) = ledger.record_intake(record) {
            tracing::error!(error = %e, "an intake container could not be recorded in the storage ledger");
        }
    }

    fn spot(config: &IntakeTaskConfig, calibration: &Calibration) -> Result<Spot, String> {
        let zone = match &config.zone {
            Some(name) => calibration.zone(name).ok_or_else(|| format!("{} has no zone `{name}`", calibration.path.display()))?,
            None => calibration.file.zones.iter().find(|z| z.kind == ZoneKind::Intake).ok_or_else(|| {
                format!("{} marks no intake spot: add a [[zone]] with kind = \"intake\" around it", calibration.path.display())
            })?,
        };
        let reference = calibration.reference_image()?;
        let (w, h) = reference.dimensions();
        let xs = zone.polygon.iter().map(|p| p[0]);
        let ys = zone.polygon.iter().map(|p| p[1]);
        let clamp = |v: f64, max: u32| (v.max(0.0) as u32).min(max);
        let x0 = clamp(xs.clone().fold(f64::INFINITY, f64::min), w);
        let x1 = clamp(xs.fold(f64::NEG_INFINITY, f64::max), w);
        let y0 = clamp(ys.clone().fold(f64::INFINITY, f64::min), h);
        let y1 = clamp(ys.fold(f64::NEG_INFINITY, f64::max), h);
        if x1 <= x0 + 16 || y1 <= y0 + 16 {
            return Err(format!("the intake zone `{}` is smaller than 16x16 pixels", zone.name));
        }
        let crop = [x0, y0, x1 - x0, y1 - y0];
        let settings = PresenceSettings {
            occupied_share: config.occupied_share,
            still_for: config.still_for,
            empty_for: config.empty_for,
            ..Default::default()
        };
        Ok(Spot { crop, presence: Presence::new(spot_small(&reference, crop), settings), last: None })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Spot>> {
        self.spots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Task for IntakeTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn process(&self, frame: &Frame) -> Result<TaskResult, TaskError> {
        let mut spots = self.lock();
        let spot = spots
            .get_mut(frame.camera.as_ref())
            .ok_or_else(|| TaskError::Input(format!("camera `{}` has no calibrated intake spot for task `{}`", frame.camera, self.id)))?;
        let [x, y, w, h] = spot.crop;
        if x + w > frame.image.width() || y + h > frame.image.height() {
            return Err(TaskError::Input(format!(
                "a {}x{} frame does not hold the intake zone at {x},{y} {w}x{h}; recalibrate the camera at its current resolution",
                frame.image.width(),
                frame.image.height()
            )));
        }
        let PresenceReading { occupied, moving, inspect } = spot.presence.observe(spot_small(&frame.image, spot.crop), frame.captured_at);
        let mut result = IntakeResult { occupied, moving, inspection: None };
        spot.last = None;
        if inspect {
            let view = image::imageops::crop_imm(frame.image.as_ref(), x, y, w, h).to_image();
            let at: chrono::DateTime<chrono::Utc> = frame.captured_at.into();
            let slip = self.slips.take_for(&frame.camera, at, chrono::Duration::from_std(self.config.slip_max_age).unwrap_or(chrono::Duration::hours(2)));
            let local = at.with_timezone(&chrono::Local).date_naive();
            let mut inspection = self.inspector.inspect(&view, slip.as_ref(), local)?;
            inspection.shift(x as f32, y as f32);
            result.inspection = Some(IntakeSummary {
                verdict: inspection.verdict,
                slip_id: slip.as_ref().map(|s| s.slip_id.clone()),
                findings: inspection.findings.iter().map(|f| f.code).collect(),
                fields: inspection.label.fields.iter().map(|f| (f.field.code(), f.value.clone())).collect(),
                total_ms: inspection.timings.total_ms,
            });
            self.record_intake(&inspection, slip.as_ref(), frame);
            spot.last = Some((inspection, slip));
        }
        Ok(TaskResult::Intake(result))
    }

    fn events(&self, frame: &Frame, result: &TaskResult) -> Vec<EventDraft> {
        let TaskResult::Intake(r) = result else { return Vec::new() };
        if r.inspection.is_none() {
            return Vec::new();
        }
        let spots = self.lock();
        let Some((inspection, slip)) = spots.get(frame.camera.as_ref()).and_then(|s| s.last.as_ref()) else { return Vec::new() };
        vec![draft(inspection, slip.as_ref(), &self.id, frame, &self.config, &self.inspector.catalogue)]
    }

    fn reset_camera(&self, camera: &str) {
        if let Some(spot) = self.lock().get_mut(camera) {
            spot.presence.reset();
            spot.last = None;
        }
    }
}

/// The `intake` event: ledger record, label fields, QR, findings, verdict.
pub fn draft(i: &Inspection, slip: Option<&IntakeSlip>, task: &str, frame: &Frame, config: &IntakeTaskConfig, catalogue: &Catalogue) -> EventDraft {
    let evidence = if config.evidence {
        i.evidence(&frame.image).map_err(|e| tracing::warn!(error = %e, "no evidence picture for an intake event")).ok()
    } else {
        None
    };
    // How sure the reading of the fields the verdict rests on is.
    let confidence = crate::label::checks::KEY_FIELDS
        .iter()
        .filter_map(|&f| i.label.get(f).map(|p| p.confidence))
        .fold(None, |m: Option<f32>, c| Some(m.map_or(c, |m| m.min(c))))
        .unwrap_or(0.0);
    EventDraft {
        id: None,
        kind: "intake".into(),
        priority: if i.verdict == Verdict::Accept { Priority::Normal } else { Priority::Alert },
        camera: frame.camera.to_string(),
        task: task.into(),
        captured_at: frame.captured_at,
        verdict: serde_json::to_value(i.verdict).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        confidence,
        message_zh: Some(message_zh(i, slip)),
        details: details(i, slip, frame, config, catalogue),
        evidence,
    }
}

fn message_zh(i: &Inspection, slip: Option<&IntakeSlip>) -> String {
    let worst: Vec<&str> = i
        .findings
        .iter()
        .filter(|f| f.severity > crate::label::checks::Severity::Info)
        .take(3)
        .map(|f| f.message_zh.as_str())
        .collect();
    let what = match (i.label.value(LabelField::WasteName), i.label.value(LabelField::WasteCode)) {
        (Some(n), Some(c)) => format!("{n}（{c}）"),
        (Some(n), None) => n.to_string(),
        (None, Some(c)) => c.to_string(),
        (None, None) => "容器".to_string(),
    };
    let slip = slip.map(|s| format!("，申报单 {}", s.slip_id)).unwrap_or_default();
    match i.verdict {
        Verdict::Accept => format!("入库核验通过：{what}{slip}，标签与申报一致。"),
        Verdict::Review => format!("入库需人工复核：{what}{slip}。{}", worst.join("；")),
        Verdict::Reject => format!("入库核验不通过，请暂停入库：{what}{slip}。{}", worst.join("；")),
    }
}

/// `details` of an intake event; `ledger` holds HJ 1259-2022 §6.3.2's intake-record fields.
pub fn details(i: &Inspection, slip: Option<&IntakeSlip>, frame: &Frame, config: &IntakeTaskConfig, catalogue: &Catalogue) -> serde_json::Value {
    let label = |f: LabelField| i.label.value(f).map(str::to_string);
    let at: chrono::DateTime<chrono::Utc> = frame.captured_at.into();
    let weight = slip.map(|s| s.weight_kg).or_else(|| i.label.weight_kg());
    let ledger = serde_json::json!({
        "入库批次编码": slip.and_then(|s| s.batch_code.clone()).unwrap_or_else(|| format!("HWRK{}", at.with_timezone(&chrono::Local).format("%Y%m%d%H%M%S"))),
        "入库时间": crate::event::rfc3339_millis(frame.captured_at),
        "容器/包装编码": slip.and_then(|s| s.container_code.clone()).or_else(|| label(LabelField::IdCode)),
        "容器/包装类型": slip.and_then(|s| s.container_type.clone()),
        "容器/包装数量": 1,
        "危险废物名称": slip.map(|s| s.waste_name.clone()).or_else(|| label(LabelField::WasteName)),
        "危险废物类别": slip.map(|s| s.category.clone()).or_else(|| label(LabelField::Category)),
        "危险废物代码": slip.map(|s| s.waste_code.clone()).or_else(|| label(LabelField::WasteCode)),
        "入库量": weight,
        "计量单位": "kg",
        "贮存设施编码": config.facility_code,
        "贮存设施类型": config.facility_type,
        "运送部门经办人": null_str(),
        "贮存部门经办人": null_str(),
        "产生批次编码": slip.and_then(|s| s.batch_code.clone()),
    });
    serde_json::json!({
        "event": format!("intake.{}", serde_json::to_value(i.verdict).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
        "slip_id": slip.map(|s| s.slip_id.clone()),
        "request_id": slip.map(|s| s.request_id.clone()),
        "ledger": ledger,
        "label": {
            "found": i.label_region.is_some() || i.label.title_found,
            "region_px": i.label_region,
            "fields": i.label.fields,
        },
        "qr": i.qr,
        "findings": i.findings,
        "catalogue": catalogue.version,
        "timings_ms": i.timings,
    })
}

fn null_str() -> Option<String> {
    None
}
