//! Model updates from the platform (`cmd/model-update`) and rollback
//! (`cmd/model-rollback`). The new file is downloaded to a staging folder and
//! checked (sha256, and the ed25519 signature when a key is configured), then
//! opened beside the running model and self-tested on the manifest's sample.
//! Only then is it recorded and swapped into every session of that model:
//! the cameras keep running, the next frame uses the new model. On any
//! failure the running model stays and the reply says why.
//!
//! - `fetch`: download + hash + signature (pure I/O, no agent state);
//! - `selftest`: the sample through the candidate and the running model;
//! - `store`: which versions are installed (`state/models/installed.json`).

pub mod fetch;
pub mod selftest;
pub mod store;

use crate::config::ModelUpdatesConfig;
use crate::inference::{InferenceError, ModelCatalog, ModelPool, ModelSession};
use crate::mqtt::commands::{CommandError, ErrorCode, ModelUpdate};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use store::{Installed, Store};

/// The running plan's model pool; replaced on a config reload.
pub type CurrentPool = Arc<Mutex<Option<Arc<ModelPool>>>>;

pub struct ModelUpdater {
    state_dir: PathBuf,
    models_dir: PathBuf,
    settings: fetch::FetchSettings,
    pool: CurrentPool,
    /// One update or rollback at a time.
    busy: Mutex<()>,
}

fn rejected(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::Rejected, message)
}

impl ModelUpdater {
    pub fn new(config: &ModelUpdatesConfig, state_dir: &Path, models_dir: &Path, pool: CurrentPool) -> Result<Self, String> {
        let public_key = match &config.public_key {
            Some(path) => Some(fetch::load_public_key(path).map_err(|e| e.to_string())?),
            None => None,
        };
        let settings = fetch::FetchSettings {
            max_bytes: config.max_mb.saturating_mul(1024 * 1024),
            timeout: config.timeout,
            public_key,
            extra_ca_pem: config.ca_file.clone(),
        };
        Ok(Self { state_dir: state_dir.into(), models_dir: models_dir.into(), settings, pool, busy: Mutex::new(()) })
    }

