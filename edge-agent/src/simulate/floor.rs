//! The floor: a real photo turned into a floor finish and laid out in mm, the room's
//! ceiling lamps, the painted zone line, and the marks containers leave on it.

use fastrand::Rng;
use image::RgbImage;
use image::imageops::{FilterType, resize};

use super::camera::{Camera, FLOOR_MM, V, WALL_MM};
use super::props::Container;
use super::util::{luma, pick, smoothstep, uniform};

/// Floor finishes: bare concrete, warm concrete, grey and green-grey epoxy, dark sealer.
const FINISHES: [[f32; 3]; 5] =
    [[135.0, 133.0, 128.0], [150.0, 141.0, 126.0], [120.0, 123.0, 127.0], [110.0, 126.0, 115.0], [98.0, 97.0, 95.0]];

/// A floor texture made from a photo: its luminance detail at a floor-like contrast
/// and a part of its colour over a floor finish. The floor is cut into cells that
/// each show a randomly placed and turned patch of the photo, blended at the seams:
/// plain repeats of one photo would show as a kaleidoscope.
pub(crate) struct FloorTexture {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
    texel_mm: f64,
    cell_mm: f64,
    rot: (f64, f64),
    seed: u64,
    /// Mean luma of the finish: liquids use it to judge the local light level.
    pub mean_luma: f32,
}

impl FloorTexture {
    /// `finest_px_mm` is the smallest floor footprint of a frame pixel: the photo is
    /// pre-shrunk (area filter) so it never aliases at that scale.
    pub(crate) fn from_photo(photo: &RgbImage, rng: &mut Rng, finest_px_mm: f64) -> FloorTexture {
        let tile_mm = uniform(rng, 500.0, 1100.0);
        let native = tile_mm / photo.width().max(1) as f64;
        let texel_mm = native.max(finest_px_mm);
        let shrunk;
        let src = if texel_mm > native * 1.05 {
            let w = ((photo.width() as f64 * native / texel_mm).round() as u32).max(1);
            let h = ((photo.height() as f64 * native / texel_mm).round() as u32).max(1);
            shrunk = resize(photo, w, h, FilterType::Triangle);
            &shrunk
        } else {
            photo
        };
        let (w, h) = (src.width() as usize, src.height() as usize);
        let raw: Vec<[f32; 3]> = src.pixels().map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect();
        let lum: Vec<f64> = raw.iter().map(|c| luma(*c) as f64).collect();
        let low = low_pass(&lum, w, h);
        let n = lum.len().max(1) as f64;
        let mean = lum.iter().sum::<f64>() / n;
        // Mostly the photo's fine detail: its large shapes (sky, walls) would read as
        // a picture printed on the floor, not as a floor.
        let detail: Vec<f64> = lum.iter().zip(&low).map(|(l, lo)| (l - lo) + 0.3 * (lo - mean)).collect();
        let sd = (detail.iter().map(|d| d * d).sum::<f64>() / n).sqrt().max(1.0);

        let finish = pick(rng, &FINISHES).map(|c| c * uniform(rng, 0.9, 1.1) as f32);
        let contrast = uniform(rng, 0.04, 0.14);
        let chroma = uniform(rng, 0.05, 0.25) as f32;
        let px = raw
            .iter()
            .zip(&detail)
            .map(|(c, d)| {
                let l = luma(*c).max(1.0);
                let k = (1.0 + contrast * (d / sd).clamp(-3.0, 3.0)).max(0.05) as f32;
                // Keep part of the photo's hue (rgb/luma), the rest is the finish's.
                std::array::from_fn(|i| finish[i] * k * (1.0 + chroma * (c[i] / l - 1.0)).clamp(0.0, 3.0))
            })
            .collect();
        let a = uniform(rng, 0.0, std::f64::consts::TAU);
        FloorTexture {
            w,
            h,
            px,
            texel_mm,
            cell_mm: tile_mm * uniform(rng, 0.35, 0.6),
            rot: a.sin_cos(),
            seed: rng.u64(..),
            mean_luma: luma(finish),
        }
    }

