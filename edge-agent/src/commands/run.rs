use crate::agent::{self, RunLimits};
use crate::cli::RunArgs;
use crate::config::Config;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    std::fs::create_dir_all(&config.storage.dir).map_err(|e| {
        anyhow::anyhow!("cannot create the state folder {} ({e}); set storage.dir to a writable folder", config.storage.dir.display())
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    install_signal_handlers(stop.clone());
    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?),
        None => Box::new(std::io::stdout()),
    };
    tracing::info!(site = %config.site, device = %config.device_id, cameras = config.cameras.len(), "agent starting");
    let limits = RunLimits { duration: args.duration, max_frames: args.max_frames };
    let summaries = agent::run(&config, &limits, stop, out)?;
    for s in &summaries {
        tracing::info!(
            camera = %s.camera,
            captured = s.captured,
            processed = s.processed,
            dropped = s.dropped,
            corrupt = s.corrupt,
            reconnects = s.reconnects,
            task_errors = s.task_errors,
            fps = format!("{:.2}", s.fps),
            p50_ms = format!("{:.1}", s.latency_p50_ms),
            p95_ms = format!("{:.1}", s.latency_p95_ms),
            "camera summary"
        );
    }
    eprintln!("{}", serde_json::to_string(&summaries)?);
    Ok(ExitCode::SUCCESS)
}

/// SIGINT / SIGTERM set the stop flag (the agent then finishes the frame in
/// hand); SIGHUP asks for a config reload, as `systemctl reload` sends it.
fn install_signal_handlers(stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::warn!(error = %e, "no signal handling"),
            };
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (mut term, mut hangup) = match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
                    (Ok(t), Ok(h)) => (t, h),
                    (Err(e), _) | (_, Err(e)) => return tracing::warn!(error = %e, "no SIGTERM / SIGHUP handling"),
                };
                loop {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => break,
                        _ = term.recv() => break,
                        _ = hangup.recv() => agent::request_reload(),
                    }
                }
                tracing::info!("stop requested");
                stop.store(true, Ordering::Relaxed);
            });
        })
        .expect("spawning a thread");
}
