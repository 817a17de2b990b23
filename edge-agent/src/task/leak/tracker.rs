//! Turns per-frame spill observations into leaks with a life: suspected once
//! seen on consecutive frames, growing when the area has grown by a step,
//! cleared when gone for a while. One open leak per place, so a puddle is
//! one alert and a few updates, never an event per frame.

use super::detector::Observation;
use serde::Serialize;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub struct TrackerSettings {
    /// Consecutive frames a region must be seen before it is a suspected leak.
    pub confirm_frames: u32,
    /// A leak not seen for this long is cleared.
    pub clear_after_s: f64,
    /// A `growing` update needs the area up by this share since the last report...
    pub growth_step: f64,
    /// ...and by at least this many cm²...
    pub growth_min_cm2: f64,
    /// ...and this long since the last report.
    pub report_interval_s: f64,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self { confirm_frames: 2, clear_after_s: 20.0, growth_step: 0.3, growth_min_cm2: 50.0, report_interval_s: 10.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakState {
    Suspected,
    Growing,
    Cleared,
}

impl LeakState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspected => "suspected",
            Self::Growing => "growing",
            Self::Cleared => "cleared",
        }
    }
}

/// A change in a leak's life, worth an event.
#[derive(Debug, Clone)]
pub struct LeakUpdate {
    pub state: LeakState,
    /// Per camera, counts up from 1 for the life of the task.
    pub leak_id: u64,
    /// Smoothed area now (at `cleared`: when last seen).
    pub area_cm2: f64,
    pub peak_area_cm2: f64,
    /// Over the last 30 s, cm² per minute.
    pub growth_cm2_per_min: f64,
    pub first_seen_s: f64,
    pub open_for_s: f64,
    pub confidence: f32,
    /// The latest observation (at `cleared`: the last one seen).
    pub observation: Observation,
}

struct Track {
    id: u64,
    /// Most of it arrived with motion (as of the latest sighting).
    arrived: bool,
    first_area: f64,
    spread_frames: u32,
    first_seen: f64,
    last_seen: f64,
    consecutive: u32,
    open: bool,
    reported_area: f64,
    last_report: f64,
    peak: f64,
    history: VecDeque<(f64, f64)>,
    latest: Observation,
}

impl Track {
    /// Median of the last three areas: one noisy frame neither opens a growth report nor hides one.
    fn area(&self) -> f64 {
        let mut last: Vec<f64> = self.history.iter().rev().take(3).map(|(_, a)| *a).collect();
        last.sort_by(f64::total_cmp);
        last.get(last.len() / 2).copied().unwrap_or(self.latest.area_cm2)
    }

    /// Least-squares slope of area over the last 30 s, per minute.
    fn growth_per_min(&self) -> f64 {
        let Some(&(t_end, _)) = self.history.back() else { return 0.0 };
        let recent: Vec<(f64, f64)> = self.history.iter().copied().filter(|(t, _)| t_end - t <= 30.0).collect();
        let n = recent.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let (mt, ma) = (recent.iter().map(|r| r.0).sum::<f64>() / n, recent.iter().map(|r| r.1).sum::<f64>() / n);
        let var: f64 = recent.iter().map(|(t, _)| (t - mt).powi(2)).sum();
        if var < 1e-9 {
            return 0.0;
        }
        60.0 * recent.iter().map(|(t, a)| (t - mt) * (a - ma)).sum::<f64>() / var
    }

    fn update(&self, state: LeakState, t: f64) -> LeakUpdate {
        let persistence = ((t - self.first_seen) / 30.0).clamp(0.0, 1.0) as f32;
        LeakUpdate {
            state,
            leak_id: self.id,
            area_cm2: self.area(),
            peak_area_cm2: self.peak,
            growth_cm2_per_min: self.growth_per_min(),
            first_seen_s: self.first_seen,
            open_for_s: t - self.first_seen,
            confidence: (0.45 + 0.4 * self.latest.spill_score + 0.14 * persistence).min(0.99),
            observation: self.latest.clone(),
        }
    }
}

/// Growth since first seen that shows a region spreads like a liquid.
const SPREAD_SHARE: f64 = 0.25;
const SPREAD_CM2: f64 = 20.0;
/// A region that does not spread is believed after this long, if this dark.
const STATIC_CONFIRM_S: f64 = 60.0;
const STATIC_DARKENING: f32 = 0.3;

/// Most leaks followed at once on one camera; more regions merge into the biggest.
const MAX_TRACKS: usize = 16;

pub struct LeakTracker {
    settings: TrackerSettings,
    tracks: Vec<Track>,
    next_id: u64,
}

impl LeakTracker {
    pub fn new(settings: TrackerSettings) -> Self {
        Self { settings, tracks: Vec::new(), next_id: 1 }
    }

    pub fn open_leaks(&self) -> usize {
        self.tracks.iter().filter(|t| t.open).count()
    }

    /// Where the open leaks were last seen (full-resolution boxes).
    pub fn open_boxes(&self) -> Vec<[f64; 4]> {
        self.tracks.iter().filter(|t| t.open).map(|t| t.latest.bbox_px).collect()
    }