    /// The texture at a floor point: its cell's patch, blended with the next cell's
    /// over the last 20 % before a seam.
    pub(crate) fn sample(&self, x: f64, y: f64) -> [f32; 3] {
        let (s, c) = self.rot;
        let (rx, ry) = (c * x + s * y, -s * x + c * y);
        let (gx, gy) = (rx / self.cell_mm - 0.5, ry / self.cell_mm - 0.5);
        let (i0, j0) = (gx.floor(), gy.floor());
        let wx = smoothstep(0.4, 0.6, gx - i0) as f32;
        let wy = smoothstep(0.4, 0.6, gy - j0) as f32;
        let mut acc = [0.0f32; 3];
        for (di, wi) in [(0.0, 1.0 - wx), (1.0, wx)] {
            for (dj, wj) in [(0.0, 1.0 - wy), (1.0, wy)] {
                let wgt = wi * wj;
                if wgt > 1e-4 {
                    let t = self.cell_sample(i0 + di, j0 + dj, rx, ry);
                    acc = std::array::from_fn(|k| acc[k] + wgt * t[k]);
                }
            }
        }
        acc
    }

    /// Cell `(i, j)`'s patch at rotated floor point `(rx, ry)`.
    fn cell_sample(&self, i: f64, j: f64, rx: f64, ry: f64) -> [f32; 3] {
        let h = super::util::mix_seed(self.seed, (i as i64 as u64) ^ ((j as i64 as u64) << 32));
        let unit = |bits: u64| (bits & 0xFFFF) as f64 / 65536.0;
        // Patch centre inside the photo where it fits, else anywhere.
        let half = (0.6 * self.cell_mm / self.texel_mm).min(self.w as f64 / 2.0);
        let halfy = (0.6 * self.cell_mm / self.texel_mm).min(self.h as f64 / 2.0);
        let ox = half + unit(h) * (self.w as f64 - 2.0 * half);
        let oy = halfy + unit(h >> 16) * (self.h as f64 - 2.0 * halfy);
        let mut u = (rx - (i + 0.5) * self.cell_mm) / self.texel_mm;
        let mut v = (ry - (j + 0.5) * self.cell_mm) / self.texel_mm;
        // One of the eight turns and flips of the patch.
        let o = (h >> 32) & 7;
        if o & 4 != 0 {
            (u, v) = (v, u);
        }
        if o & 1 != 0 {
            u = -u;
        }
        if o & 2 != 0 {
            v = -v;
        }
        self.bilinear(ox + u - 0.5, oy + v - 0.5)
    }

    /// Bilinear texel lookup, mirrored beyond the photo's edges.
    fn bilinear(&self, u: f64, v: f64) -> [f32; 3] {
        let (u0, v0) = (u.floor(), v.floor());
        let (fu, fv) = ((u - u0) as f32, (v - v0) as f32);
        let idx = |a: f64, n: usize| super::render::mirror(a, n);
        let (i0, i1) = (idx(u0, self.w), idx(u0 + 1.0, self.w));
        let (j0, j1) = (idx(v0, self.h), idx(v0 + 1.0, self.h));
        let p = |i: usize, j: usize| self.px[j * self.w + i];
        let (a, b, cc, d) = (p(i0, j0), p(i1, j0), p(i0, j1), p(i1, j1));
        std::array::from_fn(|k| {
            let top = a[k] + (b[k] - a[k]) * fu;
            let bot = cc[k] + (d[k] - cc[k]) * fu;
            top + (bot - top) * fv
        })
    }
}

/// A blurred copy of a plane (down to 1/12 size and back up): its large shapes.
fn low_pass(p: &[f64], w: usize, h: usize) -> Vec<f64> {
    use image::{ImageBuffer, Luma};
    let Some(img) =
        ImageBuffer::<Luma<f32>, Vec<f32>>::from_raw(w as u32, h as u32, p.iter().map(|v| *v as f32).collect())
    else {
        return p.to_vec();
    };
    let (sw, sh) = (w.div_ceil(12).max(1) as u32, h.div_ceil(12).max(1) as u32);
    let small = resize(&img, sw, sh, FilterType::Triangle);
    let big = resize(&small, w as u32, h as u32, FilterType::Triangle);
    big.into_raw().into_iter().map(|v| v as f64).collect()
}

