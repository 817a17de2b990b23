//! Whole-frame waste classification: the top labels and the Beijing category.

use super::{Task, TaskError, TaskResult};
use crate::config::{ClassifyTaskConfig, EmitPolicy};
use crate::event::{EventDraft, Priority, evidence};
use crate::inference::classifier::{CategoryScore, LabelScore};
use crate::inference::{ImageClassifier, ProviderInUse};
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
    emit: EmitPolicy,
    evidence: bool,
    /// Per camera, the last (top label, category) told to the platform.
    last: std::sync::Mutex<std::collections::HashMap<String, (String, Option<crate::waste::WasteCategory>)>>,
}

impl ClassifyTask {
    pub fn new(id: &str, classifier: ImageClassifier, config: &ClassifyTaskConfig) -> Self {
        Self {
            id: id.to_string(),
            classifier,
            top_k: config.top_k,
            emit: config.emit,
            evidence: config.evidence,
            last: Default::default(),
        }
    }
}

impl Task for ClassifyTask {
    fn id(&self) -> &str {
        &self.id
    }

    fn process(&self, frame: &Frame) -> Result<TaskResult, TaskError> {
        let started = std::time::Instant::now();
        let session = &self.classifier.session;
        // Read before the run: a model update landing mid-frame is credited to the next frame.
        let model_version = session.version();
        let c = self.classifier.classify(&frame.image, self.top_k)?;
        Ok(TaskResult::Classification(ClassificationResult {
            model: session.manifest.name.clone(),
            model_version,
            provider: session.provider.clone(),
            top: c.top,
            category: c.category,
            inference_ms: started.elapsed().as_secs_f64() * 1000.0,
        }))
    }

    fn events(&self, frame: &Frame, result: &TaskResult) -> Vec<EventDraft> {
        let TaskResult::Classification(c) = result else { return vec![] };
        let Some(top) = c.top.first() else { return vec![] };
        let seen = (top.label.clone(), c.category.as_ref().map(|k| k.category));
        let emit = match self.emit {
            EmitPolicy::Never => false,
            EmitPolicy::Every => true,
            EmitPolicy::Change => {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                last.insert(frame.camera.to_string(), seen.clone()).as_ref() != Some(&seen)
            }
        };
        if !emit {
            return vec![];
        }
        let evidence = if self.evidence {
            evidence::render(&frame.image, &[])
                .inspect_err(|e| tracing::warn!(camera = %frame.camera, error = %e, "event sent without its picture"))
                .ok()
        } else {
            None
        };
        let message_zh = c.category.as_ref().map(|k| format!("识别为{}（{}）", k.name_zh, top.label));
        vec![EventDraft {
            id: None,
            kind: "classification".into(),
            priority: Priority::Telemetry,
            camera: frame.camera.to_string(),
            task: self.id.clone(),
            captured_at: frame.captured_at,
            verdict: "classified".into(),
            confidence: c.category.as_ref().map_or(top.score, |k| k.confidence),
            message_zh,
            details: serde_json::json!({
                "top": c.top.iter().map(|l| serde_json::json!({"label": l.label, "score": l.score})).collect::<Vec<_>>(),
                "category": c.category.as_ref().map(|k| serde_json::json!({"category": k.category.code(), "score": k.confidence})),
                "frame_seq": frame.seq,
                "inference_ms": c.inference_ms,
            }),
            evidence,
        }]
    }
}
