//! Things that come and go: people walking through, trolleys pushed across, and the
//! soft shadows they (or unseen people outside the view) cast on the floor.

use std::f64::consts::TAU;

use fastrand::Rng;

use super::camera::{Camera, V};
use super::render::{Face, Hit, Look, Prim, Shape, Surface, Swatch};
use super::script::{self, Pause, ShadowShape};
use super::util::{PxBox, luma, pick, smoothstep, uniform};

/// A position along a walked path at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pose {
    pub p: [f64; 2],
    pub heading: f64,
    /// Distance walked so far (mm): drives the gait.
    pub dist: f64,
    pub moving: bool,
}

/// A round obstacle on the floor (centre, radius with clearance), mm.
pub(crate) type Obstacle = ([f64; 2], f64);

/// A walk along a polyline at constant speed, with an optional stop.
#[derive(Clone, Debug)]
pub(crate) struct Track {
    /// (time, position, distance walked, heading of the leg that starts here).
    keys: Vec<(f64, [f64; 2], f64, f64)>,
}

impl Track {
    /// Walks from `from` to `to`, around the obstacles (people do not walk through
    /// drums), at `speed_mps`, stopping once if asked.
    pub(crate) fn walk(
        start: f64,
        from: [f64; 2],
        to: [f64; 2],
        speed_mps: f64,
        pause: Option<Pause>,
        obstacles: &[Obstacle],
    ) -> Track {
        let fin = |p: [f64; 2]| if p[0].is_finite() && p[1].is_finite() { p } else { [0.0, 0.0] };
        let start = if start.is_finite() { start } else { 0.0 };
        let mut pts = route(fin(from), fin(to), obstacles, 0);
        let v = (if speed_mps.is_finite() { speed_mps } else { 1.0 }).clamp(0.05, 10.0) * 1000.0;
        let seg = |a: [f64; 2], b: [f64; 2]| (b[0] - a[0]).hypot(b[1] - a[1]);
        let total: f64 = pts.windows(2).map(|w| seg(w[0], w[1])).sum();
        // Split the leg where the stop falls, so the stop is a key of its own.
        let stop = pause.filter(|p| p.secs.is_finite() && p.at_fraction.is_finite()).map(|p| {
            let at = p.at_fraction.clamp(0.0, 1.0) * total;
            let mut run = 0.0;
            let mut k = 0;
            while k + 2 < pts.len() && run + seg(pts[k], pts[k + 1]) < at {
                run += seg(pts[k], pts[k + 1]);
                k += 1;
            }
            let l = seg(pts[k], pts[k + 1]).max(1e-9);
            let f = ((at - run) / l).clamp(0.0, 1.0);
            let p_mid = [pts[k][0] + f * (pts[k + 1][0] - pts[k][0]), pts[k][1] + f * (pts[k + 1][1] - pts[k][1])];
            pts.insert(k + 1, p_mid);
            (k + 1, p.secs.clamp(0.0, 86_400.0))
        });
        let mut keys = Vec::with_capacity(pts.len() + 1);
        let (mut t, mut dist) = (start, 0.0);
        let mut heading = (to[1] - from[1]).atan2(to[0] - from[0]);
        for k in 0..pts.len() {
            if k + 1 < pts.len() && seg(pts[k], pts[k + 1]) > 1e-6 {
                heading = (pts[k + 1][1] - pts[k][1]).atan2(pts[k + 1][0] - pts[k][0]);
            }
            if k > 0 {
                let l = seg(pts[k - 1], pts[k]);
                t += l / v;
                dist += l;
            }
            keys.push((t, pts[k], dist, heading));
            if let Some((_, secs)) = stop.filter(|(at, _)| *at == k) {
                t += secs;
                keys.push((t, pts[k], dist, heading));
            }
        }
        if keys.len() == 1 || t <= start {
            keys.push((start + 1e-3, pts[pts.len() - 1], dist, heading));
        }
        Track { keys }
    }

    /// When the walk begins and ends.
    pub(crate) fn span(&self) -> (f64, f64) {
        (self.keys[0].0, self.keys[self.keys.len() - 1].0)
    }