/// The ceiling lamps (long tubes, all along one axis) that set the room light.
#[derive(Clone, Debug)]
pub(crate) struct Lamps {
    lamps: Vec<([f64; 2], f64, f64)>,
    ambient: f64,
    norm: f64,
    /// Direction of the tubes (radians): their mirror images in a pool line up with it.
    pub tube_axis: f64,
    /// Main light direction for shading solids (unit, mostly down -> up).
    pub key: V,
}

impl Lamps {
    /// 2-4 seeded lamps over the zone.
    pub(crate) fn new(rng: &mut Rng) -> Lamps {
        let n = rng.usize(2..=4);
        let lamps: Vec<([f64; 2], f64, f64)> = (0..n)
            .map(|k| {
                let x = (k as f64 + 0.5) / n as f64 * FLOOR_MM[0] + uniform(rng, -200.0, 200.0);
                let y = FLOOR_MM[1] / 2.0 + uniform(rng, -400.0, 400.0);
                ([x, y], uniform(rng, 2600.0, 3300.0), uniform(rng, 0.8, 1.2))
            })
            .collect();
        let mut me = Lamps {
            lamps,
            ambient: uniform(rng, 0.35, 0.55),
            norm: 1.0,
            tube_axis: if rng.bool() { 0.0 } else { std::f64::consts::FRAC_PI_2 } + uniform(rng, -0.1, 0.1),
            key: V::new(uniform(rng, -0.25, 0.25), uniform(rng, -0.35, 0.15), 1.0).normalize(),
        };
        // Normalise so the zone's mean light level is 1.
        let mut sum = 0.0;
        for j in 0..17 {
            for i in 0..30 {
                sum += me.raw(i as f64 * 100.0 + 50.0, j as f64 * 100.0 + 50.0);
            }
        }
        me.norm = sum / (17.0 * 30.0);
        me
    }

    /// Irradiance from the lamps alone (cosine-cubed law for overhead sources).
    fn raw(&self, x: f64, y: f64) -> f64 {
        self.lamps
            .iter()
            .map(|(p, h, w)| {
                let s = h * h / (h * h + (x - p[0]).powi(2) + (y - p[1]).powi(2));
                w * s * s.sqrt()
            })
            .sum()
    }

    /// Relative light level at a floor point (mean 1 over the zone).
    pub(crate) fn at(&self, x: f64, y: f64) -> f32 {
        (self.ambient + (1.0 - self.ambient) * self.raw(x, y) / self.norm.max(1e-9)) as f32
    }
}

/// The painted line around the zone (bund marking), if the pod has one.
#[derive(Clone, Copy, Debug)]
struct ZoneLine {
    gap: f64,
    width: f64,
    rgb: [f32; 3],
    wear: f64,
}

/// Slow blotches of concrete (a few percent): photo tiles alone repeat visibly.
#[derive(Clone, Copy, Debug)]
struct Mottle {
    waves: [([f64; 2], f64, f64); 3],
}

impl Mottle {
    fn new(rng: &mut Rng) -> Mottle {
        Mottle {
            waves: std::array::from_fn(|_| {
                let a = uniform(rng, 0.0, std::f64::consts::TAU);
                let k = std::f64::consts::TAU / uniform(rng, 400.0, 1500.0);
                ([k * a.cos(), k * a.sin()], uniform(rng, 0.0, 6.3), uniform(rng, 0.01, 0.025))
            }),
        }
    }

    fn at(&self, x: f64, y: f64) -> f32 {
        let s: f64 = self.waves.iter().map(|(k, ph, amp)| amp * (k[0] * x + k[1] * y + ph).sin()).sum();
        (1.0 + s) as f32
    }
}

/// Plain painted wall, seen where a ray does not reach the floor (only in odd frames).
const WALL: [f32; 3] = [168.0, 168.0, 162.0];