    /// Forgets every leak without clearing it (the view was lost).
    pub fn reset(&mut self) {
        self.tracks.clear();
    }

    /// Feeds the observations of the frame at `t` seconds; returns the updates worth an event.
    pub fn update(&mut self, t: f64, mut observations: Vec<Observation>) -> Vec<LeakUpdate> {
        observations.sort_by(|a, b| b.area_cm2.total_cmp(&a.area_cm2));
        let mut matched = vec![false; self.tracks.len()];
        let mut updates = Vec::new();
        for obs in observations {
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, tr)| !matched[*i] && overlaps(&tr.latest.bbox_px, &obs.bbox_px))
                .max_by(|a, b| overlap(&a.1.latest.bbox_px, &obs.bbox_px).total_cmp(&overlap(&b.1.latest.bbox_px, &obs.bbox_px)))
                .map(|(i, _)| i);
            match best {
                Some(i) => {
                    matched[i] = true;
                    let s = &self.settings;
                    let track = &mut self.tracks[i];
                    track.consecutive += 1;
                    track.last_seen = t;
                    track.history.push_back((t, obs.area_cm2));
                    while track.history.front().is_some_and(|(h, _)| t - h > 60.0) {
                        track.history.pop_front();
                    }
                    track.latest = obs;
                    let area = track.area();
                    track.peak = track.peak.max(area);
                    // What arrived with motion (a person, a trolley, a shadow)
                    // is no leak while most of it is what arrived; a liquid
                    // spreading from it soon outgrows it.
                    track.arrived = track.latest.features.moved_in > 0.5;
                    // A leak spreads: a region that stays the size it was
                    // when first seen (floor revealed, a lamp's leftover, a
                    // tinted drum edge) is only believed after a long look
                    // and only if clearly dark.
                    let spread = area >= track.first_area * (1.0 + SPREAD_SHARE) && area - track.first_area >= SPREAD_CM2;
                    track.spread_frames = if spread { track.spread_frames + 1 } else { 0 };
                    let believed = track.spread_frames >= 2
                        || (t - track.first_seen >= STATIC_CONFIRM_S && track.latest.features.darkening >= STATIC_DARKENING);
                    if !track.open && track.consecutive >= s.confirm_frames && !track.arrived && believed {
                        track.open = true;
                        track.reported_area = area;
                        track.last_report = t;
                        updates.push(track.update(LeakState::Suspected, t));
                    } else if track.open
                        && area >= track.reported_area * (1.0 + s.growth_step)
                        && area - track.reported_area >= s.growth_min_cm2
                        && t - track.last_report >= s.report_interval_s
                    {
                        track.reported_area = area;
                        track.last_report = t;
                        updates.push(track.update(LeakState::Growing, t));
                    }
                }
                None if self.tracks.len() < MAX_TRACKS => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let area = obs.area_cm2;
                    self.tracks.push(Track {
                        id,
                        arrived: obs.features.moved_in > 0.5,
                        first_area: area,
                        spread_frames: 0,
                        first_seen: t,
                        last_seen: t,
                        consecutive: 1,
                        open: false,
                        reported_area: area,
                        last_report: t,
                        peak: area,
                        history: VecDeque::from([(t, area)]),
                        latest: obs,
                    });
                    matched.push(true);
                    if self.settings.confirm_frames <= 1 && !self.tracks.last().is_some_and(|t| t.arrived) {
                        let track = self.tracks.last_mut().expect("just pushed");
                        track.open = true;
                        updates.push(track.update(LeakState::Suspected, t));
                    }
                }
                None => {}
            }
        }
        // A frame without the region breaks its run of consecutive sightings.
        for (track, seen) in self.tracks.iter_mut().zip(&matched) {
            if !seen {
                track.consecutive = 0;
            }
        }
        let clear_after = self.settings.clear_after_s;
        self.tracks.retain(|track| {
            let gone = t - track.last_seen;
            if track.open && gone >= clear_after {
                updates.push(track.update(LeakState::Cleared, t));
                return false;
            }
            // An unconfirmed region that did not come back was noise.
            track.open || gone < clear_after.min(10.0)
        });
        updates
    }
}

fn overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    overlap(a, b) > 0.0
}

