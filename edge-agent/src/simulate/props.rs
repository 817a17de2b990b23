//! Containers standing on the pod floor: 200 l / 60 l drums and IBCs, their
//! placement, their look and their outline in the image.

use std::f64::consts::PI;

use fastrand::Rng;

use super::camera::{Camera, FLOOR_MM, V};
use super::render::{Face, Hit, Look, Prim, ShadeCtx, Shape, Sprite, Surface, Swatch, composite, render};
use super::util::{PxBox, convex_hull, pick, uniform};

/// How a drum lid and wall look.
#[derive(Clone, Debug)]
pub(crate) struct DrumLook {
    rgb: [f32; 3],
    steel: bool,
    open_head: bool,
    r: f64,
    h: f64,
    bung_angle: f64,
    /// Hazard label: centre angle on the wall and the diamond colour.
    label: Option<(f64, [f32; 3])>,
    dirt: [f64; 2],
}

impl DrumLook {
    pub(crate) fn look(&self, hit: &Hit) -> Look {
        let gloss = if self.steel { 0.35 } else { 0.12 };
        match hit.face {
            Face::Top => self.lid(hit.local.x, hit.local.y, gloss),
            Face::Side => self.wall(hit.local.y.atan2(hit.local.x), hit.local.z, gloss),
            Face::Bottom => Look { rgb: self.rgb, gloss: gloss as f32 },
        }
    }

    /// The lid: rolled rim, bungs or clamp ring, a film of dust.
    fn lid(&self, x: f64, y: f64, gloss: f64) -> Look {
        let rho = x.hypot(y);
        let r = self.r;
        let dust = 1.0 - 0.07 * ((x * 0.011 + self.dirt[0]).sin() * (y * 0.013 + self.dirt[1]).sin()).abs();
        let mut k = dust;
        let mut rgb = self.rgb;
        let mut g = gloss;
        if self.open_head {
            if rho > r - 32.0 {
                // Bare-metal clamp ring; a bright line where its curve faces the lights.
                rgb = [150.0, 151.0, 149.0];
                k *= 0.85 + 0.35 * (1.0 - ((rho - (r - 16.0)) / 16.0).abs()).max(0.0);
                g = 0.5;
            }
        } else {
            if rho > r - 18.0 {
                k *= 1.18;
                g += 0.2;
            } else if rho > r - 42.0 && rho < r - 32.0 {
                k *= 0.8;
            }
            for (ang, rb) in [(self.bung_angle, 30.0), (self.bung_angle + PI, 18.0)] {
                let (bx, by) = (0.68 * r * ang.cos(), 0.68 * r * ang.sin());
                let d = (x - bx).hypot(y - by);
                if d < rb {
                    rgb = if self.steel { [118.0, 118.0, 115.0] } else { self.rgb.map(|c| c * 0.75) };
                    k = if d > rb - 5.0 { 0.7 } else { 1.0 };
                }
            }
        }
        Look { rgb: rgb.map(|c| c * k as f32), gloss: g as f32 }
    }

    /// The wall: rolling hoops or ribs, an optional hazard label, faint vertical scuffs.
    fn wall(&self, a: f64, z: f64, gloss: f64) -> Look {
        let (r, h) = (self.r, self.h);
        let mut k = 1.0 - 0.04 * (a * 37.0 + self.dirt[0]).sin().abs();
        if self.steel {
            for zh in [h / 3.0, 2.0 * h / 3.0] {
                let dz = z - zh;
                if dz.abs() < 12.0 {
                    k *= 1.0 + 0.3 * (dz / 12.0);
                }
            }
            if z > h - 20.0 {
                k *= 1.2;
            }
        } else if (120.0..140.0).contains(&z) || (h - 140.0..h - 120.0).contains(&z) {
            k *= 0.85;
        }
        if let Some((la, diamond)) = self.label {
            let da = (a - la + PI).rem_euclid(2.0 * PI) - PI;
            let s = da * r;
            if s.abs() < 110.0 && (0.38 * h..0.62 * h).contains(&z) {
                let d = s.abs() + (z - 0.5 * h).abs();
                let rgb = if d < 68.0 {
                    diamond
                } else if d < 75.0 {
                    [40.0, 40.0, 40.0]
                } else {
                    [228.0, 228.0, 222.0]
                };
                return Look { rgb: rgb.map(|c| c * k as f32), gloss: 0.2 };
            }
        }
        Look { rgb: self.rgb.map(|c| c * k as f32), gloss: gloss as f32 }
    }
}

