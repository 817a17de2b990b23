//! Capture: frame sources behind one trait, and the per-camera thread that
//! keeps only the newest frame (stale frames are dropped and counted), and
//! reconnects a lost camera with backoff instead of crashing.

pub mod replay;
#[cfg(feature = "rtsp")]
pub mod rtsp;
pub mod slot;
#[cfg(feature = "camera")]
pub mod usb;

use crate::config::{CameraConfig, SourceConfig};
use crate::vision::Frame;
use crate::backoff::Backoff;
use image::RgbImage;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

pub use slot::LatestFrame;

/// A picture straight from a source, before it becomes a shared [`Frame`].
pub struct Captured {
    pub image: RgbImage,
    /// File name, device or URL, for logs and evidence.
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The camera cannot be reached or went away: retried with backoff.
    #[error("camera unavailable: {0}")]
    Unavailable(String),
    /// One frame could not be decoded: skipped and counted, capture goes on.
    #[error("corrupt frame: {0}")]
    CorruptFrame(String),
    /// A replay without `loop` played its last picture.
    #[error("source finished")]
    Finished,
    /// Nothing a retry can fix (e.g. an empty replay folder): the camera stops, loudly.
    #[error("{0}")]
    Fatal(String),
}

/// A source of frames. Methods block; each camera runs on its own thread.
pub trait FrameSource: Send {
    fn describe(&self) -> String;
    /// Opens (or reopens after `Unavailable`) the source.
    fn open(&mut self) -> Result<(), CaptureError>;
    /// Blocks until the next frame, or until `stop` is set (then returns `Finished`).
    fn next_frame(&mut self, stop: &AtomicBool) -> Result<Captured, CaptureError>;
}

/// Builds the source a camera's config describes.
pub fn open_source(camera: &CameraConfig) -> Result<Box<dyn FrameSource>, CaptureError> {
    match &camera.source {
        SourceConfig::Replay(r) => Ok(Box::new(replay::ReplaySource::new(r.clone()))),
        #[cfg(feature = "camera")]
        SourceConfig::Usb(u) => Ok(Box::new(usb::UsbSource::new(u.clone()))),
        #[cfg(not(feature = "camera"))]
        SourceConfig::Usb(_) => Err(CaptureError::Fatal("built without the `camera` feature".into())),
        #[cfg(feature = "rtsp")]
        SourceConfig::Rtsp(r) => Ok(Box::new(rtsp::RtspSource::new(r.clone()))),
        #[cfg(not(feature = "rtsp"))]
        SourceConfig::Rtsp(_) => Err(CaptureError::Fatal("built without the `rtsp` feature".into())),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CameraState {
    Connecting,
    Streaming,
    Reconnecting { attempt: u32, error: String },
    Finished,
    Failed { error: String },
}

/// Counters a camera thread keeps; read by heartbeats and metrics.
#[derive(Debug, Default)]
pub struct CameraStats {
    pub captured: AtomicU64,
    /// Frames replaced in the slot before any task looked at them.
    pub dropped: AtomicU64,
    pub corrupt: AtomicU64,
    pub reconnects: AtomicU64,
    pub state: Mutex<Option<CameraState>>,
}

impl CameraStats {
    fn set_state(&self, state: CameraState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
    }

    pub fn state(&self) -> Option<CameraState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A running camera: its newest frame, its counters, and its thread.
pub struct CameraHandle {
    pub id: Arc<str>,
    pub latest: Arc<LatestFrame>,
    pub stats: Arc<CameraStats>,
    thread: Option<JoinHandle<()>>,
}

impl CameraHandle {
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a camera thread.
pub fn spawn_camera(id: &str, mut source: Box<dyn FrameSource>, stop: Arc<AtomicBool>, backoff: Backoff) -> CameraHandle {
    let id: Arc<str> = Arc::from(id);
    let latest = Arc::new(LatestFrame::default());
    let stats = Arc::new(CameraStats::default());
    let thread = {
        let (id, latest, stats) = (id.clone(), latest.clone(), stats.clone());
        std::thread::Builder::new()
            .name(format!("capture-{id}"))
            .spawn(move || run_camera(&id, source.as_mut(), &latest, &stats, &stop, backoff))
            .expect("spawning a thread")
    };
    CameraHandle { id, latest, stats, thread: Some(thread) }
}

fn run_camera(
    id: &Arc<str>,
    source: &mut dyn FrameSource,
    latest: &LatestFrame,
    stats: &CameraStats,
    stop: &AtomicBool,
    mut backoff: Backoff,
) {
    let describe = source.describe();
    let mut open = false;
    let mut seq = 0u64;
    stats.set_state(CameraState::Connecting);
    while !stop.load(Ordering::Relaxed) {
        if !open {
            match source.open() {
                Ok(()) => {
                    open = true;
                    backoff.reset();
                    stats.set_state(CameraState::Streaming);
                    tracing::info!(camera = %id, source = %describe, "camera streaming");
                }
                Err(CaptureError::Fatal(error)) => {
                    tracing::error!(camera = %id, source = %describe, %error, "camera cannot start");
                    stats.set_state(CameraState::Failed { error });
                    break;
                }
                Err(e) => {
                    wait_before_retry(id, &describe, stats, &mut backoff, e.to_string(), stop);
                    continue;
                }
            }
        }
        match source.next_frame(stop) {
            Ok(captured) => {
                seq += 1;
                stats.captured.fetch_add(1, Ordering::Relaxed);
                let frame = Frame {
                    camera: id.clone(),
                    seq,
                    captured_at: SystemTime::now(),
                    image: Arc::new(captured.image),
                    origin: Arc::from(captured.origin),
                };
                if latest.put(frame) {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(CaptureError::CorruptFrame(error)) => {
                stats.corrupt.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(camera = %id, %error, "skipping corrupt frame");
            }
            Err(CaptureError::Finished) => {
                stats.set_state(CameraState::Finished);
                break;
            }
            Err(CaptureError::Fatal(error)) => {
                tracing::error!(camera = %id, source = %describe, %error, "camera stopped");
                stats.set_state(CameraState::Failed { error });
                break;
            }
            Err(e @ CaptureError::Unavailable(_)) => {
                open = false;
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                wait_before_retry(id, &describe, stats, &mut backoff, e.to_string(), stop);
            }
        }
    }
    latest.close();
}

fn wait_before_retry(id: &str, describe: &str, stats: &CameraStats, backoff: &mut Backoff, error: String, stop: &AtomicBool) {
    let delay = backoff.next_delay();
    tracing::warn!(camera = %id, source = %describe, %error, attempt = backoff.attempt(), retry_in = ?delay, "camera unavailable");
    stats.set_state(CameraState::Reconnecting { attempt: backoff.attempt(), error });
    sleep_unless_stopped(delay, stop);
}

/// Sleeps in short steps so a stop request is honoured promptly.
pub fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = std::time::Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}