/// The empty, lit floor (no containers) at every pixel centre.
pub(crate) fn base_floor(
    cam: &Camera,
    xs: &[f32],
    ys: &[f32],
    tex: &FloorTexture,
    lamps: &Lamps,
    rng: &mut Rng,
) -> Vec<[f32; 3]> {
    let line = (rng.f64() < 0.8).then(|| ZoneLine {
        gap: uniform(rng, 20.0, 60.0),
        width: uniform(rng, 50.0, 75.0),
        rgb: pick(rng, &[[215.0, 180.0, 40.0], [225.0, 190.0, 50.0], [205.0, 205.0, 200.0]]),
        wear: uniform(rng, 0.05, 0.35),
    });
    let mottle = Mottle::new(rng);
    // Antialias the paint edges over about one pixel.
    let soft = cam.finest_px_mm().max(1.0);
    xs.iter()
        .zip(ys)
        .map(|(&x, &y)| {
            if x >= WALL_MM {
                return WALL;
            }
            let (x, y) = (x as f64, y as f64);
            let mut c = tex.sample(x, y);
            if let Some(l) = line {
                // Distance outside the zone rectangle (Chebyshev: square corners like tape).
                let d = (-x).max(x - FLOOR_MM[0]).max((-y).max(y - FLOOR_MM[1]));
                let a = smoothstep(l.gap - soft, l.gap + soft, d)
                    * (1.0 - smoothstep(l.gap + l.width - soft, l.gap + l.width + soft, d));
                if a > 0.0 {
                    // Worn paint: patchy cover that still follows the floor texture.
                    let wear = l.wear * (0.5 + 0.5 * ((x * 0.031).sin() * (y * 0.027).cos()));
                    let cover = (a * (1.0 - wear)) as f32;
                    let grain = (luma(c) / tex.mean_luma.max(1.0)).sqrt();
                    c = std::array::from_fn(|k| c[k] + (l.rgb[k] * grain - c[k]) * cover);
                }
            }
            let k = mottle.at(x, y) * lamps.at(x, y);
            [c[0] * k, c[1] * k, c[2] * k]
        })
        .collect()
}

/// A faint outline a moved container leaves where it stood (cleaner inside, a grimy ring).
#[derive(Clone, Debug)]
pub(crate) struct DustMark {
    pub footprint: Container,
    pub strength: f64,
}

/// The floor with contact shadows at container bases and dust marks of moved ones.
pub(crate) fn marked_floor(
    base: &[[f32; 3]],
    cam: &Camera,
    xs: &[f32],
    ys: &[f32],
    containers: &[Container],
    marks: &[DustMark],
) -> Vec<[f32; 3]> {
    let mut out = base.to_vec();
    let w = cam.w as usize;
    for (c, mark) in containers.iter().map(|c| (c, None)).chain(marks.iter().map(|m| (&m.footprint, Some(m.strength))))
    {
        let reach = match mark {
            None => 200.0,
            Some(_) => 40.0,
        };
        let r = c.bound_r() + reach;
        let corners: Vec<[f64; 2]> =
            [[-r, -r], [r, -r], [r, r], [-r, r]].iter().map(|d| cam.to_px(c.pos[0] + d[0], c.pos[1] + d[1])).collect();
        let Some(b) = super::util::PxBox::around(&corners, 2.0, cam.w, cam.h) else { continue };
        for j in b.y0..b.y1 {
            for i in b.x0..b.x1 {
                let idx = j * w + i;
                let sd = c.footprint_sd(xs[idx] as f64, ys[idx] as f64);
                let k = match mark {
                    // Ambient occlusion: the base blocks light from low angles.
                    None => 1.0 - 0.35 * (-(sd.max(0.0)) / 45.0).exp() - if sd < 0.0 { 0.2 } else { 0.0 },
                    Some(s) => {
                        if sd < -15.0 {
                            1.0 + 0.5 * s
                        } else if sd < 10.0 {
                            1.0 - s
                        } else {
                            1.0
                        }
                    }
                };
                out[idx] = out[idx].map(|v| v * k as f32);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_photo_gives_uniform_floor() {
        let photo = RgbImage::from_pixel(1, 1, image::Rgb([200, 10, 10]));
        let tex = FloorTexture::from_photo(&photo, &mut Rng::with_seed(1), 2.0);
        let a = tex.sample(0.0, 0.0);
        let b = tex.sample(1234.5, -987.0);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| v.is_finite() && *v >= 0.0));
    }

    #[test]
    fn lamps_average_one_over_the_zone() {
        let lamps = Lamps::new(&mut Rng::with_seed(9));
        let mut sum = 0.0;
        for j in 0..17 {
            for i in 0..30 {
                sum += lamps.at(i as f64 * 100.0 + 50.0, j as f64 * 100.0 + 50.0) as f64;
            }
        }
        assert!((sum / 510.0 - 1.0).abs() < 1e-3);
    }
}
