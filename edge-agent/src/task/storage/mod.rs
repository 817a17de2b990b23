//! Pod storage watch (贮存巡检): the daily inspection a pod manager does by
//! eye, done by the storage-room camera. [`detect`] finds container groups
//! and reads their QR codes and labels, [`inventory`] compares them with the
//! [`ledger`] and the zone rules ([`segregation`]), [`safety`] keeps the
//! extinguishers and the door sign in view, and [`report`] writes the
//! `inspection.daily` record. This module turns it into events.

pub mod detect;
pub mod inventory;
pub mod ledger;
pub mod report;
pub mod safety;
pub mod segregation;

use super::site::SiteBoard;
use super::{Task, TaskError, TaskResult};
use crate::calibration::{Calibration, ZoneKind};
use crate::event::{EventDraft, Priority, evidence};
use crate::vision::Frame;
use detect::{ContainerDetector, DetectSettings, Detection, View};
use inventory::{Change, FindingKind, Inventory, InventorySettings};
use ledger::{CapacityWatch, Ledger};
use safety::{SafetyChange, SafetyWatch};
use segregation::IncompatibilityTable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// `[[tasks]] kind = "storage"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageTaskConfig {
    /// `top` (lids seen from above) or `side` (bodies seen from a wall).
    #[serde(default)]
    pub view: View,
    /// How long a container or a condition must hold before it counts (people pass by).
    #[serde(default = "default_settle", with = "humantime_serde")]
    pub settle: Duration,
    /// A container in stock unseen this long, its place empty, is missing.
    #[serde(default = "default_missing_after", with = "humantime_serde")]
    pub missing_after: Duration,
    /// A finding whose cause has been gone this long is resolved.
    #[serde(default = "default_clear_after", with = "humantime_serde")]
    pub clear_after: Duration,
    /// Incompatible containers closer than this, centre to centre, are flagged.
    #[serde(default = "default_separation")]
    pub separation_mm: f64,
    /// The usual container's diameter (200 L drum: 585 mm); groups are counted by it.
    #[serde(default = "default_diameter")]
    pub container_diameter_mm: f64,
    /// Width the change detection runs at.
    #[serde(default = "default_analysis_width")]
    pub analysis_width: u32,
    /// An extinguisher or sign gone or covered this long raises `safety.missing`.
    #[serde(default = "default_safety_after", with = "humantime_serde")]
    pub safety_after: Duration,
    /// Correlation with the reference below this counts as gone or covered.
    #[serde(default = "default_min_similarity")]
    pub min_similarity: f32,
    /// The storage spot's limit (GB 18597-2023 8.3.5: 3 t).
    #[serde(default = "default_capacity")]
    pub capacity_kg: f64,
    /// Shares of the limit that raise `storage.capacity`.
    #[serde(default = "default_levels")]
    pub capacity_levels: Vec<f64>,
    /// A site incompatibility table (default: edge-agent/storage/incompatibility.toml, built in).
    #[serde(default)]
    pub incompatibility: Option<PathBuf>,
    /// Extinguishers' next inspection / expiry dates, by their calibration zone.
    #[serde(default)]
    pub extinguishers: Vec<ExtinguisherConfig>,
    /// Remind this long before an extinguisher's date.
    #[serde(default = "default_remind_before", with = "humantime_serde")]
    pub remind_before: Duration,
    /// Local time of the daily inspection report, HH:MM.
    #[serde(default = "default_inspection_at")]
    pub inspection_at: String,
    /// Attach evidence pictures.
    #[serde(default = "default_true")]
    pub evidence: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExtinguisherConfig {
    /// The calibration zone (kind = "extinguisher") it hangs in.
    pub zone: String,
    /// Its expiry / next service date, YYYY-MM-DD.
    pub expires: chrono::NaiveDate,
}

fn default_settle() -> Duration {
    Duration::from_secs(60)
}
fn default_missing_after() -> Duration {
    Duration::from_secs(300)
}
fn default_clear_after() -> Duration {
    Duration::from_secs(180)
}
fn default_separation() -> f64 {
    1000.0
}
fn default_diameter() -> f64 {
    585.0
}
fn default_analysis_width() -> u32 {
    640
}
fn default_safety_after() -> Duration {
    Duration::from_secs(120)
}
fn default_min_similarity() -> f32 {
    0.5
}
fn default_capacity() -> f64 {
    3000.0
}
fn default_levels() -> Vec<f64> {
    vec![0.8, 1.0]
}
fn default_remind_before() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_inspection_at() -> String {
    "08:00".into()
}
fn default_true() -> bool {
    true
}

