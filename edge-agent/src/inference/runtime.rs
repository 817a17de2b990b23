//! Loading ONNX Runtime (a shared library fetched by the setup step) and choosing
//! execution providers. ONNX Runtime can be loaded once per process, so the
//! environment is a process-wide singleton.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library the setup step fetches (PyPI `onnxruntime==1.32.0`).
pub const BUNDLED_ORT_VERSION: &str = "1.32.0";
pub const BUNDLED_ORT_FILE: &str = "libonnxruntime.so.1.32.0";

/// Where the library path came from, so an error can say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibrarySource {
    Config,
    Environment,
    SetupDefault,
}

impl LibrarySource {
    fn describe(&self) -> &'static str {
        match self {
            Self::Config => "inference.ort_library in the config",
            Self::Environment => "the ORT_DYLIB_PATH environment variable",
            Self::SetupDefault => "the setup step's default location",
        }
    }
}

/// Picks the ONNX Runtime library: config, then `ORT_DYLIB_PATH`, then the
/// setup step's location under the models directory.
pub fn resolve_library(configured: Option<&Path>, models_dir: &Path) -> (PathBuf, LibrarySource) {
    if let Some(path) = configured {
        return (path.to_path_buf(), LibrarySource::Config);
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return (PathBuf::from(path), LibrarySource::Environment);
    }
    (models_dir.join("onnxruntime").join(BUNDLED_ORT_FILE), LibrarySource::SetupDefault)
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {path} (from {source_desc}). Fetch it with `python3 models/setup.py` \
         (PyPI onnxruntime=={BUNDLED_ORT_VERSION}), or point ORT_DYLIB_PATH / inference.ort_library at an existing \
         libonnxruntime.so"
    )]
    LibraryMissing { path: PathBuf, source_desc: &'static str },
    #[error(
        "could not load ONNX Runtime from {path} (from {source_desc}): {reason}. Re-run `python3 models/setup.py` to \
         restore the verified library, or point ORT_DYLIB_PATH at a working libonnxruntime.so (version >= 1.22)"
    )]
    LoadFailed { path: PathBuf, source_desc: &'static str, reason: String },
    #[error("ONNX Runtime was already loaded from {loaded}; it cannot be reloaded from {requested} in the same process")]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
}

/// The loaded runtime: one per process.
pub struct Runtime {
    pub library: PathBuf,
    pub version: String,
    pub environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

impl Runtime {
    /// Loads ONNX Runtime on first use; later calls get the same runtime.
    pub fn get_or_init(configured: Option<&Path>, models_dir: &Path) -> Result<&'static Runtime, RuntimeError> {
        let (path, source) = resolve_library(configured, models_dir);
        let runtime = RUNTIME.get_or_init(|| Self::load(&path, &source)).as_ref().map_err(Clone::clone)?;
        if runtime.library != path {
            return Err(RuntimeError::AlreadyLoaded { loaded: runtime.library.clone(), requested: path });
        }
        Ok(runtime)
    }

    fn load(path: &Path, source: &LibrarySource) -> Result<Runtime, RuntimeError> {
        let source_desc = source.describe();
        if !path.is_file() {
            return Err(RuntimeError::LibraryMissing { path: path.into(), source_desc });
        }
        let fail = |reason: String| RuntimeError::LoadFailed { path: path.into(), source_desc, reason };
        let version = library_version(path).map_err(&fail)?;
        let builder = ort::init_from(path).map_err(|e| fail(e.to_string()))?;
        let environment = builder.with_name("edge-agent").build().map_err(|e| fail(e.to_string()))?;
        tracing::info!(library = %path.display(), %version, "loaded ONNX Runtime");
        Ok(Runtime { library: path.into(), version, environment })
    }
}

/// Asks the library itself for its version (`OrtGetApiBase()->GetVersionString()`),
/// which also tells a wrong file from an ONNX Runtime before ort is handed it.
fn library_version(path: &Path) -> Result<String, String> {
    // SAFETY: loading a shared library runs its initialisers; this is the library
    // the operator configured for exactly this purpose, and ort loads it next anyway.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| error_chain(&e))?;
    // SAFETY: the symbol's signature is ONNX Runtime's C API, stable since 1.0.
    let get_base = unsafe { lib.get::<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase>(b"OrtGetApiBase\0") }
        .map_err(|_| "the file does not export OrtGetApiBase: it is not an ONNX Runtime library".to_string())?;
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned nothing".into());
    }
    // SAFETY: base is valid for the library's lifetime; the string is static in it.
    let version = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) };
    let version = version.to_string_lossy().into_owned();
    // Keep the library mapped: ort is about to load the same file.
    std::mem::forget(lib);
    Ok(version)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Which execution provider runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Cpu,
    Cuda,
    Tensorrt,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Tensorrt => "tensorrt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Optimization {
    Disable,
    Basic,
    Extended,
    #[default]
    All,
}

impl Optimization {
    pub fn to_ort(self) -> ort::session::builder::GraphOptimizationLevel {
        use ort::session::builder::GraphOptimizationLevel as L;
        match self {
            Self::Disable => L::Disable,
            Self::Basic => L::Level1,
            Self::Extended => L::Level2,
            Self::All => L::All,
        }
    }
}

/// `[inference]` in the config: how sessions are built.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    /// Path to libonnxruntime.so; default: ORT_DYLIB_PATH, then the setup step's copy.
    #[serde(default)]
    pub ort_library: Option<PathBuf>,
    #[serde(default)]
    pub provider: Provider,
    /// GPU index for CUDA / TensorRT.
    #[serde(default)]
    pub device_id: i32,
    /// Fall back to CPU when the GPU provider cannot start. Off by default: a box
    /// that was meant to run on its GPU should fail loudly, not crawl silently.
    #[serde(default)]
    pub allow_cpu_fallback: bool,
    /// Threads inside one model run; 0 lets ONNX Runtime decide.
    #[serde(default)]
    pub intra_threads: usize,
    #[serde(default)]
    pub optimization: Optimization,
    /// TensorRT only: build FP16 engines.
    #[serde(default)]
    pub tensorrt_fp16: bool,
    /// TensorRT only: where built engines are cached between starts.
    #[serde(default)]
    pub tensorrt_engine_cache: Option<PathBuf>,
    /// CPU only: ONNX Runtime's arena allocator. Off by default: the arena
    /// keeps every model's peak buffers for good (tens of MB per model on a
    /// box with several models), for a saving per run too small to measure
    /// against these models' run times (see `edge-agent bench-field`).
    #[serde(default)]
    pub cpu_arena: bool,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            ort_library: None,
            provider: Provider::Cpu,
            device_id: 0,
            allow_cpu_fallback: false,
            intra_threads: 0,
            optimization: Optimization::All,
            tensorrt_fp16: false,
            tensorrt_engine_cache: None,
            cpu_arena: false,
        }
    }
}
