//! One ONNX Runtime session per model, built from its manifest and the
//! `[inference]` config, with the execution provider really in use recorded.

use super::manifest::{ManifestError, ModelManifest};
use super::runtime::{InferenceConfig, Provider, Runtime, RuntimeError};
use ndarray::{ArrayD, ArrayViewD};
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("model `{model}`: {message}")]
    Model { model: String, message: String },
    #[error("model `{model}` could not run the {provider} execution provider: {reason}")]
    Provider { model: String, provider: &'static str, reason: String },
}

impl InferenceError {
    pub fn model(model: &str, message: impl std::fmt::Display) -> Self {
        Self::Model { model: model.to_string(), message: message.to_string() }
    }
}

/// The provider a session actually runs on, as reported in logs, results and heartbeats.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProviderInUse {
    pub requested: &'static str,
    pub active: &'static str,
    /// Set when the requested GPU provider failed and `allow_cpu_fallback` let us continue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// Output tensors copied out of ONNX Runtime, by tensor name.
pub type Outputs = BTreeMap<String, ArrayD<f32>>;

/// The model file a session runs now. A model update swaps it for another
/// with the same interface (the manifest's inputs, outputs and labels).
struct LoadedModel {
    session: Mutex<Session>,
    version: String,
    sha256: String,
}

pub struct ModelSession {
    /// The model's interface (inputs, outputs, labels, preprocessing) and the
    /// version it was opened with; [`ModelSession::version`] is the one running.
    pub manifest: Arc<ModelManifest>,
    pub provider: ProviderInUse,
    config: InferenceConfig,
    /// Where the runtime library was looked up (candidates must look in the same place).
    models_dir: std::path::PathBuf,
    /// Swapped whole by a model update; a run in flight finishes on the model it started with.
    loaded: ArcSwap<LoadedModel>,
    latency: Arc<crate::telemetry::histogram::LatencyHistogram>,
}

impl ModelSession {
    /// Verifies the model file against its manifest's sha256, then builds the session.
    pub fn open(
        manifest: &ModelManifest,
        config: &InferenceConfig,
        models_dir: &Path,
    ) -> Result<Self, InferenceError> {
        let runtime = Runtime::get_or_init(config.ort_library.as_deref(), models_dir)?;
        manifest.verify_file()?;
        let name = manifest.name.as_str();
        let (session, provider) = build_session(runtime, manifest, config)?;
        tracing::info!(
            model = name,
            version = %manifest.version,
            provider = provider.active,
            requested = provider.requested,
            "model loaded"
        );
        if let Some(reason) = &provider.fallback_reason {
            tracing::warn!(model = name, requested = provider.requested, %reason, "GPU provider failed: running on CPU");
        }
        let loaded = LoadedModel { session: Mutex::new(session), version: manifest.version.clone(), sha256: manifest.sha256.clone() };
        let session = ModelSession {
            manifest: Arc::new(manifest.clone()),
            provider,
            config: config.clone(),
            models_dir: models_dir.to_path_buf(),
            loaded: ArcSwap::from_pointee(loaded),
            latency: crate::telemetry::inference_histogram(name),
        };
        session.check_io()?;
        Ok(session)
    }

    /// Opens another file of this model (an update, or a rollback) with the
    /// same settings and provider, checked against `sha256` and this model's
    /// inputs and outputs. The running session is not touched.
    pub fn candidate(&self, file: &Path, version: &str, sha256: &str) -> Result<ModelSession, InferenceError> {
        let mut manifest = (*self.manifest).clone();
        // The labels and category files stay in the manifest's folder; only the weights move.
        manifest.file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        manifest.version = version.to_string();
        manifest.sha256 = sha256.to_string();
        ModelSession::open(&manifest, &self.config, &self.models_dir)
    }

    /// Swaps in `candidate`'s model: the next run uses it, runs in flight finish on the old one.
    pub fn adopt(&self, candidate: &ModelSession) {
        self.loaded.store(candidate.loaded.load_full());
    }

    /// The version running now (changes with a model update).
    pub fn version(&self) -> String {
        self.loaded.load().version.clone()
    }

    pub fn sha256(&self) -> String {
        self.loaded.load().sha256.clone()
    }

