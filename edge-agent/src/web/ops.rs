//! The operator's endpoints: `/healthz` (the pipeline's loops make progress),
//! `/readyz` (models loaded, every camera delivered a frame) and `/metrics`
//! (Prometheus text). All read [`Figures`], the heartbeat's own source.

use crate::telemetry::Figures;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub(super) fn routes(figures: Arc<Figures>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(figures)
}

/// 200 or 503 with the figures as JSON (axum's `json` feature is not built in).
fn answer(ok: bool, body: &impl serde::Serialize) -> Response {
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let json = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

async fn healthz(State(figures): State<Arc<Figures>>) -> Response {
    let health = figures.health();
    answer(health.healthy, &health)
}

async fn readyz(State(figures): State<Arc<Figures>>) -> Response {
    let readiness = figures.readiness();
    answer(readiness.ready, &readiness)
}

async fn metrics(State(figures): State<Arc<Figures>>) -> Response {
    // The scrape reads the disk's free space and the outbox: off the async thread.
    let text = tokio::task::spawn_blocking(move || crate::telemetry::prometheus::encode(figures.scrape())).await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics; see the agent's log\n").into_response(),
    }
}
