//! Ray casting of simple solids (cuboids, vertical cylinders, ellipsoids) into
//! premultiplied RGBA sprites, with a Lambert + Blinn-Phong shading under the pod's
//! mostly overhead lights.

use super::camera::{Camera, V};
use super::util::{PxBox, luma};

/// A solid in world mm. Cuboids and ellipsoids may be turned about the vertical.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    Cuboid {
        c: V,
        half: V,
        yaw: f64,
    },
    /// Vertical, from `z0` up to its lid at `z1`.
    Cylinder {
        c: [f64; 2],
        r: f64,
        z0: f64,
        z1: f64,
    },
    Ellipsoid {
        c: V,
        r: V,
        yaw: f64,
    },
}

/// Which face a ray hit: material details differ between lids and sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Face {
    Top,
    Side,
    Bottom,
}

/// A ray hit: distance along the ray, the point in the solid's own frame (mm, not
/// turned), the world normal and the face.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub t: f64,
    pub local: V,
    pub n: V,
    pub face: Face,
}

/// World -> local for a solid turned by an angle with sine/cosine `(s, c)`.
#[inline]
fn to_local(v: &V, (s, c): (f64, f64)) -> V {
    V::new(c * v.x + s * v.y, -s * v.x + c * v.y, v.z)
}

/// Local -> world for a solid turned by `(s, c)`.
#[inline]
fn to_world(v: &V, (s, c): (f64, f64)) -> V {
    V::new(c * v.x - s * v.y, s * v.x + c * v.y, v.z)
}

/// A shape set up for many rays from one origin: the origin in the shape's frame and
/// its turn, so each ray costs only a rotation of its direction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Posed {
    shape: Shape,
    origin: V,
    turn: (f64, f64),
}

impl Shape {
    /// Sets the shape up for rays from `o`.
    pub(crate) fn posed(&self, o: &V) -> Posed {
        let (origin, turn) = match *self {
            Shape::Cuboid { c, yaw, .. } | Shape::Ellipsoid { c, yaw, .. } => {
                let turn = yaw.sin_cos();
                (to_local(&(o - c), turn), turn)
            }
            Shape::Cylinder { c, .. } => (V::new(o.x - c[0], o.y - c[1], o.z), (0.0, 1.0)),
        };
        Posed { shape: *self, origin, turn }
    }

    /// The nearest hit in front of the ray origin.
    #[cfg(test)]
    pub(crate) fn intersect(&self, o: &V, d: &V) -> Option<Hit> {
        self.posed(o).hit(d)
    }

    /// Corners of a world box that holds the solid (for projected bounds).
    pub(crate) fn corners(&self) -> [V; 8] {
        let (c, h) = match *self {
            Shape::Cuboid { c, half, yaw } => {
                let (s, co) = yaw.sin_cos();
                let hx = (co * half.x).abs() + (s * half.y).abs();
                let hy = (s * half.x).abs() + (co * half.y).abs();
                (c, V::new(hx, hy, half.z))
            }
            Shape::Cylinder { c, r, z0, z1 } => (V::new(c[0], c[1], (z0 + z1) / 2.0), V::new(r, r, (z1 - z0) / 2.0)),
            Shape::Ellipsoid { c, r, yaw } => {
                let (s, co) = yaw.sin_cos();
                let hx = ((co * r.x).powi(2) + (s * r.y).powi(2)).sqrt();
                let hy = ((s * r.x).powi(2) + (co * r.y).powi(2)).sqrt();
                (c, V::new(hx, hy, r.z))
            }
        };
        let mut out = [V::zeros(); 8];
        for (k, o) in out.iter_mut().enumerate() {
            let sx = if k & 1 == 0 { -1.0 } else { 1.0 };
            let sy = if k & 2 == 0 { -1.0 } else { 1.0 };
            let sz = if k & 4 == 0 { -1.0 } else { 1.0 };
            *o = c + V::new(sx * h.x, sy * h.y, sz * h.z);
        }
        out
    }
}

impl Posed {
    /// The nearest hit of the ray with world direction `d`.
    #[inline]
    pub(crate) fn hit(&self, d: &V) -> Option<Hit> {
        match self.shape {
            Shape::Cuboid { half, .. } => cuboid_hit(&self.origin, &to_local(d, self.turn), &half, self.turn),
            Shape::Cylinder { r, z0, z1, .. } => cylinder_hit(&self.origin, d, r, z0, z1),
            Shape::Ellipsoid { r, .. } => ellipsoid_hit(&self.origin, &to_local(d, self.turn), &r, self.turn),
        }
    }
}

