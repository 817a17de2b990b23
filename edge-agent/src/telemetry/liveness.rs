//! Whether the pipeline's own threads are alive and making progress: each
//! loop (camera worker, event writer, MQTT runtime) beats on every pass,
//! including the passes where it only waited. A thread stuck in a model run
//! or a deadlock stops beating, its beat goes stale, and the systemd
//! watchdog ping is withheld, so systemd restarts the agent. A timer that
//! pinged regardless would keep a hung agent "alive" forever.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug)]
pub struct Liveness {
    epoch: Instant,
    beats: Mutex<BTreeMap<String, Arc<Beat>>>,
}

/// One loop's last sign of life (milliseconds since the epoch).
#[derive(Debug)]
pub struct Beat {
    last_ms: AtomicU64,
    epoch: Instant,
}

impl Beat {
    pub fn beat(&self) {
        self.last_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// Unregisters its loop when dropped: a camera that finished on purpose is not a hang.
pub struct BeatGuard {
    liveness: Arc<Liveness>,
    name: String,
    pub beat: Arc<Beat>,
}

impl BeatGuard {
    pub fn beat(&self) {
        self.beat.beat();
    }
}

impl Drop for BeatGuard {
    fn drop(&mut self) {
        let mut beats = self.liveness.beats.lock().unwrap_or_else(|e| e.into_inner());
        if beats.get(&self.name).is_some_and(|b| Arc::ptr_eq(b, &self.beat)) {
            beats.remove(&self.name);
        }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self { epoch: Instant::now(), beats: Mutex::default() }
    }
}

impl Liveness {
    /// Registers a loop under `name` (fresh: it counts as alive now).
    pub fn register(self: &Arc<Self>, name: &str) -> BeatGuard {
        let beat = Arc::new(Beat { last_ms: AtomicU64::new(0), epoch: self.epoch });
        beat.beat();
        self.beats.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), beat.clone());
        BeatGuard { liveness: self.clone(), name: name.to_string(), beat }
    }

    /// Loops that have not beaten for longer than `max_age_ms`, with their silence in ms.
    pub fn stalled(&self, max_age_ms: u64) -> Vec<(String, u64)> {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.stalled_at(now, max_age_ms)
    }

    fn stalled_at(&self, now_ms: u64, max_age_ms: u64) -> Vec<(String, u64)> {
        let beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats
            .iter()
            .map(|(name, b)| (name.clone(), now_ms.saturating_sub(b.last_ms.load(Ordering::Relaxed))))
            .filter(|(_, silent)| *silent > max_age_ms)
            .collect()
    }

    pub fn loops(&self) -> Vec<String> {
        self.beats.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_named_and_a_finished_one_is_forgotten() {
        let l = Arc::new(Liveness::default());
        let worker = l.register("tasks-cam1");
        let writer = l.register("events");
        worker.beat.last_ms.store(1_000, Ordering::Relaxed);
        writer.beat.last_ms.store(9_500, Ordering::Relaxed);
        assert_eq!(l.stalled_at(10_000, 5_000), vec![("tasks-cam1".to_string(), 9_000)]);
        assert!(l.stalled_at(10_000, 10_000).is_empty());
        drop(worker);
        assert!(l.stalled_at(10_000, 5_000).is_empty(), "a finished camera is not a hang");
        assert_eq!(l.loops(), vec!["events".to_string()]);
    }

    #[test]
    fn a_restarted_loop_under_the_same_name_is_not_removed_by_its_predecessor() {
        let l = Arc::new(Liveness::default());
        let old = l.register("tasks-cam1");
        let new = l.register("tasks-cam1");
        drop(old);
        assert_eq!(l.loops(), vec!["tasks-cam1".to_string()]);
        new.beat();
        assert!(l.stalled(1_000).is_empty());
    }
}