    /// The pose at `t`, `None` outside the walk.
    pub(crate) fn at(&self, t: f64) -> Option<Pose> {
        let (t0, t1) = self.span();
        if !(t0..=t1).contains(&t) {
            return None;
        }
        let k = self.keys.windows(2).position(|w| t <= w[1].0).unwrap_or(self.keys.len() - 2);
        let ((ta, pa, da, heading), (tb, pb, db, _)) = (self.keys[k], self.keys[k + 1]);
        let f = if tb > ta { (t - ta) / (tb - ta) } else { 1.0 };
        Some(Pose {
            p: [pa[0] + f * (pb[0] - pa[0]), pa[1] + f * (pb[1] - pa[1])],
            heading,
            dist: da + f * (db - da),
            moving: db > da,
        })
    }
}

/// Waypoints from `a` to `b` that step around obstacles: at the first one the
/// straight line crosses, detour past its side nearest the line (a few levels deep).
fn route(a: [f64; 2], b: [f64; 2], obstacles: &[Obstacle], depth: usize) -> Vec<[f64; 2]> {
    let ab = [b[0] - a[0], b[1] - a[1]];
    let l2 = ab[0] * ab[0] + ab[1] * ab[1];
    if depth >= 4 || l2 < 1e-6 {
        return vec![a, b];
    }
    let first = obstacles
        .iter()
        .filter_map(|&(c, r)| {
            let s = ((c[0] - a[0]) * ab[0] + (c[1] - a[1]) * ab[1]) / l2;
            let p = [a[0] + s.clamp(0.0, 1.0) * ab[0], a[1] + s.clamp(0.0, 1.0) * ab[1]];
            let d = (p[0] - c[0]).hypot(p[1] - c[1]);
            (d < r && s > 0.0 && s < 1.0).then_some((s, c, r, p))
        })
        .min_by(|x, y| x.0.total_cmp(&y.0));
    let Some((_, c, r, p)) = first else { return vec![a, b] };
    let l = l2.sqrt();
    let mut n = [-ab[1] / l, ab[0] / l];
    if (p[0] - c[0]) * n[0] + (p[1] - c[1]) * n[1] < 0.0 {
        n = [-n[0], -n[1]];
    }
    let w = [c[0] + n[0] * r * 1.1, c[1] + n[1] * r * 1.1];
    let mut path = route(a, w, obstacles, depth + 1);
    path.pop();
    path.extend(route(w, b, obstacles, depth + 1));
    path
}

/// Fabric: a palette colour carrying the texture of a patch of a photo, partly its
/// colours too; optional retro-reflective bands (local z ranges, mm).
#[derive(Clone, Debug)]
pub(crate) struct ClothLook {
    tint: [f32; 3],
    mix: f32,
    origin: [f64; 2],
    texel_mm: f64,
    bands: Vec<(f64, f64)>,
}

impl ClothLook {
    fn new(rng: &mut Rng, tint: [f32; 3]) -> ClothLook {
        ClothLook {
            tint,
            mix: uniform(rng, 0.05, 0.25) as f32,
            origin: [uniform(rng, 0.0, 4096.0), uniform(rng, 0.0, 4096.0)],
            texel_mm: uniform(rng, 1.5, 4.0),
            bands: Vec::new(),
        }
    }

    pub(crate) fn look(&self, hit: &Hit, swatch: &Swatch) -> Look {
        let (x, y, z) = (hit.local.x, hit.local.y, hit.local.z);
        if self.bands.iter().any(|(lo, hi)| (*lo..*hi).contains(&z)) {
            return Look { rgb: [205.0, 205.0, 200.0], gloss: 0.5 };
        }
        let patch = swatch.at((x + y) / self.texel_mm + self.origin[0], -z / self.texel_mm + self.origin[1]);
        // Weave and folds, not the photo's full contrast (fur would read as fur).
        let k = (1.0 + 0.4 * (luma(patch) / swatch.mean_luma - 1.0)).clamp(0.6, 1.4);
        let base = self.tint.map(|c| c * k);
        Look { rgb: std::array::from_fn(|i| base[i] + (patch[i] - base[i]) * self.mix), gloss: 0.04 }
    }
}

