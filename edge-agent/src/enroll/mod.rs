//! Few-shot enrollment: a site's own labelled examples of items (a picture,
//! its 1280-d embedding, a fine label and a category), kept durably on the
//! box. At run time the nearest enrolled examples outweigh the generic
//! ImageNet mapping when they are close (see [`knn`]).
//!
//! On disk, under `<state>/enrollment/`: `examples.json` (the list, with
//! embeddings as base64 little-endian f32) and `pictures/<id>.jpg`. Every
//! change is written atomically under a file lock, so the `enroll` command
//! and a running agent (feedback from managers) can both add examples; the
//! agent notices the file changed and reloads it. `version` counts changes and
//! is carried in events, so a verdict names the examples that judged it.

pub mod knn;

use crate::waste::WasteCategory;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;
/// Most examples kept: the nearest-neighbour search stays well under a millisecond.
pub const MAX_EXAMPLES: usize = 20_000;

/// The embedding model the examples were made with: examples from another
/// model are not comparable and must be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingModel {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub id: String,
    /// Fine class as the site names it (塑料瓶 ...).
    pub label: String,
    pub category: WasteCategory,
    pub added_at: String,
    /// Where it came from: `cli:<file name>`, `feedback:<event id>`, `import:<id>`.
    pub source: String,
    /// File name under `pictures/`.
    pub picture: String,
    #[serde(with = "embedding_b64")]
    pub embedding: Vec<f32>,
}