impl Default for StorageTaskConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl StorageTaskConfig {
    /// Problems with the values, as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |k: &str, m: String| out.push((k.to_string(), m));
        if !(160..=1920).contains(&self.analysis_width) {
            bad("analysis_width", format!("{} is out of range: use 160-1920 (640 suits 1080p)", self.analysis_width));
        }
        if !(self.separation_mm.is_finite() && self.separation_mm >= 0.0 && self.separation_mm <= 20_000.0) {
            bad("separation_mm", "must be a distance in mm, 0-20000 (e.g. 1000)".into());
        }
        if !(self.container_diameter_mm.is_finite() && (100.0..=2000.0).contains(&self.container_diameter_mm)) {
            bad("container_diameter_mm", "must be 100-2000 mm (a 200 L drum is 585)".into());
        }
        if !(self.min_similarity.is_finite() && (0.05..=0.95).contains(&self.min_similarity)) {
            bad("min_similarity", format!("{} is out of range: use 0.05-0.95 (0.5 by default)", self.min_similarity));
        }
        if !(self.capacity_kg.is_finite() && self.capacity_kg > 0.0) {
            bad("capacity_kg", "must be a positive weight in kg (a storage spot holds at most 3000)".into());
        }
        if self.capacity_levels.is_empty() || self.capacity_levels.iter().any(|l| !(l.is_finite() && *l > 0.0 && *l <= 2.0)) {
            bad("capacity_levels", "give shares of the limit above 0 and at most 2, e.g. [0.8, 1.0]".into());
        }
        if self.settle.is_zero() || self.missing_after < self.settle {
            bad("missing_after", "must be at least `settle` (and `settle` above 0)".into());
        }
        if parse_hhmm(&self.inspection_at).is_none() {
            bad("inspection_at", format!("`{}` is not a time of day: use HH:MM, e.g. \"08:00\"", self.inspection_at));
        }
        if let Some(path) = &self.incompatibility
            && let Err(e) = IncompatibilityTable::load(path)
        {
            bad("incompatibility", e);
        }
        out
    }

    fn table(&self) -> Result<IncompatibilityTable, String> {
        match &self.incompatibility {
            Some(path) => IncompatibilityTable::load(path),
            None => Ok(IncompatibilityTable::builtin()),
        }
    }

    fn inventory_settings(&self) -> InventorySettings {
        InventorySettings {
            settle_s: self.settle.as_secs_f64(),
            missing_after_s: self.missing_after.as_secs_f64(),
            separation_mm: self.separation_mm,
            clear_after_s: self.clear_after.as_secs_f64(),
            gap_s: (self.settle.as_secs_f64() * 1.5).max(30.0),
            one_label_per_group: self.view == View::Side,
        }
    }

    fn detect_settings(&self) -> DetectSettings {
        DetectSettings { view: self.view, analysis_width: self.analysis_width, container_diameter_mm: self.container_diameter_mm, ..Default::default() }
    }
}

fn parse_hhmm(s: &str) -> Option<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// Seconds since the epoch: the watch's clock is the frames' capture time.
fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// One camera's watch.
pub struct CameraStorage {
    pub camera: String,
    calibration: Arc<Calibration>,
    detector: ContainerDetector,
    inventory: Inventory,
    safety: SafetyWatch,
    last: Option<(Arc<image::RgbImage>, Detection, SystemTime)>,
    frames_since_report: u64,
    views_lost: u64,
}

impl CameraStorage {
    pub fn new(camera: &str, calibration: Arc<Calibration>, reference: &image::RgbImage, config: &StorageTaskConfig) -> Result<Self, String> {
        let detector = ContainerDetector::new(&calibration, reference, config.detect_settings())?;
        let zones: BTreeMap<String, Vec<String>> =
            calibration.file.zones.iter().filter(|z| z.kind == ZoneKind::Storage).map(|z| (z.name.clone(), z.allow.clone())).collect();
        let inventory = Inventory::new(config.inventory_settings(), zones, config.table()?);
        let safety = SafetyWatch::new(&calibration, reference, config.safety_after.as_secs_f64(), config.min_similarity)?;
        Ok(Self { camera: camera.into(), calibration, detector, inventory, safety, last: None, frames_since_report: 0, views_lost: 0 })
    }
}