/// How an IBC tank in its galvanised cage looks.
#[derive(Clone, Debug)]
pub(crate) struct IbcLook {
    tank: [f32; 3],
    cage: [f32; 3],
    cap: [f32; 3],
    half: V,
    /// Liquid level inside the translucent tank, in the tank's frame.
    fill_z: f64,
}

impl IbcLook {
    pub(crate) fn look(&self, hit: &Hit) -> Look {
        let (x, y, z) = (hit.local.x, hit.local.y, hit.local.z);
        let tube = |s: f64, off: f64, pitch: f64| (s + off).rem_euclid(pitch) < 24.0;
        let cage = Look { rgb: self.cage, gloss: 0.5 };
        match hit.face {
            Face::Top => {
                if x.hypot(y) < 78.0 {
                    return Look { rgb: self.cap, gloss: 0.2 };
                }
                if tube(x, self.half.x, 200.0) || tube(y, self.half.y, 200.0) {
                    return cage;
                }
                Look { rgb: self.tank, gloss: 0.15 }
            }
            _ => {
                let s = if (x.abs() - self.half.x).abs() < 1.0 { y } else { x };
                if tube(s, self.half.x + self.half.y, 200.0) || tube(z, self.half.z, 250.0) {
                    return cage;
                }
                let k = if z < self.fill_z { 0.82 } else { 1.0 };
                Look { rgb: self.tank.map(|c| c * k), gloss: 0.1 }
            }
        }
    }
}

/// What stands on the floor.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Drum { r: f64, h: f64, look: DrumLook },
    Ibc { half: [f64; 2], yaw: f64, look: IbcLook, pallet: [f32; 3] },
}

/// A container: a name, a kind and where its footprint centre is (floor mm).
#[derive(Clone, Debug)]
pub(crate) struct Container {
    pub name: String,
    pub kind: Kind,
    pub pos: [f64; 2],
}

/// Drum colours (lit like the floor) and whether they are steel.
const DRUM_PAINTS: [([f32; 3], bool); 8] = [
    ([30.0, 75.0, 165.0], false),   // blue HDPE
    ([26.0, 62.0, 140.0], false),   // darker blue HDPE
    ([38.0, 38.0, 40.0], true),     // black steel
    ([160.0, 35.0, 30.0], true),    // red steel
    ([35.0, 105.0, 60.0], true),    // green steel
    ([150.0, 152.0, 150.0], true),  // galvanised
    ([215.0, 215.0, 205.0], false), // white HDPE
    ([210.0, 170.0, 35.0], true),   // yellow steel
];

/// Clear floor kept between containers and to the zone edge (mm).
const EDGE_GAP: f64 = 60.0;

impl Container {
    /// A seeded drum (mostly 200 l, some 60 l).
    fn drum(rng: &mut Rng, name: String) -> Container {
        let (r, h) = if rng.f64() < 0.8 { (292.0, 880.0) } else { (200.0, 600.0) };
        let (paint, steel) = pick(rng, &DRUM_PAINTS);
        let b = uniform(rng, 0.88, 1.08) as f32;
        let label = (rng.f64() < 0.6).then(|| {
            let diamond = pick(rng, &[[230.0, 120.0, 20.0], [200.0, 30.0, 30.0], [235.0, 200.0, 30.0]]);
            (uniform(rng, 0.0, 2.0 * PI), diamond)
        });
        let look = DrumLook {
            rgb: paint.map(|c| c * b),
            steel,
            open_head: steel && rng.f64() < 0.35,
            r,
            h,
            bung_angle: uniform(rng, 0.0, 2.0 * PI),
            label,
            dirt: [uniform(rng, 0.0, 6.3), uniform(rng, 0.0, 6.3)],
        };
        Container { name, kind: Kind::Drum { r, h, look }, pos: [0.0, 0.0] }
    }