/// A new example before it is stored.
pub struct NewExample {
    pub label: String,
    pub category: WasteCategory,
    pub source: String,
    pub picture_jpeg: Vec<u8>,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoreFile {
    format: u32,
    version: u64,
    model: Option<EmbeddingModel>,
    examples: Vec<Example>,
}

impl Default for StoreFile {
    fn default() -> Self {
        Self { format: FORMAT, version: 0, model: None, examples: vec![] }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("enrollment store {path}: {message}")]
    Store { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The examples of one box, as last read from disk.
pub struct Enrollment {
    dir: PathBuf,
    file: StoreFile,
    /// Modification time + length of `examples.json` when read, to notice other writers.
    stamp: Option<(std::time::SystemTime, u64)>,
}

impl Enrollment {
    /// Opens `<state_dir>/enrollment`, creating it when absent.
    pub fn open(state_dir: &Path) -> Result<Self, EnrollError> {
        let dir = state_dir.join("enrollment");
        std::fs::create_dir_all(dir.join("pictures")).map_err(|e| EnrollError::Store {
            path: dir.clone(),
            message: format!("cannot create it ({e}); check the [storage] dir and its permissions"),
        })?;
        let mut me = Self { dir, file: StoreFile::default(), stamp: None };
        me.read()?;
        Ok(me)
    }

    fn list_path(&self) -> PathBuf {
        self.dir.join("examples.json")
    }

    fn store_err(&self, message: String) -> EnrollError {
        EnrollError::Store { path: self.list_path(), message }
    }

    fn file_stamp(&self) -> Option<(std::time::SystemTime, u64)> {
        let m = std::fs::metadata(self.list_path()).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    fn read(&mut self) -> Result<(), EnrollError> {
        let path = self.list_path();
        let stamp = self.file_stamp();
        self.file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<StoreFile>(&bytes).map_err(|e| {
                self.store_err(format!("cannot be read ({e}); restore it from an export (`edge-agent enroll import`) or move it aside to start empty"))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoreFile::default(),
            Err(e) => return Err(self.store_err(format!("cannot be read ({e})"))),
        };
        if self.file.format != FORMAT {
            return Err(self.store_err(format!("has format {}, this agent reads format {FORMAT}", self.file.format)));
        }
        self.stamp = stamp;
        Ok(())
    }

    /// Re-reads the list if another process changed it; true if it did.
    pub fn refresh(&mut self) -> Result<bool, EnrollError> {
        if self.file_stamp() == self.stamp {
            return Ok(false);
        }
        self.read()?;
        Ok(true)
    }

    /// Read-modify-write under an exclusive lock, then an atomic replace.
    fn change<T>(&mut self, f: impl FnOnce(&mut StoreFile, &Path) -> Result<T, EnrollError>) -> Result<T, EnrollError> {
        let lock_path = self.dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.store_err(format!("cannot open its lock file ({e})")))?;
        lock.lock().map_err(|e| self.store_err(format!("cannot lock it ({e})")))?;
        self.read()?;
        let mut next = self.file.clone();
        let out = f(&mut next, &self.dir)?;
        next.version += 1;
        let bytes = serde_json::to_vec(&next).map_err(|e| self.store_err(e.to_string()))?;
        crate::fsutil::write_atomic(&self.list_path(), &bytes)
            .map_err(|e| self.store_err(format!("cannot be written ({e}); free disk space and try again — nothing was changed")))?;
        self.file = next;
        self.stamp = self.file_stamp();
        let _ = lock.unlock();
        Ok(out)
    }

    pub fn version(&self) -> u64 {
        self.file.version
    }

    pub fn model(&self) -> Option<&EmbeddingModel> {
        self.file.model.as_ref()
    }

    pub fn examples(&self) -> &[Example] {
        &self.file.examples
    }

    pub fn picture_path(&self, example: &Example) -> PathBuf {
        self.dir.join("pictures").join(&example.picture)
    }

    /// Stores one example (picture first, then the list that names it).
    pub fn add(&mut self, new: NewExample, model: &EmbeddingModel) -> Result<Example, EnrollError> {
        validate_label(&new.label)?;
        if new.embedding.is_empty() || new.embedding.iter().any(|v| !v.is_finite()) {
            return Err(EnrollError::Invalid("the embedding is empty or not finite".into()));
        }
        self.change(|file, dir| {
            check_model(file, model)?;
            if file.examples.len() >= MAX_EXAMPLES {
                return Err(EnrollError::Invalid(format!(
                    "{MAX_EXAMPLES} examples are enrolled already: remove some (`edge-agent enroll remove`) first"
                )));
            }
            if let Some(first) = file.examples.first().filter(|e| e.embedding.len() != new.embedding.len()) {
                return Err(EnrollError::Invalid(format!("embedding has {} values, the enrolled ones {}", new.embedding.len(), first.embedding.len())));
            }
            file.model.get_or_insert_with(|| model.clone());
            let id = uuid::Uuid::now_v7().simple().to_string()[..16].to_string();
            let picture = format!("{id}.jpg");
            crate::fsutil::write_atomic(&dir.join("pictures").join(&picture), &new.picture_jpeg).map_err(|e| EnrollError::Store {
                path: dir.join("pictures"),
                message: format!("cannot store the picture ({e}); free disk space"),
            })?;
            let example = Example {
                id,
                label: new.label.trim().to_string(),
                category: new.category,
                added_at: crate::event::rfc3339_millis(std::time::SystemTime::now()),
                source: new.source,
                picture,
                embedding: new.embedding,
            };
            file.examples.push(example.clone());
            Ok(example)
        })
    }

    /// Removes examples by id (or id prefix of 6+ characters); their pictures go too.
    pub fn remove(&mut self, ids: &[String]) -> Result<Vec<Example>, EnrollError> {
        self.change(|file, dir| {
            let mut removed = Vec::new();
            for id in ids {
                let matches: Vec<usize> = file
                    .examples
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.id == *id || (id.len() >= 6 && e.id.starts_with(id.as_str())))
                    .map(|(i, _)| i)
                    .collect();
                match matches.as_slice() {
                    [i] => removed.push(file.examples.remove(*i)),
                    [] => return Err(EnrollError::Invalid(format!("no enrolled example `{id}`; `edge-agent enroll list` shows the ids"))),
                    _ => return Err(EnrollError::Invalid(format!("`{id}` matches {} examples; give more of the id", matches.len()))),
                }
            }
            for e in &removed {
                let _ = std::fs::remove_file(dir.join("pictures").join(&e.picture));
            }
            if file.examples.is_empty() {
                file.model = None;
            }
            Ok(removed)
        })
    }

    /// Replaces every embedding (after the embedding model changed).
    pub fn rebuild(&mut self, model: &EmbeddingModel, embed: &mut dyn FnMut(&Path) -> Result<Vec<f32>, String>) -> Result<usize, EnrollError> {
        self.change(|file, dir| {
            for e in &mut file.examples {
                let path = dir.join("pictures").join(&e.picture);
                e.embedding = embed(&path).map_err(|m| EnrollError::Invalid(format!("example {} ({}): {m}", e.id, path.display())))?;
            }
            file.model = Some(model.clone());
            Ok(file.examples.len())
        })
    }

    /// Writes an ImageFolder copy: `<dir>/<category>/<label>/<id>.jpg` plus
    /// `manifest.json` (everything needed to import it again, or to train on it).
    pub fn export(&self, out: &Path) -> Result<usize, EnrollError> {
        let io = |e: std::io::Error, what: &Path| EnrollError::Store { path: what.to_path_buf(), message: e.to_string() };
        for e in self.examples() {
            let folder = out.join(e.category.code()).join(safe_component(&e.label));
            std::fs::create_dir_all(&folder).map_err(|err| io(err, &folder))?;
            let target = folder.join(&e.picture);
            std::fs::copy(self.picture_path(e), &target).map_err(|err| io(err, &target))?;
        }
        let manifest = serde_json::json!({
            "format": FORMAT,
            "version": self.file.version,
            "model": self.file.model,
            "exported_at": crate::event::rfc3339_millis(std::time::SystemTime::now()),
            "layout": "<category>/<label>/<id>.jpg",
            "examples": self.file.examples.iter().map(|e| serde_json::json!({
                "id": e.id, "label": e.label, "category": e.category, "added_at": e.added_at, "source": e.source,
                "file": format!("{}/{}/{}", e.category.code(), safe_component(&e.label), e.picture),
                "embedding": embedding_b64::encode(&e.embedding),
            })).collect::<Vec<_>>(),
        });
        let path = out.join("manifest.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap_or_default()).map_err(|e| io(e, &path))?;
        Ok(self.examples().len())
    }

    /// Adds the examples of an export (made with the same embedding model).
    pub fn import(&mut self, from: &Path, model: &EmbeddingModel) -> Result<usize, EnrollError> {
        #[derive(Deserialize)]
        struct Exported {
            model: Option<EmbeddingModel>,
            examples: Vec<ExportedExample>,
        }
        #[derive(Deserialize)]
        struct ExportedExample {
            id: String,
            label: String,
            category: WasteCategory,
            file: String,
            embedding: String,
        }
        let path = from.join("manifest.json");
        let bad = |m: String| EnrollError::Invalid(format!("{}: {m}", path.display()));
        let text = std::fs::read(&path).map_err(|e| bad(format!("cannot read it ({e}); name the folder `enroll export` wrote")))?;
        let exported: Exported = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if exported.model.as_ref().is_some_and(|m| m != model) {
            return Err(bad(format!("made with embedding model {:?}, this agent uses {model:?}", exported.model)));
        }
        let mut n = 0;
        for e in exported.examples {
            if e.file.contains("..") || Path::new(&e.file).is_absolute() {
                return Err(bad(format!("example {} names a file outside the export: {}", e.id, e.file)));
            }
            let picture_jpeg = std::fs::read(from.join(&e.file)).map_err(|err| bad(format!("{}: {err}", e.file)))?;
            let embedding = embedding_b64::decode(&e.embedding).map_err(bad)?;
            self.add(NewExample { label: e.label, category: e.category, source: format!("import:{}", e.id), picture_jpeg, embedding }, model)?;
            n += 1;
        }
        Ok(n)
    }
}

fn check_model(file: &StoreFile, model: &EmbeddingModel) -> Result<(), EnrollError> {
    match &file.model {
        Some(m) if m != model && !file.examples.is_empty() => Err(EnrollError::Invalid(format!(
            "the enrolled examples were embedded with {} ({}), the agent now uses {} ({}): run `edge-agent enroll rebuild`",
            m.name,
            &m.sha256[..m.sha256.len().min(12)],
            model.name,
            &model.sha256[..model.sha256.len().min(12)]
        ))),
        _ => Ok(()),
    }
}

/// Whether examples made with `store` can be compared with `model`'s embeddings.
pub fn same_model(store: Option<&EmbeddingModel>, model: &EmbeddingModel) -> bool {
    store.is_none_or(|m| m == model)
}

fn validate_label(label: &str) -> Result<(), EnrollError> {
    let l = label.trim();
    if l.is_empty() || l.chars().count() > 32 || l.chars().any(|c| c.is_control() || "/\\".contains(c)) {
        return Err(EnrollError::Invalid(format!("label `{label}` must be 1-32 characters without slashes or control characters, e.g. 塑料瓶")));
    }
    Ok(())
}

/// A label as a folder name (labels are already free of slashes).
fn safe_component(label: &str) -> String {
    let s: String = label.trim().chars().filter(|c| !c.is_control() && !"/\\".contains(*c)).collect();
    if s.is_empty() || s.starts_with('.') { format!("_{s}") } else { s }
}

/// Embeddings as stored: base64 of little-endian f32.
pub mod embedding_b64 {
    use super::*;

    pub fn encode(v: &[f32]) -> String {
        let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    pub fn decode(s: &str) -> Result<Vec<f32>, String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("embedding is not base64: {e}"))?;
        if bytes.len() % 4 != 0 {
            return Err("embedding length is not a whole number of f32".into());
        }
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    pub fn serialize<S: serde::Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(v))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> EmbeddingModel {
        EmbeddingModel { name: "m".into(), sha256: "a".repeat(64) }
    }

    fn example(label: &str, category: WasteCategory, v: f32) -> NewExample {
        NewExample { label: label.into(), category, source: "test".into(), picture_jpeg: vec![0xff, 0xd8, 0xff, 0xd9], embedding: vec![v, 1.0 - v, 0.5] }
    }

    #[test]
    fn examples_survive_a_reopen_and_every_change_bumps_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Enrollment::open(dir.path()).unwrap();
        assert_eq!((e.version(), e.examples().len()), (0, 0));
        let a = e.add(example("塑料瓶", WasteCategory::Recyclable, 0.25), &model()).unwrap();
        e.add(example("大棒骨", WasteCategory::Other, 0.75), &model()).unwrap();
        assert_eq!(e.version(), 2);
        assert!(e.picture_path(&a).exists());

        let mut again = Enrollment::open(dir.path()).unwrap();
        assert_eq!(again.examples().len(), 2);
        assert_eq!(again.examples()[0].embedding, vec![0.25, 0.75, 0.5], "embeddings round-trip exactly");
        assert_eq!(again.version(), 2);

        // Another writer (the agent, say) changes the store: a refresh sees it.
        e.remove(std::slice::from_ref(&a.id)).unwrap();
        assert!(again.refresh().unwrap());
        assert_eq!((again.examples().len(), again.version()), (1, 3));
        assert!(!again.refresh().unwrap(), "nothing new");
        assert!(!e.picture_path(&a).exists(), "the picture goes with the example");
    }

    #[test]
    fn bad_labels_other_models_and_unknown_ids_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Enrollment::open(dir.path()).unwrap();
        e.add(example("纸盒", WasteCategory::Recyclable, 0.1), &model()).unwrap();
        for label in ["", "../x", "a\u{7}b", &"长".repeat(33)] {
            assert!(matches!(e.add(example(label, WasteCategory::Other, 0.2), &model()), Err(EnrollError::Invalid(_))), "{label:?}");
        }
        let other = EmbeddingModel { name: "m".into(), sha256: "b".repeat(64) };
        let err = e.add(example("纸盒", WasteCategory::Recyclable, 0.3), &other).unwrap_err().to_string();
        assert!(err.contains("enroll rebuild"), "{err}");
        let err = e.remove(&["nope".into()]).unwrap_err().to_string();
        assert!(err.contains("enroll list"), "{err}");
        assert_eq!((e.examples().len(), e.version()), (1, 1));
    }