/// A trolley deck: ribbed rubber mat inside a painted steel frame.
#[derive(Clone, Debug)]
pub(crate) struct DeckLook {
    frame: [f32; 3],
    mat: [f32; 3],
    half: [f64; 2],
}

impl DeckLook {
    pub(crate) fn look(&self, hit: &Hit) -> Look {
        let (x, y) = (hit.local.x, hit.local.y);
        let rim = x.abs() > self.half[0] - 25.0 || y.abs() > self.half[1] - 25.0;
        if hit.face != Face::Top || rim {
            return Look { rgb: self.frame, gloss: 0.3 };
        }
        // Ribs every 12 mm (a triangle wave: cheaper than a sine, same look).
        let rib = 0.88 + 0.24 * ((x / 12.0).rem_euclid(1.0) - 0.5).abs() as f32;
        Look { rgb: self.mat.map(|c| c * rib), gloss: 0.08 }
    }
}

const SKIN: [[f32; 3]; 4] = [[224.0, 185.0, 160.0], [198.0, 145.0, 110.0], [160.0, 110.0, 80.0], [110.0, 75.0, 55.0]];
const HAIR: [[f32; 3]; 4] = [[30.0, 25.0, 20.0], [60.0, 45.0, 30.0], [120.0, 90.0, 60.0], [150.0, 150.0, 145.0]];
const HELMETS: [[f32; 3]; 4] = [[235.0, 235.0, 230.0], [230.0, 200.0, 30.0], [230.0, 110.0, 20.0], [40.0, 90.0, 170.0]];
/// Workwear: navy, hi-vis orange, hi-vis yellow, white coverall, grey, green, red.
const JACKETS: [[f32; 3]; 7] = [
    [35.0, 45.0, 80.0],
    [240.0, 110.0, 20.0],
    [210.0, 225.0, 40.0],
    [220.0, 222.0, 225.0],
    [110.0, 110.0, 115.0],
    [50.0, 90.0, 60.0],
    [150.0, 40.0, 35.0],
];
const TROUSERS: [[f32; 3]; 5] =
    [[35.0, 40.0, 60.0], [30.0, 30.0, 32.0], [90.0, 90.0, 95.0], [140.0, 125.0, 95.0], [35.0, 45.0, 80.0]];

/// How one person looks.
#[derive(Clone, Debug)]
pub(crate) struct PersonLook {
    height: f64,
    jacket: ClothLook,
    trousers: ClothLook,
    skin: [f32; 3],
    hands: [f32; 3],
    shoes: [f32; 3],
    /// Hard hat (glossy) or hair.
    top: ([f32; 3], bool),
    /// Direction the lamps throw the person's own shadow (seeded per person).
    shadow_dir: f64,
    shadow_dark: f64,
}

impl PersonLook {
    pub(crate) fn new(seed: u64, height_mm: f64) -> PersonLook {
        let mut rng = Rng::with_seed(seed);
        let h = if height_mm.is_finite() { height_mm.clamp(1000.0, 2200.0) } else { 1750.0 };
        let jacket_rgb = pick(&mut rng, &JACKETS);
        let mut jacket = ClothLook::new(&mut rng, jacket_rgb);
        let hivis = jacket_rgb[0] > 200.0 && jacket_rgb[2] < 60.0;
        if hivis || rng.f64() < 0.25 {
            // Torso ellipsoid local z: bands across the chest and waist.
            let rz = 0.17 * h;
            jacket.bands = vec![(-0.55 * rz, -0.42 * rz), (0.05 * rz, 0.18 * rz)];
        }
        let skin = pick(&mut rng, &SKIN);
        let trousers = pick(&mut rng, &TROUSERS);
        PersonLook {
            height: h,
            jacket,
            trousers: ClothLook::new(&mut rng, trousers),
            skin,
            hands: if rng.bool() {
                skin
            } else {
                pick(&mut rng, &[[40.0, 40.0, 45.0], [200.0, 190.0, 60.0], [40.0, 90.0, 160.0]])
            },
            shoes: pick(&mut rng, &[[30.0, 30.0, 30.0], [60.0, 45.0, 35.0]]),
            top: if rng.f64() < 0.6 { (pick(&mut rng, &HELMETS), true) } else { (pick(&mut rng, &HAIR), false) },
            shadow_dir: uniform(&mut rng, 0.0, TAU),
            shadow_dark: uniform(&mut rng, 0.65, 0.82),
        }
    }

