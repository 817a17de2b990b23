//! `serve`: the store, one subscriber per broker, the feedback resender and
//! the web server, until SIGTERM / Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::auth::SignInLimiter;
use crate::config::Config;
use crate::ingest::subscriber::{self, Brokers, IngestStats};
use crate::ingest::Schemas;
use crate::store::Store;
use crate::web::{self, AppState};

/// Feedback unanswered this long is sent again (the agent's handling is idempotent).
const RESEND_AFTER_MS: i64 = 60_000;
const MAX_ATTEMPTS: i64 = 10;

pub async fn serve(config: Config) -> Result<()> {
    let store = Store::open(&config.database.url, config.database.max_connections).await?;
    let schemas = Arc::new(Schemas::load()?);
    let stats = Arc::new(IngestStats::default());
    if store.users().await?.is_empty() {
        tracing::warn!("no users yet: add one with `review-console user add --config <file> --role admin <name>`");
    }
    let limits = config.ingest.limits();
    let mut links = Vec::new();
    for b in &config.brokers {
        links.push(subscriber::start(b, store.clone(), schemas.clone(), limits, config.ingest.batch, stats.clone()).with_context(|| format!("broker `{}`", b.name))?);
        tracing::info!(broker = %b.name, address = %b.address, client_id = %b.client_id, shared = ?b.shared_group, "subscribing");
    }
    let brokers = Brokers::new(links);
    let state = AppState {
        store: store.clone(),
        brokers: brokers.clone(),
        schemas,
        web: config.web.clone(),
        limiter: Arc::new(SignInLimiter::new(config.web.sign_in_per_minute)),
        stats,
    };
    tokio::spawn(resend_feedback(state.clone()));
    let listener = tokio::net::TcpListener::bind(config.web.listen)
        .await
        .with_context(|| format!("cannot listen on {} (web.listen): is another console running there?", config.web.listen))?;
    tracing::info!("review console on http://{}", listener.local_addr()?);
    tokio::select! {
        r = web::serve(state, listener) => r,
        _ = shutdown_signal() => {
            tracing::info!("stopping");
            store.pool.close().await;
            Ok(())
        }
    }
}

/// Sends feedback that never went out (broker down) or got no reply (box offline).
async fn resend_feedback(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        match state.store.feedback_due(RESEND_AFTER_MS, MAX_ATTEMPTS).await {
            Ok(due) => {
                for f in due {
                    crate::web::send_feedback(&state, &f.event_id, &f.broker, &f.site, &f.device_id, f.command).await;
                }
            }
            Err(e) => tracing::warn!("cannot read pending feedback: {e:#}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