    /// A seeded 1000 l IBC on its pallet.
    fn ibc(rng: &mut Rng, name: String) -> Container {
        let half = if rng.bool() { [600.0, 500.0] } else { [500.0, 600.0] };
        let h = 1160.0;
        let tank_half = V::new(half[0] - 20.0, half[1] - 20.0, (h - 150.0) / 2.0);
        let tank = pick(rng, &[[222.0, 220.0, 208.0], [212.0, 206.0, 180.0], [200.0, 200.0, 196.0]]);
        let look = IbcLook {
            tank,
            cage: [168.0, 170.0, 168.0],
            cap: pick(rng, &[[40.0, 40.0, 40.0], [225.0, 225.0, 225.0], [40.0, 80.0, 160.0]]),
            half: tank_half,
            fill_z: uniform(rng, -tank_half.z, tank_half.z * 0.8),
        };
        let pallet = pick(rng, &[[45.0, 45.0, 47.0], [140.0, 140.0, 135.0], [150.0, 115.0, 75.0]]);
        Container { name, kind: Kind::Ibc { half, yaw: uniform(rng, -0.07, 0.07), look, pallet }, pos: [0.0, 0.0] }
    }

    /// Radius of a circle holding the footprint.
    pub(crate) fn bound_r(&self) -> f64 {
        match &self.kind {
            Kind::Drum { r, .. } => *r,
            Kind::Ibc { half, .. } => half[0].hypot(half[1]),
        }
    }

    /// Signed distance (mm) from the footprint outline, negative inside.
    pub(crate) fn footprint_sd(&self, x: f64, y: f64) -> f64 {
        let (dx, dy) = (x - self.pos[0], y - self.pos[1]);
        match &self.kind {
            Kind::Drum { r, .. } => dx.hypot(dy) - r,
            Kind::Ibc { half, yaw, .. } => {
                let (s, c) = yaw.sin_cos();
                let (lx, ly) = ((c * dx + s * dy).abs() - half[0], (-s * dx + c * dy).abs() - half[1]);
                lx.max(0.0).hypot(ly.max(0.0)) + lx.max(ly).min(0.0)
            }
        }
    }

    /// The footprint outline point in direction `dir` (unit) from the centre.
    pub(crate) fn edge_point(&self, dir: [f64; 2]) -> [f64; 2] {
        let t = match &self.kind {
            Kind::Drum { r, .. } => *r,
            Kind::Ibc { half, yaw, .. } => {
                let (s, c) = yaw.sin_cos();
                let (lx, ly) = (c * dir[0] + s * dir[1], -s * dir[0] + c * dir[1]);
                (half[0] / lx.abs().max(1e-9)).min(half[1] / ly.abs().max(1e-9))
            }
        };
        [self.pos[0] + t * dir[0], self.pos[1] + t * dir[1]]
    }

    /// Its solids, placed.
    pub(crate) fn prims(&self) -> Vec<Prim> {
        let [x, y] = self.pos;
        match &self.kind {
            Kind::Drum { r, h, look } => {
                vec![Prim {
                    shape: Shape::Cylinder { c: [x, y], r: *r, z0: 0.0, z1: *h },
                    surf: Surface::Drum(look.clone()),
                }]
            }
            Kind::Ibc { half, yaw, look, pallet, .. } => vec![
                Prim {
                    shape: Shape::Cuboid { c: V::new(x, y, 75.0), half: V::new(half[0], half[1], 75.0), yaw: *yaw },
                    surf: Surface::Plain(Look { rgb: *pallet, gloss: 0.05 }),
                },
                Prim {
                    shape: Shape::Cuboid { c: V::new(x, y, 150.0 + look.half.z), half: look.half, yaw: *yaw },
                    surf: Surface::Ibc(look.clone()),
                },
            ],
        }
    }

    /// Its outline in the image: the hull of its projected base and top.
    pub(crate) fn outline_px(&self, cam: &Camera) -> Vec<[f64; 2]> {
        let mut pts = Vec::with_capacity(96);
        for prim in self.prims() {
            match prim.shape {
                Shape::Cylinder { c, r, z0, z1 } => {
                    for k in 0..48 {
                        let a = k as f64 / 48.0 * 2.0 * PI;
                        for z in [z0, z1] {
                            pts.extend(cam.project(&V::new(c[0] + r * a.cos(), c[1] + r * a.sin(), z)));
                        }
                    }
                }
                other => pts.extend(other.corners().iter().filter_map(|p| cam.project(p))),
            }
        }
        convex_hull(&pts)
    }

    /// Floor gap (mm) between two footprints (circles around IBCs when both are IBCs).
    pub(crate) fn clearance(&self, o: &Container) -> f64 {
        match (&self.kind, &o.kind) {
            (Kind::Drum { r, .. }, _) => o.footprint_sd(self.pos[0], self.pos[1]) - r,
            (_, Kind::Drum { r, .. }) => self.footprint_sd(o.pos[0], o.pos[1]) - r,
            _ => (o.pos[0] - self.pos[0]).hypot(o.pos[1] - self.pos[1]) - o.bound_r() - self.bound_r(),
        }
    }

