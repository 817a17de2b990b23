//! systemd's service notifications (`Type=notify`): READY=1 once the models
//! are loaded and every camera has delivered a frame, STATUS lines, and
//! WATCHDOG=1 only while [`Figures::health`] says every pipeline loop is
//! making progress. Without `NOTIFY_SOCKET` (a terminal, the tests' plain
//! runs) every call is a no-op.

use super::{Figures, Phase};
use sd_notify::NotifyState;
use std::time::{Duration, Instant};

/// How often STATUS is refreshed while running.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// Start READY anyway after this long without a frame from some camera, so
/// one unplugged camera does not make systemd kill and restart the whole box
/// in a loop; `/readyz` and the heartbeat keep naming the camera.
pub const READY_WITHOUT_FRAMES_AFTER: Duration = Duration::from_secs(60);

pub struct Notifier {
    /// Ping every half of `WatchdogSec`, as sd_watchdog_enabled(3) advises.
    watchdog_every: Option<Duration>,
    last_ping: Option<Instant>,
    last_status: Option<Instant>,
    ready_sent: bool,
    withholding: bool,
    started: Instant,
}

impl Notifier {
    pub fn from_env() -> Self {
        let watchdog_every = sd_notify::watchdog_enabled().map(|d| d / 2);
        if let Some(every) = watchdog_every {
            tracing::info!(ping_every_ms = every.as_millis() as u64, "systemd watchdog on: pinged while the pipeline makes progress");
        }
        Self { watchdog_every, last_ping: None, last_status: None, ready_sent: false, withholding: false, started: Instant::now() }
    }

    /// The watchdog interval systemd asked for (the stall limit for the loops).
    pub fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog_every.map(|d| d * 2)
    }

    pub fn status(&self, line: &str) {
        send(&[NotifyState::Status(line)]);
    }

    pub fn reloading(&self) {
        // MONOTONIC_USEC lets `Type=notify-reload` (systemd >= 253) pair this with the reload request.
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now, NotifyState::Status("reloading config")]),
            Err(_) => send(&[NotifyState::Reloading, NotifyState::Status("reloading config")]),
        }
    }

    pub fn reloaded(&self, figures: &Figures) {
        send(&[NotifyState::Ready, NotifyState::Status(&figures.status_line())]);
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping, NotifyState::Status("stopping: draining the outbox")]);
    }

    /// Called every pass of the supervisor loop.
    pub fn tick(&mut self, figures: &Figures) {
        let now = Instant::now();
        if !self.ready_sent && figures.phase() != Phase::LoadingModels {
            let readiness = figures.readiness();
            let waited_enough = self.started.elapsed() >= READY_WITHOUT_FRAMES_AFTER;
            if readiness.cameras_without_frames.is_empty() || waited_enough {
                if !readiness.cameras_without_frames.is_empty() {
                    tracing::warn!(cameras = ?readiness.cameras_without_frames, "ready without a first frame from these cameras");
                }
                figures.set_phase(Phase::Running);
                self.ready_sent = true;
                tracing::info!(after_ms = self.started.elapsed().as_millis() as u64, "ready");
                send(&[NotifyState::Ready, NotifyState::Status(&figures.status_line())]);
                self.last_status = Some(now);
            }
        }
        if self.last_status.is_none_or(|t| now - t >= STATUS_EVERY) {
            self.status(&figures.status_line());
            self.last_status = Some(now);
        }
        let Some(every) = self.watchdog_every else { return };
        if self.last_ping.is_some_and(|t| now - t < every) {
            return;
        }
        let health = figures.health();
        if health.healthy {
            if self.withholding {
                tracing::warn!("the pipeline makes progress again: watchdog pings resumed");
                self.withholding = false;
            }
            send(&[NotifyState::Watchdog]);
            self.last_ping = Some(now);
        } else if !self.withholding {
            // Say why before systemd's watchdog kills us.
            self.withholding = true;
            tracing::error!(stalled = ?health.stalled, "pipeline loops stalled: withholding the watchdog ping, systemd will restart the agent");
            self.status(&format!("stalled: {}", health.stalled.keys().cloned().collect::<Vec<_>>().join(", ")));
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready_sent
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}