    /// The body in a pose: ellipsoids for legs, hips, torso, arms, hands, head.
    pub(crate) fn prims(&self, pose: &Pose) -> Vec<Prim> {
        let h = self.height;
        let (s, c) = pose.heading.sin_cos();
        // A gait cycle (two steps) covers about 0.8 body heights.
        let phase = TAU * pose.dist / (0.8 * h);
        let swing = if pose.moving { phase.sin() } else { 0.0 };
        let sway = if pose.moving { 0.012 * h * (phase).cos() } else { 0.0 };
        let at = |f: f64, l: f64, z: f64| {
            let l = l + sway;
            V::new(pose.p[0] + f * c - l * s, pose.p[1] + f * s + l * c, z)
        };
        let ell = |c: V, r: [f64; 3], surf: Surface| Prim {
            shape: Shape::Ellipsoid { c, r: V::new(r[0] * h, r[1] * h, r[2] * h), yaw: pose.heading },
            surf,
        };
        let plain = |rgb: [f32; 3], gloss: f32| Surface::Plain(Look { rgb, gloss });
        let mut out = Vec::with_capacity(12);
        for sgn in [-1.0, 1.0] {
            out.push(ell(
                at(sgn * swing * 0.09 * h, sgn * 0.055 * h, 0.25 * h),
                [0.043, 0.043, 0.25],
                Surface::Cloth(self.trousers.clone()),
            ));
            out.push(ell(
                at(sgn * swing * 0.18 * h + 0.03 * h, sgn * 0.055 * h, 0.02 * h),
                [0.065, 0.04, 0.025],
                plain(self.shoes, 0.1),
            ));
            out.push(ell(
                at(-sgn * swing * 0.06 * h, sgn * 0.15 * h, 0.63 * h),
                [0.034, 0.034, 0.16],
                Surface::Cloth(self.jacket.clone()),
            ));
            out.push(ell(
                at(-sgn * swing * 0.1 * h, sgn * 0.155 * h, 0.46 * h),
                [0.025, 0.02, 0.04],
                plain(self.hands, 0.05),
            ));
        }
        out.push(ell(at(0.0, 0.0, 0.52 * h), [0.075, 0.11, 0.08], Surface::Cloth(self.trousers.clone())));
        out.push(ell(at(0.0, 0.0, 0.70 * h), [0.08, 0.125, 0.17], Surface::Cloth(self.jacket.clone())));
        out.push(ell(at(0.01 * h, 0.0, 0.925 * h), [0.06, 0.05, 0.065], plain(self.skin, 0.08)));
        let (top, helmet) = self.top;
        if helmet {
            out.push(ell(at(0.005 * h, 0.0, 0.955 * h), [0.07, 0.06, 0.045], plain(top, 0.45)));
        } else {
            out.push(ell(at(-0.008 * h, 0.0, 0.94 * h), [0.062, 0.053, 0.056], plain(top, 0.1)));
        }
        out
    }

    /// The person's own shadows: a soft one thrown by the lamps and a dark contact one.
    pub(crate) fn shadows(&self, pose: &Pose) -> [SoftShadow; 2] {
        let h = self.height;
        let d = self.shadow_dir;
        let cast =
            Blob::ellipse([pose.p[0] + 0.22 * h * d.cos(), pose.p[1] + 0.22 * h * d.sin()], [0.3 * h, 0.14 * h], d);
        let contact = Blob::ellipse(pose.p, [0.12 * h, 0.09 * h], pose.heading);
        [
            SoftShadow { blobs: vec![cast], darkness: self.shadow_dark as f32, soft_mm: 0.12 * h },
            SoftShadow { blobs: vec![contact], darkness: 0.75, soft_mm: 50.0 },
        ]
    }
}