    /// Whether it can stand at its `pos`: inside the zone, clear of the others, and
    /// wholly in the frame.
    fn fits(&self, others: &[Container], cam: &Camera, gap: f64) -> bool {
        let r = self.bound_r();
        let [x, y] = self.pos;
        let inside = match &self.kind {
            Kind::Drum { .. } => {
                x - r >= EDGE_GAP
                    && y - r >= EDGE_GAP
                    && x + r <= FLOOR_MM[0] - EDGE_GAP
                    && y + r <= FLOOR_MM[1] - EDGE_GAP
            }
            Kind::Ibc { half, yaw, .. } => {
                let (s, c) = yaw.sin_cos();
                [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)].iter().all(|(sx, sy)| {
                    let (lx, ly) = (sx * half[0], sy * half[1]);
                    let (px, py) = (x + c * lx - s * ly, y + s * lx + c * ly);
                    px >= EDGE_GAP && py >= EDGE_GAP && px <= FLOOR_MM[0] - EDGE_GAP && py <= FLOOR_MM[1] - EDGE_GAP
                })
            }
        };
        if !inside {
            return false;
        }
        let clear = others.iter().all(|o| self.clearance(o) >= gap);
        clear
            && self
                .outline_px(cam)
                .iter()
                .all(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= cam.w as f64 && p[1] <= cam.h as f64)
    }
}

/// Seeded containers: 2-4 drums, often in a row along the back, and sometimes an IBC.
pub(crate) fn place(rng: &mut Rng, cam: &Camera) -> Vec<Container> {
    let mut todo = Vec::new();
    if rng.f64() < 0.3 {
        todo.push(Container::ibc(rng, "ibc-1".into()));
    }
    for k in 0..rng.usize(2..=4) {
        todo.push(Container::drum(rng, format!("drum-{}", k + 1)));
    }
    let mut placed: Vec<Container> = Vec::new();
    for mut c in todo {
        let r = c.bound_r();
        let back_row = rng.f64() < 0.65;
        for attempt in 0..300 {
            let x = uniform(rng, r + EDGE_GAP, (FLOOR_MM[0] - r - EDGE_GAP).max(r + EDGE_GAP));
            let y = if back_row {
                // The row creeps forward until the perspective keeps the lids in view.
                r + EDGE_GAP + uniform(rng, 0.0, 120.0) + 900.0 * attempt as f64 / 300.0
            } else {
                uniform(rng, r + EDGE_GAP, (FLOOR_MM[1] - r - EDGE_GAP).max(r + EDGE_GAP))
            };
            c.pos = [x, y];
            let gap = if back_row { uniform(rng, 25.0, 120.0) } else { uniform(rng, 120.0, 400.0) };
            if c.fits(&placed, cam, gap) {
                placed.push(c);
                break;
            }
        }
    }
    if placed.is_empty() {
        // Keep a spill source in every scene: one drum front and centre.
        let mut c = Container::drum(rng, "drum-1".into());
        c.pos = [FLOOR_MM[0] / 2.0, FLOOR_MM[1] * 0.6];
        placed.push(c);
    }
    placed
}

/// A seeded free spot for container `idx` (for moves): clear of the others and away
/// from where it stands now.
pub(crate) fn free_spot(rng: &mut Rng, idx: usize, all: &[Container], cam: &Camera) -> Option<[f64; 2]> {
    let me = all.get(idx)?;
    let others: Vec<Container> = all.iter().enumerate().filter(|(k, _)| *k != idx).map(|(_, c)| c.clone()).collect();
    let mut c = me.clone();
    let r = c.bound_r();
    for _ in 0..1000 {
        c.pos = [uniform(rng, 0.0, FLOOR_MM[0]), uniform(rng, 0.0, FLOOR_MM[1])];
        let moved = (c.pos[0] - me.pos[0]).hypot(c.pos[1] - me.pos[1]) > (1.2 * r).min(500.0);
        if moved && c.fits(&others, cam, 150.0) {
            return Some(c.pos);
        }
    }
    None
}

