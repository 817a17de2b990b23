//! Liquid pools: an irregular outline (a polar radius perturbed by smooth harmonics)
//! that spreads from a container base, soft edges, liquid-specific shading, fixed
//! mirror images of the ceiling lamps, and the ground-truth visible area.

use std::f64::consts::{PI, TAU};

use fastrand::Rng;

use super::camera::{Camera, FLOOR_MM};
use super::floor::Lamps;
use super::props::Container;
use super::script::{LiquidKind, Spill};
use super::util::{PxBox, fast_atan2, lerp3, luma, point_in_polygon, smoothstep, uniform};

/// Outline samples over a full turn.
const LUT_N: usize = 512;

/// How a liquid changes the floor under it.
#[derive(Clone, Debug)]
struct Liquid {
    kind: LiquidKind,
    /// Multiplier on the floor under the liquid.
    darken: f32,
    /// Water: share of the locally averaged floor (wet texture looks smoother).
    smooth: f32,
    /// Water: saturation gain (wet surfaces look richer).
    sat: f32,
    tint: [f32; 3],
    /// Oil / coolant: the liquid's own colour (at the zone's mean light) and how much it hides.
    dye: [f32; 3],
    opacity: f32,
    /// Strength of lamp reflections.
    gloss: f32,
}

impl Liquid {
    fn new(kind: LiquidKind, rng: &mut Rng) -> Liquid {
        let u = |rng: &mut Rng, lo: f64, hi: f64| uniform(rng, lo, hi) as f32;
        match kind {
            LiquidKind::Water => {
                let t = u(rng, -0.02, 0.02);
                Liquid {
                    kind,
                    darken: u(rng, 0.55, 0.8),
                    smooth: u(rng, 0.2, 0.45),
                    sat: u(rng, 1.0, 1.15),
                    tint: [1.0 + t, 1.0, 1.0 - t],
                    dye: [0.0; 3],
                    opacity: 0.0,
                    gloss: u(rng, 0.5, 0.9),
                }
            }
            LiquidKind::Oil => Liquid {
                kind,
                darken: u(rng, 0.25, 0.45),
                smooth: 0.0,
                sat: 1.0,
                tint: [1.0; 3],
                dye: [u(rng, 45.0, 70.0), u(rng, 28.0, 45.0), u(rng, 12.0, 25.0)],
                opacity: u(rng, 0.55, 0.85),
                gloss: u(rng, 0.6, 1.0),
            },
            LiquidKind::Coolant => {
                let green = rng.bool();
                let k = u(rng, 0.8, 1.1);
                Liquid {
                    kind,
                    darken: u(rng, 0.7, 0.85),
                    smooth: 0.1,
                    sat: 1.0,
                    tint: if green { [0.82, 1.04, 0.86] } else { [0.8, 0.93, 1.1] },
                    dye: if green { [60.0 * k, 140.0 * k, 70.0 * k] } else { [50.0 * k, 100.0 * k, 170.0 * k] },
                    opacity: u(rng, 0.12, 0.3),
                    gloss: u(rng, 0.5, 0.8),
                }
            }
        }
    }

    /// The fully wetted look of a floor pixel. `blur` is the locally averaged floor;
    /// `light` the room's light level at the pool (it lights an opaque liquid's own colour).
    fn wet(&self, floor: [f32; 3], blur: [f32; 3], light: f32) -> [f32; 3] {
        match self.kind {
            LiquidKind::Water => {
                let base = lerp3(floor, blur, self.smooth);
                let l = luma(base);
                std::array::from_fn(|i| (l + self.sat * (base[i] - l)).max(0.0) * self.darken * self.tint[i])
            }
            LiquidKind::Oil | LiquidKind::Coolant => {
                let under = lerp3(floor, blur, self.smooth);
                let under: [f32; 3] = std::array::from_fn(|i| under[i] * self.darken * self.tint[i]);
                lerp3(under, self.dye.map(|c| c * light), self.opacity)
            }
        }
    }
}

/// A mirror image of a ceiling tube in the liquid: fixed on the floor, seen only
/// where the pool has reached.
#[derive(Clone, Copy, Debug)]
struct Spot {
    c: [f64; 2],
    half: [f64; 2],
    rot: (f64, f64),
    amp: f32,
}

