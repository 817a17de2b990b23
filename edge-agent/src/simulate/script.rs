//! What happens in a scene and when: spills and the distractors a pod sees.
//!
//! Positions are floor mm (x to the right of the image, y towards the camera, the zone
//! is `[0, 3000] x [0, 1700]`); angles are degrees in the floor plane, 0 = +x,
//! 90 = +y (towards the camera). A script knows nothing of a scene's layout:
//! containers are named by index (taken modulo the scene's count).

use fastrand::Rng;

use super::camera::FLOOR_MM;
use super::util::{log_uniform, mix_seed, uniform};

/// The liquid of a spill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiquidKind {
    /// Darkens the floor to 0.55-0.8, little tint, slightly smooths its texture.
    Water,
    /// Dark brown, strong darkening, hides most of the floor texture.
    Oil,
    /// Coolant or chemical: a greenish or bluish tint, moderate darkening.
    Coolant,
}

/// A leak from the base of a container that spreads into a pool and then stays.
#[derive(Clone, Debug, PartialEq)]
pub struct Spill {
    /// When the leak starts (s).
    pub start_s: f64,
    /// Which liquid.
    pub kind: LiquidKind,
    /// The source container's index (modulo the scene's container count).
    pub container: usize,
    /// Preferred spreading direction from the container base (degrees, see the module
    /// doc); the scene turns it, by up to 120 degrees, if the pool would land on hidden
    /// or out-of-zone floor.
    pub direction_deg: f64,
    /// Pool area when it first shows (cm², 20-50 typical).
    pub start_cm2: f64,
    /// Pool area once it stops growing (cm², 100-3000 typical).
    pub final_cm2: f64,
    /// Time from start to final area (s, 10-120 typical).
    pub grow_s: f64,
    /// Outline, shading and highlight details.
    pub seed: u64,
}

/// The room lights switched: a global gain step from `at_s` on (gains compound).
#[derive(Clone, Debug, PartialEq)]
pub struct LightSwitch {
    /// When the switch happens (s).
    pub at_s: f64,
    /// Brightness factor, e.g. 0.6 (some lights off) or 1.5 (more on).
    pub gain: f64,
    /// Per-channel colour-temperature factors (RGB), `[1, 1, 1]` for none.
    pub tint: [f64; 3],
}

/// One lamp off: a smooth spatial falloff centred under it.
#[derive(Clone, Debug, PartialEq)]
pub struct LightGradient {
    /// When the lamp goes off (s).
    pub start_s: f64,
    /// When it is back on (s).
    pub end_s: f64,
    /// Floor point under the lamp (mm, may lie outside the zone).
    pub lamp_mm: [f64; 2],
    /// Lamp height above the floor (mm): higher means a wider falloff.
    pub height_mm: f64,
    /// Light lost right under the lamp (0-1, e.g. 0.2-0.5).
    pub depth: f64,
}

/// Shadow outlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadowShape {
    /// A person's shadow: body and head, long and soft.
    Person,
    /// A box-like object's shadow (rack, cart, pallet outside the zone).
    Object,
}

/// The shadow of someone or something just outside the view, cast into the zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Shadow {
    /// When it appears (s).
    pub start_s: f64,
    /// How long it lasts (s).
    pub duration_s: f64,
    /// Moving: the caster walks from `from_mm` to `to_mm` over the duration. Static:
    /// it slides in from `from_mm` to `to_mm` (1.5 s), stays (swaying slightly) and
    /// slides back out at the end.
    pub moving: bool,
    /// Caster's start point (mm).
    pub from_mm: [f64; 2],
    /// Caster's end or standing point (mm).
    pub to_mm: [f64; 2],
    /// The direction the shadow points from its caster (degrees).
    pub heading_deg: f64,
    /// Outline kind.
    pub shape: ShadowShape,
    /// Extent along the heading (mm).
    pub length_mm: f64,
    /// Extent across it (mm).
    pub width_mm: f64,
    /// Light left in the core of the shadow (multiplier, 0.5-0.8).
    pub darkness: f64,
    /// Penumbra width (mm).
    pub softness_mm: f64,
}

/// A stop on a walk or a push.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pause {
    /// Where along the path (0-1).
    pub at_fraction: f64,
    /// How long (s).
    pub secs: f64,
}

/// A person walking through, seen from above at an angle, with a shadow.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    /// When the walk starts at `from_mm` (s).
    pub start_s: f64,
    /// Entry point (mm), usually outside the view.
    pub from_mm: [f64; 2],
    /// Exit point (mm); the walk goes around containers on the way.
    pub to_mm: [f64; 2],
    /// Walking speed (0.5-1.5 typical).
    pub speed_mps: f64,
    /// An optional stop on the way.
    pub pause: Option<Pause>,
    /// Body height (mm, 1600-1900 typical).
    pub height_mm: f64,
    /// Clothing, helmet, gait details.
    pub seed: u64,
}