fn overlap(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if w > 0.0 && h > 0.0 { w * h } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::leak::detector::Features;

    fn obs(x: f64, area: f64) -> Observation {
        let side = area.sqrt() * 4.0;
        Observation {
            area_cm2: area,
            centroid_px: [x + side / 2.0, 300.0],
            centroid_mm: Some([x, 300.0]),
            bbox_px: [x, 300.0 - side / 2.0, side, side],
            outline_px: vec![],
            zone: "floor".into(),
            container: Some(("drum-1".into(), 120.0)),
            spill_score: 0.8,
            features: Features::default(),
        }
    }

    fn states(u: &[LeakUpdate]) -> Vec<(LeakState, u64)> {
        u.iter().map(|u| (u.state, u.leak_id)).collect()
    }

    #[test]
    fn a_growing_puddle_is_one_leak_with_a_few_updates_then_cleared() {
        let mut tr = LeakTracker::new(TrackerSettings::default());
        let mut all = Vec::new();
        for k in 0..60 {
            let t = f64::from(k);
            all.extend(tr.update(t, vec![obs(500.0, 100.0 + 10.0 * t)]));
        }
        let s = states(&all);
        assert_eq!(s[0], (LeakState::Suspected, 1));
        assert!(s[1..].iter().all(|x| *x == (LeakState::Growing, 1)), "{s:?}");
        assert!((2..=8).contains(&s.len()), "a few growth updates, not one per frame: {s:?}");
        let growth = all.last().unwrap().growth_cm2_per_min;
        assert!((growth - 600.0).abs() < 30.0, "10 cm²/s is 600 cm²/min, got {growth}");
        let mut later = Vec::new();
        for k in 60..100 {
            later.extend(tr.update(f64::from(k), vec![]));
        }
        assert_eq!(states(&later), vec![(LeakState::Cleared, 1)]);
        assert_eq!(later[0].peak_area_cm2, all.last().unwrap().peak_area_cm2.max(later[0].area_cm2));
        assert_eq!(tr.open_leaks(), 0);
    }

    #[test]
    fn a_single_frame_blip_never_opens_a_leak_and_a_gap_shorter_than_clear_after_keeps_it_open() {
        let mut tr = LeakTracker::new(TrackerSettings::default());
        assert!(tr.update(0.0, vec![obs(100.0, 200.0)]).is_empty());
        for k in 1..30 {
            assert!(tr.update(f64::from(k), vec![]).is_empty());
        }
        assert!(tr.update(40.0, vec![obs(900.0, 200.0)]).is_empty());
        assert!(tr.update(41.0, vec![obs(900.0, 260.0)]).is_empty(), "spreading is seen on two frames running");
        assert_eq!(states(&tr.update(42.0, vec![obs(900.0, 280.0)])), vec![(LeakState::Suspected, 2)]);
        // A person standing on it for 10 s hides it; it stays one leak.
        for k in 43..53 {
            assert!(tr.update(f64::from(k), vec![]).is_empty());
        }
        assert!(tr.update(53.0, vec![obs(900.0, 290.0)]).is_empty());
        assert_eq!(tr.open_leaks(), 1);
    }

    #[test]
    fn a_region_that_arrived_with_motion_is_a_leak_only_once_liquid_spreading_from_it_outgrows_it() {
        let seen = |area: f64, moved_in: f32| {
            let mut o = obs(400.0, area);
            o.features.moved_in = moved_in;
            o
        };
        // A parked trolley: the same size for a minute, all of it arrived.
        let mut tr = LeakTracker::new(TrackerSettings::default());
        for k in 0..60 {
            assert!(tr.update(f64::from(k), vec![seen(800.0, 0.95)]).is_empty());
        }
        // A drum knocked over: the splash arrived with it, then the pool spreads in place.
        let mut tr = LeakTracker::new(TrackerSettings::default());
        let mut got = Vec::new();
        for k in 0..30 {
            let area = 300.0 + 20.0 * f64::from(k);
            got.extend(tr.update(f64::from(k), vec![seen(area, (300.0 / area) as f32)]));
        }
        assert_eq!(states(&got).first(), Some(&(LeakState::Suspected, 1)), "{:?}", states(&got));
        assert!(got[0].area_cm2 >= 550.0, "only once the spread part is about the larger: {}", got[0].area_cm2);
    }

    #[test]
    fn a_region_that_does_not_spread_is_believed_only_after_a_minute_and_only_if_clearly_dark() {
        let still = |darkening: f32| {
            let mut o = obs(400.0, 300.0);
            o.features.darkening = darkening;
            o
        };
        let mut faint = LeakTracker::new(TrackerSettings::default());
        let mut dark = LeakTracker::new(TrackerSettings::default());
        let (mut from_faint, mut from_dark) = (Vec::new(), Vec::new());
        for k in 0..90 {
            from_faint.extend(faint.update(f64::from(k), vec![still(0.2)]));
            from_dark.extend(dark.update(f64::from(k), vec![still(0.5)]));
        }
        assert!(from_faint.is_empty(), "{:?}", states(&from_faint));
        assert_eq!(states(&from_dark), vec![(LeakState::Suspected, 1)]);
        assert!(from_dark[0].open_for_s >= STATIC_CONFIRM_S);
    }

    #[test]
    fn two_puddles_are_two_leaks() {
        let mut tr = LeakTracker::new(TrackerSettings::default());
        tr.update(0.0, vec![obs(100.0, 200.0), obs(1200.0, 150.0)]);
        tr.update(1.0, vec![obs(1200.0, 200.0), obs(100.0, 260.0)]);
        let u = tr.update(2.0, vec![obs(1200.0, 210.0), obs(100.0, 280.0)]);
        let mut ids: Vec<u64> = u.iter().map(|u| u.leak_id).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
        assert!(u.iter().all(|u| u.state == LeakState::Suspected && u.confidence > 0.5 && u.confidence < 1.0));
    }
}