impl Spot {
    /// Reflection strength at a floor point: a sharp image of the lamp, slightly
    /// soft at the rim (ripples).
    #[inline]
    fn at(&self, x: f64, y: f64) -> f32 {
        let (dx, dy) = (x - self.c[0], y - self.c[1]);
        let (s, c) = self.rot;
        let (lx, ly) = ((c * dx + s * dy) / self.half[0], (-s * dx + c * dy) / self.half[1]);
        let q = lx * lx + ly * ly;
        if q >= 1.0 { 0.0 } else { self.amp * (1.0 - smoothstep(0.3, 1.0, q.sqrt()) as f32) }
    }

    /// The same light spread over at least most of a pixel (`px_mm` wide), so a spot
    /// smaller than a pixel dims it partly instead of flickering with sampling.
    fn for_pixel(&self, px_mm: f64) -> Spot {
        let a = self.half[0].max(0.7 * px_mm);
        let b = self.half[1].max(0.7 * px_mm);
        let amp = self.amp * (self.half[0] * self.half[1] / (a * b)) as f32;
        Spot { half: [a, b], amp, ..*self }
    }
}

/// The pool's extent at one time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolState {
    centre: [f64; 2],
    scale: f64,
    blend: f32,
    rmin: f64,
    rmax: f64,
}

/// A spill, ready to render at any time.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    start_s: f64,
    grow_s: f64,
    a0: f64,
    a1: f64,
    ease: f64,
    source: [f64; 2],
    dir: [f64; 2],
    /// How far the pool centre sits from the source, in mean radii.
    offset_k: f64,
    /// Relative radius over angle: early (rounder) and final outline.
    lut0: Vec<f32>,
    lut1: Vec<f32>,
    feather_mm: f64,
    liquid: Liquid,
    spots: Vec<Spot>,
    /// Gentle thickness waves inside the pool (wave vector, phase).
    waves: [([f64; 2], f64); 2],
    pub source_name: String,
}

/// A random smooth outline: an ellipse (the floor's fall) times a sum of harmonics.
fn outline(harmonics: &[(f64, f64)], amp: f64, elong: f64, axis: f64) -> Vec<f32> {
    let raw: Vec<f64> = (0..LUT_N)
        .map(|i| {
            let th = i as f64 / LUT_N as f64 * TAU - PI;
            let ell = 1.0 / (((th - axis).cos() / elong).powi(2) + (th - axis).sin().powi(2)).sqrt();
            let wobble: f64 =
                harmonics.iter().enumerate().map(|(k, (a, ph))| a * ((k as f64 + 2.0) * th + ph).cos()).sum();
            ell * (1.0 + amp * wobble)
        })
        .collect();
    // Keep it star-shaped and not pinched: no radius below 35 % of the mean.
    let mean = raw.iter().sum::<f64>() / LUT_N as f64;
    raw.iter().map(|r| r.max(0.35 * mean) as f32).collect()
}

/// Area of a polar outline given by a LUT blend (unit scale).
fn unit_area(l0: &[f32], l1: &[f32], b: f32) -> f64 {
    let dth = TAU / LUT_N as f64;
    l0.iter().zip(l1).map(|(a, c)| ((a + (c - a) * b) as f64).powi(2)).sum::<f64>() * 0.5 * dth
}

