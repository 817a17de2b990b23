//! A lock-free latency histogram with fixed buckets: recorded on every model
//! run (no lock beside the session's own), read by `/metrics` as a Prometheus
//! histogram and by the heartbeat as percentiles, from the same counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in seconds: 1 ms (a small classifier on a GPU) to 10 s (a
/// TensorRT engine's first run).
pub const BUCKETS_S: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    counts: [AtomicU64; BUCKETS_S.len() + 1],
    sum_us: AtomicU64,
}

/// The counts at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub count: u64,
    pub sum_s: f64,
    /// (upper bound, count in this bucket alone), +Inf last as `f64::INFINITY`:
    /// the form prometheus-client's encoder takes (it sums them itself).
    pub buckets: Vec<(f64, u64)>,
}

impl LatencyHistogram {
    pub fn observe(&self, took: Duration) {
        let s = took.as_secs_f64();
        let slot = BUCKETS_S.iter().position(|b| s <= *b).unwrap_or(BUCKETS_S.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = BUCKETS_S
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&self.counts)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        HistogramSnapshot { count, sum_s: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6, buckets }
    }
}

impl HistogramSnapshot {
    /// The q-quantile in milliseconds, interpolated inside its bucket (as
    /// Prometheus' `histogram_quantile` does); 0 with no observations.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let (mut lower_bound, mut below) = (0.0, 0u64);
        for &(bound, n) in self.buckets.iter().filter(|(b, _)| b.is_finite()) {
            let cumulative = below + n;
            if cumulative as f64 >= rank && n > 0 {
                let within = (rank - below as f64) / n as f64;
                return round2((lower_bound + (bound - lower_bound) * within) * 1000.0);
            }
            (lower_bound, below) = (bound, cumulative);
        }
        // Beyond the last bound: all that can be said is "more than 10 s".
        round2(BUCKETS_S[BUCKETS_S.len() - 1] * 1000.0)
    }

    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { round2(self.sum_s * 1000.0 / self.count as f64) }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_buckets_and_quantiles_interpolate() {
        let h = LatencyHistogram::default();
        for _ in 0..90 {
            h.observe(Duration::from_millis(8)); // (5, 10] ms
        }
        for _ in 0..10 {
            h.observe(Duration::from_millis(80)); // (75, 100] ms
        }
        h.observe(Duration::from_secs(30)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 101);
        assert!((s.sum_s - (0.72 + 0.8 + 30.0)).abs() < 1e-6, "{}", s.sum_s);
        let at = |bound: f64| s.buckets.iter().find(|(b, _)| *b == bound).map(|(_, c)| *c);
        assert_eq!(at(0.005), Some(0));
        assert_eq!(at(0.01), Some(90));
        assert_eq!(at(0.075), Some(0));
        assert_eq!(at(0.1), Some(10));
        assert_eq!(at(f64::INFINITY), Some(1));
        let p50 = s.quantile_ms(0.5);
        assert!((5.0..=10.0).contains(&p50), "p50 {p50}");
        let p95 = s.quantile_ms(0.95);
        assert!((75.0..=100.0).contains(&p95), "p95 {p95}");
        assert_eq!(s.quantile_ms(1.0), 10_000.0, "the +Inf bucket reads as the last bound");
    }

    #[test]
    fn an_empty_histogram_reads_zero() {
        let s = LatencyHistogram::default().snapshot();
        assert_eq!((s.count, s.quantile_ms(0.95), s.mean_ms()), (0, 0.0, 0.0));
    }
}
