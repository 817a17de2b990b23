//! The agent's local web pages: the sorting-station screen (`/station`) and
//! the operator's `/healthz`, `/readyz` and `/metrics`. The server runs on its
//! own thread with a small tokio runtime, so the (synchronous) agent only
//! starts and stops it.

pub mod ops;
pub mod station;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::get;
use tokio::sync::watch;

use crate::telemetry::Figures;
use station::StationHub;

/// How long open requests get to finish once the server is told to stop.
const STOP_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on {addr}: {source}; {fix}")]
    Bind { addr: SocketAddr, source: std::io::Error, fix: &'static str },
    #[error("web server: {0}")]
    Start(#[source] std::io::Error),
}

/// The running server; stops on drop or [`WebServer::stop`].
pub struct WebServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Binds `listen` and serves the station screen on a thread of its own (the caller need not be async).
    pub fn start(listen: SocketAddr, station: Arc<StationHub>) -> Result<WebServer, WebError> {
        Self::start_with_health(listen, station, None)
    }

    /// The station screen plus `/healthz`, `/readyz` and `/metrics` from `figures`.
    pub fn start_with_health(listen: SocketAddr, station: Arc<StationHub>, figures: Option<Arc<Figures>>) -> Result<WebServer, WebError> {
        // Bind here, not on the thread, so a taken port is the caller's error.
        let listener = TcpListener::bind(listen).map_err(|source| bind_error(listen, source))?;
        let addr = listener.local_addr().map_err(WebError::Start)?;
        listener.set_nonblocking(true).map_err(WebError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(WebError::Start)?;
        let (stop, stop_rx) = watch::channel(false);
        let started_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut app = router(station, started_ms, stop_rx.clone());
        if let Some(figures) = figures {
            app = app.merge(ops::routes(figures));
        }
        let thread = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || serve(runtime, listener, app, stop_rx))
            .map_err(WebError::Start)?;
        Ok(WebServer { addr, stop, thread: Some(thread) })
    }

    /// The bound address: the real port when port 0 was asked.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the port and every open page's stream (the pages reconnect by themselves).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("web server thread panicked");
        }
    }
}

fn bind_error(addr: SocketAddr, source: std::io::Error) -> WebError {
    use std::io::ErrorKind;
    let fix = match source.kind() {
        ErrorKind::AddrInUse => {
            "another process uses this port: stop it or set [web] listen in the config to a free port"
        }
        ErrorKind::PermissionDenied => {
            "ports below 1024 need root or CAP_NET_BIND_SERVICE: set [web] listen in the config to a port above 1023"
        }
        ErrorKind::AddrNotAvailable => {
            "this machine has no such address: set [web] listen in the config to 127.0.0.1:PORT, 0.0.0.0:PORT or one of its addresses"
        }
        _ => "set [web] listen in the config to a free ip:port, or \"\" to turn the pages off",
    };
    WebError::Bind { addr, source, fix }
}

fn router(station: Arc<StationHub>, started_ms: u64, stop: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(root))
        .merge(station::routes(station, started_ms, stop))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

/// `/` goes to the station screen, keeping `?camera=` and `?chime=`.
async fn root(RawQuery(query): RawQuery) -> Redirect {
    match query {
        Some(query) if !query.is_empty() => Redirect::to(&format!("/station?{query}")),
        _ => Redirect::to("/station"),
    }
}

fn serve(runtime: tokio::runtime::Runtime, listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!("web server: {e}");
                return;
            }
        };
        let mut signal = stop.clone();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = signal.wait_for(|stopping| *stopping).await;
            })
            .into_future();
        // The event streams end on the same signal; the grace covers slow downloads.
        let deadline = async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        tokio::select! {
            result = server => if let Err(e) = result { tracing::error!("web server: {e}") },
            () = deadline => tracing::warn!("web server: open requests cut off at stop"),
        }
    });
    // Whatever is left (a stuck connection) is dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(100));
}