/// A platform trolley pushed across by a person, maybe parked a while.
#[derive(Clone, Debug, PartialEq)]
pub struct Trolley {
    /// When the push starts at `from_mm` (s).
    pub start_s: f64,
    /// Entry point of the trolley's centre (mm).
    pub from_mm: [f64; 2],
    /// Exit point (mm); the push goes around containers on the way.
    pub to_mm: [f64; 2],
    /// Pushing speed (0.5-1.2 typical).
    pub speed_mps: f64,
    /// A stop (the pusher stays with it).
    pub park: Option<Pause>,
    /// Size, colour, load.
    pub seed: u64,
}

/// A container moved to a new spot at `at_s` (and stays there).
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerMoved {
    /// When it has moved (s).
    pub at_s: f64,
    /// The container's index (modulo the scene's count).
    pub container: usize,
    /// New footprint centre (mm); `None` (or a spot that does not fit) lets the scene
    /// pick a free one.
    pub to_mm: Option<[f64; 2]>,
    /// Strength of the dust outline left behind (0 = none, ~0.05 = faint).
    pub dust: f64,
    /// Picks the free spot.
    pub seed: u64,
}

/// One timed event.
#[derive(Clone, Debug, PartialEq)]
pub enum Happening {
    /// A leak.
    Spill(Spill),
    /// Room light level / colour step.
    LightSwitch(LightSwitch),
    /// One lamp out for a while.
    LightGradient(LightGradient),
    /// A shadow from outside the view.
    Shadow(Shadow),
    /// Someone walking through.
    Person(Person),
    /// A trolley pushed through.
    Trolley(Trolley),
    /// A container put somewhere else.
    ContainerMoved(ContainerMoved),
}

impl Happening {
    /// When it begins (s).
    pub fn start_s(&self) -> f64 {
        match self {
            Happening::Spill(s) => s.start_s,
            Happening::LightSwitch(l) => l.at_s,
            Happening::LightGradient(g) => g.start_s,
            Happening::Shadow(s) => s.start_s,
            Happening::Person(p) => p.start_s,
            Happening::Trolley(t) => t.start_s,
            Happening::ContainerMoved(m) => m.at_s,
        }
    }
}

/// A timed script of what happens in the scene.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// Length of the footage (s); frames past it are still valid.
    pub duration_s: f64,
    /// What happens, in any order.
    pub events: Vec<Happening>,
    /// Pass every frame (and the reference) through a JPEG encode/decode at this
    /// quality (70-90 is typical of IP cameras). Costs ~tens of ms at 1080p.
    pub jpeg_quality: Option<u8>,
}

/// Time a random script leaves after a spill has finished growing: enough for a
/// detector to confirm it.
pub fn spill_tail_s(duration_s: f64) -> f64 {
    (0.1 * duration_s).max(60.0).min(0.3 * duration_s)
}

impl Script {
    /// Nothing happens.
    pub fn quiet(duration_s: f64) -> Script {
        Script { duration_s, events: Vec::new(), jpeg_quality: None }
    }

    /// The same script with JPEG compression on.
    pub fn with_jpeg(mut self, quality: u8) -> Script {
        self.jpeg_quality = Some(quality.clamp(1, 100));
        self
    }