/// A person walking a track.
pub(crate) struct Walker {
    pub track: Track,
    pub look: PersonLook,
}

impl Walker {
    pub(crate) fn new(p: &script::Person, obstacles: &[Obstacle]) -> Walker {
        Walker {
            track: Track::walk(p.start_s, p.from_mm, p.to_mm, p.speed_mps, p.pause, obstacles),
            look: PersonLook::new(p.seed, p.height_mm),
        }
    }
}

/// A platform trolley and the person pushing it.
pub(crate) struct Trolley {
    pub track: Track,
    len: f64,
    wid: f64,
    deck_z: f64,
    handle_h: f64,
    deck: DeckLook,
    load: Option<(V, [f32; 3])>,
    shadow_dark: f64,
    pub pusher: PersonLook,
}

impl Trolley {
    pub(crate) fn new(t: &script::Trolley, obstacles: &[Obstacle]) -> Trolley {
        let mut rng = Rng::with_seed(t.seed);
        let len = uniform(&mut rng, 900.0, 1200.0);
        let wid = uniform(&mut rng, 500.0, 700.0);
        let frame =
            pick(&mut rng, &[[40.0, 70.0, 140.0], [120.0, 120.0, 125.0], [40.0, 100.0, 60.0], [150.0, 40.0, 30.0]]);
        let load = rng.bool().then(|| {
            let half = V::new(
                uniform(&mut rng, 0.25, 0.4) * len,
                uniform(&mut rng, 0.3, 0.42) * wid,
                uniform(&mut rng, 100.0, 250.0),
            );
            (half, pick(&mut rng, &[[170.0, 130.0, 85.0], [160.0, 120.0, 80.0], [190.0, 150.0, 100.0]]))
        });
        Trolley {
            track: Track::walk(t.start_s, t.from_mm, t.to_mm, t.speed_mps, t.park, obstacles),
            len,
            wid,
            deck_z: uniform(&mut rng, 180.0, 240.0),
            handle_h: uniform(&mut rng, 850.0, 1000.0),
            deck: DeckLook { frame, mat: [46.0, 46.0, 48.0], half: [len / 2.0, wid / 2.0] },
            load,
            shadow_dark: uniform(&mut rng, 0.55, 0.7),
            pusher: PersonLook::new(rng.u64(..), uniform(&mut rng, 1600.0, 1900.0)),
        }
    }

    /// Where the pusher stands: behind the handle, same heading and gait.
    pub(crate) fn pusher_pose(&self, pose: &Pose) -> Pose {
        let back = self.len / 2.0 + 380.0;
        Pose { p: [pose.p[0] - back * pose.heading.cos(), pose.p[1] - back * pose.heading.sin()], ..*pose }
    }