    #[test]
    fn a_corrupt_store_is_reported_with_the_fix_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("enrollment")).unwrap();
        std::fs::write(dir.path().join("enrollment/examples.json"), b"{not json").unwrap();
        let err = Enrollment::open(dir.path()).err().expect("refused").to_string();
        assert!(err.contains("examples.json") && err.contains("import"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("enrollment/examples.json")).unwrap(), b"{not json");
    }

    #[test]
    fn an_export_imports_into_another_box_with_labels_categories_and_embeddings() {
        let (a, b, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut e = Enrollment::open(a.path()).unwrap();
        e.add(example("锂电池", WasteCategory::Hazardous, 0.9), &model()).unwrap();
        e.add(example("玉米核", WasteCategory::Other, 0.4), &model()).unwrap();
        assert_eq!(e.export(out.path()).unwrap(), 2);
        assert!(out.path().join("hazardous/锂电池").read_dir().unwrap().count() == 1, "ImageFolder layout");
        let mut f = Enrollment::open(b.path()).unwrap();
        assert_eq!(f.import(out.path(), &model()).unwrap(), 2);
        let got: Vec<_> = f.examples().iter().map(|x| (x.label.clone(), x.category, x.embedding.clone())).collect();
        let want: Vec<_> = e.examples().iter().map(|x| (x.label.clone(), x.category, x.embedding.clone())).collect();
        assert_eq!(got, want);
    }
}
