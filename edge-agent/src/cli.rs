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