/// Slab test in the cuboid's frame.
fn cuboid_hit(o: &V, d: &V, half: &V, turn: (f64, f64)) -> Option<Hit> {
    let (mut tmin, mut tmax) = (f64::MIN, f64::MAX);
    let (mut axis, mut sign) = (2usize, 1.0);
    for k in 0..3 {
        if d[k].abs() < 1e-12 {
            if o[k].abs() > half[k] {
                return None;
            }
            continue;
        }
        let t1 = (-half[k] - o[k]) / d[k];
        let t2 = (half[k] - o[k]) / d[k];
        let (tn, tf, s) = if t1 < t2 { (t1, t2, -1.0) } else { (t2, t1, 1.0) };
        if tn > tmin {
            tmin = tn;
            axis = k;
            sign = s;
        }
        tmax = tmax.min(tf);
    }
    if tmax < tmin || tmin <= 0.0 {
        return None;
    }
    let mut n = V::zeros();
    n[axis] = sign;
    let face = match (axis, sign > 0.0) {
        (2, true) => Face::Top,
        (2, false) => Face::Bottom,
        _ => Face::Side,
    };
    Some(Hit { t: tmin, local: o + d * tmin, n: to_world(&n, turn), face })
}

/// A vertical cylinder (origin relative to its axis): its side and its lid (the
/// camera is above everything).
fn cylinder_hit(o: &V, d: &V, r: f64, z0: f64, z1: f64) -> Option<Hit> {
    let (dx, dy) = (o.x, o.y);
    let mut best: Option<Hit> = None;
    if d.z < 0.0 {
        let t = (z1 - o.z) / d.z;
        let (px, py) = (dx + t * d.x, dy + t * d.y);
        if t > 0.0 && px * px + py * py <= r * r {
            best = Some(Hit { t, local: V::new(px, py, z1), n: V::new(0.0, 0.0, 1.0), face: Face::Top });
        }
    }
    let a = d.x * d.x + d.y * d.y;
    if a > 1e-18 {
        let b = 2.0 * (dx * d.x + dy * d.y);
        let cc = dx * dx + dy * dy - r * r;
        let disc = b * b - 4.0 * a * cc;
        if disc >= 0.0 {
            let t = (-b - disc.sqrt()) / (2.0 * a);
            let z = o.z + t * d.z;
            if t > 0.0 && z >= z0 && z <= z1 && best.is_none_or(|h| t < h.t) {
                let (px, py) = (dx + t * d.x, dy + t * d.y);
                best = Some(Hit { t, local: V::new(px, py, z), n: V::new(px / r, py / r, 0.0), face: Face::Side });
            }
        }
    }
    best
}

/// Ray against an ellipsoid, in its frame.
fn ellipsoid_hit(o: &V, d: &V, r: &V, turn: (f64, f64)) -> Option<Hit> {
    let os = o.component_div(r);
    let ds = d.component_div(r);
    let a = ds.dot(&ds);
    let b = 2.0 * os.dot(&ds);
    let c = os.dot(&os) - 1.0;
    let disc = b * b - 4.0 * a * c;
    if disc < 0.0 || a < 1e-18 {
        return None;
    }
    let t = (-b - disc.sqrt()) / (2.0 * a);
    if t <= 0.0 {
        return None;
    }
    let local = o + d * t;
    let n = to_world(&local.component_div(&r.component_mul(r)), turn).normalize();
    let face = if n.z > 0.75 { Face::Top } else { Face::Side };
    Some(Hit { t, local, n, face })
}

/// What a surface looks like where a ray hits it: albedo in frame levels (the colour it
/// shows lit like the floor), and how glossy it is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    pub rgb: [f32; 3],
    pub gloss: f32,
}

/// Surface kinds. Detailed ones live next to the objects that use them.
#[derive(Clone, Debug)]
pub(crate) enum Surface {
    Plain(Look),
    Drum(super::props::DrumLook),
    Ibc(super::props::IbcLook),
    Cloth(super::actors::ClothLook),
    Deck(super::actors::DeckLook),
    Cardboard([f32; 3]),
}

/// An image used for fabric textures: RGB in frame levels plus its mean luma.
pub(crate) struct Swatch {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[f32; 3]>,
    pub mean_luma: f32,
}

