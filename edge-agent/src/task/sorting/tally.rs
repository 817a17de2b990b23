//! Contamination counts per bin (items, wrong items, rate per hour), for the
//! heartbeat: managers see which station needs help. Shared between the
//! sorting tasks (which count) and the heartbeat (which reads).

use super::decide::Verdict;
use crate::waste::WasteCategory;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

const HOUR_MS: u64 = 3_600_000;

/// One bin's figures as the heartbeat reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinReport {
    pub camera: String,
    pub zone: String,
    pub category: WasteCategory,
    /// Since the agent started.
    pub items: u64,
    pub wrong: u64,
    pub unsure: u64,
    /// Prompts held back by the cooldown (counted in `wrong`).
    pub suppressed: u64,
    pub items_last_hour: u64,
    pub wrong_last_hour: u64,
    /// Wrong items / items over the last hour (0 when none).
    pub contamination_rate: f64,
}

#[derive(Debug, Default)]
struct BinCounts {
    category: Option<WasteCategory>,
    items: u64,
    wrong: u64,
    unsure: u64,
    suppressed: u64,
    /// (time ms, wrong) of the last hour's items.
    recent: VecDeque<(u64, bool)>,
}

#[derive(Debug, Default)]
pub struct SortingTallies {
    bins: Mutex<BTreeMap<(String, String), BinCounts>>,
}

impl SortingTallies {
    /// Counts one decided item. `Unknown` items are not counted: nothing was recognised.
    pub fn count(&self, camera: &str, zone: &str, bin: WasteCategory, verdict: Verdict, suppressed: bool, at_ms: u64) {
        if verdict == Verdict::Unknown {
            return;
        }
        let mut bins = self.bins.lock().unwrap_or_else(|e| e.into_inner());
        let b = bins.entry((camera.to_string(), zone.to_string())).or_default();
        b.category = Some(bin);
        b.items += 1;
        let wrong = verdict == Verdict::Misclassification;
        b.wrong += u64::from(wrong);
        b.unsure += u64::from(verdict == Verdict::Unsure);
        b.suppressed += u64::from(suppressed);
        b.recent.push_back((at_ms, wrong));
        while b.recent.front().is_some_and(|(t, _)| at_ms.saturating_sub(*t) > HOUR_MS) {
            b.recent.pop_front();
        }
    }

    pub fn report(&self, now_ms: u64) -> Vec<BinReport> {
        let bins = self.bins.lock().unwrap_or_else(|e| e.into_inner());
        bins.iter()
            .filter_map(|((camera, zone), b)| {
                let recent: Vec<_> = b.recent.iter().filter(|(t, _)| now_ms.saturating_sub(*t) <= HOUR_MS).collect();
                let items_last_hour = recent.len() as u64;
                let wrong_last_hour = recent.iter().filter(|(_, w)| *w).count() as u64;
                Some(BinReport {
                    camera: camera.clone(),
                    zone: zone.clone(),
                    category: b.category?,
                    items: b.items,
                    wrong: b.wrong,
                    unsure: b.unsure,
                    suppressed: b.suppressed,
                    items_last_hour,
                    wrong_last_hour,
                    contamination_rate: if items_last_hour > 0 {
                        (wrong_last_hour as f64 / items_last_hour as f64 * 1000.0).round() / 1000.0
                    } else {
                        0.0
                    },
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_the_last_hour_and_totals_everything() {
        let t = SortingTallies::default();
        let k = WasteCategory::Kitchen;
        t.count("cam", "bin-kitchen", k, Verdict::Misclassification, false, 0);
        t.count("cam", "bin-kitchen", k, Verdict::Correct, false, HOUR_MS + 10);
        t.count("cam", "bin-kitchen", k, Verdict::Misclassification, true, HOUR_MS + 20);
        t.count("cam", "bin-kitchen", k, Verdict::Unsure, false, HOUR_MS + 30);
        t.count("cam", "bin-kitchen", k, Verdict::Unknown, false, HOUR_MS + 40);
        let r = &t.report(HOUR_MS + 50)[0];
        assert_eq!((r.items, r.wrong, r.unsure, r.suppressed), (4, 2, 1, 1));
        assert_eq!((r.items_last_hour, r.wrong_last_hour), (3, 1), "the first item is over an hour old");
        assert_eq!(r.contamination_rate, 0.333);
        assert_eq!(t.report(10 * HOUR_MS)[0].contamination_rate, 0.0, "a quiet hour");
    }
}