    /// A random but seeded script: distractors at a benchmark-compressed density (one
    /// every 20-60 s: people, shadows, trolleys, light switches and lamp outages, now
    /// and then a container moved), and, if `spill`, one spill starting between 10 %
    /// of the duration and late enough to leave its growth time plus
    /// [`spill_tail_s`] before the end.
    pub fn random(seed: u64, duration_s: f64, spill: bool) -> Script {
        let d = if duration_s.is_finite() { duration_s.max(0.0) } else { 0.0 };
        let mut rng = Rng::with_seed(mix_seed(seed, 0x5C41));
        let mut events = Vec::new();
        let spill_ev = (spill && d > 0.0).then(|| random_spill(&mut rng, d));
        let spill_at = spill_ev.as_ref().map_or(f64::INFINITY, |s| s.start_s);

        let mut t = uniform(&mut rng, 5.0, 30.0);
        let mut lights_back_at = f64::NEG_INFINITY;
        let mut last_move = f64::NEG_INFINITY;
        while t < d {
            let roll = rng.f64();
            if roll < 0.35 {
                events.push(Happening::Person(random_person(&mut rng, t)));
            } else if roll < 0.65 {
                events.push(Happening::Shadow(random_shadow(&mut rng, t)));
            } else if roll < 0.75 {
                events.push(Happening::Trolley(random_trolley(&mut rng, t)));
            } else if roll < 0.85 {
                if t > lights_back_at + 10.0 {
                    // Lights go off (or extra on) and come back later: gains stay bounded.
                    let gain = if rng.bool() { uniform(&mut rng, 0.5, 0.7) } else { uniform(&mut rng, 1.3, 1.6) };
                    let tint = if rng.bool() {
                        let w = uniform(&mut rng, -0.05, 0.05);
                        [1.0 + w, 1.0, 1.0 - 1.4 * w]
                    } else {
                        [1.0; 3]
                    };
                    let back = t + uniform(&mut rng, 20.0, 300.0);
                    events.push(Happening::LightSwitch(LightSwitch { at_s: t, gain, tint }));
                    events.push(Happening::LightSwitch(LightSwitch {
                        at_s: back,
                        gain: 1.0 / gain,
                        tint: tint.map(|v| 1.0 / v),
                    }));
                    lights_back_at = back;
                }
            } else if roll < 0.95 {
                events.push(Happening::LightGradient(LightGradient {
                    start_s: t,
                    end_s: t + uniform(&mut rng, 10.0, 180.0),
                    lamp_mm: [
                        uniform(&mut rng, -500.0, FLOOR_MM[0] + 500.0),
                        uniform(&mut rng, -500.0, FLOOR_MM[1] + 500.0),
                    ],
                    height_mm: uniform(&mut rng, 1500.0, 3000.0),
                    depth: uniform(&mut rng, 0.2, 0.5),
                }));
            } else if t > last_move + 600.0 && t < spill_at - 10.0 {
                // Never after a spill has begun: its source should stay put.
                events.push(Happening::ContainerMoved(ContainerMoved {
                    at_s: t,
                    container: rng.usize(0..8),
                    to_mm: None,
                    dust: uniform(&mut rng, 0.0, 0.05),
                    seed: rng.u64(..),
                }));
                last_move = t;
            }
            t += uniform(&mut rng, 20.0, 60.0);
        }
        events.extend(spill_ev.map(Happening::Spill));
        events.sort_by(|a, b| a.start_s().total_cmp(&b.start_s()));
        Script { duration_s: d, events, jpeg_quality: None }
    }
}

/// One spill with its timing fitted into `d` seconds.
fn random_spill(rng: &mut Rng, d: f64) -> Spill {
    let grow_s = uniform(rng, 10.0, 120.0).min(0.3 * d);
    let earliest = 0.1 * d;
    let latest = (d - grow_s - spill_tail_s(d)).max(earliest);
    let final_cm2 = log_uniform(rng, 100.0, 3000.0);
    let kind = match rng.f64() {
        r if r < 0.4 => LiquidKind::Water,
        r if r < 0.7 => LiquidKind::Oil,
        _ => LiquidKind::Coolant,
    };
    Spill {
        start_s: uniform(rng, earliest, latest),
        kind,
        container: rng.usize(0..8),
        direction_deg: 90.0 + uniform(rng, -110.0, 110.0),
        start_cm2: uniform(rng, 20.0, 50.0).min(final_cm2 * 0.5),
        final_cm2,
        grow_s,
        seed: rng.u64(..),
    }
}

/// A point `out` mm outside one side of the zone: 0 left, 1 top, 2 right, 3 bottom.
fn outside(rng: &mut Rng, side: usize, out: f64) -> [f64; 2] {
    match side % 4 {
        0 => [-out, uniform(rng, 100.0, FLOOR_MM[1] - 100.0)],
        1 => [uniform(rng, 100.0, FLOOR_MM[0] - 100.0), -out],
        2 => [FLOOR_MM[0] + out, uniform(rng, 100.0, FLOOR_MM[1] - 100.0)],
        _ => [uniform(rng, 100.0, FLOOR_MM[0] - 100.0), FLOOR_MM[1] + out],
    }
}

/// An entry and a different exit side, well outside the view.
fn crossing(rng: &mut Rng) -> ([f64; 2], [f64; 2]) {
    let a = rng.usize(0..4);
    let b = (a + rng.usize(1..4)) % 4;
    (outside(rng, a, 900.0), outside(rng, b, 900.0))
}

fn random_person(rng: &mut Rng, t: f64) -> Person {
    let (from_mm, to_mm) = crossing(rng);
    Person {
        start_s: t,
        from_mm,
        to_mm,
        speed_mps: uniform(rng, 0.5, 1.5),
        pause: (rng.f64() < 0.35).then(|| Pause { at_fraction: uniform(rng, 0.3, 0.7), secs: uniform(rng, 2.0, 8.0) }),
        height_mm: uniform(rng, 1600.0, 1900.0),
        seed: rng.u64(..),
    }
}

