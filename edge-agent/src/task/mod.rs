//! Tasks: the domain logic that turns a frame plus model outputs into results.
//! They know nothing of cameras, MQTT or files, so they are tested on still
//! pictures. `camera_watch` guards every calibrated camera before its tasks.

pub mod camera_watch;
pub mod classify;
pub mod intake;
pub mod leak;

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

/// Builds a task from its config, sharing model sessions through the pool.
/// `cameras` are the cameras that run it, with their calibrations.
/// `slips` are the declared intake slips (from `cmd/intake-slip`) intake tasks pair with.
pub fn build_task(
    config: &TaskConfig,
    models: &ModelPool,
    cameras: &[(String, Arc<Calibration>)],
    slips: &Arc<intake::slips::SlipBook>,
) -> Result<Box<dyn Task>, TaskError> {
    match &config.kind {
        TaskKind::Classify(c) => Ok(Box::new(classify::ClassifyTask::new(&config.id, models.classifier(&c.model)?, c))),
        TaskKind::Leak(c) => Ok(Box::new(leak::LeakTask::new(&config.id, c, cameras).map_err(TaskError::Input)?)),
        TaskKind::Intake(c) => Ok(Box::new(intake::IntakeTask::new(&config.id, c, models, cameras, slips.clone())?)),
    }
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
