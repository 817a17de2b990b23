//! Which updated model files are installed on this box, kept in the state
//! folder (the models folder is read-only under systemd): one folder per
//! model version, `state/models/<name>/<version>/<file>`, and
//! `state/models/installed.json` with each model's history, newest last. An
//! empty history means the shipped file (the manifest's) runs.

use crate::inference::ModelCatalog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Versions kept per model for rollback (older files are deleted).
const KEEP_VERSIONS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    pub version: String,
    pub sha256: String,
    /// The model file, inside the state folder.
    pub path: PathBuf,
    pub installed_at: String,
    pub url: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    models: BTreeMap<String, Vec<Installed>>,
}

pub struct Store {
    dir: PathBuf,
    index: Index,
}

impl Store {
    /// Reads `state/models/installed.json`; a missing file is an empty store,
    /// a broken one an error that names it (the shipped models would silently
    /// come back otherwise).
    pub fn open(state_dir: &Path) -> Result<Self, String> {
        let dir = state_dir.join("models");
        let path = dir.join("installed.json");
        let index = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!("{} is not a valid list of installed models ({e}); fix it or delete it to run the shipped models", path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(format!("cannot read {} ({e})", path.display())),
        };
        Ok(Self { dir, index })
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.dir.join("staging")
    }

    /// Where a version's file goes.
    pub fn version_dir(&self, name: &str, version: &str) -> PathBuf {
        self.dir.join(name).join(version)
    }

    pub fn current(&self, name: &str) -> Option<&Installed> {
        self.index.models.get(name).and_then(|h| h.last())
    }

    /// The entry before the current one (None: the shipped file).
    pub fn previous(&self, name: &str) -> Option<&Installed> {
        let history = self.index.models.get(name)?;
        history.len().checked_sub(2).map(|i| &history[i])
    }

    /// Points the catalog's manifests at the installed files.
    pub fn apply(&self, catalog: &mut ModelCatalog) {
        for (name, history) in &self.index.models {
            let (Some(entry), Some(manifest)) = (history.last(), catalog.manifests.get_mut(name)) else { continue };
            point_at(manifest, entry);
        }
    }

    /// Records `entry` as the model's current version and prunes old files.
    pub fn push(&mut self, name: &str, entry: Installed) -> Result<(), String> {
        let history = self.index.models.entry(name.to_string()).or_default();
        history.retain(|e| e.version != entry.version);
        history.push(entry);
        let pruned: Vec<Installed> = if history.len() > KEEP_VERSIONS { history.drain(..history.len() - KEEP_VERSIONS).collect() } else { vec![] };
        self.save()?;
        for old in pruned {
            if let Some(folder) = old.path.parent() {
                let _ = std::fs::remove_dir_all(folder);
            }
        }
        Ok(())
    }

    /// Drops the current version; the previous one (or the shipped file) is current again.
    pub fn pop(&mut self, name: &str) -> Result<Option<Installed>, String> {
        let Some(history) = self.index.models.get_mut(name) else { return Ok(None) };
        let popped = history.pop();
        if history.is_empty() {
            self.index.models.remove(name);
        }
        self.save()?;
        Ok(popped)
    }

    fn save(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {} ({e})", self.dir.display()))?;
        let json = serde_json::to_vec_pretty(&self.index).map_err(|e| e.to_string())?;
        crate::fsutil::write_atomic(&self.dir.join("installed.json"), &json)
            .map_err(|e| format!("cannot write {} ({e}); free space in the state folder", self.dir.join("installed.json").display()))
    }
}

/// Points a manifest at an installed file; its labels and category files stay where they are.
pub fn point_at(manifest: &mut crate::inference::ModelManifest, entry: &Installed) {
    manifest.file = std::path::absolute(&entry.path).unwrap_or_else(|_| entry.path.clone());
    manifest.version = entry.version.clone();
    manifest.sha256 = entry.sha256.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &Path, version: &str) -> Installed {
        let path = dir.join("models").join("m").join(version).join("m.onnx");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, version).unwrap();
        Installed { version: version.into(), sha256: "0".repeat(64), path, installed_at: "t".into(), url: "http://x/m.onnx".into() }
    }

    #[test]
    fn history_survives_a_reopen_keeps_three_versions_and_pops_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for v in ["1", "2", "3", "4"] {
            let e = entry(dir.path(), v);
            store.push("m", e).unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.current("m").map(|e| e.version.as_str()), Some("4"));
        assert_eq!(store.previous("m").map(|e| e.version.as_str()), Some("3"));
        assert!(!dir.path().join("models/m/1").exists(), "the oldest version's file is pruned");
        assert!(dir.path().join("models/m/2/m.onnx").exists());
        assert_eq!(store.pop("m").unwrap().map(|e| e.version), Some("4".into()));
        assert_eq!(store.pop("m").unwrap().map(|e| e.version), Some("3".into()));
        assert_eq!(store.pop("m").unwrap().map(|e| e.version), Some("2".into()));
        assert_eq!(store.pop("m").unwrap(), None, "nothing left: the shipped file runs");
        assert!(store.current("m").is_none());
    }

    #[test]
    fn a_broken_index_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(dir.path().join("models/installed.json"), b"{not json").unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.contains("installed.json") && err.contains("delete it"), "{err}");
    }
}