    /// Deck, wheels, handle, optional box, and the pusher.
    pub(crate) fn prims(&self, pose: &Pose) -> Vec<Prim> {
        let (s, c) = pose.heading.sin_cos();
        let at = |f: f64, l: f64, z: f64| V::new(pose.p[0] + f * c - l * s, pose.p[1] + f * s + l * c, z);
        let cub = |c: V, half: [f64; 3], surf: Surface| Prim {
            shape: Shape::Cuboid { c, half: V::new(half[0], half[1], half[2]), yaw: pose.heading },
            surf,
        };
        let (hl, hw) = (self.len / 2.0, self.wid / 2.0);
        let frame = Surface::Plain(Look { rgb: self.deck.frame, gloss: 0.3 });
        let mut out = vec![cub(at(0.0, 0.0, self.deck_z - 20.0), [hl, hw, 20.0], Surface::Deck(self.deck.clone()))];
        for (sx, sy) in [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)] {
            out.push(cub(
                at(sx * (hl - 70.0), sy * (hw - 45.0), 55.0),
                [50.0, 20.0, 55.0],
                Surface::Plain(Look { rgb: [28.0, 28.0, 30.0], gloss: 0.1 }),
            ));
        }
        let post_h = (self.handle_h - self.deck_z) / 2.0;
        for sy in [-1.0, 1.0] {
            out.push(cub(at(-hl + 20.0, sy * (hw - 25.0), self.deck_z + post_h), [15.0, 15.0, post_h], frame.clone()));
        }
        out.push(cub(at(-hl + 20.0, 0.0, self.handle_h), [15.0, hw - 10.0, 15.0], frame));
        if let Some((half, rgb)) = self.load {
            out.push(cub(at(0.1 * hl, 0.0, self.deck_z + half.z), [half.x, half.y, half.z], Surface::Cardboard(rgb)));
        }
        out.extend(self.pusher.prims(&self.pusher_pose(pose)));
        out
    }

    /// The dark patch under the deck.
    pub(crate) fn shadow(&self, pose: &Pose) -> SoftShadow {
        SoftShadow {
            blobs: vec![Blob::rect(pose.p, [self.len / 2.0 + 40.0, self.wid / 2.0 + 40.0], pose.heading)],
            darkness: self.shadow_dark as f32,
            soft_mm: 90.0,
        }
    }
}

/// A soft-edged elliptic or rectangular patch on the floor (mm).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blob {
    c: [f64; 2],
    half: [f64; 2],
    rot: (f64, f64),
    rect: bool,
}

impl Blob {
    pub(crate) fn ellipse(c: [f64; 2], half: [f64; 2], angle: f64) -> Blob {
        Blob { c, half: [half[0].max(1.0), half[1].max(1.0)], rot: angle.sin_cos(), rect: false }
    }

    pub(crate) fn rect(c: [f64; 2], half: [f64; 2], angle: f64) -> Blob {
        Blob { rect: true, ..Blob::ellipse(c, half, angle) }
    }

    /// Approximate signed distance to the outline (mm), positive inside.
    #[inline]
    fn depth(&self, x: f64, y: f64) -> f64 {
        let (s, c) = self.rot;
        let (dx, dy) = (x - self.c[0], y - self.c[1]);
        let (lx, ly) = (c * dx + s * dy, -s * dx + c * dy);
        let [a, b] = self.half;
        if self.rect {
            let (qx, qy) = (lx.abs() - a, ly.abs() - b);
            return -(qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0));
        }
        let e = ((lx / a).powi(2) + (ly / b).powi(2)).sqrt();
        if e < 1e-9 {
            return a.min(b);
        }
        // First-order distance: (1 - e) / |grad e|.
        let g = ((lx / (a * a)).powi(2) + (ly / (b * b)).powi(2)).sqrt() / e;
        (1.0 - e) / g.max(1e-12)
    }

    /// Radius of a circle around the centre that holds the blob.
    fn reach(&self) -> f64 {
        self.half[0].hypot(self.half[1])
    }
}

/// A shadow: the union of soft blobs, darkening by a single factor (so texture and
/// chromaticity stay as they were, as in real shadows under white light).
#[derive(Clone, Debug)]
pub(crate) struct SoftShadow {
    pub blobs: Vec<Blob>,
    /// Light left in the core (0.5-0.8).
    pub darkness: f32,
    pub soft_mm: f64,
}

