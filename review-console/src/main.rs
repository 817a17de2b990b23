//! `review-console`: serve the managers' pages and store what the agents
//! publish; manage users; export; benchmark.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use review_console::auth::Role;
use review_console::config::Config;
use review_console::export::{self, Period};
use review_console::store::Store;

#[derive(Parser)]
#[command(version, about = "Managers' review console for edge-agent events")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Subscribe to the brokers, store events and evidence, serve the pages.
    Serve {
        #[arg(long, env = "REVIEW_CONSOLE_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file and exit (0: valid, 78: problems, all listed).
    CheckConfig {
        #[arg(long, env = "REVIEW_CONSOLE_CONFIG")]
        config: PathBuf,
    },
    /// Users: `user add --role reviewer NAME` (password from $REVIEW_CONSOLE_PASSWORD or stdin), `user list`, `user disable NAME`.
    User {
        #[arg(long, env = "REVIEW_CONSOLE_CONFIG")]
        config: PathBuf,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Print the review queue (flagged events, newest first), as the web page shows it.
    Queue {
        #[arg(long, env = "REVIEW_CONSOLE_CONFIG")]
        config: PathBuf,
        /// unreviewed | reviewed | confirmed | false_alarm | corrected
        #[arg(long)]
        review: Option<String>,
        #[arg(long)]
        kind: Option<String>,
    },
    /// Export a period (Beijing dates, both included).
    Export {
        #[arg(long, env = "REVIEW_CONSOLE_CONFIG")]
        config: PathBuf,
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Measure ingest (events/s with pictures) and the queue page's server time at 100,000 events,
    /// in a scratch database on the given server (created and dropped).
    Bench {
        /// A PostgreSQL URL whose user may create databases, or `sqlite`.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        server: String,
        /// Also measure through this MQTT broker (host:port): publisher -> broker -> subscriber -> store.
        #[arg(long)]
        mqtt: Option<String>,
        #[arg(long, default_value_t = 5000)]
        events: usize,
        #[arg(long, default_value_t = 100_000)]
        queue_events: usize,
        /// Messages per transaction (an event and its picture are two).
        #[arg(long, default_value_t = 200)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user or reset an existing one's password and role.
    Add {
        #[arg(long, value_parser = ["viewer", "reviewer", "admin"])]
        role: String,
        name: String,
    },
    List,
    Disable { name: String },
}

#[derive(Subcommand)]
enum ExportWhat {
    /// Events and verdicts as CSV.
    Csv {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Include routine (not flagged) events.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Reviewed sorting items as an ImageFolder training set with manifest.
    Training {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("REVIEW_CONSOLE_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::CheckConfig { config } = &cli.command {
        return match Config::load(config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(78)
            }
        };
    }
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(config: &PathBuf) -> Result<Store> {
    let c = Config::load(config)?;
    Store::open(&c.database.url, 2).await
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve { config } => review_console::app::serve(Config::load(&config)?).await,
        Command::CheckConfig { .. } => unreachable!("handled before the runtime"),
        Command::User { config, action } => {
            let store = open(&config).await?;
            match action {
                UserAction::Add { role, name } => {
                    let password = match std::env::var("REVIEW_CONSOLE_PASSWORD") {
                        Ok(p) => p,
                        Err(_) => {
                            eprintln!("password for {name} (then Enter):");
                            let mut p = String::new();
                            std::io::stdin().read_to_string(&mut p).context("reading the password from stdin")?;
                            p.lines().next().unwrap_or_default().to_string()
                        }
                    };
                    store.put_user(&name, &password, Role::parse(&role).context("role")?).await?;
                    println!("user {name} saved with role {role}");
                }
                UserAction::List => {
                    for u in store.users().await? {
                        println!("{}\t{}{}", u.username, u.role.as_str(), if u.disabled { "\tdisabled" } else { "" });
                    }
                }
                UserAction::Disable { name } => {
                    anyhow::ensure!(store.set_disabled(&name, true).await?, "no user {name}");
                    println!("user {name} disabled; their sessions are ended");
                }
            }
            Ok(())
        }
        Command::Queue { config, review, kind } => {
            let store = open(&config).await?;
            let page = store.queue(&review_console::store::queue::QueueFilter { review, kind, ..Default::default() }).await?;
            println!("{} flagged events", page.total);
            for r in &page.rows {
                println!(
                    "{}  {}/{}/{}  {} {}  {}  {}  {}",
                    export::format_beijing(r.time_ms),
                    r.site,
                    r.device_id,
                    r.camera,
                    r.kind,
                    r.verdict,
                    r.item_label.as_deref().or(r.message_zh.as_deref()).unwrap_or("-"),
                    r.review.as_deref().unwrap_or("unreviewed"),
                    r.event_id
                );
            }
            Ok(())
        }
        Command::Export { config, what } => {
            let store = open(&config).await?;
            match what {
                ExportWhat::Csv { from, to, all, out } => {
                    let period = Period::parse(&from, &to).map_err(anyhow::Error::msg)?;
                    let csv = export::events_csv(&store, period, all).await?;
                    std::fs::write(&out, &csv).with_context(|| format!("writing {}", out.display()))?;
                    println!("{}: {} rows", out.display(), bytecount_lines(&csv).saturating_sub(1));
                }
                ExportWhat::Training { from, to, out } => {
                    let period = Period::parse(&from, &to).map_err(anyhow::Error::msg)?;
                    let n = export::training_folder(&store, period, &out).await?;
                    println!("{}: {n} pictures with manifest.json and manifest.csv", out.display());
                }
            }
            Ok(())
        }
        Command::Bench { server, mqtt, events, queue_events, batch } => {
            review_console::bench::run(review_console::bench::BenchOptions { server, mqtt, events, queue_events, batch }).await
        }
    }
}

fn bytecount_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}