impl Swatch {
    /// Converts a photo; `None` for an empty one.
    pub(crate) fn from_image(img: &image::RgbImage) -> Option<Swatch> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            return None;
        }
        let px: Vec<[f32; 3]> = img.pixels().map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect();
        let mean_luma = (px.iter().map(|c| luma(*c) as f64).sum::<f64>() / px.len() as f64).max(1.0) as f32;
        Some(Swatch { w, h, px, mean_luma })
    }

    /// Nearest texel with mirrored repeat: `(u, v)` in texels.
    #[inline]
    pub(crate) fn at(&self, u: f64, v: f64) -> [f32; 3] {
        let i = mirror(u, self.w);
        let j = mirror(v, self.h);
        self.px[j * self.w + i]
    }
}

/// Mirrored-repeat index into `0..n` (integer maths: it runs per textured pixel).
#[inline]
pub(crate) fn mirror(u: f64, n: usize) -> usize {
    let n = n.max(1) as i64;
    let i = if u.is_finite() { u.floor().clamp(-1e15, 1e15) as i64 } else { 0 };
    let m = i.rem_euclid(2 * n);
    (if m >= n { 2 * n - 1 - m } else { m }) as usize
}

/// A solid with its surface.
#[derive(Clone, Debug)]
pub(crate) struct Prim {
    pub shape: Shape,
    pub surf: Surface,
}

/// Lighting for sprites: a mostly overhead key light, the room level at the object
/// and the fabric swatch.
pub(crate) struct ShadeCtx<'a> {
    pub light: V,
    pub illum: f32,
    pub swatch: &'a Swatch,
}

/// Shares of ambient and key light: the walls of a small pod bounce a lot of light.
const AMBIENT: f32 = 0.5;

/// Shades a hit: albedo x (ambient + key) plus a highlight for glossy surfaces.
fn shade(prim: &Prim, hit: &Hit, dir: &V, ctx: &ShadeCtx) -> [f32; 3] {
    let look = match &prim.surf {
        Surface::Plain(l) => *l,
        Surface::Drum(d) => d.look(hit),
        Surface::Ibc(b) => b.look(hit),
        Surface::Cloth(c) => c.look(hit, ctx.swatch),
        Surface::Deck(d) => d.look(hit),
        Surface::Cardboard(rgb) => cardboard(*rgb, hit),
    };
    let n = hit.n;
    let diffuse = n.dot(&ctx.light).max(0.0) as f32;
    let lit = AMBIENT + (1.0 - AMBIENT) * diffuse / ctx.light.z.max(0.3) as f32 * 0.98;
    let view = -dir.normalize();
    let half = (ctx.light + view).normalize();
    let spec = look.gloss * (n.dot(&half).max(0.0) as f32).powi(24) * 180.0;
    [
        (look.rgb[0] * lit + spec) * ctx.illum,
        (look.rgb[1] * lit + spec) * ctx.illum,
        (look.rgb[2] * lit + spec) * ctx.illum,
    ]
}

/// Brown board with a strip of tape over the middle of the lid.
fn cardboard(rgb: [f32; 3], hit: &Hit) -> Look {
    let tape = hit.face == Face::Top && hit.local.y.abs() < 25.0;
    let k = if tape { 1.12 } else { 1.0 };
    Look { rgb: [rgb[0] * k, rgb[1] * k, rgb[2] * k], gloss: if tape { 0.35 } else { 0.03 } }
}

/// A premultiplied RGBA patch of the frame, with the distance (mm) from the camera
/// to the nearest surface per pixel when rendered one ray block per pixel.
pub(crate) struct Sprite {
    pub bbox: PxBox,
    pub px: Vec<[f32; 4]>,
    pub near: Vec<f32>,
}

/// Projected pixel bounds of a prim (whole frame when a corner is behind the camera).
fn prim_bounds(cam: &Camera, shape: &Shape) -> Option<PxBox> {
    let mut pts = Vec::with_capacity(8);
    for c in shape.corners() {
        match cam.project(&c) {
            Some(p) => pts.push(p),
            None => return PxBox::full(cam.w, cam.h),
        }
    }
    PxBox::around(&pts, 1.0, cam.w, cam.h)
}

