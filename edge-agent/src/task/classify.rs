//! Whole-frame waste classification: the top labels and the Beijing category.

use super::{Task, TaskResult};
use crate::inference::classifier::{CategoryScore, LabelScore};
use crate::inference::{ImageClassifier, InferenceError, ProviderInUse};
use crate::vision::Frame;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ClassificationResult {
    pub model: String,
    pub model_version: String,
    pub provider: ProviderInUse,
    pub top: Vec<LabelScore>,
    pub category: Option<CategoryScore>,
    pub inference_ms: f64,
}

pub struct ClassifyTask {
    id: String,
    classifier: ImageClassifier,
    top_k: usize,
}

impl ClassifyTask {
    pub fn new(id: &str, classifier: ImageClassifier, top_k: usize) -> Self {
        Self { id: id.to_string(), classifier, top_k }
    }
}

impl Task for ClassifyTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn process(&self, frame: &Frame) -> Result<TaskResult, InferenceError> {
        let started = std::time::Instant::now();
        let c = self.classifier.classify(&frame.image, self.top_k)?;
        let session = &self.classifier.session;
        Ok(TaskResult::Classification(ClassificationResult {
            model: session.manifest.name.clone(),
            model_version: session.manifest.version.clone(),
            provider: session.provider.clone(),
            top: c.top,
            category: c.category,
            inference_ms: started.elapsed().as_secs_f64() * 1000.0,
        }))
    }
}