impl Pool {
    /// Places a spill at the base of its source container. `containers` and `outlines`
    /// (pixel polygons) are the layout when it starts; `tube_axis` aligns highlights.
    pub(crate) fn new(
        spec: &Spill,
        containers: &[Container],
        outlines: &[(String, Vec<[f64; 2]>)],
        cam: &Camera,
        tube_axis: f64,
    ) -> Option<Pool> {
        let src = containers.get(spec.container % containers.len().max(1))?;
        let mut rng = Rng::with_seed(spec.seed);
        let fin = |v: f64, d: f64| if v.is_finite() { v } else { d };
        let a1 = (fin(spec.final_cm2, 500.0) * 100.0).clamp(100.0, 5.0e6);
        let a0 = (fin(spec.start_cm2, 30.0) * 100.0).clamp(1.0, a1);
        let offset_k = uniform(&mut rng, 0.35, 0.6);
        let r1 = (a1 / PI).sqrt();

        // Turn the preferred direction until the pool lands on visible zone floor.
        let pref = fin(spec.direction_deg, 90.0).to_radians();
        let ok = |d: [f64; 2]| {
            let s = src.edge_point(d);
            let c = [s[0] + d[0] * offset_k * r1, s[1] + d[1] * offset_k * r1];
            let m = 0.3 * r1;
            let inside = c[0] > m && c[1] > m && c[0] < FLOOR_MM[0] - m && c[1] < FLOOR_MM[1] - m;
            let clear = containers.iter().all(|o| o.footprint_sd(c[0], c[1]) > 0.3 * r1);
            inside && clear && !outlines.iter().any(|(_, p)| point_in_polygon(cam.to_px(c[0], c[1]), p))
        };
        let unit = |a: f64| [a.cos(), a.sin()];
        let turn = (0..=12).map(|k| if k % 2 == 0 { k / 2 } else { -(k + 1) / 2 } as f64 * 20f64.to_radians());
        let dir = turn.map(|d| unit(pref + d)).find(|d| ok(*d)).unwrap_or(unit(pref));

        let harmonics: Vec<(f64, f64)> = (2..=24)
            .map(|k| (uniform(&mut rng, 0.3, 1.0) / (k as f64).powf(1.2), uniform(&mut rng, 0.0, TAU)))
            .collect();
        let early: Vec<(f64, f64)> = harmonics.iter().map(|(a, p)| (*a, p + uniform(&mut rng, -0.6, 0.6))).collect();
        let axis = uniform(&mut rng, -PI, PI);
        let elong = uniform(&mut rng, 1.0, 1.6);
        let amp = uniform(&mut rng, 0.25, 0.45);
        let lut1 = outline(&harmonics, amp, elong, axis);
        let lut0 = outline(&early, amp * 0.35, elong.powf(0.3), axis);

        let source = src.edge_point(dir);
        let final_centre = [source[0] + dir[0] * offset_k * r1, source[1] + dir[1] * offset_k * r1];
        let final_scale = (a1 / unit_area(&lut0, &lut1, 1.0)).sqrt();
        let spots = (0..rng.usize(2..=5))
            .map(|_| {
                let th = uniform(&mut rng, -PI, PI);
                let r = uniform(&mut rng, 0.15, 0.75) * final_scale * lut1[lut_index(th)] as f64;
                let a = tube_axis + uniform(&mut rng, -0.08, 0.08);
                Spot {
                    c: [final_centre[0] + r * th.cos(), final_centre[1] + r * th.sin()],
                    half: [uniform(&mut rng, 8.0, 25.0), uniform(&mut rng, 3.0, 8.0)],
                    rot: a.sin_cos(),
                    amp: uniform(&mut rng, 0.5, 1.0) as f32,
                }
            })
            .collect();
        let wave = |rng: &mut Rng| {
            let a = uniform(rng, 0.0, TAU);
            let k = TAU / uniform(rng, 60.0, 200.0);
            ([k * a.cos(), k * a.sin()], uniform(rng, 0.0, TAU))
        };
        Some(Pool {
            start_s: fin(spec.start_s, 0.0),
            grow_s: fin(spec.grow_s, 30.0).clamp(0.01, 1.0e6),
            a0,
            a1,
            ease: uniform(&mut rng, 1.0, 2.0),
            source,
            dir,
            offset_k,
            lut0,
            lut1,
            feather_mm: uniform(&mut rng, 3.0, 8.0),
            liquid: Liquid::new(spec.kind, &mut rng),
            spots,
            waves: [wave(&mut rng), wave(&mut rng)],
            source_name: src.name.clone(),
        })
    }

    /// The nominal pool area (mm², whole pool including hidden parts) at `t`.
    pub(crate) fn area_mm2(&self, t: f64) -> f64 {
        let u = ((t - self.start_s) / self.grow_s).clamp(0.0, 1.0);
        self.a0 + (self.a1 - self.a0) * (1.0 - (1.0 - u).powf(self.ease))
    }

    /// The pool's extent at `t`; `None` before it starts.
    pub(crate) fn state(&self, t: f64) -> Option<PoolState> {
        if t < self.start_s {
            return None;
        }
        let blend = ((t - self.start_s) / self.grow_s).clamp(0.0, 1.0) as f32;
        let area = self.area_mm2(t);
        let scale = (area / unit_area(&self.lut0, &self.lut1, blend)).sqrt();
        let off = self.offset_k * (area / PI).sqrt();
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for (a, c) in self.lut0.iter().zip(&self.lut1) {
            let r = a + (c - a) * blend;
            lo = lo.min(r);
            hi = hi.max(r);
        }
        Some(PoolState {
            centre: [self.source[0] + self.dir[0] * off, self.source[1] + self.dir[1] * off],
            scale,
            blend,
            rmin: lo as f64 * scale,
            rmax: hi as f64 * scale,
        })
    }

