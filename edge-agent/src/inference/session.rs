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

pub struct ModelSession {
    pub manifest: Arc<ModelManifest>,
    pub provider: ProviderInUse,
    session: Mutex<Session>,
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
        let session = ModelSession { manifest: Arc::new(manifest.clone()), provider, session: Mutex::new(session) };
        session.check_io()?;
        Ok(session)
    }

    /// The manifest's tensor names must exist in the model: catch a wrong
    /// manifest at load, not on the first frame.
    fn check_io(&self) -> Result<(), InferenceError> {
        let session = self.lock();
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic inside ONNX Runtime's call leaves the session usable; don't poison the agent.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// A custom metadata value stored in the model (e.g. PP-OCR's `character` dictionary).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, InferenceError> {
        let session = self.lock();
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
        let mut session = self.lock();
        let outputs = session
            .run(ort::inputs![self.manifest.input.name.as_str() => tensor])
            .map_err(|e| InferenceError::model(self.name(), e))?;
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
