//! Command-line interface: parsed and checked here, acted on in `commands`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "edge-agent", version, about = "Edge vision agent for zero-waste programs: cameras -> ONNX models -> events")]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "EDGE_AGENT_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: capture from the configured cameras and run their tasks.
    Run(RunArgs),
    /// Check a config file and exit (0: valid, 78: problems, all listed).
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Classify pictures: top-5 labels and the Beijing waste category.
    Classify(ClassifyArgs),
    /// Model manifests and files.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Time raw inference against the whole classify path on one 1080p JPEG.
    Bench(BenchArgs),
    /// Print the MQTT topic table (topics, direction, QoS, retained, schema).
    Schemas {
        /// Show the topics of this config's site and device.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Subscribe to an agent's topics and print what it publishes, live.
    Watch(WatchArgs),
    /// Measure events/s and latency through outbox -> broker -> subscriber.
    BenchEvents(BenchEventsArgs),
    /// Calibrate a camera: floor homography (chessboard or measured points),
    /// reference picture, and a preview PNG with the zones and a mm grid.
    Calibrate(CalibrateArgs),
    /// Run leak and spill detection offline on a sequence of frames; prints the events as JSON lines.
    Leak(LeakArgs),
    /// Measure leak detection on seeded synthetic pod footage: detection rate,
    /// time to detect, false alarms per hour, frames per second.
    BenchLeak(BenchLeakArgs),
    /// Read a hazardous-waste container's label (OCR + QR) and check it
    /// against the catalogue and, with --slip, the declared intake slip.
    Inspect(InspectArgs),
    /// Measure label reading and checking on seeded generated labels, side by
    /// side with the Python rapidocr pipeline.
    BenchIntake(BenchIntakeArgs),
    /// Enroll site examples of items for the sorting station (few-shot):
    /// `enroll --category recyclable --label 塑料瓶 IMAGE...`; also list,
    /// remove, export, import, rebuild.
    Enroll(EnrollArgs),
    /// Measure the sorting station: prompt latency at 1080p, items per second
    /// on one core, and leave-one-photo-out accuracy of enrollment against the
    /// generic ImageNet mapping, on real photos.
    BenchSorting(BenchSortingArgs),
    /// Measure the agent as a service: start-up time to READY, resident memory
    /// and CPU per camera at 5 fps, with one camera and with three (every model loaded).
    BenchField(BenchFieldArgs),
    /// Render seeded sorting-station footage (real item photos dropped into the
    /// four bins, some into the wrong one) with its calibration: a replay camera
    /// for demos and trials, no camera needed.
    SimulateStation(SimulateStationArgs),
    /// Run the pod storage watch offline on a sequence of frames (inventory per
    /// zone against the ledger, segregation, labels, safety items); prints the
    /// events as JSON lines.
    Storage(StorageArgs),
    /// Render seeded storage-room footage (drums with labels and QR codes in
    /// zones, one planted fault, people and light changes) with its
    /// calibration, ledger and truth, for `edge-agent storage`.
    SimulateStorage(SimulateStorageArgs),
    /// Measure the storage watch on seeded rooms: detection rate and false
    /// alarms per finding kind, QR identification rate, frames per second.
    BenchStorage(BenchStorageArgs),
}

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// The camera's calibration file (storage zones with `allow`, safety items, homography, reference of the empty room).
    #[arg(long)]
    pub calibration: PathBuf,
    /// Frames in time order (JPEG or PNG).
    #[arg(required = true)]
    pub frames: Vec<PathBuf>,
    /// Time between frames.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// The pod's ledger (the agent's storage-ledger.json); without it every container is unregistered.
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Intakes and transfers during the sequence, JSON lines: {"at_s": 600, "intake": RECORD} or {"at_s": 600, "transfer_out": {"manifest_no": ..., "containers": [...]}}.
    #[arg(long)]
    pub ledger_acts: Option<PathBuf>,
    /// Storage task settings as TOML (the keys of a `kind = "storage"` task), e.g. 'settle = "30s"'.
    #[arg(long, default_value = "")]
    pub settings: String,
    /// Time of the first frame, RFC 3339 (default: now).
    #[arg(long)]
    pub start: Option<String>,
    /// Print the inspection report after the last frame.
    #[arg(long)]
    pub report: bool,
    /// Write each event's evidence JPEG into this folder.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimulateStorageArgs {
    /// Folder to write frames/, calibration.toml, reference.png, ledger.json, ledger-acts.jsonl and truth.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// The planted fault: none, missing, transferred, unregistered, registered-add, wrong-zone, incompatible, unlabelled, extinguisher-covered, sign-removed, brief-cover.
    #[arg(long, default_value = "missing")]
    pub scenario: String,
    /// top (lids from above) or side (bodies from a wall).
    #[arg(long, default_value = "top")]
    pub view: String,
    #[arg(long, default_value = "1920x1080")]
    pub size: String,
    /// Minutes of footage.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Camera id in the calibration file.
    #[arg(long, default_value = "storage-1")]
    pub camera: String,
}