/// Ray casts the prims; `None` when none is in view. `ss` x `ss` samples per pixel;
/// with `step` > 1 it casts one ray per `step` x `step` block and interpolates, which
/// also softens edges the way lens and motion blur do. Hits farther than the
/// full-frame `occluder` distance plane (the containers) are hidden.
pub(crate) fn render(
    prims: &[Prim],
    cam: &Camera,
    ctx: &ShadeCtx,
    ss: usize,
    step: usize,
    occluder: Option<&[f32]>,
) -> Option<Sprite> {
    let bounds: Vec<Option<PxBox>> = prims.iter().map(|p| prim_bounds(cam, &p.shape)).collect();
    let bbox = bounds.iter().flatten().copied().reduce(|a, b| a.union(&b))?;
    let posed: Vec<Posed> = prims.iter().map(|p| p.shape.posed(&cam.pos)).collect();
    let (ss, step) = (ss.max(1), step.max(1));
    let inv = 1.0 / (ss * ss) as f32;
    let (cw, ch) = if step == 1 {
        (bbox.width(), bbox.height())
    } else {
        (bbox.width().div_ceil(step) + 1, bbox.height().div_ceil(step) + 1)
    };
    let mut grid = vec![[0.0f32; 4]; cw * ch];
    let mut near = vec![f32::INFINITY; if step == 1 { cw * ch } else { 0 }];
    let fw = cam.w as usize;
    let mut row: Vec<(usize, PxBox)> = Vec::with_capacity(prims.len());
    for cj in 0..ch {
        let j = bbox.y0 + cj * step;
        // Only the prims whose bounds cross this row.
        row.clear();
        row.extend(
            bounds.iter().enumerate().filter_map(|(k, b)| b.filter(|b| (b.y0..b.y1).contains(&j)).map(|b| (k, b))),
        );
        if row.is_empty() {
            continue;
        }
        for ci in 0..cw {
            let i = bbox.x0 + ci * step;
            let mut acc = [0.0f32; 4];
            for sj in 0..ss {
                for si in 0..ss {
                    let u = i as f64 + (si as f64 + 0.5) / ss as f64;
                    let v = j as f64 + (sj as f64 + 0.5) / ss as f64;
                    let mut dir = None;
                    let mut best: Option<(usize, Hit)> = None;
                    for &(k, b) in &row {
                        if !b.contains(u, v) {
                            continue;
                        }
                        let d = *dir.get_or_insert_with(|| cam.ray_dir(u, v));
                        if let Some(hit) = posed[k].hit(&d)
                            && best.as_ref().is_none_or(|(_, b)| hit.t < b.t)
                        {
                            best = Some((k, hit));
                        }
                    }
                    if let (Some((k, hit)), Some(d)) = (best, dir) {
                        let dist = (hit.t * d.norm()) as f32;
                        let behind = occluder.is_some_and(|o| i < fw && j < cam.h as usize && dist > o[j * fw + i]);
                        if !behind {
                            let c = shade(&prims[k], &hit, &d, ctx);
                            acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2], acc[3] + 1.0];
                            if step == 1 {
                                let n = &mut near[cj * cw + ci];
                                *n = n.min(dist);
                            }
                        }
                    }
                }
            }
            grid[cj * cw + ci] = acc.map(|v| v * inv);
        }
    }
    if step == 1 {
        return Some(Sprite { bbox, px: grid, near });
    }
    let (w, f) = (bbox.width(), 1.0 / step as f32);
    let mut px = vec![[0.0f32; 4]; w * bbox.height()];
    for (y, out) in px.chunks_exact_mut(w).enumerate() {
        let (gy, fy) = (y / step, (y % step) as f32 * f);
        for (x, o) in out.iter_mut().enumerate() {
            let (gx, fx) = (x / step, (x % step) as f32 * f);
            let (a, b) = (grid[gy * cw + gx], grid[gy * cw + gx + 1]);
            let (c, d) = (grid[(gy + 1) * cw + gx], grid[(gy + 1) * cw + gx + 1]);
            *o = std::array::from_fn(|k| {
                let top = a[k] + (b[k] - a[k]) * fx;
                top + (c[k] + (d[k] - c[k]) * fx - top) * fy
            });
        }
    }
    Some(Sprite { bbox, px, near: Vec::new() })
}

