//! A one-frame mailbox: capture puts, a task takes; a put over an untaken frame
//! replaces it (latest frame wins) and says so, so the drop can be counted.

use crate::vision::Frame;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct LatestFrame {
    inner: Mutex<Slot>,
    ready: Condvar,
}

#[derive(Default)]
struct Slot {
    frame: Option<Frame>,
    closed: bool,
}

pub enum Take {
    Frame(Frame),
    TimedOut,
    /// The camera thread ended and no frame is left.
    Closed,
}

impl LatestFrame {
    /// Stores a frame; returns true when it replaced one no task had taken.
    pub fn put(&self, frame: Frame) -> bool {
        let mut slot = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let replaced = slot.frame.replace(frame).is_some();
        self.ready.notify_all();
        replaced
    }

    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// Waits up to `timeout` for a frame.
    pub fn take(&self, timeout: Duration) -> Take {
        let slot = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(slot, timeout, |s| s.frame.is_none() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        match slot.frame.take() {
            Some(f) => Take::Frame(f),
            None if slot.closed => Take::Closed,
            None => Take::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(seq: u64) -> Frame {
        Frame {
            camera: Arc::from("c"),
            seq,
            captured_at: std::time::SystemTime::now(),
            image: Arc::new(image::RgbImage::new(1, 1)),
            origin: Arc::from("test"),
        }
    }

    #[test]
    fn newest_frame_wins_and_the_replaced_one_is_reported() {
        let slot = LatestFrame::default();
        assert!(!slot.put(frame(1)));
        assert!(slot.put(frame(2)), "frame 1 was never taken: a drop");
        match slot.take(Duration::ZERO) {
            Take::Frame(f) => assert_eq!(f.seq, 2),
            _ => panic!("expected frame 2"),
        }
        assert!(matches!(slot.take(Duration::from_millis(1)), Take::TimedOut));
        assert!(!slot.put(frame(3)), "slot was empty: not a drop");
    }

    #[test]
    fn a_closed_slot_still_hands_out_its_last_frame() {
        let slot = LatestFrame::default();
        slot.put(frame(7));
        slot.close();
        assert!(matches!(slot.take(Duration::ZERO), Take::Frame(f) if f.seq == 7));
        assert!(matches!(slot.take(Duration::ZERO), Take::Closed));
    }
}
