//! Tasks: the domain logic that turns a frame plus model outputs into results.
//! They know nothing of cameras, MQTT or files, so they are tested on still
//! pictures. Later issues add the sorting, intake and leak tasks here.

pub mod classify;

use crate::config::{TaskConfig, TaskKind};
use crate::event::EventDraft;
use crate::inference::{InferenceError, ModelPool};
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
}

pub trait Task: Send + Sync {
    fn id(&self) -> &str;
    fn process(&self, frame: &Frame) -> Result<TaskResult, InferenceError>;
    /// The events a result is worth telling the platform about (often none).
    fn events(&self, frame: &Frame, result: &TaskResult) -> Vec<EventDraft>;
}

/// Builds a task from its config, sharing model sessions through the pool.
pub fn build_task(config: &TaskConfig, models: &ModelPool) -> Result<Box<dyn Task>, InferenceError> {
    match &config.kind {
        TaskKind::Classify(c) => Ok(Box::new(classify::ClassifyTask::new(&config.id, models.classifier(&c.model)?, c))),
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
