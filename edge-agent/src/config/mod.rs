//! The agent's one TOML config: site, device, cameras, tasks, models, inference,
//! MQTT, storage and web. Parsed with serde (unknown keys rejected), then
//! validated as a whole so every mistake is reported at once, each with the
//! file, the key and what would be valid. Nothing here opens a camera or loads
//! a model.

mod validate;

use crate::inference::InferenceConfig;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Site id (the pod or station), used in MQTT topics: letters, digits, `-`, `_`.
    pub site: String,
    /// This box's id, unique within the site.
    pub device_id: String,
    /// Folder of model manifests and their fetched weights.
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    #[serde(default)]
    pub inference: InferenceConfig,
    pub cameras: Vec<CameraConfig>,
    #[serde(default)]
    pub tasks: Vec<TaskConfig>,
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub model_updates: ModelUpdatesConfig,
    /// Where the file was read from; relative paths in it are resolved against its folder.
    #[serde(skip)]
    pub path: PathBuf,
    /// sha256 of the file's text: events name the exact config that judged them.
    #[serde(skip)]
    pub sha256: String,
}

fn default_models_dir() -> PathBuf {
    PathBuf::from("models")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub id: String,
    pub source: SourceConfig,
    /// Ids of the tasks that look at this camera's frames.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Its calibration file (zones, homography, reference picture): needed by
    /// the leak task, and it turns on the view and picture-quality watch.
    #[serde(default)]
    pub calibration: Option<PathBuf>,
    /// The calibration, loaded and validated with the config.
    #[serde(skip)]
    pub calibrated: Option<std::sync::Arc<crate::calibration::Calibration>>,
}

#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Pictures from a folder or a list file, at a set rate: the demo and tests.
    Replay(ReplayConfig),
    /// A V4L2 / USB camera.
    Usb(UsbConfig),
    /// An IP camera over RTSP (H.264).
    Rtsp(RtspConfig),
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (kind, body) = tagged::<D>(d, &["replay", "usb", "rtsp"])?;
        match kind.as_str() {
            "replay" => body_as::<D, _>(body).map(Self::Replay),
            "usb" => body_as::<D, _>(body).map(Self::Usb),
            _ => body_as::<D, _>(body).map(Self::Rtsp),
        }
    }
}

/// Marks a key path inside a hand-tagged table's error message, so `parse` can
/// append it to the outer key (`cameras[0].source` + `fps`).
const NESTED_KEY: char = '\u{1f}';

/// Splits a `{ kind = "...", ... }` table into its kind and the rest. Done by
/// hand rather than with serde's internally tagged enums, which lose the key
/// path of an error inside the variant.
fn tagged<'de, D: serde::Deserializer<'de>>(d: D, kinds: &[&str]) -> Result<(String, toml::Table), D::Error> {
    use serde::de::Error;
    let mut table = toml::Table::deserialize(d)?;
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) if kinds.contains(&k.as_str()) => k,
        Some(other) => return Err(D::Error::custom(format!("kind = {other} is not one of {kinds:?}"))),
        None => return Err(D::Error::custom(format!("missing `kind`: one of {kinds:?}"))),
    };
    Ok((kind, table))
}

fn body_as<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(body: toml::Table) -> Result<T, D::Error> {
    use serde::de::Error;
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().message().trim().to_string();
        if path == "." { D::Error::custom(message) } else { D::Error::custom(format!("{NESTED_KEY}{path}{NESTED_KEY}{message}")) }
    })
}

impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Replay(_) => "replay",
            Self::Usb(_) => "usb",
            Self::Rtsp(_) => "rtsp",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// A folder of JPEG/PNG pictures (played in name order) or a text file listing one per line.
    pub path: PathBuf,
    #[serde(default = "default_replay_fps")]
    pub fps: f64,
    /// Start again after the last picture.
    #[serde(default = "yes", rename = "loop")]
    pub looping: bool,
}

fn default_replay_fps() -> f64 {
    2.0
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    #[default]
    Mjpeg,
    Yuyv,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbConfig {
    /// Camera index (`/dev/video<N>`).
    #[serde(default)]
    pub index: u32,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    #[serde(default = "default_camera_fps")]
    pub fps: u32,
    #[serde(default)]
    pub format: PixelFormat,
}

fn default_width() -> u32 {
    1280
}
fn default_height() -> u32 {
    720
}
fn default_camera_fps() -> u32 {
    15
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspConfig {
    /// `rtsp://host[:port]/path`; credentials go in `username` / `password`, not the URL.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub transport: RtspTransport,
}

#[derive(Debug, Clone)]
pub struct TaskConfig {
    pub id: String,
    pub kind: TaskKind,
}

impl<'de> Deserialize<'de> for TaskConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (kind, mut body) = tagged::<D>(d, &["classify", "leak", "intake", "sorting", "storage"])?;
        let id = match body.remove("id") {
            Some(toml::Value::String(id)) => id,
            _ => return Err(D::Error::custom("missing `id` (a string)")),
        };
        let kind = match kind.as_str() {
            "leak" => TaskKind::Leak(body_as::<D, _>(body)?),
            "intake" => TaskKind::Intake(Box::new(body_as::<D, _>(body)?)),
            "sorting" => TaskKind::Sorting(Box::new(body_as::<D, _>(body)?)),
            "storage" => TaskKind::Storage(Box::new(body_as::<D, _>(body)?)),
            _ => TaskKind::Classify(body_as::<D, _>(body)?),
        };
        Ok(Self { id, kind })
    }
}