    /// Outline radius (mm) at angle `th` from the centre.
    #[inline]
    fn radius(&self, st: &PoolState, th: f64) -> f64 {
        let f = (th + PI) / TAU * LUT_N as f64;
        let i0 = (f.floor() as isize).rem_euclid(LUT_N as isize) as usize;
        let i1 = (i0 + 1) % LUT_N;
        let w = (f - f.floor()) as f32;
        let at = |i: usize| self.lut0[i] + (self.lut1[i] - self.lut0[i]) * st.blend;
        (at(i0) + (at(i1) - at(i0)) * w) as f64 * st.scale
    }

    /// Signed distance-like depth inside the outline (mm), positive inside.
    #[inline]
    pub(crate) fn depth(&self, st: &PoolState, x: f64, y: f64, pad: f64) -> f64 {
        let (dx, dy) = (x - st.centre[0], y - st.centre[1]);
        let rho2 = dx * dx + dy * dy;
        if rho2 > (st.rmax + pad) * (st.rmax + pad) {
            return -pad - 1.0;
        }
        // Deep inside: a lower bound is enough (edge softness and rim thinning end by 25 mm).
        let deep = st.rmin - pad.max(25.0);
        if deep > 0.0 && rho2 < deep * deep {
            return st.rmin - rho2.sqrt();
        }
        self.radius(st, fast_atan2(dy, dx)) - rho2.sqrt()
    }

    /// Linear size of a pixel on the floor at the pool.
    fn px_mm(&self, st: &PoolState, cam: &Camera) -> f64 {
        let [cu, cv] = cam.to_px(st.centre[0], st.centre[1]);
        cam.mm2_per_px(cu, cv).sqrt()
    }

    /// Pixel bounds of the pool.
    fn bbox(&self, st: &PoolState, cam: &Camera, pad: f64) -> Option<PxBox> {
        let r = st.rmax + pad;
        let c = st.centre;
        let pts: Vec<[f64; 2]> =
            [[-r, -r], [r, -r], [r, r], [-r, r]].iter().map(|d| cam.to_px(c[0] + d[0], c[1] + d[1])).collect();
        PxBox::around(&pts, 1.0, cam.w, cam.h)
    }

    /// Wets the floor under the pool. `floor` is the floor plane without containers,
    /// `cover` the container coverage (the pool runs under them, so they hide it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn render(
        &self,
        st: &PoolState,
        cam: &Camera,
        xs: &[f32],
        ys: &[f32],
        floor: &[[f32; 3]],
        cover: &[f32],
        lamps: &Lamps,
        buf: &mut [[f32; 3]],
    ) {
        let light = lamps.at(st.centre[0], st.centre[1]);
        // At coarse resolutions a pixel is wider than the feather: soften to one pixel
        // so the edge is antialiased like a real one.
        let px_mm = self.px_mm(st, cam);
        let half = self.feather_mm.max(px_mm) / 2.0;
        let spots: Vec<Spot> = self.spots.iter().map(|s| s.for_pixel(px_mm)).collect();
        let Some(b) = self.bbox(st, cam, half) else { return };
        let w = cam.w as usize;
        let r_px = (8.0 / px_mm).round().clamp(1.0, 6.0) as usize;
        let blur = box_blur(floor, cam, &b, r_px);
        for j in b.y0..b.y1 {
            for i in b.x0..b.x1 {
                let idx = j * w + i;
                let (x, y) = (xs[idx] as f64, ys[idx] as f64);
                let e = self.depth(st, x, y, half);
                if e <= -half {
                    continue;
                }
                let alpha = smoothstep(-half, half, e) as f32;
                // Thinner at the rim, gently uneven inside.
                let thick = 0.8 + 0.2 * smoothstep(0.0, 25.0, e) as f32;
                let [(k1, p1), (k2, p2)] = self.waves;
                let uneven = 1.0
                    - 0.12
                        * (0.5 + 0.5 * ((k1[0] * x + k1[1] * y + p1).sin() * (k2[0] * x + k2[1] * y + p2).sin()))
                            as f32;
                let f = floor[idx];
                let bl = blur[(j - b.y0) * b.width() + (i - b.x0)];
                let wet = self.liquid.wet(f, bl, light);
                let mut out = lerp3(f, wet, alpha * thick * uneven);
                let glint: f32 = spots.iter().map(|s| s.at(x, y)).sum::<f32>().min(1.0);
                if glint > 0.0 {
                    let g = alpha * self.liquid.gloss * glint;
                    out = out.map(|v| v + (235.0 - v) * g);
                }
                let vis = 1.0 - cover[idx];
                let dst = &mut buf[idx];
                *dst = std::array::from_fn(|k| dst[k] + vis * (out[k] - f[k]));
            }
        }
    }
}

