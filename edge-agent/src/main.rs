use clap::Parser;
use edge_agent::cli::{Cli, Command, LogFormat};
use edge_agent::commands::{self, EXIT_CONFIG};
use edge_agent::config::{Config, ConfigError};
use edge_agent::inference::InferenceError;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let outcome = match &cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::CheckConfig { config } => Config::load(config).map(|c| {
            println!("{}: ok ({} cameras, {} tasks)", config.display(), c.cameras.len(), c.tasks.len());
            ExitCode::SUCCESS
        }).map_err(Into::into),
        Command::Classify(args) => commands::classify::classify(args),
        Command::Models { command } => commands::models::models(command),
        Command::Bench(args) => commands::bench::bench(args),
        Command::Schemas { config } => commands::watch::schemas(config.as_deref()),
        Command::Watch(args) => commands::watch::watch(args),
        Command::BenchEvents(args) => commands::bench_events::bench_events(args),
        Command::Calibrate(args) => commands::calibrate::calibrate(args),
        Command::Leak(args) => commands::leak::leak(args),
        Command::BenchLeak(args) => commands::bench_leak::bench_leak(args),
        Command::Inspect(args) => commands::inspect::inspect(args),
        Command::BenchIntake(args) => commands::bench_intake::bench_intake(args),
        Command::Enroll(args) => commands::enroll::enroll(args),
        Command::BenchSorting(args) => commands::bench_sorting::bench_sorting(args),
        Command::BenchField(args) => commands::bench_field::bench_field(args),
        Command::SimulateStation(args) => commands::simulate_station::simulate_station(args),
        Command::Storage(args) => commands::storage::storage(args),
        Command::SimulateStorage(args) => commands::storage::simulate_storage(args),
        Command::BenchStorage(args) => commands::bench_storage::bench_storage(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            if let Some(config_error) = error.downcast_ref::<ConfigError>() {
                eprint!("error: {config_error}");
                return ExitCode::from(EXIT_CONFIG);
            }
            eprintln!("error: {error:#}");
            match error.downcast_ref::<InferenceError>() {
                Some(InferenceError::Manifest(_)) => ExitCode::from(EXIT_CONFIG),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGE_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn,rumqttc=warn,rumqttd=warn,rumqttd::server::broker=off"));
    // Under systemd (stderr connected to the journal) log to journald natively:
    // every tracing field becomes a journal field (CAMERA=, MODEL=, ...), with
    // the level as PRIORITY, so `journalctl -u edge-agent CAMERA=dock-1` works.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            Ok(journal) => {
                tracing_subscriber::registry().with(filter).with(journal.with_syslog_identifier("edge-agent".into())).init();
                return;
            }
            Err(e) => eprintln!("journald is not reachable ({e}); logging to stderr"),
        }
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
