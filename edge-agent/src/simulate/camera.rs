//! The fixed pod camera: a pinhole on the wall, looking down at the floor at a mild
//! angle. Floor coordinates are mm with x to the right of the image and y towards the
//! camera (down the image); z is the height above the floor.

use fastrand::Rng;
use nalgebra::{Matrix3, Vector3};

use super::util::uniform;

pub(crate) type V = Vector3<f64>;

/// The monitored floor zone in mm: `[0, 3000] x [0, 1700]`.
pub const FLOOR_MM: [f64; 2] = [3000.0, 1700.0];

/// Floor area the frame must show: the zone plus room for the painted line and for the
/// tops of back-row containers, which the perspective shifts up the image.
const VIEW_MIN: [f64; 2] = [-140.0, -600.0];
const VIEW_MAX: [f64; 2] = [FLOOR_MM[0] + 140.0, FLOOR_MM[1] + 110.0];

/// Rays flatter than this never reach the floor inside the room; they see the wall.
const MIN_DOWN: f64 = 0.05;

/// Far sentinel for pixels that see the wall: outside every floor object.
pub(crate) const WALL_MM: f32 = 1.0e6;

#[derive(Clone, Debug)]
pub(crate) struct Camera {
    pub w: u32,
    pub h: u32,
    f: f64,
    cx: f64,
    cy: f64,
    /// World -> camera rotation; rows are the image right, image down and viewing directions.
    rot: Matrix3<f64>,
    pub pos: V,
    pub mm_to_px: Matrix3<f64>,
    pub px_to_mm: Matrix3<f64>,
}

impl Camera {
    /// A seeded pose, with the focal length chosen so the view area just fits the frame
    /// (square pixels, any aspect ratio).
    pub(crate) fn new(rng: &mut Rng, width: u32, height: u32) -> Camera {
        let pos = V::new(
            FLOOR_MM[0] / 2.0 + uniform(rng, -250.0, 250.0),
            FLOOR_MM[1] + uniform(rng, 600.0, 1200.0),
            uniform(rng, 3400.0, 4100.0),
        );
        let target =
            V::new(FLOOR_MM[0] / 2.0 + uniform(rng, -80.0, 80.0), FLOOR_MM[1] * 0.45 + uniform(rng, -80.0, 80.0), 0.0);
        let roll = uniform(rng, -1.5, 1.5).to_radians();
        let fwd = (target - pos).normalize();
        let minus_z = V::new(0.0, 0.0, -1.0);
        let down0 = (minus_z - fwd * minus_z.dot(&fwd)).normalize();
        let mut right0 = fwd.cross(&down0);
        if right0.x < 0.0 {
            right0 = -right0;
        }
        let (s, c) = roll.sin_cos();
        let right = right0 * c + down0 * s;
        let down = down0 * c - right0 * s;
        let rot = Matrix3::from_rows(&[right.transpose(), down.transpose(), fwd.transpose()]);

        // Fit with a unit focal length first, then scale and shift.
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (x, y) in [
            (VIEW_MIN[0], VIEW_MIN[1]),
            (VIEW_MAX[0], VIEW_MIN[1]),
            (VIEW_MAX[0], VIEW_MAX[1]),
            (VIEW_MIN[0], VIEW_MAX[1]),
        ] {
            let q = rot * (V::new(x, y, 0.0) - pos);
            x0 = x0.min(q.x / q.z);
            x1 = x1.max(q.x / q.z);
            y0 = y0.min(q.y / q.z);
            y1 = y1.max(q.y / q.z);
        }
        let (wf, hf) = (width.max(1) as f64, height.max(1) as f64);
        let f = (wf / (x1 - x0)).min(hf / (y1 - y0));
        let cx = wf / 2.0 - f * (x0 + x1) / 2.0;
        let cy = hf / 2.0 - f * (y0 + y1) / 2.0;

        let k = Matrix3::new(f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0);
        let t = -(rot * pos);
        let ext = Matrix3::from_columns(&[rot.column(0).into_owned(), rot.column(1).into_owned(), t]);
        let mm_to_px = normalised(k * ext);
        let px_to_mm = normalised(mm_to_px.try_inverse().unwrap_or_else(Matrix3::identity));
        Camera { w: width, h: height, f, cx, cy, rot, pos, mm_to_px, px_to_mm }
    }

    /// Projects a world point (mm) to continuous pixel coordinates; `None` behind the camera.
    pub(crate) fn project(&self, p: &V) -> Option<[f64; 2]> {
        let q = self.rot * (p - self.pos);
        (q.z > 1e-6).then(|| [self.f * q.x / q.z + self.cx, self.f * q.y / q.z + self.cy])
    }

    /// The (unnormalised) world direction of the ray through continuous pixel `(u, v)`.
    #[inline]
    pub(crate) fn ray_dir(&self, u: f64, v: f64) -> V {
        self.rot.tr_mul(&V::new((u - self.cx) / self.f, (v - self.cy) / self.f, 1.0))
    }

    /// Where the ray through `(u, v)` meets the floor; `None` when it sees the wall.
    pub(crate) fn floor_hit(&self, u: f64, v: f64) -> Option<[f64; 2]> {
        let d = self.ray_dir(u, v).normalize();
        if d.z > -MIN_DOWN {
            return None;
        }
        let t = -self.pos.z / d.z;
        Some([self.pos.x + t * d.x, self.pos.y + t * d.y])
    }

