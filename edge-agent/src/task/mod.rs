//! Tasks: the domain logic that turns a frame plus model outputs into results.
//! They know nothing of cameras, MQTT or files, so they are tested on still
//! pictures. `camera_watch` guards every calibrated camera before its tasks.

pub mod camera_watch;
pub mod classify;
pub mod intake;
pub mod leak;
pub mod site;
pub mod sorting;
pub mod storage;

use crate::config::{TaskConfig, TaskKind};
use crate::event::EventDraft;
use crate::calibration::Calibration;
use crate::inference::{InferenceError, ModelPool};
use std::sync::Arc;
use crate::vision::Frame;
use serde::Serialize;

/// What a task says about one frame.
#[derive(Debug, Clone, Serialize)]
pub struct TaskOutput {
    pub task: String,
    pub camera: String,
    pub frame_seq: u64,
    pub origin: String,
    pub captured_at_ms: u64,
    #[serde(flatten)]
    pub result: TaskResult,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskResult {
    Classification(classify::ClassificationResult),
    Leak(leak::LeakResult),
    Intake(intake::IntakeResult),
    Sorting(sorting::SortingResult),
    Storage(storage::StorageResult),
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The frame cannot be judged (wrong size for the calibration, say).
    #[error("{0}")]
    Input(String),
}

pub trait Task: Send + Sync {
    fn id(&self) -> &str;
    fn process(&self, frame: &Frame) -> Result<TaskResult, TaskError>;
    /// The events a result is worth telling the platform about (often none).
    fn events(&self, frame: &Frame, result: &TaskResult) -> Vec<EventDraft>;
    /// The camera's view was lost: forget what was learnt of its scene.
    fn reset_camera(&self, _camera: &str) {}
}

/// What tasks share with the agent around them.
pub struct TaskContext<'a> {
    /// Model sessions, shared between every task and camera that use a model.
    pub models: &'a ModelPool,
    /// Declared intake slips (from `cmd/intake-slip`) intake tasks pair with.
    pub slips: &'a Arc<intake::slips::SlipBook>,
    /// The agent's state folder (enrollment, kept item pictures).
    pub state_dir: Option<&'a std::path::Path>,
    /// The station display, when the agent serves one.
    pub display: Option<Arc<crate::web::station::StationHub>>,
    pub tallies: Arc<sorting::tally::SortingTallies>,
    /// The pod's ledger: intake records into it, the storage watch checks against it.
    pub ledger: Arc<storage::ledger::Ledger>,
    /// What tasks tell each other (leaks open, inspection requests).
    pub board: Arc<site::SiteBoard>,
}

/// Builds a task from its config. `cameras` are the cameras that run it, with their calibrations.
pub fn build_task(config: &TaskConfig, cameras: &[(String, Arc<Calibration>)], ctx: &TaskContext<'_>) -> Result<Box<dyn Task>, TaskError> {
    let models = ctx.models;
    match &config.kind {
        TaskKind::Classify(c) => Ok(Box::new(classify::ClassifyTask::new(&config.id, models.classifier(&c.model)?, c))),
        TaskKind::Leak(c) => Ok(Box::new(leak::LeakTask::new(&config.id, c, cameras).map_err(TaskError::Input)?.with_board(ctx.board.clone()))),
        TaskKind::Intake(c) => {
            Ok(Box::new(intake::IntakeTask::new(&config.id, c, models, cameras, ctx.slips.clone())?.with_ledger(ctx.ledger.clone())))
        }
        TaskKind::Storage(c) => {
            Ok(Box::new(storage::StorageTask::new(&config.id, c, cameras, ctx.ledger.clone(), ctx.board.clone()).map_err(TaskError::Input)?))
        }
        TaskKind::Sorting(c) => {
            let classifier = Arc::new(sorting_classifier(&config.id, c, models, ctx.state_dir)?);
            let context = sorting::SortingContext {
                classifier,
                cameras: cameras.to_vec(),
                items_dir: ctx.state_dir.map(|d| d.join("sorting").join("items")),
                display: ctx.display.clone(),
                tallies: ctx.tallies.clone(),
            };
            Ok(Box::new(sorting::SortingTask::new(&config.id, c, context).map_err(TaskError::Input)?))
        }
    }
}

/// The sorting task's item classifier: its models, its rules table and the box's enrolled examples.
pub fn sorting_classifier(
    task: &str,
    c: &sorting::SortingTaskConfig,
    models: &ModelPool,
    state_dir: Option<&std::path::Path>,
) -> Result<sorting::item::ItemClassifier, TaskError> {
    let classifier = models.classifier(&c.classifier)?;
    let segmenter = if c.segmenter.is_empty() {
        None
    } else {
        Some(crate::inference::segmenter::SalientSegmenter::new(models.session(&c.segmenter)?)?)
    };
    let rules = match &c.rules {
        Some(path) => Arc::new(crate::waste::RulesTable::with_site_file(path).map_err(|e| TaskError::Input(format!("task `{task}`: {e}")))?),
        None => Arc::new(crate::waste::RulesTable::builtin().clone()),
    };
    sorting::item::ItemClassifier::new(classifier, segmenter, rules, c.fusion, state_dir).map_err(|e| TaskError::Input(format!("task `{task}`: {e}")))
}

impl TaskOutput {
    pub fn new(task: &str, frame: &Frame, result: TaskResult) -> Self {
        let captured_at_ms = frame
            .captured_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Self {
            task: task.to_string(),
            camera: frame.camera.to_string(),
            frame_seq: frame.seq,
            origin: frame.origin.to_string(),
            captured_at_ms,
            result,
        }
    }
}
