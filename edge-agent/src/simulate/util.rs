//! Small numeric helpers shared by the simulator parts.

use fastrand::Rng;

/// Mixes two values into a well-spread seed (splitmix64 finaliser), so sub-seeds of
/// neighbouring inputs are unrelated.
pub(crate) fn mix_seed(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in `[lo, hi)`.
pub(crate) fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.f64()
}

/// A uniform draw whose logarithm is uniform: sizes spread over orders of magnitude.
pub(crate) fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (uniform(rng, lo.ln(), hi.ln())).exp()
}

/// Picks one element of a non-empty slice.
pub(crate) fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(0..items.len())]
}

/// Hermite smoothstep from 0 at `e0` to 1 at `e1`.
#[inline]
pub(crate) fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Rec. 601 luma of an RGB triple.
#[inline]
pub(crate) fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// Linear blend between two RGB triples.
#[inline]
pub(crate) fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// atan2 to about 2e-4 rad (0.1 mm at the rim of a large pool) at a fraction of the
/// libm cost: it runs for every spill pixel.
#[inline]
pub(crate) fn fast_atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    let ax = x.abs();
    let ay = y.abs();
    if ax < 1e-300 && ay < 1e-300 {
        return 0.0;
    }
    let (a, swap) = if ay > ax { (ax / ay, true) } else { (ay / ax, false) };
    let s = a * a;
    // Minimax polynomial for atan on [0, 1].
    let mut r = ((-0.046_496_474_9 * s + 0.159_314_22) * s - 0.327_622_764) * s * a + a;
    if swap {
        r = FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 { -r } else { r }
}

/// Even-odd point-in-polygon test.
pub(crate) fn point_in_polygon(p: [f64; 2], poly: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = poly.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Convex hull (Andrew's monotone chain), counter-clockwise in a y-down image.
pub(crate) fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = points.iter().copied().filter(|p| p[0].is_finite() && p[1].is_finite()).collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(pts.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> =
            if pass == 0 { Box::new(pts.iter()) } else { Box::new(pts.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// A pixel rectangle `[x0, x1) x [y0, y1)`, already clipped to the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PxBox {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl PxBox {
    /// The clipped bounding box of continuous pixel points, grown by `pad` pixels;
    /// `None` when it misses the frame.
    pub(crate) fn around(points: &[[f64; 2]], pad: f64, width: u32, height: u32) -> Option<PxBox> {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in points {
            if !(p[0].is_finite() && p[1].is_finite()) {
                // Cannot bound it: fall back to the whole frame (rare, only for odd geometry).
                return PxBox::full(width, height);
            }
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        if points.is_empty() {
            return None;
        }
        let cx0 = (x0 - pad).floor().max(0.0);
        let cy0 = (y0 - pad).floor().max(0.0);
        let cx1 = (x1 + pad).ceil().min(width as f64);
        let cy1 = (y1 + pad).ceil().min(height as f64);
        if cx1 <= cx0 || cy1 <= cy0 {
            return None;
        }
        Some(PxBox { x0: cx0 as usize, y0: cy0 as usize, x1: cx1 as usize, y1: cy1 as usize })
    }

    /// The whole frame (`None` for an empty frame).
    pub(crate) fn full(width: u32, height: u32) -> Option<PxBox> {
        (width > 0 && height > 0).then_some(PxBox { x0: 0, y0: 0, x1: width as usize, y1: height as usize })
    }

    pub(crate) fn width(&self) -> usize {
        self.x1 - self.x0
    }

    pub(crate) fn height(&self) -> usize {
        self.y1 - self.y0
    }

    /// The smallest box holding both.
    pub(crate) fn union(&self, o: &PxBox) -> PxBox {
        PxBox { x0: self.x0.min(o.x0), y0: self.y0.min(o.y0), x1: self.x1.max(o.x1), y1: self.y1.max(o.y1) }
    }

    /// Whether the continuous point lies inside.
    #[inline]
    pub(crate) fn contains(&self, u: f64, v: f64) -> bool {
        u >= self.x0 as f64 && u < self.x1 as f64 && v >= self.y0 as f64 && v < self.y1 as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_atan2_matches_libm() {
        let mut worst: f64 = 0.0;
        for i in 0..2000 {
            let a = i as f64 / 2000.0 * std::f64::consts::TAU - std::f64::consts::PI;
            let (y, x) = (a.sin() * 3.7, a.cos() * 3.7);
            worst = worst.max((fast_atan2(y, x) - y.atan2(x)).abs());
        }
        assert!(worst < 2.5e-4, "worst error {worst}");
    }

    #[test]
    fn hull_and_polygon() {
        let pts = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [1.0, 1.0], [1.0, 0.5]];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        assert!(point_in_polygon([1.0, 1.0], &hull));
        assert!(!point_in_polygon([3.0, 1.0], &hull));
    }
}