/// A box blur of `src` over `b` (reading up to `r` pixels around it).
fn box_blur(src: &[[f32; 3]], cam: &Camera, b: &PxBox, r: usize) -> Vec<[f32; 3]> {
    let (w, h) = (cam.w as usize, cam.h as usize);
    let x0 = b.x0.saturating_sub(r);
    let x1 = (b.x1 + r).min(w);
    let rows: Vec<usize> = (b.y0.saturating_sub(r)..(b.y1 + r).min(h)).collect();
    // Horizontal pass over the padded rows.
    let pw = b.width();
    let mut horiz = vec![[0.0f32; 3]; rows.len() * pw];
    for (rj, &j) in rows.iter().enumerate() {
        for i in b.x0..b.x1 {
            let (lo, hi) = (i.saturating_sub(r).max(x0), (i + r + 1).min(x1));
            let mut acc = [0.0f32; 3];
            for p in &src[j * w + lo..j * w + hi] {
                acc = [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]];
            }
            let n = (hi - lo) as f32;
            horiz[rj * pw + (i - b.x0)] = acc.map(|v| v / n);
        }
    }
    let mut out = vec![[0.0f32; 3]; b.height() * pw];
    let row0 = rows.first().copied().unwrap_or(0);
    for j in b.y0..b.y1 {
        let (lo, hi) = (j.saturating_sub(r).max(row0), (j + r + 1).min(row0 + rows.len()));
        for i in 0..pw {
            let mut acc = [0.0f32; 3];
            for jj in lo..hi {
                let p = horiz[(jj - row0) * pw + i];
                acc = [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]];
            }
            let n = (hi - lo).max(1) as f32;
            out[(j - b.y0) * pw + i] = acc.map(|v| v / n);
        }
    }
    out
}

/// Index of the outline sample at angle `th`.
fn lut_index(th: f64) -> usize {
    (((th + PI) / TAU * LUT_N as f64).floor() as isize).rem_euclid(LUT_N as isize) as usize
}

/// The visible wet floor: where some pool's alpha exceeds 0.5, inside the zone and
/// not hidden behind a container in the image.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Coverage {
    pub mm2: f64,
    pub centroid_mm: Option<[f64; 2]>,
    pub centroid_px: Option<[f64; 2]>,
}

/// Integrates the visible pool area on a floor-mm grid (the truth, independent of the
/// rendered pixels). `cover` is the container coverage plane of the current layout.
pub(crate) fn visible(pools: &[(&Pool, PoolState)], cam: &Camera, cover: &[f32]) -> Coverage {
    let Some(rmean) = pools.iter().map(|(p, st)| p.area_mm2_at(st)).map(|a| (a / PI).sqrt()).reduce(f64::min) else {
        return Coverage::default();
    };
    let cell = (rmean / 25.0).clamp(1.0, 8.0);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (_, st) in pools {
        x0 = x0.min(st.centre[0] - st.rmax);
        y0 = y0.min(st.centre[1] - st.rmax);
        x1 = x1.max(st.centre[0] + st.rmax);
        y1 = y1.max(st.centre[1] + st.rmax);
    }
    let (x0, y0, x1, y1) = (x0.max(0.0), y0.max(0.0), x1.min(FLOOR_MM[0]), y1.min(FLOOR_MM[1]));
    let (w, h) = (cam.w as usize, cam.h as usize);
    let (mut mm2, mut sx, mut sy, mut pa, mut su, mut sv) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let nx = ((x1 - x0) / cell).ceil().max(0.0) as usize;
    let ny = ((y1 - y0) / cell).ceil().max(0.0) as usize;
    for jy in 0..ny {
        let y = y0 + (jy as f64 + 0.5) * cell;
        for ix in 0..nx {
            let x = x0 + (ix as f64 + 0.5) * cell;
            if x > x1 || y > y1 || !pools.iter().any(|(p, st)| p.depth(st, x, y, 0.0) > 0.0) {
                continue;
            }
            let [u, v] = cam.to_px(x, y);
            if !(u >= 0.0 && v >= 0.0 && u < w as f64 && v < h as f64) {
                continue;
            }
            if cover[v as usize * w + u as usize] > 0.5 {
                continue;
            }
            let a = cell * cell;
            mm2 += a;
            sx += a * x;
            sy += a * y;
            let ap = a * cam.px_per_mm2(x, y);
            pa += ap;
            su += ap * u;
            sv += ap * v;
        }
    }
    Coverage {
        mm2,
        centroid_mm: (mm2 > 0.0).then(|| [sx / mm2, sy / mm2]),
        centroid_px: (pa > 0.0).then(|| [su / pa, sv / pa]),
    }
}