impl SoftShadow {
    /// Pixel bounds of the affected floor.
    pub(crate) fn bbox(&self, cam: &Camera) -> Option<PxBox> {
        let mut pts = Vec::with_capacity(self.blobs.len() * 4);
        for b in &self.blobs {
            let r = b.reach() + self.soft_mm;
            for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                pts.push(cam.to_px(b.c[0] + sx * r, b.c[1] + sy * r));
            }
        }
        PxBox::around(&pts, 1.0, cam.w, cam.h)
    }

    /// Shadow cover (0-1) at a floor point.
    fn cover(&self, x: f64, y: f64, half: f64) -> f32 {
        let mut d = f64::MIN;
        for bl in &self.blobs {
            // Cheap reject before the distance maths.
            let (dx, dy) = (x - bl.c[0], y - bl.c[1]);
            let r = bl.reach() + half;
            if dx * dx + dy * dy < r * r {
                d = d.max(bl.depth(x, y));
            }
        }
        smoothstep(-half, half, d) as f32
    }

    /// Darkens the frame buffer. The cover is computed on a coarse pixel grid and
    /// interpolated: penumbrae span many pixels, so this is exact to the eye and
    /// keeps 1080p frames fast.
    pub(crate) fn apply(&self, cam: &Camera, buf: &mut [[f32; 3]]) {
        let Some(b) = self.bbox(cam) else { return };
        let w = cam.w as usize;
        let half = self.soft_mm.max(1.0) / 2.0;
        let loss = 1.0 - self.darkness.clamp(0.0, 1.0);
        let (cu, cv) = ((b.x0 + b.x1) as f64 / 2.0, (b.y0 + b.y1) as f64 / 2.0);
        let px_mm = cam.mm2_per_px(cu, cv).sqrt().max(1e-6);
        let step = ((self.soft_mm / px_mm / 6.0).floor() as usize).clamp(1, 16);
        let gw = b.width().div_ceil(step) + 1;
        let gh = b.height().div_ceil(step) + 1;
        let mut grid = vec![0.0f32; gw * gh];
        for gy in 0..gh {
            for gx in 0..gw {
                let (u, v) = ((b.x0 + gx * step) as f64 + 0.5, (b.y0 + gy * step) as f64 + 0.5);
                if let Some([x, y]) = cam.floor_hit(u, v) {
                    grid[gy * gw + gx] = self.cover(x, y, half);
                }
            }
        }
        let inv = 1.0 / step as f32;
        for j in b.y0..b.y1 {
            let (gy, fy) = ((j - b.y0) / step, ((j - b.y0) % step) as f32 * inv);
            let (r0, r1) = (&grid[gy * gw..(gy + 1) * gw], &grid[(gy + 1) * gw..(gy + 2) * gw]);
            for i in b.x0..b.x1 {
                let (gx, fx) = ((i - b.x0) / step, ((i - b.x0) % step) as f32 * inv);
                let (a, c, d, e) = (r0[gx], r0[gx + 1], r1[gx], r1[gx + 1]);
                if a + c + d + e <= 0.0 {
                    continue;
                }
                let top = a + (c - a) * fx;
                let cover = top + (d + (e - d) * fx - top) * fy;
                let k = 1.0 - loss * cover;
                let px = &mut buf[j * w + i];
                *px = [px[0] * k, px[1] * k, px[2] * k];
            }
        }
    }
}

/// A shadow happening, ready to place at any time.
pub(crate) struct Caster {
    spec: script::Shadow,
    blobs: Vec<Blob>,
    sway: [f64; 2],
}

impl Caster {
    pub(crate) fn new(spec: &script::Shadow) -> Caster {
        let l = if spec.length_mm.is_finite() { spec.length_mm.clamp(50.0, 10_000.0) } else { 1000.0 };
        let w = if spec.width_mm.is_finite() { spec.width_mm.clamp(20.0, 5000.0) } else { 400.0 };
        // Local frame: x from the caster's feet along the shadow.
        let blobs = match spec.shape {
            ShadowShape::Person => vec![
                Blob::ellipse([0.25 * l, 0.0], [0.25 * l, 0.3 * w], 0.0),
                Blob::ellipse([0.62 * l, 0.0], [0.25 * l, 0.5 * w], 0.0),
                Blob::ellipse([0.92 * l, 0.0], [0.08 * l, 0.22 * w], 0.0),
            ],
            ShadowShape::Object => vec![Blob::rect([0.5 * l, 0.0], [0.5 * l, 0.5 * w], 0.0)],
        };
        let phase = (spec.start_s * 0.37).fract() * TAU;
        Caster { spec: spec.clone(), blobs, sway: [phase, phase * 1.7 + 1.0] }
    }