#[derive(Debug, Clone)]
pub enum TaskKind {
    /// Classify whole frames into waste categories (the foundation's first task).
    Classify(ClassifyTaskConfig),
    /// Leaks and spills on a calibrated camera's floor and spill-tray zones.
    Leak(crate::task::leak::LeakTaskConfig),
    /// Hazardous-waste labels at a pod's intake spot, checked against the declared slips.
    Intake(Box<crate::task::intake::IntakeTaskConfig>),
    /// Household-waste sorting station: items into calibrated bin zones, prompts for wrong ones.
    Sorting(Box<crate::task::sorting::SortingTaskConfig>),
    /// Pod storage watch: containers per zone against the ledger, segregation, labels, safety items, daily report.
    Storage(Box<crate::task::storage::StorageTaskConfig>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyTaskConfig {
    /// Name of an image-classifier manifest.
    pub model: String,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Which frames become `classification` events: `change` (the top label or
    /// category changed on that camera), `every` frame, or `never`.
    #[serde(default)]
    pub emit: EmitPolicy,
    /// Attach the frame as an evidence JPEG to each event.
    #[serde(default)]
    pub evidence: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmitPolicy {
    #[default]
    Change,
    Every,
    Never,
}

fn default_top_k() -> usize {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `embedded` starts a broker inside the agent (the demo); otherwise `host:port`.
    #[serde(default = "default_broker")]
    pub broker: String,
    /// Where the embedded broker listens (only with `broker = "embedded"`).
    #[serde(default = "default_embedded_listen")]
    pub embedded_listen: String,
    /// Topic prefix: `<prefix>/<site>/<device>/...`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// MQTT protocol version: "3.1.1" or "5".
    #[serde(default)]
    pub protocol: MqttProtocol,
    /// Client id; defaults to `<site>-<device_id>`. Must be unique on the broker.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default = "default_keep_alive", with = "humantime_serde")]
    pub keep_alive: Duration,
    /// Ask the broker to keep the session (subscriptions, queued commands) across reconnects.
    #[serde(default)]
    pub persistent_session: bool,
    /// MQTT 5: how long the broker keeps a persistent session after a disconnect.
    #[serde(default = "default_session_expiry", with = "humantime_serde")]
    pub session_expiry: Duration,
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (first line); preferred over `password_env`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub tls: Option<MqttTlsConfig>,
    /// Reconnect backoff: first delay, doubling with jitter up to `reconnect_max`.
    #[serde(default = "default_reconnect_min", with = "humantime_serde")]
    pub reconnect_min: Duration,
    #[serde(default = "default_reconnect_max", with = "humantime_serde")]
    pub reconnect_max: Duration,
    #[serde(default = "default_heartbeat", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Most QoS 1 publishes waiting for PUBACK at once.
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    /// On a clean stop, how long to keep publishing what the outbox still holds.
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum MqttProtocol {
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTlsConfig {
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM client certificate and key, for brokers that require mutual TLS.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

fn default_broker() -> String {
    "embedded".into()
}
fn default_embedded_listen() -> String {
    "127.0.0.1:11883".into()
}
fn default_prefix() -> String {
    "zwaste/v1".into()
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_session_expiry() -> Duration {
    Duration::from_secs(3600)
}
fn default_reconnect_min() -> Duration {
    Duration::from_millis(500)
}
fn default_reconnect_max() -> Duration {
    Duration::from_secs(30)
}
fn default_heartbeat() -> Duration {
    Duration::from_secs(30)
}
fn default_inflight() -> u16 {
    64
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Default for MqttConfig {
    fn default() -> Self {
        toml::from_str("").expect("every MQTT key has a default")
    }
}

impl MqttConfig {
    pub fn is_embedded(&self) -> bool {
        self.broker == "embedded"
    }

    /// The `host:port` the agent connects to.
    pub fn connect_address(&self) -> &str {
        if self.is_embedded() { &self.embedded_listen } else { &self.broker }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// State folder: outbox, results, enrollment.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
    /// Most disk the outbox may use (events plus evidence pictures), in MiB.
    #[serde(default = "default_outbox_quota_mb")]
    pub outbox_quota_mb: u64,
}

fn default_outbox_quota_mb() -> u64 {
    1024
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("var")
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { dir: default_state_dir(), outbox_quota_mb: default_outbox_quota_mb() }
    }
}

/// `[model_updates]`: how `cmd/model-update` fetches and checks a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelUpdatesConfig {
    /// ed25519 public key (base64, hex or PEM): when set, every update must be signed with it.
    #[serde(default)]
    pub public_key: Option<PathBuf>,
    /// The platform's private CA (PEM) for HTTPS downloads, trusted besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Largest model file accepted.
    #[serde(default = "default_max_model_mb")]
    pub max_mb: u64,
    /// Longest a whole download may take.
    #[serde(default = "default_download_timeout", with = "humantime_serde")]
    pub timeout: std::time::Duration,
}

fn default_max_model_mb() -> u64 {
    512
}

fn default_download_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(600)
}

impl Default for ModelUpdatesConfig {
    fn default() -> Self {
        Self { public_key: None, ca_file: None, max_mb: default_max_model_mb(), timeout: default_download_timeout() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address for the local pages and health endpoints; empty disables them.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { listen: default_listen() }
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigIssue {
    /// Dotted key path, e.g. `cameras[1].source.fps`.
    pub key: String,
    pub message: String,
}

/// Every problem found in a config file, reported together.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        writeln!(f, "{} has {n} problem{}:", self.path.display(), if n == 1 { "" } else { "s" })?;
        for issue in &self.issues {
            if issue.key.is_empty() {
                writeln!(f, "  - {}", issue.message)?;
            } else {
                writeln!(f, "  - {}: {}", issue.key, issue.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn single(path: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), issues: vec![ConfigIssue { key: key.into(), message: message.into() }] }
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::single(path, "", format!("cannot read the file ({e}); pass an existing file with --config"))
        })?;
        let mut config = Self::parse(&text, path)?;
        config.path = path.to_path_buf();
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        config.resolve_paths(base);
        let mut issues = config.load_calibrations();
        issues.extend(validate::validate(&config));
        if issues.is_empty() { Ok(config) } else { Err(ConfigError { path: path.into(), issues }) }
    }

    /// Parses TOML text; the key path of a type or unknown-key error is named.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| ConfigError::single(path, "", toml_message(&e, text)))?;
        let mut config: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let mut key = if key == "." { String::new() } else { key };
            let mut message = toml_message(e.inner(), text);
            if let Some(rest) = message.strip_prefix(NESTED_KEY) {
                if let Some((inner, msg)) = rest.split_once(NESTED_KEY) {
                    key = format!("{key}.{inner}");
                    message = msg.to_string();
                }
            }
            ConfigError::single(path, key, message)
        })?;
        config.sha256 = crate::inference::manifest::sha256_hex(text.as_bytes());
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.models_dir);
        resolve(&mut self.storage.dir);
        if let Some(key) = &mut self.model_updates.public_key {
            resolve(key);
        }
        if let Some(ca) = &mut self.model_updates.ca_file {
            resolve(ca);
        }
        for file in [&mut self.mqtt.password_file].into_iter().flatten() {
            resolve(file);
        }
        if let Some(tls) = &mut self.mqtt.tls {
            resolve(&mut tls.ca_file);
            for file in [&mut tls.client_cert, &mut tls.client_key].into_iter().flatten() {
                resolve(file);
            }
        }
        if let Some(lib) = &mut self.inference.ort_library {
            resolve(lib);
        }
        if let Some(cache) = &mut self.inference.tensorrt_engine_cache {
            resolve(cache);
        }
        for task in &mut self.tasks {
            if let TaskKind::Sorting(c) = &mut task.kind {
                if let Some(rules) = &mut c.rules {
                    resolve(rules);
                }
            }
        }
        for camera in &mut self.cameras {
            if let SourceConfig::Replay(replay) = &mut camera.source {
                resolve(&mut replay.path);
            }
            if let Some(calibration) = &mut camera.calibration {
                resolve(calibration);
            }
        }
    }

    /// Loads each camera's calibration file; its problems become the config's.
    fn load_calibrations(&mut self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        for (i, camera) in self.cameras.iter_mut().enumerate() {
            let Some(path) = &camera.calibration else { continue };
            let key = format!("cameras[{i}].calibration");
            match crate::calibration::Calibration::load(path) {
                Ok(c) if c.file.camera != camera.id => issues.push(ConfigIssue {
                    key,
                    message: format!("{} is the calibration of camera `{}`, not `{}`", path.display(), c.file.camera, camera.id),
                }),
                Ok(c) => camera.calibrated = Some(std::sync::Arc::new(c)),
                Err(e) => issues.push(ConfigIssue { key, message: e.to_string().trim_end().replace('\n', "\n      ") }),
            }
        }
        issues
    }

    pub fn task(&self, id: &str) -> Option<&TaskConfig> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Frame interval for a replay source.
    pub fn replay_interval(fps: f64) -> Duration {
        Duration::from_secs_f64(1.0 / fps.max(1e-3))
    }
}

/// toml's messages carry a source snippet; keep them on one readable line.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let mut message = e.message().trim().to_string();
    if let Some(span) = e.span() {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        message.push_str(&format!(" (line {line}, column {column})"));
    }
    message
}
