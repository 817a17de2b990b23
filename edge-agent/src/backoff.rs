//! Exponential backoff for reconnecting cameras and brokers: quick first
//! retries, then patient ones, so a peer that is gone for hours costs nothing.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, attempt: 0 }
    }

    /// The delay before the next attempt: initial, 2x, 4x ... capped at max.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.attempt = self.attempt.saturating_add(1);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay with "equal jitter" (half fixed, half random), so a
    /// fleet of boxes that lost the broker together does not return in step.
    pub fn next_delay_jittered(&mut self) -> Duration {
        let d = self.next_delay();
        d / 2 + d.mul_f64(fastrand::f64() / 2.0)
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
        assert_eq!(b.attempt(), 5);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }

    #[test]
    fn jittered_delays_stay_within_half_and_all_of_the_plain_delay() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let delays: Vec<_> = (0..40).map(|_| b.next_delay_jittered()).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[10..].iter().all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_millis(400)));
        assert!(delays[10..].windows(2).any(|w| w[0] != w[1]), "the delays vary");
    }
}
