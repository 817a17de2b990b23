//! Is a container standing still on the intake spot? Compares the spot with
//! the calibration's reference picture (the empty spot) and with the frame
//! before, so a label is read once per container, when it is still.

use image::RgbImage;
use std::time::{Duration, SystemTime};

/// Pixels differing by more than this (0..255, after matching brightness) count as changed.
const PIXEL_CHANGE: i16 = 28;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresenceSettings {
    /// Share of the spot that must differ from the empty reference for "something is there".
    pub occupied_share: f32,
    /// Share of the spot that may change between frames while "still".
    pub moving_share: f32,
    /// How long the container must stand still before it is read.
    pub still_for: Duration,
    /// How long the spot must look empty again before the next container.
    pub empty_for: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self { occupied_share: 0.2, moving_share: 0.02, still_for: Duration::from_secs(2), empty_for: Duration::from_secs(3) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    /// Something is there and moving, or still for less than `still_for`.
    Arriving { still_since: Option<SystemTime> },
    /// Read; waits until the spot is empty (or the container is swapped).
    Inspected { empty_since: Option<SystemTime>, moved: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresenceReading {
    /// Share of the spot unlike the empty reference.
    pub occupied: f32,
    /// Share of the spot that changed since the last frame.
    pub moving: f32,
    /// Read the label now.
    pub inspect: bool,
}

pub struct Presence {
    settings: PresenceSettings,
    reference: RgbImage,
    previous: Option<RgbImage>,
    state: State,
}

impl Presence {
    /// `reference`: the empty spot, at the size frames will be given.
    pub fn new(reference: RgbImage, settings: PresenceSettings) -> Self {
        Self { settings, reference, previous: None, state: State::Empty }
    }

    /// One frame of the spot (same size as the reference).
    pub fn observe(&mut self, spot: RgbImage, at: SystemTime) -> PresenceReading {
        let occupied = changed_share(&self.reference, &spot);
        let moving = self.previous.as_ref().map(|p| changed_share(p, &spot)).unwrap_or(1.0);
        self.previous = Some(spot);
        let s = self.settings;
        let here = occupied >= s.occupied_share;
        let still = moving <= s.moving_share;
        let mut inspect = false;
        self.state = match self.state {
            State::Empty if here => State::Arriving { still_since: still.then_some(at) },
            State::Empty => State::Empty,
            State::Arriving { .. } if !here => State::Empty,
            State::Arriving { still_since } => {
                let since = if still { still_since.or(Some(at)) } else { None };
                if since.is_some_and(|t| at.duration_since(t).unwrap_or_default() >= s.still_for) {
                    inspect = true;
                    State::Inspected { empty_since: None, moved: false }
                } else {
                    State::Arriving { still_since: since }
                }
            }
            State::Inspected { empty_since, moved } => {
                if !here {
                    let since = empty_since.unwrap_or(at);
                    if at.duration_since(since).unwrap_or_default() >= s.empty_for {
                        State::Empty
                    } else {
                        State::Inspected { empty_since: Some(since), moved }
                    }
                } else if !still {
                    // Moving again while still there: a swap, or the label turned to the camera.
                    State::Inspected { empty_since: None, moved: true }
                } else if moved {
                    // Settled after moving: read it again (once it has stood still_for).
                    State::Arriving { still_since: Some(at) }
                } else {
                    State::Inspected { empty_since: None, moved }
                }
            }
        };
        PresenceReading { occupied, moving, inspect }
    }

    pub fn reset(&mut self) {
        self.previous = None;
        self.state = State::Empty;
    }
}

/// Share of pixels that differ in any colour channel, after scaling `b` to
/// `a`'s mean brightness (a cloud or a lamp changes every pixel a little; a
/// container changes some a lot, often in colour more than in brightness).
fn changed_share(a: &RgbImage, b: &RgbImage) -> f32 {
    if a.dimensions() != b.dimensions() || a.is_empty() {
        return 1.0;
    }
    let mean = |g: &RgbImage| g.as_raw().iter().map(|&v| v as f64).sum::<f64>() / g.as_raw().len() as f64;
    let gain = (mean(a) / mean(b).max(1.0)).clamp(0.5, 2.0) as f32;
    let changed = a
        .pixels()
        .zip(b.pixels())
        .filter(|(x, y)| x.0.iter().zip(y.0).any(|(&p, q)| ((q as f32 * gain).min(255.0) as i16 - p as i16).abs() > PIXEL_CHANGE))
        .count();
    changed as f32 / (a.width() * a.height()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor() -> RgbImage {
        RgbImage::from_fn(80, 60, |x, y| image::Rgb([100 + ((x * 7 + y * 3) % 20) as u8; 3]))
    }

    fn with_drum(offset: u32) -> RgbImage {
        let mut g = floor();
        for y in 10..50 {
            for x in (10 + offset)..(50 + offset).min(80) {
                g.put_pixel(x, y, image::Rgb([200; 3]));
            }
        }
        g
    }

    #[test]
    fn a_container_is_read_once_when_still_and_again_only_after_the_spot_empties() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut p = Presence::new(floor(), PresenceSettings::default());
        let mut reads = Vec::new();
        let mut feed = |p: &mut Presence, g: RgbImage, s: f64| {
            if p.observe(g, at(s)).inspect {
                reads.push(s);
            }
        };
        // Empty, then a drum rolled in (moving), then standing still for 4 s.
        for i in 0..4 {
            feed(&mut p, floor(), i as f64 * 0.5);
        }
        for (i, off) in [20, 15, 10, 5].into_iter().enumerate() {
            feed(&mut p, with_drum(off), 2.0 + i as f64 * 0.5);
        }
        for i in 0..8 {
            feed(&mut p, with_drum(5), 4.0 + i as f64 * 0.5);
        }
        // Taken away; a brief empty second is not enough; then the next drum.
        feed(&mut p, floor(), 8.0);
        feed(&mut p, with_drum(5), 8.5);
        for i in 0..8 {
            feed(&mut p, floor(), 9.0 + i as f64 * 0.5);
        }
        for i in 0..8 {
            feed(&mut p, with_drum(0), 13.0 + i as f64 * 0.5);
        }
        assert_eq!(reads, vec![6.0, 15.5], "one read per container, after 2 s still");
    }

    #[test]
    fn a_container_as_bright_as_the_floor_but_of_another_colour_is_there() {
        let floor = RgbImage::from_pixel(40, 40, image::Rgb([120, 120, 120]));
        let mut orange = floor.clone();
        for y in 0..40 {
            for x in 0..20 {
                orange.put_pixel(x, y, image::Rgb([200, 110, 40]));
            }
        }
        let mut p = Presence::new(floor, PresenceSettings::default());
        let r = p.observe(orange, SystemTime::UNIX_EPOCH);
        assert!(r.occupied > 0.4, "{r:?}");
    }

    #[test]
    fn brightness_changes_alone_are_not_a_container() {
        let mut p = Presence::new(floor(), PresenceSettings::default());
        let darker = RgbImage::from_fn(80, 60, |x, y| image::Rgb([((100 + ((x * 7 + y * 3) % 20)) as f32 * 0.7) as u8; 3]));
        let r = p.observe(darker, SystemTime::UNIX_EPOCH);
        assert!(r.occupied < 0.05, "{r:?}");
    }
}
