//! A manager's verdict on a sorting event (`cmd/label-feedback`) becomes an
//! enrolled example, while the item's picture is still on the box: the task
//! keeps `<items>/<event id>.jpg` and a record of what it decided (with the
//! embedding) for the newest items.

use crate::enroll::{EmbeddingModel, Enrollment, NewExample};
use crate::mqtt::commands::{CommandError, ErrorCode, LabelFeedback, FeedbackVerdict};
use crate::waste::{RulesTable, WasteCategory};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the task decided about one item, kept beside its picture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemRecord {
    pub event_id: String,
    pub camera: String,
    pub zone: String,
    pub bin: WasteCategory,
    pub category: WasteCategory,
    pub item: Option<String>,
    pub confidence: f32,
    pub model: EmbeddingModel,
    pub rules_version: String,
    pub enrollment_version: u64,
    /// base64 little-endian f32, as the enrollment store keeps it.
    pub embedding: String,
    /// The feedback already applied, so a redelivered command enrolls nothing twice.
    #[serde(default)]
    pub feedback: Option<AppliedFeedback>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedFeedback {
    pub verdict: FeedbackVerdict,
    pub category: WasteCategory,
    pub label: String,
    pub example_id: String,
}

/// Applies one feedback command: enrolls the item as the manager says it is.
pub fn apply(state_dir: &Path, items_dir: &Path, fb: &LabelFeedback, rules: &RulesTable) -> Result<serde_json::Value, CommandError> {
    // Commands may be handled side by side; a redelivery must see the first one's record.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let id = fb.event_id.to_ascii_lowercase();
    let not_here = || {
        CommandError {
            code: ErrorCode::NotApplicable,
            message: format!(
                "the picture of event {id} is not on this box (only sorting events' items are kept, the newest {})",
                super::MAX_ITEM_PICTURES
            ),
            path: Some("/event_id".into()),
        }
    };
    let uuid = uuid::Uuid::parse_str(&id).map_err(|_| not_here())?;
    let (record_path, picture_path) = (items_dir.join(format!("{uuid}.json")), items_dir.join(format!("{uuid}.jpg")));
    let bytes = std::fs::read(&record_path).map_err(|_| not_here())?;
    let mut record: ItemRecord = serde_json::from_slice(&bytes).map_err(|e| CommandError::new(ErrorCode::Internal, format!("{}: {e}", record_path.display())))?;
    let picture_jpeg = std::fs::read(&picture_path).map_err(|_| not_here())?;

    let (category, label) = match fb.verdict {
        FeedbackVerdict::Correct => (record.category, fb.label.clone().or(record.item.clone()).unwrap_or_else(|| record.category.name_zh().into())),
        FeedbackVerdict::Wrong => {
            let category = fb.category.ok_or_else(|| CommandError {
                code: ErrorCode::Invalid,
                message: "a `wrong` verdict needs the right `category`".into(),
                path: Some("/category".into()),
            })?;
            let label = fb.label.clone().unwrap_or_else(|| category.name_zh().into());
            (category, label)
        }
    };
    if let Some(rule) = rules.lookup(&label).filter(|r| r.category != category) {
        return Err(CommandError {
            code: ErrorCode::Rejected,
            message: format!(
                "`{label}` is {} under the rules table ({} {}), not {}: correct the category, or the site's rules file",
                rule.category.name_zh(),
                rules.name,
                rules.version,
                category.name_zh()
            ),
            path: Some("/category".into()),
        });
    }
    let mut store = Enrollment::open(state_dir).map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
    // The same verdict again (a redelivery): nothing new.
    if let Some(done) = record.feedback.as_ref().filter(|d| d.verdict == fb.verdict && d.category == category && d.label == label) {
        return Ok(result(&record, done, store.version(), false));
    }
    // A changed verdict replaces the example the earlier one made.
    if let Some(previous) = record.feedback.take() {
        let _ = store.remove(&[previous.example_id]);
    }
    let embedding = crate::enroll::embedding_b64::decode(&record.embedding).map_err(|e| CommandError::new(ErrorCode::Internal, e))?;
    let example = store
        .add(NewExample { label: label.clone(), category, source: format!("feedback:{uuid}"), picture_jpeg, embedding }, &record.model)
        .map_err(|e| CommandError::new(ErrorCode::Rejected, e.to_string()))?;
    let applied = AppliedFeedback { verdict: fb.verdict, category, label, example_id: example.id };
    record.feedback = Some(applied.clone());
    crate::fsutil::write_atomic(&record_path, &serde_json::to_vec(&record).unwrap_or_default())
        .map_err(|e| CommandError::new(ErrorCode::Internal, format!("enrolled, but the record {} cannot be updated ({e})", record_path.display())))?;
    tracing::info!(event_id = %uuid, label = %applied.label, category = %applied.category, example = %applied.example_id, "feedback enrolled");
    Ok(result(&record, &applied, store.version(), true))
}

fn result(record: &ItemRecord, applied: &AppliedFeedback, version: u64, new: bool) -> serde_json::Value {
    serde_json::json!({
        "event_id": record.event_id,
        "enrolled": new,
        "example_id": applied.example_id,
        "label": applied.label,
        "category": applied.category.code(),
        "was": {"category": record.category.code(), "item": record.item},
        "enrollment_version": version,
    })
}

/// Keeps the newest `keep` items (names are UUIDv7: they sort by time).
pub fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    if ids.len() <= keep {
        return;
    }
    ids.sort();
    for id in &ids[..ids.len() - keep] {
        let _ = std::fs::remove_file(dir.join(format!("{id}.json")));
        let _ = std::fs::remove_file(dir.join(format!("{id}.jpg")));
    }
}