impl Pool {
    /// Strength of the lamp reflections at a floor point (0-1) as rendered, where liquid is.
    #[allow(dead_code)]
    pub(crate) fn glint_at(&self, st: &PoolState, cam: &Camera, x: f64, y: f64) -> f32 {
        let px_mm = self.px_mm(st, cam);
        self.spots.iter().map(|s| s.for_pixel(px_mm).at(x, y)).sum::<f32>().min(1.0)
    }

    /// Luma ratio wet/dry on a plain floor of luma `mean_luma` under the mean light
    /// (for tests and tools).
    #[allow(dead_code)]
    pub(crate) fn nominal_ratio(&self, mean_luma: f32) -> f32 {
        let g = [mean_luma; 3];
        luma(self.liquid.wet(g, g, 1.0)) / mean_luma.max(1.0)
    }
}

impl Pool {
    /// Nominal area for a state (for choosing the truth grid's cell size).
    fn area_mm2_at(&self, st: &PoolState) -> f64 {
        unit_area(&self.lut0, &self.lut1, st.blend) * st.scale * st.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::props;

    fn pool(kind: LiquidKind, final_cm2: f64) -> (Pool, Camera) {
        let mut rng = Rng::with_seed(11);
        let cam = Camera::new(&mut rng, 480, 270);
        let cs = props::place(&mut rng, &cam);
        let outl: Vec<(String, Vec<[f64; 2]>)> = cs.iter().map(|c| (c.name.clone(), c.outline_px(&cam))).collect();
        let spec = Spill {
            start_s: 10.0,
            kind,
            container: 0,
            direction_deg: 90.0,
            start_cm2: 30.0,
            final_cm2,
            grow_s: 60.0,
            seed: 4,
        };
        (Pool::new(&spec, &cs, &outl, &cam, 0.0).unwrap(), cam)
    }

    #[test]
    fn nominal_area_follows_the_schedule() {
        let (p, _) = pool(LiquidKind::Water, 1200.0);
        assert!(p.state(9.9).is_none());
        let st = p.state(10.0).unwrap();
        assert!((p.area_mm2_at(&st) - 3000.0).abs() < 1.0);
        let st = p.state(500.0).unwrap();
        assert!((p.area_mm2_at(&st) - 120_000.0).abs() < 10.0);
        // A polar integration of the interpolated outline agrees with the nominal area.
        let n = 20_000;
        let a: f64 =
            (0..n).map(|i| p.radius(&st, i as f64 / n as f64 * TAU - PI).powi(2)).sum::<f64>() * 0.5 * TAU / n as f64;
        assert!((a / 120_000.0 - 1.0).abs() < 0.01, "{a}");
        // Not a circle.
        assert!(st.rmax / st.rmin > 1.3, "{} {}", st.rmax, st.rmin);
    }

    #[test]
    fn liquids_darken_as_specified() {
        let floor = [120.0, 118.0, 110.0];
        for kind in [LiquidKind::Water, LiquidKind::Oil, LiquidKind::Coolant] {
            for seed in 0..20 {
                let l = Liquid::new(kind, &mut Rng::with_seed(seed));
                let r = luma(l.wet(floor, floor, 1.0)) / luma(floor);
                let (lo, hi) = match kind {
                    LiquidKind::Water => (0.53, 0.82),
                    LiquidKind::Oil => (0.2, 0.5),
                    LiquidKind::Coolant => (0.55, 0.9),
                };
                assert!((lo..hi).contains(&r), "{kind:?} ratio {r}");
            }
        }
    }
}
