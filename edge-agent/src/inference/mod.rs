//! Inference: ONNX Runtime sessions built from model manifests, and one typed
//! wrapper per model kind. Everything here runs on blocking threads.

pub mod classifier;
pub mod manifest;
pub mod runtime;
pub mod segmenter;
pub mod session;
pub mod text;
pub mod yolo;

pub use classifier::{Classification, ImageClassifier};
pub use manifest::{ModelCatalog, ModelKind, ModelManifest};
pub use runtime::{InferenceConfig, Provider};
pub use session::{InferenceError, ModelSession, ProviderInUse};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Opens each model once and shares the session between every camera and task
/// that uses it.
pub struct ModelPool {
    pub catalog: ModelCatalog,
    pub config: InferenceConfig,
    open: Mutex<HashMap<String, Arc<ModelSession>>>,
}

impl ModelPool {
    pub fn new(catalog: ModelCatalog, config: InferenceConfig) -> Self {
        Self { catalog, config, open: Mutex::new(HashMap::new()) }
    }

    pub fn load(models_dir: &Path, config: InferenceConfig) -> Result<Self, InferenceError> {
        Ok(Self::new(ModelCatalog::load(models_dir)?, config))
    }

    /// The catalog with the model updates installed in `state_dir` applied.
    pub fn load_with_updates(models_dir: &Path, config: InferenceConfig, state_dir: &Path) -> Result<Self, InferenceError> {
        let mut catalog = ModelCatalog::load(models_dir)?;
        let store = crate::model_update::store::Store::open(state_dir).map_err(|m| InferenceError::model("installed updates", m))?;
        store.apply(&mut catalog);
        Ok(Self::new(catalog, config))
    }

    pub fn session(&self, name: &str) -> Result<Arc<ModelSession>, InferenceError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = open.get(name) {
            return Ok(s.clone());
        }
        let manifest = self.catalog.get(name)?;
        let session = Arc::new(ModelSession::open(manifest, &self.config, &self.catalog.dir)?);
        open.insert(name.to_string(), session.clone());
        Ok(session)
    }

    /// `n` independent sessions of one model, each with `intra_threads`
    /// threads, so that small inputs (text lines) run side by side rather than
    /// one at a time through a shared session.
    pub fn replicas(&self, name: &str, n: usize, intra_threads: usize) -> Result<Vec<Arc<ModelSession>>, InferenceError> {
        let config = InferenceConfig { intra_threads, ..self.config.clone() };
        let manifest = self.catalog.get(name)?;
        (0..n.max(1))
            .map(|k| {
                let key = format!("{name}#{k}/{intra_threads}");
                let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(s) = open.get(&key) {
                    return Ok(s.clone());
                }
                let session = Arc::new(ModelSession::open(&manifest, &config, &self.catalog.dir)?);
                open.insert(key, session.clone());
                Ok(session)
            })
            .collect()
    }

    /// Every open session of one model (the shared one and any replicas).
    pub fn open_sessions(&self, name: &str) -> Vec<Arc<ModelSession>> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<&String> = open.keys().filter(|k| *k == name || k.starts_with(&format!("{name}#"))).collect();
        keys.sort();
        keys.into_iter().filter_map(|k| open.get(k).cloned()).collect()
    }

    /// One session per open model, by name, for the heartbeat.
    pub fn models(&self) -> Vec<Arc<ModelSession>> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_name: std::collections::BTreeMap<String, Arc<ModelSession>> = std::collections::BTreeMap::new();
        for s in open.values() {
            by_name.entry(s.manifest.name.clone()).or_insert_with(|| s.clone());
        }
        by_name.into_values().collect()
    }

    /// Name, version and file sha256 of every model opened so far (once per model).
    pub fn loaded(&self) -> Vec<crate::event::ModelRef> {
        self.models().iter().map(|s| s.model_ref()).collect()
    }

    pub fn classifier(&self, name: &str) -> Result<ImageClassifier, InferenceError> {
        let session = self.session(name)?;
        expect_kind(&session, ModelKind::ImageClassifier)?;
        ImageClassifier::new(session)
    }
}

pub fn expect_kind(session: &ModelSession, kind: ModelKind) -> Result<(), InferenceError> {
    let actual = session.manifest.kind;
    if actual != kind {
        return Err(InferenceError::model(
            session.name(),
            format!("is a {} but is used as a {}", actual.as_str(), kind.as_str()),
        ));
    }
    Ok(())
}

impl std::fmt::Debug for ModelPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPool").field("dir", &self.catalog.dir).field("loaded", &self.loaded()).finish()
    }
}
