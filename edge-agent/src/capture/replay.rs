//! Replay: pictures from a folder (name order) or a list file, paced at a set
//! frame rate. The demo and most tests see the world through it.

use super::{CaptureError, Captured, FrameSource, sleep_unless_stopped};
use crate::config::{Config, ReplayConfig};
use crate::vision;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub struct ReplaySource {
    config: ReplayConfig,
    files: Vec<PathBuf>,
    next: usize,
    interval: Duration,
    due: Option<Instant>,
}

const PICTURE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

impl ReplaySource {
    pub fn new(config: ReplayConfig) -> Self {
        let interval = Config::replay_interval(config.fps);
        Self { config, files: Vec::new(), next: 0, interval, due: None }
    }
}

/// The pictures a replay path names: a folder's pictures in name order, or
/// the lines of a list file (relative to the list's folder).
pub fn list_pictures(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| PICTURE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        Ok(files)
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read list {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| base.join(l))
            .collect())
    }
}

impl FrameSource for ReplaySource {
    fn describe(&self) -> String {
        format!("replay {} at {} fps", self.config.path.display(), self.config.fps)
    }

    fn open(&mut self) -> Result<(), CaptureError> {
        self.files = list_pictures(&self.config.path).map_err(CaptureError::Fatal)?;
        if self.files.is_empty() {
            return Err(CaptureError::Fatal(format!(
                "no JPEG or PNG pictures in {}: add some or point source.path elsewhere",
                self.config.path.display()
            )));
        }
        self.next = 0;
        Ok(())
    }

    fn next_frame(&mut self, stop: &AtomicBool) -> Result<Captured, CaptureError> {
        if self.next >= self.files.len() {
            if !self.config.looping {
                return Err(CaptureError::Finished);
            }
            self.next = 0;
        }
        // Pace against a schedule, not a fixed sleep, so decode time does not slow the rate.
        let now = Instant::now();
        let due = self.due.unwrap_or(now);
        if due > now {
            sleep_unless_stopped(due - now, stop);
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(CaptureError::Finished);
        }
        self.due = Some(due.max(now - self.interval) + self.interval);
        let path = self.files[self.next].clone();
        self.next += 1;
        let bytes = std::fs::read(&path).map_err(|e| CaptureError::CorruptFrame(format!("{}: {e}", path.display())))?;
        let image = vision::decode_image(&bytes).map_err(|e| CaptureError::CorruptFrame(format!("{}: {e}", path.display())))?;
        Ok(Captured { image, origin: path.display().to_string() })
    }
}