    pub fn model_ref(&self) -> crate::event::ModelRef {
        let loaded = self.loaded.load();
        crate::event::ModelRef { name: self.manifest.name.clone(), version: loaded.version.clone(), sha256: loaded.sha256.clone() }
    }

    /// The manifest's tensor names must exist in the model: catch a wrong
    /// manifest at load, not on the first frame.
    fn check_io(&self) -> Result<(), InferenceError> {
        let loaded = self.loaded.load_full();
        let session = lock(&loaded.session);
        let m = &self.manifest;
        if !session.inputs().iter().any(|i| i.name() == m.input.name) {
            let found: Vec<_> = session.inputs().iter().map(|i| i.name().to_string()).collect();
            return Err(InferenceError::model(
                &m.name,
                format!("input `{}` named in the manifest is not in the model (it has {found:?})", m.input.name),
            ));
        }
        for (role, out) in &m.outputs {
            if !session.outputs().iter().any(|o| o.name() == out.name) {
                let found: Vec<_> = session.outputs().iter().map(|o| o.name().to_string()).collect();
                return Err(InferenceError::model(
                    &m.name,
                    format!("output `{}` ({role}) named in the manifest is not in the model (it has {found:?})", out.name),
                ));
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// A custom metadata value stored in the model (e.g. PP-OCR's `character` dictionary).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, InferenceError> {
        let loaded = self.loaded.load_full();
        let session = lock(&loaded.session);
        let meta = session.metadata().map_err(|e| InferenceError::model(self.name(), e))?;
        Ok(meta.custom(key))
    }

    /// Turns a picture into this model's input tensor, as its manifest says.
    pub fn prepare(&self, img: &image::RgbImage) -> Result<crate::vision::Prepared, InferenceError> {
        let m = &self.manifest;
        crate::vision::prepare(img, &m.preprocess, &m.input).map_err(|e| InferenceError::model(&m.name, e))
    }

    /// Runs the model on one input tensor and copies out the named outputs.
    pub fn run(&self, input: ArrayViewD<'_, f32>, output_names: &[&str]) -> Result<Outputs, InferenceError> {
        self.run_then(input, |outputs| {
            let mut copied = Outputs::new();
            for name in output_names {
                copied.insert((*name).to_string(), self.output(outputs, name)?.to_owned());
            }
            Ok(copied)
        })
    }

    /// Runs the model and hands one output to `read` without copying it out
    /// (a recogniser's [N, T, 18710] scores are megabytes per line).
    pub fn run_with<R>(&self, input: ArrayViewD<'_, f32>, output: &str, read: impl FnOnce(ArrayViewD<'_, f32>) -> R) -> Result<R, InferenceError> {
        self.run_then(input, |outputs| Ok(read(self.output(outputs, output)?)))
    }

    /// Runs the model and discards the outputs: the bare `Session::run` cost, for benchmarks.
    pub fn run_raw(&self, input: ArrayViewD<'_, f32>) -> Result<(), InferenceError> {
        self.run_then(input, |_| Ok(()))
    }

    /// One `Session::run` on `input`, its outputs handed to `read` while the session is held.
    fn run_then<R>(
        &self,
        input: ArrayViewD<'_, f32>,
        read: impl FnOnce(&ort::session::SessionOutputs<'_>) -> Result<R, InferenceError>,
    ) -> Result<R, InferenceError> {
        let tensor = TensorRef::from_array_view(input).map_err(|e| InferenceError::model(self.name(), e))?;
        let loaded = self.loaded.load_full();
        let mut session = lock(&loaded.session);
        let t0 = std::time::Instant::now();
        let outputs = session
            .run(ort::inputs![self.manifest.input.name.as_str() => tensor])
            .map_err(|e| InferenceError::model(self.name(), e))?;
        self.latency.observe(t0.elapsed());
        read(&outputs)
    }

    fn output<'a>(&self, outputs: &'a ort::session::SessionOutputs<'_>, name: &str) -> Result<ArrayViewD<'a, f32>, InferenceError> {
        let value = outputs.get(name).ok_or_else(|| InferenceError::model(self.name(), format!("model produced no output `{name}`")))?;
        value.try_extract_array::<f32>().map_err(|e| InferenceError::model(self.name(), e))
    }

    /// Output tensor name for a role from the manifest (`logits`, `embedding`, ...).
    pub fn output_name(&self, role: &str) -> Option<&str> {
        self.manifest.outputs.get(role).map(|o| o.name.as_str())
    }
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    // A panic inside ONNX Runtime's call leaves the session usable; don't poison the agent.
    session.lock().unwrap_or_else(|e| e.into_inner())
}

fn build_session(
    runtime: &Runtime,
    manifest: &ModelManifest,
    config: &InferenceConfig,
) -> Result<(Session, ProviderInUse), InferenceError> {
    let model = manifest.name.as_str();
    let builder_err = |e: ort::Error<ort::session::builder::SessionBuilder>| InferenceError::model(model, e);
    let mut builder = Session::builder(&runtime.environment)
        .map_err(|e| InferenceError::model(model, e))?
        .with_optimization_level(config.optimization.to_ort())
        .map_err(builder_err)?;
    if config.intra_threads > 0 {
        builder = builder.with_intra_threads(config.intra_threads).map_err(builder_err)?;
    }
    if config.provider == Provider::Cpu && !config.cpu_arena {
        let cpu = ort::ep::CPU::default().with_arena_allocator(false).build().error_on_failure();
        builder = builder.with_execution_providers([cpu]).map_err(builder_err)?;
    }
    let requested = config.provider.as_str();
    let mut provider = ProviderInUse { requested, active: "cpu", fallback_reason: None };
    if config.provider != Provider::Cpu {
        let attempt = gpu_providers(config, &runtime.library)
            .and_then(|eps| builder.clone().with_execution_providers(eps).map_err(|e| e.to_string()));
        match attempt {
            Ok(with_gpu) => {
                builder = with_gpu;
                provider.active = requested;
            }
            Err(reason) if config.allow_cpu_fallback => provider.fallback_reason = Some(reason),
            Err(reason) => return Err(InferenceError::Provider { model: model.to_string(), provider: requested, reason }),
        }
    }
    let session = builder.commit_from_file(manifest.model_path()).map_err(|e| InferenceError::model(model, e))?;
    Ok((session, provider))
}

/// The GPU execution providers for the config, registered so that a failure is
/// an error rather than ONNX Runtime's silent fall back to CPU.
#[allow(unused_variables)]
fn gpu_providers(config: &InferenceConfig, library: &Path) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    match config.provider {
        Provider::Cpu => Ok(Vec::new()),
        Provider::Cuda => {
            #[cfg(feature = "cuda")]
            {
                use ort::ep::ExecutionProvider;
                if !ort::ep::CUDA::is_available().unwrap_or(false) {
                    return Err(format!(
                        "the ONNX Runtime library at {} has no CUDA provider; install the GPU build \
                         (PyPI onnxruntime-gpu==1.31.1) and point ORT_DYLIB_PATH at it",
                        library.display()
                    ));
                }
                Ok(vec![ort::ep::CUDA::default().with_device_id(config.device_id).build().error_on_failure()])
            }
            #[cfg(not(feature = "cuda"))]
            Err("this edge-agent was built without the `cuda` feature; rebuild with `cargo build --release --features cuda`".into())
        }
        Provider::Tensorrt => {
            #[cfg(feature = "tensorrt")]
            {
                use ort::ep::ExecutionProvider;
                if !ort::ep::TensorRT::is_available().unwrap_or(false) {
                    return Err(format!(
                        "the ONNX Runtime library at {} has no TensorRT provider; install the GPU build \
                         (PyPI onnxruntime-gpu==1.31.1) with TensorRT libraries and point ORT_DYLIB_PATH at it",
                        library.display()
                    ));
                }
                let mut trt = ort::ep::TensorRT::default().with_device_id(config.device_id).with_fp16(config.tensorrt_fp16);
                if let Some(dir) = &config.tensorrt_engine_cache {
                    trt = trt.with_engine_cache(true).with_engine_cache_path(dir.display());
                }
                Ok(vec![trt.build().error_on_failure()])
            }
            #[cfg(not(feature = "tensorrt"))]
            Err("this edge-agent was built without the `tensorrt` feature; rebuild with `cargo build --release --features tensorrt`".into())
        }
    }
}