/// What the whole task keeps besides its cameras.
struct Core {
    ledger: Arc<Ledger>,
    board: Arc<SiteBoard>,
    capacity: CapacityWatch,
    ledger_version: Option<u64>,
    next_report: Option<SystemTime>,
    inspections_served: u64,
    expiry_day: Option<chrono::NaiveDate>,
}

struct State {
    cameras: HashMap<String, CameraStorage>,
    core: Core,
}

/// What the storage watch saw in one frame.
#[derive(Debug, Clone, Serialize)]
pub struct StorageResult {
    pub groups: usize,
    pub containers: usize,
    pub identified: usize,
    pub open_findings: usize,
    pub light_gain: f32,
    pub total_ms: f64,
    /// The 数字识别码 read in this frame.
    #[serde(skip)]
    pub codes: Vec<String>,
    #[serde(skip)]
    pub drafts: Vec<EventDraft>,
}

pub struct StorageTask {
    id: String,
    config: StorageTaskConfig,
    state: Mutex<State>,
}

impl StorageTask {
    pub fn new(id: &str, config: &StorageTaskConfig, cameras: &[(String, Arc<Calibration>)], ledger: Arc<Ledger>, board: Arc<SiteBoard>) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (camera, calibration) in cameras {
            let reference = calibration.reference_image().map_err(|e| format!("storage task `{id}` on camera `{camera}`: {e}"))?;
            let watch = CameraStorage::new(camera, calibration.clone(), &reference, config).map_err(|e| format!("storage task `{id}` on camera `{camera}`: {e}"))?;
            map.insert(camera.clone(), watch);
        }
        Ok(Self::with_cameras(id, config, map, ledger, board))
    }

    pub fn with_cameras(id: &str, config: &StorageTaskConfig, cameras: HashMap<String, CameraStorage>, ledger: Arc<Ledger>, board: Arc<SiteBoard>) -> Self {
        let served = board.inspection_requests().0;
        let core = Core { ledger, board, capacity: CapacityWatch::new(&config.capacity_levels), ledger_version: None, next_report: None, inspections_served: served, expiry_day: None };
        Self { id: id.into(), config: config.clone(), state: Mutex::new(State { cameras, core }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The daily report now, whatever the schedule (the offline command's last word).
    pub fn report_now(&self, frame: &Frame, trigger: &str) -> EventDraft {
        let state = self.lock();
        report::draft(&self.id, &self.config, &state.cameras, &state.core.ledger, &state.core.board, frame, trigger, None)
    }

    /// Everything this frame causes, in order: findings, safety, capacity, expiry, report.
    fn frame(&self, frame: &Frame) -> Result<StorageResult, TaskError> {
        let mut guard = self.lock();
        let State { cameras, core } = &mut *guard;
        let watch = cameras
            .get_mut(frame.camera.as_ref())
            .ok_or_else(|| TaskError::Input(format!("camera `{}` has no calibration for storage task `{}`: set `calibration` on the camera", frame.camera, self.id)))?;
        watch.calibration.check_frame_size(frame.image.width(), frame.image.height()).map_err(TaskError::Input)?;
        let t = secs(frame.captured_at);
        let detection = watch.detector.detect(&frame.image);
        let changes = watch.inventory.update(t, &detection.blobs, &core.ledger);
        let safety = watch.safety.observe(t, &frame.image);
        let mut drafts: Vec<EventDraft> = changes.iter().map(|c| finding_draft(c, &self.id, frame, &self.config, &watch.detector)).collect();
        drafts.extend(safety.iter().map(|c| safety_draft(c, &self.id, frame, self.config.evidence)));
        let result = StorageResult {
            groups: detection.blobs.len(),
            containers: detection.blobs.iter().map(|b| b.estimated).sum(),
            identified: detection.blobs.iter().map(|b| b.ids.len()).sum(),
            open_findings: watch.inventory.open_findings().len(),
            light_gain: (detection.light_gain * 100.0).round() / 100.0,
            total_ms: (detection.total_ms * 10.0).round() / 10.0,
            codes: detection.blobs.iter().flat_map(|b| b.ids.iter().map(|i| i.id_code.clone())).collect(),
            drafts: Vec::new(),
        };
        watch.last = Some((frame.image.clone(), detection, frame.captured_at));
        watch.frames_since_report += 1;

        // Capacity: whenever the ledger changed.
        let version = core.ledger.version();
        if core.ledger_version != Some(version) {
            core.ledger_version = Some(version);
            let (kg, undeclared) = core.ledger.stock_kg();
            for level in core.capacity.update(kg, self.config.capacity_kg) {
                drafts.push(capacity_draft(level, kg, undeclared, &self.id, frame, &self.config));
            }
        }
        // Extinguisher dates: once a day.
        let local = chrono::DateTime::<chrono::Local>::from(frame.captured_at);
        if core.expiry_day != Some(local.date_naive()) {
            core.expiry_day = Some(local.date_naive());
            drafts.extend(expiry_drafts(&self.config, local.date_naive(), &self.id, frame));
        }
        // The daily report: on schedule, or when asked.
        let (generation, request_id) = core.board.inspection_requests();
        let next = *core.next_report.get_or_insert_with(|| next_occurrence(frame.captured_at, &self.config.inspection_at));
        let trigger = if generation > core.inspections_served {
            core.inspections_served = generation;
            Some(("command", request_id))
        } else if frame.captured_at >= next {
            core.next_report = Some(next_occurrence(frame.captured_at, &self.config.inspection_at));
            Some(("schedule", None))
        } else {
            None
        };
        if let Some((trigger, request_id)) = trigger {
            drafts.push(report::draft(&self.id, &self.config, cameras, &core.ledger, &core.board, frame, trigger, request_id));
            for w in cameras.values_mut() {
                w.frames_since_report = 0;
            }
        }
        Ok(StorageResult { drafts, ..result })
    }
}

/// The first `HH:MM` local time after `after`.
fn next_occurrence(after: SystemTime, hhmm: &str) -> SystemTime {
    let at = parse_hhmm(hhmm).unwrap_or_else(|| chrono::NaiveTime::from_hms_opt(8, 0, 0).expect("08:00"));
    let local = chrono::DateTime::<chrono::Local>::from(after);
    let mut day = local.date_naive();
    loop {
        if let Some(candidate) = day.and_time(at).and_local_timezone(chrono::Local).earliest() {
            let candidate: SystemTime = candidate.into();
            if candidate > after {
                return candidate;
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

impl Task for StorageTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn process(&self, frame: &Frame) -> Result<TaskResult, TaskError> {
        self.frame(frame).map(TaskResult::Storage)
    }

    fn events(&self, _frame: &Frame, result: &TaskResult) -> Vec<EventDraft> {
        match result {
            TaskResult::Storage(r) => r.drafts.clone(),
            _ => Vec::new(),
        }
    }

    fn reset_camera(&self, camera: &str) {
        if let Some(w) = self.lock().cameras.get_mut(camera) {
            w.inventory.reset_view();
            w.safety.reset();
            w.views_lost += 1;
        }
    }
}

fn short(id: &Option<String>) -> String {
    match id {
        // The tail is what people read off a label: date and sequence.
        Some(id) if id.len() > 11 => format!("…{}", &id[id.len() - 11..]),
        Some(id) => id.clone(),
        None => "未识别".into(),
    }
}

fn message_zh(c: &Change) -> String {
    let f = &c.finding;
    let first = f.containers.first();
    let name = |i: usize| {
        f.containers.get(i).map(|c| format!("{}（{}，{}）", c.waste_name.clone().unwrap_or_else(|| "容器".into()), short(&c.id_code), c.category.clone().unwrap_or_else(|| "类别未知".into())))
    };
    let zone = f.zone.clone().unwrap_or_else(|| "贮存区外".into());
    if !c.opened {
        return format!("已恢复：{}（{}）。", kind_zh(f.kind), name(0).unwrap_or(zone));
    }
    match f.kind {
        FindingKind::Missing => format!("容器缺失：{} 已不在 {}，且没有转移联单。请立即核对去向。", name(0).unwrap_or_default(), zone),
        FindingKind::Unregistered => format!("未登记容器：{} 在 {}，但台账中没有在库记录（{}）。请补办入库或移出。", name(0).unwrap_or_default(), zone, f.reason),
        FindingKind::Segregation if f.containers.len() >= 2 => {
            let d = match (first.and_then(|a| a.at_mm), f.containers.get(1).and_then(|b| b.at_mm)) {
                (Some(a), Some(b)) => format!("相距约 {:.0} 毫米", (a[0] - b[0]).hypot(a[1] - b[1])),
                _ => "相邻".into(),
            };
            format!("不相容废物相邻：{} 与 {} {d}。请分开存放。", name(0).unwrap_or_default(), name(1).unwrap_or_default())
        }
        FindingKind::Segregation => format!("分区存放错误：{} 放在 {}，该区不允许此类别。请移到对应分区。", name(0).unwrap_or_default(), zone),
        FindingKind::Unlabelled => format!("容器标签缺失：{} 有容器看不到危险废物标签（{}）。请按 HJ 1276 张贴标签。", zone, f.reason),
    }
}

fn kind_zh(k: FindingKind) -> &'static str {
    match k {
        FindingKind::Missing => "容器缺失",
        FindingKind::Unregistered => "未登记容器",
        FindingKind::Segregation => "分区/相容性问题",
        FindingKind::Unlabelled => "容器标签缺失",
    }
}

fn finding_draft(c: &Change, task: &str, frame: &Frame, config: &StorageTaskConfig, detector: &ContainerDetector) -> EventDraft {
    let f = &c.finding;
    let kind = f.kind.as_str();
    let evidence = config.evidence.then(|| {
        let r = |at: [f64; 2]| 0.6 * config.container_diameter_mm / detector.mm_per_px(at).max(0.1);
        let colour = if c.opened { [230, 30, 30] } else { [40, 200, 60] };
        let mut outlines: Vec<evidence::Outline> = f
            .containers
            .iter()
            .map(|k| {
                let r = r(k.at_px);
                evidence::Outline { x: (k.at_px[0] - r) as f32, y: (k.at_px[1] - r) as f32, width: (2.0 * r) as f32, height: (2.0 * r) as f32, rgb: colour }
            })
            .collect();
        if let Some(b) = f.region_px {
            outlines.push(evidence::Outline { x: b[0] as f32, y: b[1] as f32, width: b[2] as f32, height: b[3] as f32, rgb: [255, 200, 0] });
        }
        evidence::render(&frame.image, &outlines).map_err(|e| tracing::warn!(error = %e, "no evidence picture for a storage event")).ok()
    });
    let verdict = if c.opened { kind } else { "resolved" };
    EventDraft {
        id: None,
        kind: "storage".into(),
        priority: if c.opened { Priority::Alert } else { Priority::Normal },
        camera: frame.camera.to_string(),
        task: task.into(),
        captured_at: frame.captured_at,
        verdict: verdict.into(),
        confidence: if f.containers.iter().any(|k| k.id_code.is_some()) { 0.95 } else { 0.7 },
        message_zh: Some(message_zh(c)),
        details: serde_json::json!({
            "event": format!("storage.{verdict}"),
            "finding": kind,
            "reason": f.reason,
            "zone": f.zone,
            "containers": f.containers,
            "region_px": f.region_px,
            "since": crate::event::rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(f.since_s.max(0.0))),
        }),
        evidence: evidence.flatten(),
    }
}

fn safety_draft(c: &SafetyChange, task: &str, frame: &Frame, with_evidence: bool) -> EventDraft {
    let [x, y, w, h] = c.region_px;
    let evidence = with_evidence
        .then(|| {
            let rgb = if c.opened { [230, 30, 30] } else { [40, 200, 60] };
            let o = evidence::Outline { x: x as f32 - 6.0, y: y as f32 - 6.0, width: w as f32 + 12.0, height: h as f32 + 12.0, rgb };
            evidence::render(&frame.image, &[o]).map_err(|e| tracing::warn!(error = %e, "no evidence picture for a safety event")).ok()
        })
        .flatten();
    let verdict = if c.opened { "missing" } else { "resolved" };
    let message = if c.opened {
        format!("安全设施缺失：{}（{}）已被移走或遮挡约 {:.0} 分钟。请立即复位，保持取用通道畅通。", c.kind.name_zh(), c.zone, c.absent_for_s / 60.0)
    } else {
        format!("安全设施已恢复：{}（{}）重新可见。", c.kind.name_zh(), c.zone)
    };
    EventDraft {
        id: None,
        kind: "safety".into(),
        priority: if c.opened { Priority::Alert } else { Priority::Normal },
        camera: frame.camera.to_string(),
        task: task.into(),
        captured_at: frame.captured_at,
        verdict: verdict.into(),
        confidence: (1.0 - c.similarity.clamp(0.0, 1.0)).max(0.5),
        message_zh: Some(message),
        details: serde_json::json!({
            "event": format!("safety.{verdict}"),
            "item": c.kind,
            "zone": c.zone,
            "similarity": (c.similarity * 100.0).round() / 100.0,
            "absent_for_s": c.absent_for_s.round(),
            "region_px": c.region_px,
        }),
        evidence,
    }
}

fn capacity_draft(level: f64, kg: f64, undeclared: usize, task: &str, frame: &Frame, config: &StorageTaskConfig) -> EventDraft {
    let share = kg / config.capacity_kg;
    let unknown = if undeclared > 0 { format!("（另有 {undeclared} 个容器未申报重量）") } else { String::new() };
    EventDraft {
        id: None,
        kind: "storage".into(),
        priority: Priority::Alert,
        camera: frame.camera.to_string(),
        task: task.into(),
        captured_at: frame.captured_at,
        verdict: "capacity".into(),
        confidence: 1.0,
        message_zh: Some(format!(
            "贮存量预警：台账在库约 {:.0} 千克，达到限值 {:.0} 千克的 {:.0}%{unknown}。{}",
            kg,
            config.capacity_kg,
            share * 100.0,
            if level >= 1.0 { "已达上限，请立即安排转移，暂停入库。" } else { "请尽快安排转移。" }
        )),
        details: serde_json::json!({
            "event": "storage.capacity",
            "level": level,
            "stock_kg": (kg * 10.0).round() / 10.0,
            "limit_kg": config.capacity_kg,
            "share": (share * 1000.0).round() / 1000.0,
            "undeclared_containers": undeclared,
        }),
        evidence: None,
    }
}

fn expiry_drafts(config: &StorageTaskConfig, today: chrono::NaiveDate, task: &str, frame: &Frame) -> Vec<EventDraft> {
    let remind_days = (config.remind_before.as_secs() / 86_400) as i64;
    config
        .extinguishers
        .iter()
        .filter_map(|e| {
            let state = safety::expiry(today, e.expires, remind_days);
            let (verdict, priority, message) = match state {
                safety::Expiry::InDate { .. } => return None,
                safety::Expiry::Expiring { days_left } => {
                    ("expiring", Priority::Normal, format!("灭火器（{}）将于 {}（{days_left} 天后）到期，请安排检修或更换。", e.zone, e.expires))
                }
                safety::Expiry::Expired { days_over } => ("expired", Priority::Alert, format!("灭火器（{}）已于 {} 过期 {days_over} 天，请立即更换。", e.zone, e.expires)),
            };
            Some(EventDraft {
                id: None,
                kind: "safety".into(),
                priority,
                camera: frame.camera.to_string(),
                task: task.into(),
                captured_at: frame.captured_at,
                verdict: verdict.into(),
                confidence: 1.0,
                message_zh: Some(message),
                details: serde_json::json!({ "event": format!("safety.{verdict}"), "item": "extinguisher", "zone": e.zone, "expires": e.expires, "expiry": state }),
                evidence: None,
            })
        })
        .collect()
}

/// A calibrated camera's watch and storage task without a pipeline (for
/// `edge-agent storage` and the benchmark): the camera watch first, the
/// storage watch on usable frames.
pub struct StorageRun {
    watch: crate::task::camera_watch::CameraWatch,
    pub task: StorageTask,
}

impl StorageRun {
    pub fn new(calibration: Arc<Calibration>, reference: &image::RgbImage, config: &StorageTaskConfig, ledger: Arc<Ledger>, board: Arc<SiteBoard>) -> Result<Self, String> {
        let camera = calibration.file.camera.clone();
        let watch = crate::task::camera_watch::CameraWatch::with_reference(&camera, reference, Default::default())?;
        let storage = CameraStorage::new(&camera, calibration, reference, config)?;
        let task = StorageTask::with_cameras("storage", config, [(camera, storage)].into_iter().collect(), ledger, board);
        Ok(Self { watch, task })
    }

    pub fn frame(&mut self, frame: &Frame) -> Result<(Vec<EventDraft>, Option<StorageResult>), String> {
        let outcome = self.watch.check(frame);
        let mut drafts = outcome.drafts;
        if outcome.lost_now {
            self.task.reset_camera(&frame.camera);
        }
        if !outcome.usable {
            return Ok((drafts, None));
        }
        let mut result = self.task.frame(frame).map_err(|e| e.to_string())?;
        drafts.append(&mut result.drafts);
        Ok((drafts, Some(result)))
    }
}