fn random_trolley(rng: &mut Rng, t: f64) -> Trolley {
    let (from_mm, to_mm) = crossing(rng);
    Trolley {
        start_s: t,
        from_mm,
        to_mm,
        speed_mps: uniform(rng, 0.5, 1.2),
        park: (rng.f64() < 0.4)
            .then(|| Pause { at_fraction: uniform(rng, 0.35, 0.65), secs: uniform(rng, 10.0, 90.0) }),
        seed: rng.u64(..),
    }
}

fn random_shadow(rng: &mut Rng, t: f64) -> Shadow {
    let side = rng.usize(0..4);
    // Heading into the zone from the caster's side.
    let inward = [0.0, 90.0, 180.0, 270.0][side];
    let moving = rng.bool();
    let out = uniform(rng, 300.0, 700.0);
    let (from_mm, to_mm) = if moving {
        // Walking along that side, outside the view, from beyond one end to the other.
        let along = |s: f64| match side {
            0 => [-out, FLOOR_MM[1] / 2.0 + s * (FLOOR_MM[1] / 2.0 + 600.0)],
            2 => [FLOOR_MM[0] + out, FLOOR_MM[1] / 2.0 + s * (FLOOR_MM[1] / 2.0 + 600.0)],
            1 => [FLOOR_MM[0] / 2.0 + s * (FLOOR_MM[0] / 2.0 + 600.0), -out],
            _ => [FLOOR_MM[0] / 2.0 + s * (FLOOR_MM[0] / 2.0 + 600.0), FLOOR_MM[1] + out],
        };
        let s = if rng.bool() { 1.0 } else { -1.0 };
        (along(-s), along(s))
    } else {
        let to = outside(rng, side, out);
        (away(to, inward, 1500.0), to)
    };
    let length_mm = uniform(rng, 900.0, 2000.0);
    let duration_s = if moving {
        (from_mm[0] - to_mm[0]).hypot(from_mm[1] - to_mm[1]) / 1000.0 / uniform(rng, 0.5, 1.5)
    } else {
        uniform(rng, 5.0, 60.0)
    };
    Shadow {
        start_s: t,
        duration_s,
        moving,
        from_mm,
        to_mm,
        heading_deg: inward + uniform(rng, -25.0, 25.0),
        shape: if rng.f64() < 0.8 { ShadowShape::Person } else { ShadowShape::Object },
        length_mm,
        width_mm: uniform(rng, 300.0, 600.0),
        darkness: uniform(rng, 0.5, 0.8),
        softness_mm: uniform(rng, 40.0, 200.0),
    }
}

/// `p` moved `dist` mm against the heading (further out of the zone).
fn away(p: [f64; 2], heading_deg: f64, dist: f64) -> [f64; 2] {
    let a = heading_deg.to_radians();
    [p[0] - dist * a.cos(), p[1] - dist * a.sin()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_seeded() {
        assert_eq!(Script::random(7, 3600.0, true), Script::random(7, 3600.0, true));
        assert_ne!(Script::random(7, 3600.0, true), Script::random(8, 3600.0, true));
    }

    #[test]
    fn random_spill_leaves_time_and_distractors_are_dense() {
        for seed in 0..200 {
            for d in [60.0, 300.0, 1800.0, 86_400.0] {
                let s = Script::random(seed, d, true);
                let spills: Vec<&Spill> =
                    s.events.iter().filter_map(|e| if let Happening::Spill(s) = e { Some(s) } else { None }).collect();
                assert_eq!(spills.len(), 1, "seed {seed} d {d}");
                let sp = spills[0];
                assert!(sp.start_s >= 0.1 * d - 1e-9, "seed {seed} d {d}: starts {}", sp.start_s);
                assert!(
                    sp.start_s + sp.grow_s + spill_tail_s(d) <= d + 1e-9,
                    "seed {seed} d {d}: {} + {} leaves too little",
                    sp.start_s,
                    sp.grow_s
                );
                assert!((100.0..=3000.0).contains(&sp.final_cm2) && sp.start_cm2 < sp.final_cm2);
                assert!(s.events.windows(2).all(|w| w[0].start_s() <= w[1].start_s()));
            }
            let quiet = Script::random(seed, 3600.0, false);
            assert!(!quiet.events.iter().any(|e| matches!(e, Happening::Spill(_))));
            // One distractor every 20-60 s.
            let n = quiet.events.iter().filter(|e| !matches!(e, Happening::LightSwitch(_))).count();
            assert!((40..=180).contains(&n), "seed {seed}: {n} distractors in an hour");
        }
    }

    #[test]
    fn degenerate_durations_do_not_panic() {
        for d in [0.0, -5.0, f64::NAN, f64::INFINITY, 1.0, 5.0] {
            let s = Script::random(1, d, true);
            assert!(s.duration_s.is_finite() && s.duration_s >= 0.0);
        }
    }
}