/// Softens a one-sample sprite with a [1 2 1] blur, grown by a pixel, so its edges are
/// as soft as the lens makes real edges (and not a renderer tell).
pub(crate) fn soften(s: &Sprite, width: u32, height: u32) -> Sprite {
    let bbox = PxBox {
        x0: s.bbox.x0.saturating_sub(1),
        y0: s.bbox.y0.saturating_sub(1),
        x1: (s.bbox.x1 + 1).min(width as usize),
        y1: (s.bbox.y1 + 1).min(height as usize),
    };
    let get = |i: isize, j: isize| -> [f32; 4] {
        if i < s.bbox.x0 as isize || j < s.bbox.y0 as isize || i >= s.bbox.x1 as isize || j >= s.bbox.y1 as isize {
            return [0.0; 4];
        }
        s.px[(j as usize - s.bbox.y0) * s.bbox.width() + (i as usize - s.bbox.x0)]
    };
    let (w, h) = (bbox.width(), bbox.height());
    // Horizontal then vertical pass.
    let mut tmp = vec![[0.0f32; 4]; w * h];
    for j in 0..h {
        for i in 0..w {
            let (x, y) = ((bbox.x0 + i) as isize, (bbox.y0 + j) as isize);
            let (a, b, c) = (get(x - 1, y), get(x, y), get(x + 1, y));
            tmp[j * w + i] = std::array::from_fn(|k| 0.25 * a[k] + 0.5 * b[k] + 0.25 * c[k]);
        }
    }
    let mut px = vec![[0.0f32; 4]; w * h];
    for j in 0..h {
        for i in 0..w {
            let up = if j > 0 { tmp[(j - 1) * w + i] } else { [0.0; 4] };
            let dn = if j + 1 < h { tmp[(j + 1) * w + i] } else { [0.0; 4] };
            let c = tmp[j * w + i];
            px[j * w + i] = std::array::from_fn(|k| 0.25 * up[k] + 0.5 * c[k] + 0.25 * dn[k]);
        }
    }
    Sprite { bbox, px, near: Vec::new() }
}

/// Paints a sprite over a frame buffer (premultiplied "over").
pub(crate) fn composite(s: &Sprite, buf: &mut [[f32; 3]], width: u32) {
    let w = width as usize;
    for j in s.bbox.y0..s.bbox.y1 {
        let row = &s.px[(j - s.bbox.y0) * s.bbox.width()..][..s.bbox.width()];
        for (i, p) in (s.bbox.x0..s.bbox.x1).zip(row) {
            if p[3] <= 0.0 {
                continue;
            }
            let dst = &mut buf[j * w + i];
            let k = 1.0 - p[3];
            *dst = [p[0] + dst[0] * k, p[1] + dst[1] * k, p[2] + dst[2] * k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solids_are_hit_from_above_with_outward_normals() {
        let o = V::new(10.0, 20.0, 3000.0);
        let d = V::new(0.0, 0.0, -1.0);
        let b = Shape::Cuboid { c: V::new(10.0, 20.0, 100.0), half: V::new(50.0, 30.0, 100.0), yaw: 0.7 };
        let h = b.intersect(&o, &d).unwrap();
        assert!((h.t - 2800.0).abs() < 1e-9 && h.face == Face::Top && (h.n.z - 1.0).abs() < 1e-9);
        let c = Shape::Cylinder { c: [10.0, 20.0], r: 300.0, z0: 0.0, z1: 880.0 };
        let h = c.intersect(&o, &d).unwrap();
        assert!((h.t - 2120.0).abs() < 1e-9 && h.face == Face::Top);
        // A slanted ray that misses the lid hits the side with a horizontal normal.
        let o2 = V::new(-2000.0, 20.0, 400.0);
        let h = c.intersect(&o2, &V::new(1.0, 0.0, 0.0)).unwrap();
        assert_eq!(h.face, Face::Side);
        assert!((h.n.x + 1.0).abs() < 1e-9);
        let e = Shape::Ellipsoid { c: V::new(10.0, 20.0, 1000.0), r: V::new(100.0, 200.0, 300.0), yaw: 0.3 };
        let h = e.intersect(&o, &d).unwrap();
        assert!((h.t - 1700.0).abs() < 1e-6 && h.n.z > 0.99);
        assert!(e.intersect(&V::new(500.0, 20.0, 3000.0), &d).is_none());
    }

    #[test]
    fn mirror_stays_in_range() {
        for u in [-1e9, -3.5, -0.0, 0.0, 4.99, 5.0, 9.99, 10.0, 1e12] {
            assert!(mirror(u, 5) < 5);
        }
        assert_eq!(mirror(0.2, 1), 0);
    }
}