    fn pool(&self) -> Result<Arc<ModelPool>, CommandError> {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| CommandError::new(ErrorCode::NotApplicable, "the agent is starting or reloading; send the update again in a minute"))
    }

    fn store(&self) -> Result<Store, CommandError> {
        Store::open(&self.state_dir).map_err(|m| CommandError::new(ErrorCode::Internal, m))
    }

    pub fn update(&self, cmd: &ModelUpdate) -> Result<serde_json::Value, CommandError> {
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let t0 = Instant::now();
        let pool = self.pool()?;
        let not_here = |e: crate::inference::manifest::ManifestError| CommandError {
            code: ErrorCode::NotApplicable,
            message: e.to_string(),
            path: Some("/model".into()),
        };
        let file_name = pool.catalog.get(&cmd.model).map(|m| m.file.clone()).map_err(not_here)?;
        let running = self.running_session(&pool, &cmd.model)?;
        let sha256 = cmd.sha256.to_ascii_lowercase();
        if running.version() == cmd.version && running.sha256() == sha256 {
            // A redelivered command: nothing to do, and nothing to fetch.
            return Ok(serde_json::json!({ "model": cmd.model, "version": cmd.version, "unchanged": true }));
        }
        let mut store = self.store()?;
        let request = fetch::FetchRequest {
            name: &cmd.model,
            version: &cmd.version,
            sha256: &sha256,
            url: &cmd.url,
            signature: cmd.signature.as_deref(),
        };
        let staged = fetch::fetch_verified(&request, &self.settings, &store.staging_dir()).map_err(|e| CommandError {
            code: if matches!(e, fetch::FetchError::Invalid { .. }) { ErrorCode::Invalid } else { ErrorCode::Rejected },
            message: format!("{e}; version {} keeps running", running.version()),
            path: None,
        })?;
        let folder = store.version_dir(&cmd.model, &cmd.version);
        let installed_path = folder.join(&file_name);
        let install = std::fs::create_dir_all(&folder).and_then(|_| std::fs::rename(&staged, &installed_path));
        if let Err(e) = install {
            let _ = std::fs::remove_file(&staged);
            return Err(CommandError::new(ErrorCode::Internal, format!("cannot move the model into {} ({e}); free space in the state folder", folder.display())));
        }
        let previous_version = running.version();
        let swapped = self.swap(&pool, &running, &installed_path, &cmd.version, &sha256, |store_ok| {
            store.push(
                &cmd.model,
                Installed {
                    version: cmd.version.clone(),
                    sha256: sha256.clone(),
                    path: installed_path.clone(),
                    installed_at: crate::event::rfc3339_millis(std::time::SystemTime::now()),
                    url: cmd.url.clone(),
                },
            )
            .map(|_| store_ok)
        });
        let (report, sessions) = match swapped {
            Ok(ok) => ok,
            Err(message) => {
                let _ = std::fs::remove_dir_all(&folder);
                tracing::error!(model = %cmd.model, version = %cmd.version, %message, "model update refused; the running model stays");
                return Err(rejected(format!("{message}; version {previous_version} keeps running")));
            }
        };
        tracing::info!(model = %cmd.model, version = %cmd.version, %previous_version, sessions, "model updated");
        Ok(serde_json::json!({
            "model": cmd.model,
            "version": cmd.version,
            "previous_version": previous_version,
            "sha256": sha256,
            "sessions_swapped": sessions,
            "self_test": report,
            "took_ms": t0.elapsed().as_millis() as u64,
        }))
    }

    pub fn rollback(&self, model: &str) -> Result<serde_json::Value, CommandError> {
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let pool = self.pool()?;
        let running = self.running_session(&pool, model)?;
        let mut store = self.store()?;
        let Some(current) = store.current(model).cloned() else {
            return Err(rejected(format!("no update of `{model}` is installed: the shipped version {} runs", running.version())));
        };
        // Back to the version before, or to the shipped file.
        let (path, version, sha256) = match store.previous(model) {
            Some(prev) => (prev.path.clone(), prev.version.clone(), prev.sha256.clone()),
            None => {
                let shipped = ModelCatalog::load(&self.models_dir)
                    .and_then(|c| c.get(model).cloned())
                    .map_err(|e| CommandError::new(ErrorCode::Internal, format!("cannot read the shipped manifest ({e})")))?;
                (shipped.model_path(), shipped.version.clone(), shipped.sha256.clone())
            }
        };
        let (report, sessions) = self
            .swap(&pool, &running, &path, &version, &sha256, |ok| store.pop(model).map(|_| ok))
            .map_err(|m| rejected(format!("{m}; version {} keeps running", current.version)))?;
        if let Some(folder) = current.path.parent() {
            let _ = std::fs::remove_dir_all(folder);
        }
        tracing::info!(model, version = %version, rolled_back = %current.version, sessions, "model rolled back");
        Ok(serde_json::json!({
            "model": model,
            "version": version,
            "rolled_back": current.version,
            "sessions_swapped": sessions,
            "self_test": report,
        }))
    }

    /// A session of the model to compare against: one the tasks use, or one
    /// opened for the test when no task of this config uses the model.
    fn running_session(&self, pool: &ModelPool, model: &str) -> Result<Arc<ModelSession>, CommandError> {
        if let Some(s) = pool.open_sessions(model).into_iter().next() {
            return Ok(s);
        }
        let manifest = pool.catalog.get(model).map_err(|e| CommandError::new(ErrorCode::NotApplicable, e.to_string()))?;
        ModelSession::open(manifest, &pool.config, &pool.catalog.dir)
            .map(Arc::new)
            .map_err(|e| CommandError::new(ErrorCode::Internal, format!("cannot open the running model to compare with: {e}")))
    }

    /// Opens `file` beside every running session of the model, self-tests it
    /// against `reference` (from [`Self::running_session`]), runs `record`
    /// (which persists the change), and only then swaps.
    fn swap(
        &self,
        pool: &ModelPool,
        reference: &Arc<ModelSession>,
        file: &Path,
        version: &str,
        sha256: &str,
        record: impl FnOnce(()) -> Result<(), String>,
    ) -> Result<(serde_json::Value, usize), String> {
        let open = |s: &ModelSession| s.candidate(file, version, sha256).map(Arc::new).map_err(|e: InferenceError| format!("the new model cannot be loaded: {e}"));
        let running = pool.open_sessions(reference.name());
        let tested = open(reference)?;
        let report = selftest::self_test(&tested, reference).map_err(|m| format!("self-test failed: {m}"))?;
        // Replicas with other thread settings need their own session each.
        let mut candidates = Vec::with_capacity(running.len());
        for s in &running {
            candidates.push(if Arc::ptr_eq(s, reference) { tested.clone() } else { open(s)? });
        }
        record(())?;
        for (s, c) in running.iter().zip(&candidates) {
            s.adopt(c);
        }
        Ok((report, running.len()))
    }
}