    /// Floor mm -> continuous pixel coordinates (the floor homography).
    #[inline]
    pub(crate) fn to_px(&self, x: f64, y: f64) -> [f64; 2] {
        apply(&self.mm_to_px, x, y)
    }

    /// Image area in px² of one mm² of floor at floor point `(x, y)`.
    pub(crate) fn px_per_mm2(&self, x: f64, y: f64) -> f64 {
        jacobian_det(&self.mm_to_px, x, y)
    }

    /// Floor area in mm² seen by one pixel at continuous pixel `(u, v)`.
    pub(crate) fn mm2_per_px(&self, u: f64, v: f64) -> f64 {
        jacobian_det(&self.px_to_mm, u, v)
    }

    /// Per-pixel floor coordinates (x and y planes), at pixel centres; wall pixels get
    /// a far sentinel so no floor object ever covers them.
    pub(crate) fn floor_coords(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.w as usize * self.h as usize;
        let (mut xs, mut ys) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for j in 0..self.h {
            for i in 0..self.w {
                match self.floor_hit(i as f64 + 0.5, j as f64 + 0.5) {
                    Some([x, y]) => {
                        xs.push(x as f32);
                        ys.push(y as f32);
                    }
                    None => {
                        xs.push(WALL_MM);
                        ys.push(WALL_MM);
                    }
                }
            }
        }
        (xs, ys)
    }

    /// The zone outline in pixels: the projection of the floor rectangle's corners.
    pub(crate) fn zone_polygon(&self) -> Vec<[f64; 2]> {
        [[0.0, 0.0], [FLOOR_MM[0], 0.0], [FLOOR_MM[0], FLOOR_MM[1]], [0.0, FLOOR_MM[1]]]
            .iter()
            .map(|p| self.to_px(p[0], p[1]))
            .collect()
    }

    /// Linear size of one pixel on the floor (mm) at the nearest, finest part of the zone.
    pub(crate) fn finest_px_mm(&self) -> f64 {
        let [u, v] = self.to_px(FLOOR_MM[0] / 2.0, FLOOR_MM[1]);
        self.mm2_per_px(u, v).sqrt()
    }
}

/// Scales a homography so its bottom-right entry is 1 (when it is not ~0).
fn normalised(m: Matrix3<f64>) -> Matrix3<f64> {
    let s = m[(2, 2)];
    if s.abs() > 1e-12 { m / s } else { m }
}

/// Applies a homography to a 2-D point.
#[inline]
pub(crate) fn apply(m: &Matrix3<f64>, x: f64, y: f64) -> [f64; 2] {
    let w = m[(2, 0)] * x + m[(2, 1)] * y + m[(2, 2)];
    let w = if w.abs() < 1e-12 { 1e-12 } else { w };
    [(m[(0, 0)] * x + m[(0, 1)] * y + m[(0, 2)]) / w, (m[(1, 0)] * x + m[(1, 1)] * y + m[(1, 2)]) / w]
}

/// |det J| of a homography at a point: det(H) / w³.
fn jacobian_det(m: &Matrix3<f64>, x: f64, y: f64) -> f64 {
    let w = m[(2, 0)] * x + m[(2, 1)] * y + m[(2, 2)];
    (m.determinant() / (w * w * w)).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_agrees_with_homography_and_keeps_orientation() {
        let mut rng = Rng::with_seed(3);
        let cam = Camera::new(&mut rng, 480, 270);
        let zone = cam.zone_polygon();
        // x right, y down: corner (0,0) is top-left, (3000,1700) bottom-right.
        assert!(zone[0][0] < zone[1][0] && zone[0][1] < zone[3][1], "{zone:?}");
        assert!(zone[2][0] > zone[3][0] && zone[2][1] > zone[1][1], "{zone:?}");
        // Mild perspective: the far edge is shorter than the near edge, but not much.
        let far = zone[1][0] - zone[0][0];
        let near = zone[2][0] - zone[3][0];
        assert!(far < near && far > 0.6 * near, "far {far} near {near}");
        for p in [[100.0, 200.0], [2900.0, 1500.0], [1500.0, 850.0]] {
            let a = cam.project(&V::new(p[0], p[1], 0.0)).unwrap();
            let b = cam.to_px(p[0], p[1]);
            assert!((a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6);
            let back = cam.floor_hit(a[0], a[1]).unwrap();
            assert!((back[0] - p[0]).abs() < 1e-6 && (back[1] - p[1]).abs() < 1e-6);
        }
    }

    #[test]
    fn odd_aspect_ratios_do_not_break() {
        for (w, h) in [(1, 1), (1, 400), (400, 1), (2, 3)] {
            let cam = Camera::new(&mut Rng::with_seed(1), w, h);
            let (xs, ys) = cam.floor_coords();
            assert_eq!(xs.len(), (w * h) as usize);
            assert!(xs.iter().chain(ys.iter()).all(|v| v.is_finite()));
            for p in cam.zone_polygon() {
                assert!(p[0] >= 0.0 && p[0] <= w as f64 && p[1] >= 0.0 && p[1] <= h as f64, "{w}x{h}: {p:?}");
            }
        }
    }
}