#[derive(Debug, Args)]
pub struct BenchStorageArgs {
    /// Seeded rooms per scenario (11 scenarios: each fault kind, the harmless look-alikes, none).
    #[arg(long, default_value_t = 3)]
    pub rooms: usize,
    /// Minutes of footage per room.
    #[arg(long, default_value_t = 45.0)]
    pub minutes: f64,
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    #[arg(long, default_value = "1920x1080")]
    pub size: String,
    /// top, side or both.
    #[arg(long, default_value = "both")]
    pub view: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads for the rooms (each room runs on one core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long)]
    pub json: bool,
    /// Print every false alarm and miss with its room's seed (`simulate-storage --seed` renders it).
    #[arg(long)]
    pub verbose: bool,
}

/// Where the enrollment store and the sorting task's models are.
#[derive(Debug, Args)]
pub struct EnrollTarget {
    /// Take the state folder, models and the sorting task's settings from this agent config.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// State folder holding `enrollment/` (without --config).
    #[arg(long, default_value = "var", global = true)]
    pub state_dir: PathBuf,
    /// Folder of model manifests and weights (without --config).
    #[arg(long, default_value = "models", env = "EDGE_AGENT_MODELS_DIR", global = true)]
    pub models_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(subcommand)]
    pub command: Option<EnrollCommand>,
    #[command(flatten)]
    pub target: EnrollTarget,
    /// kitchen | recyclable | hazardous | other (or 厨余垃圾 ...); may be left out when the rules table knows the label.
    #[arg(long)]
    pub category: Option<String>,
    /// The fine class as the site names it, e.g. 塑料瓶.
    #[arg(long)]
    pub label: Option<String>,
    /// Keep a category that the rules table says is wrong for this label.
    #[arg(long)]
    pub override_rules: bool,
    /// Pictures of the item (JPEG / PNG), one item each.
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EnrollCommand {
    /// The enrolled examples.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove examples by id (or a unique prefix of 6+ characters).
    Remove { ids: Vec<String> },
    /// Copy the examples as an ImageFolder (`<category>/<label>/<id>.jpg`) with manifest.json.
    Export { dir: PathBuf },
    /// Add the examples of an export (same embedding model).
    Import { dir: PathBuf },
    /// Recompute every embedding from the stored pictures (after a model update).
    Rebuild,
}

#[derive(Debug, Args)]
pub struct BenchSortingArgs {
    #[command(flatten)]
    pub models: ModelsDir,
    /// Items dropped in the latency run.
    #[arg(long, default_value_t = 40)]
    pub drops: usize,
    /// Camera frame rate of the latency run.
    #[arg(long, default_value_t = 10.0)]
    pub fps: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the latency run (accuracy and throughput only).
    #[arg(long)]
    pub no_latency: bool,
}

#[derive(Debug, Args)]
pub struct BenchFieldArgs {
    #[command(flatten)]
    pub models: ModelsDir,
    /// Camera frame rate.
    #[arg(long, default_value_t = 5.0)]
    pub fps: f64,
    /// Seconds of running before measuring.
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Seconds over which CPU and frames are measured.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
}