    /// The shadow at `t`, `None` outside its time.
    pub(crate) fn at(&self, t: f64) -> Option<SoftShadow> {
        let s = &self.spec;
        let dur = if s.duration_s.is_finite() { s.duration_s.max(0.0) } else { 0.0 };
        let rel = t - s.start_s;
        if !(0.0..=dur).contains(&rel) {
            return None;
        }
        let lerp =
            |f: f64| [s.from_mm[0] + f * (s.to_mm[0] - s.from_mm[0]), s.from_mm[1] + f * (s.to_mm[1] - s.from_mm[1])];
        let pos = if s.moving {
            lerp(if dur > 0.0 { rel / dur } else { 1.0 })
        } else {
            let slide = (dur / 2.0).min(1.5);
            let f = smoothstep(0.0, slide, rel).min(smoothstep(0.0, slide, dur - rel));
            let p = lerp(f);
            // Nobody stands perfectly still.
            [p[0] + 15.0 * (rel * 1.6 + self.sway[0]).sin(), p[1] + 15.0 * (rel * 2.5 + self.sway[1]).sin()]
        };
        let a = if s.heading_deg.is_finite() { s.heading_deg.to_radians() } else { 0.0 };
        let (sn, cs) = a.sin_cos();
        let blobs = self
            .blobs
            .iter()
            .map(|b| {
                let c = [pos[0] + cs * b.c[0] - sn * b.c[1], pos[1] + sn * b.c[0] + cs * b.c[1]];
                Blob { c, rot: a.sin_cos(), ..*b }
            })
            .collect();
        Some(SoftShadow {
            blobs,
            darkness: if s.darkness.is_finite() { s.darkness.clamp(0.0, 1.0) as f32 } else { 0.7 },
            soft_mm: if s.softness_mm.is_finite() { s.softness_mm.clamp(1.0, 2000.0) } else { 100.0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_pauses_and_ends() {
        let tr = Track::walk(10.0, [0.0, 0.0], [3000.0, 0.0], 1.0, Some(Pause { at_fraction: 0.5, secs: 4.0 }), &[]);
        assert_eq!(tr.span(), (10.0, 17.0));
        let p = tr.at(11.5).unwrap();
        assert!((p.p[0] - 1500.0).abs() < 1e-9 && p.moving);
        let p = tr.at(13.0).unwrap();
        assert!((p.p[0] - 1500.0).abs() < 1e-9 && !p.moving);
        assert!(tr.at(9.9).is_none() && tr.at(17.1).is_none());
        // Degenerate inputs still give a short, valid track.
        let tr = Track::walk(0.0, [5.0, 5.0], [5.0, 5.0], f64::NAN, None, &[]);
        assert!(tr.at(0.0).is_some());
    }

    #[test]
    fn walks_go_around_obstacles() {
        let obstacles = [([1500.0, 0.0], 600.0), ([2500.0, 300.0], 400.0)];
        let tr =
            Track::walk(0.0, [0.0, 0.0], [4000.0, 0.0], 1.0, Some(Pause { at_fraction: 0.3, secs: 2.0 }), &obstacles);
        let (t0, t1) = tr.span();
        let mut t = t0;
        while t <= t1 {
            let p = tr.at(t).unwrap().p;
            for (c, r) in obstacles {
                assert!((p[0] - c[0]).hypot(p[1] - c[1]) > r * 0.99, "t {t}: {p:?} inside {c:?}");
            }
            t += 0.01;
        }
        let end = tr.at(t1).unwrap().p;
        assert!((end[0] - 4000.0).abs() < 1e-6 && end[1].abs() < 1e-6);
    }

    #[test]
    fn blob_depth_is_a_distance() {
        let b = Blob::ellipse([0.0, 0.0], [200.0, 100.0], 0.0);
        assert!((b.depth(200.0, 0.0)).abs() < 1e-6);
        assert!((b.depth(0.0, 110.0) + 10.0).abs() < 1.0);
        let r = Blob::rect([0.0, 0.0], [200.0, 100.0], 0.5);
        assert!(r.depth(0.0, 0.0) > 99.0);
    }
}