/// Whether container `idx` could stand at `p` (inside the zone, clear of the others,
/// in the frame).
pub(crate) fn spot_ok(idx: usize, p: [f64; 2], all: &[Container], cam: &Camera) -> bool {
    let Some(me) = all.get(idx) else { return false };
    if !(p[0].is_finite() && p[1].is_finite()) {
        return false;
    }
    let others: Vec<Container> = all.iter().enumerate().filter(|(k, _)| *k != idx).map(|(_, c)| c.clone()).collect();
    let mut c = me.clone();
    c.pos = p;
    c.fits(&others, cam, 100.0)
}

/// Containers as full-frame planes.
pub(crate) struct ContainerPlanes {
    /// Coverage (0-1).
    pub cover: Vec<f32>,
    /// Premultiplied colour.
    pub colour: Vec<[f32; 3]>,
    /// Camera distance (mm) to the nearest container surface; infinite where none.
    pub near: Vec<f32>,
}

/// Renders all containers (4 samples a pixel, far ones first).
pub(crate) fn render_all(
    containers: &[Container],
    cam: &Camera,
    swatch: &Swatch,
    light: V,
    illum_at: impl Fn(f64, f64) -> f32,
) -> ContainerPlanes {
    let n = cam.w as usize * cam.h as usize;
    let mut colour = vec![[0.0f32; 3]; n];
    let mut cover = vec![0.0f32; n];
    let mut near = vec![f32::INFINITY; n];
    let mut order: Vec<&Container> = containers.iter().collect();
    let dist = |c: &Container| (c.pos[0] - cam.pos.x).hypot(c.pos[1] - cam.pos.y);
    order.sort_by(|a, b| dist(b).total_cmp(&dist(a)));
    for c in order {
        let ctx = ShadeCtx { light, illum: illum_at(c.pos[0], c.pos[1]), swatch };
        if let Some(sprite) = render(&c.prims(), cam, &ctx, 2, 1, None) {
            composite(&sprite, &mut colour, cam.w);
            over_alpha(&sprite, &mut cover, cam.w);
            let b = sprite.bbox;
            for (j, row) in (b.y0..b.y1).zip(sprite.near.chunks_exact(b.width())) {
                for (dst, d) in near[j * cam.w as usize + b.x0..][..b.width()].iter_mut().zip(row) {
                    *dst = dst.min(*d);
                }
            }
        }
    }
    ContainerPlanes { cover, colour, near }
}

/// Accumulates a sprite's coverage ("over" on alpha alone).
fn over_alpha(s: &Sprite, cover: &mut [f32], width: u32) {
    let PxBox { x0, y0, x1, y1 } = s.bbox;
    for j in y0..y1 {
        for i in x0..x1 {
            let a = s.px[(j - y0) * s.bbox.width() + (i - x0)][3];
            let dst = &mut cover[j * width as usize + i];
            *dst = a + *dst * (1.0 - a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_clear_inside_and_in_frame() {
        let (mut total, mut ibcs) = (0, 0);
        for seed in 0..20 {
            let mut rng = Rng::with_seed(seed);
            let cam = Camera::new(&mut rng, 480, 270);
            let cs = place(&mut rng, &cam);
            assert!(!cs.is_empty());
            total += cs.len();
            ibcs += cs.iter().filter(|c| matches!(c.kind, Kind::Ibc { .. })).count();
            for (i, a) in cs.iter().enumerate() {
                for b in &cs[i + 1..] {
                    assert!(a.clearance(b) > 0.0 && b.clearance(a) > 0.0, "seed {seed}");
                }
                for p in a.outline_px(&cam) {
                    assert!(p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= 480.0 && p[1] <= 270.0, "seed {seed} {}", a.name);
                }
            }
        }
        // Most of what was asked for finds room: 2-4 drums, an IBC in ~30 % of pods.
        assert!(total >= 50 && ibcs >= 2, "{total} containers, {ibcs} IBCs in 20 pods");
    }

    #[test]
    fn footprint_distance_and_edge_agree() {
        let mut rng = Rng::with_seed(5);
        for mut c in [Container::drum(&mut rng, "d".into()), Container::ibc(&mut rng, "i".into())] {
            c.pos = [1000.0, 800.0];
            for k in 0..12 {
                let a = k as f64 * 0.5;
                let p = c.edge_point([a.cos(), a.sin()]);
                assert!(c.footprint_sd(p[0], p[1]).abs() < 1e-6, "{} {a}", c.name);
            }
            assert!(c.footprint_sd(1000.0, 800.0) < 0.0);
        }
    }
}