#[derive(Debug, Args)]
pub struct SimulateStationArgs {
    /// Folder to write `frames/`, `frames.txt` and `<camera>.toml` into.
    #[arg(long)]
    pub out: PathBuf,
    /// Seconds of footage.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 10.0)]
    pub fps: f64,
    /// Camera id in the calibration file.
    #[arg(long, default_value = "station-bins")]
    pub camera: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The OCR models and how they run.
#[derive(Debug, Args)]
pub struct OcrModels {
    #[command(flatten)]
    pub models: ModelsDir,
    #[arg(long, default_value = "ppocr-v6-det")]
    pub detector: String,
    #[arg(long, default_value = "ppocr-cls")]
    pub angle: String,
    #[arg(long, default_value = "ppocr-v6-rec")]
    pub recognizer: String,
    /// Skip the 0°/180° line classifier (labels are never upside down to this camera).
    #[arg(long)]
    pub no_angle: bool,
    /// ONNX Runtime intra-op threads (0: its default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A picture of the container (JPEG or PNG).
    pub image: PathBuf,
    /// The declared intake slip: the JSON of cmd/intake-slip (request_id may be left out).
    #[arg(long)]
    pub slip: Option<PathBuf>,
    /// One JSON document on stdout instead of a report.
    #[arg(long)]
    pub json: bool,
    /// Write the picture with the text boxes (green) and mismatching fields (red) marked.
    #[arg(long, value_name = "OUT.jpg")]
    pub evidence: Option<PathBuf>,
    /// Check settings as TOML (the keys of an intake task's `checks`), e.g. 'weight_tolerance = 0.1'.
    #[arg(long, default_value = "")]
    pub settings: String,
    /// A waste catalogue CSV (default: the built-in 2021 edition).
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// The edition of --catalogue.
    #[arg(long, default_value = "custom", requires = "catalogue")]
    pub catalogue_version: String,
    /// Intake time (RFC 3339); default now. Labels dated after it are flagged.
    #[arg(long)]
    pub at: Option<String>,
    #[command(flatten)]
    pub ocr: OcrModels,
}

#[derive(Debug, Args)]
pub struct BenchIntakeArgs {
    /// Generated pictures (at least 200 for the figures in the README).
    #[arg(long, default_value_t = 240)]
    pub images: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of pictures with a deliberately wrong label or slip.
    #[arg(long, default_value_t = 0.4)]
    pub wrong_share: f64,
    /// Where the generated set (JPEGs, slips, truth) is written; default a temporary folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also run Python rapidocr 3.10.0 on the same pictures (makes a venv under target/bench-venv).
    #[arg(long)]
    pub rapidocr: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ocr: OcrModels,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The calibration file to create or update (its zones are kept).
    #[arg(long)]
    pub calibration: PathBuf,
    /// Camera id for a new file (default: the file's name).
    #[arg(long)]
    pub camera: Option<String>,
    /// The picture showing the chessboard or the measured points; `camera`
    /// grabs one from the camera named by --camera in --config.
    #[arg(long)]
    pub image: Option<String>,
    /// A printed chessboard lying on the floor: inner corners and square size, e.g. 9x6@25mm.
    #[arg(long, conflicts_with = "point")]
    pub chessboard: Option<String>,
    /// A measured point, `PX,PY=MMX,MMY` (pixel = floor millimetres); give at least four.
    #[arg(long = "point")]
    pub point: Vec<String>,
    /// A picture of the scene when clean, stored as the reference (or `camera`).
    #[arg(long)]
    pub reference: Option<String>,
    /// Agent config, to grab pictures from its camera.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the preview PNG (default: next to the calibration file).
    #[arg(long)]
    pub preview: Option<PathBuf>,
    /// Floor grid spacing on the preview, millimetres.
    #[arg(long, default_value_t = 100.0)]
    pub grid_mm: f64,
}

#[derive(Debug, Args)]
pub struct LeakArgs {
    /// The camera's calibration file (zones, homography, reference picture).
    #[arg(long)]
    pub calibration: PathBuf,
    /// Frames in time order (JPEG or PNG).
    #[arg(required = true)]
    pub frames: Vec<PathBuf>,
    /// Frame rate of the sequence, frames per second.
    #[arg(long, default_value_t = 1.0)]
    pub fps: f64,
    /// Leak task settings as TOML (the keys of a `kind = "leak"` task), e.g. 'persist = "2s"'.
    #[arg(long, default_value = "")]
    pub settings: String,
    /// Write each event's evidence JPEG into this folder.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchLeakArgs {
    /// Spill scenarios (each a seeded clip with one spill).
    #[arg(long, default_value_t = 40)]
    pub spills: usize,
    /// Hours of spill-free footage with distractors, for the false-alarm rate.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
    /// Frames per second of the simulated footage fed to the detector.
    #[arg(long, default_value_t = 1.0)]
    pub fps: f64,
    /// Frame size of the simulated footage, `WxH` (the fps figure is measured at 1920x1080 regardless).
    #[arg(long, default_value = "480x270")]
    pub size: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads for the footage (each camera runs on one core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Watch the agent this config describes (its broker, prefix, site and device).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Broker host:port (default: the config's, else 127.0.0.1:11883, the embedded one).
    #[arg(long)]
    pub broker: Option<String>,
    /// Topic filter (default: everything of the config's device, else `zwaste/v1/#`).
    #[arg(long)]
    pub topic: Option<String>,
    /// One JSON object per message (topic, retain, bytes, sha256, payload).
    #[arg(long)]
    pub json: bool,
    /// Exit after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit after this long (e.g. 30s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct BenchEventsArgs {
    /// Broker host:port (default: start an embedded broker on a free port).
    #[arg(long)]
    pub broker: Option<String>,
    /// Events for the throughput run.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Rate for the latency run (events/s) and its length.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    pub latency_duration: std::time::Duration,
    /// Event payload padding in bytes (a typical event is ~1 KB of JSON).
    #[arg(long, default_value_t = 0)]
    pub padding: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModelsDir {
    /// Folder of model manifests (`<name>/model.toml`) and fetched weights.
    #[arg(long, default_value = "models", env = "EDGE_AGENT_MODELS_DIR")]
    pub models_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(long, short)]
    pub config: PathBuf,
    /// Stop after this long (e.g. 30s, 5m); default: run until stopped.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Stop once every camera has had this many frames processed.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Write results (JSON lines) here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Pictures (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub models: ModelsDir,
    /// Classifier manifest name.
    #[arg(long, default_value = "efficientnet-lite0")]
    pub model: String,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub top_k: u16,
    /// One JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Check every manifest's file against its sha256 and print a table.
    Verify {
        #[command(flatten)]
        models: ModelsDir,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub models: ModelsDir,
    #[arg(long, default_value = "efficientnet-lite0")]
    pub model: String,
    /// A JPEG to time; default: a 1920x1080 JPEG made from the demo frames.
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[arg(long, default_value_t = 50)]
    pub iterations: usize,
    /// ONNX Runtime intra-op threads (0: its default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long)]
    pub json: bool,
}
