//! Pixel <-> floor-millimetre homography of a fixed camera looking at a floor.
//!
//! Image coordinates: x right, y down, pixel `(c, r)` covers `[c, c+1) x [r, r+1)`
//! so its centre is at `(c + 0.5, r + 0.5)`. With this convention scaling the
//! image by `s` scales every coordinate by exactly `s`.

use nalgebra::{DMatrix, Matrix3, Vector3};

/// Maps image pixels (x right, y down; pixel centres at +0.5) to floor millimetres, and back.
///
/// The overall sign of the matrix is meaningful: floor points in front of the
/// camera have a positive homogeneous `w`; pixels with `w <= 0` look beyond the
/// horizon and map to no floor point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography {
    /// Pixel -> floor mm.
    h: Matrix3<f64>,
    /// Floor mm -> pixel (the exact inverse, scaled by a positive factor only).
    inv: Matrix3<f64>,
}

/// Why a homography could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HomographyError {
    #[error("need at least 4 point pairs to fit a homography, got {got}: measure at least 4 floor points spread over the image")]
    TooFewPairs { got: usize },
    #[error("point pair {index} has a NaN or infinite coordinate: check the measurements")]
    NonFinitePair { index: usize },
    #[error("the matrix has a NaN or infinite entry: check the calibration values")]
    NonFiniteMatrix,
    #[error("the matrix is singular (not invertible), so it cannot map the image onto the floor: recalibrate")]
    Singular,
    #[error("point pairs {first} and {second} have the same {space} position: every pair must be a different floor point")]
    Duplicate { first: usize, second: usize, space: &'static str },
    #[error("the {space} points are (nearly) collinear: pick points spread over the floor, no three of them in a line")]
    Collinear { space: &'static str },
    #[error("the point pairs do not determine a homography (degenerate configuration): pick at least 4 points spread over the floor, no three of them in a line")]
    Degenerate,
    #[error("the point pairs put some floor points behind the camera: check that each pixel is paired with its own floor point")]
    PairsAcrossHorizon,
}

/// Relative size below which a singular value, or the h22 entry, counts as zero.
const DEGENERATE_EPS: f64 = 1e-9;

impl Homography {
    /// Builds a homography from the row-major pixel -> floor-mm matrix.
    ///
    /// Rejects non-finite entries and singular matrices. The matrix is rescaled by
    /// a positive factor only (see [`Homography::rows`]), so the sign is kept.
    pub fn from_rows(rows: [[f64; 3]; 3]) -> Result<Self, HomographyError> {
        if rows.iter().flatten().any(|v| !v.is_finite()) {
            return Err(HomographyError::NonFiniteMatrix);
        }
        Self::from_matrix(Matrix3::from_fn(|r, c| rows[r][c]))
    }

    /// The row-major pixel -> floor-mm matrix, scaled so that `rows[2][2] == 1`.
    ///
    /// Exception: when pixel (0, 0) itself looks beyond the horizon `rows[2][2]`
    /// is -1 (or, when it is on the horizon, 0 and the matrix has unit norm), since
    /// flipping the sign would flip which side of the horizon is the floor.
    pub fn rows(&self) -> [[f64; 3]; 3] {
        let m = &self.h;
        [
            [m[(0, 0)], m[(0, 1)], m[(0, 2)]],
            [m[(1, 0)], m[(1, 1)], m[(1, 2)]],
            [m[(2, 0)], m[(2, 1)], m[(2, 2)]],
        ]
    }

    /// Least-squares fit from >= 4 (pixel, floor mm) pairs: normalised DLT (Hartley)
    /// solved with an SVD.
    ///
    /// Rejects fewer than 4 pairs, non-finite input, duplicate points and collinear
    /// or otherwise degenerate configurations, and pairs whose floor points would
    /// lie on both sides of the horizon.
    pub fn fit(pairs: &[([f64; 2], [f64; 2])]) -> Result<Self, HomographyError> {
        if pairs.len() < 4 {
            return Err(HomographyError::TooFewPairs { got: pairs.len() });
        }
        if let Some(index) = pairs.iter().position(|(p, m)| !p.iter().chain(m).all(|v| v.is_finite())) {
            return Err(HomographyError::NonFinitePair { index });
        }
        let px: Vec<[f64; 2]> = pairs.iter().map(|(p, _)| *p).collect();
        let mm: Vec<[f64; 2]> = pairs.iter().map(|(_, m)| *m).collect();
        let (t_px, n_px) = normalise(&px);
        let (t_mm, n_mm) = normalise(&mm);
        check_spread(&n_px, "pixel")?;
        check_spread(&n_mm, "floor")?;

        // Two rows of A h = 0 per pair; padded to at least 9 rows so that the SVD
        // is square and V has the null vector we need.
        let rows = (2 * pairs.len()).max(9);
        let mut a = DMatrix::<f64>::zeros(rows, 9);
        for (k, (p, m)) in n_px.iter().zip(&n_mm).enumerate() {
            let (x, y, u, v) = (p[0], p[1], m[0], m[1]);
            let r0 = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, -u];
            let r1 = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, -v];
            for c in 0..9 {
                a[(2 * k, c)] = r0[c];
                a[(2 * k + 1, c)] = r1[c];
            }
        }
        let svd = a.svd(false, true);
        let v_t = svd.v_t.ok_or(HomographyError::Degenerate)?;
        let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
        order.sort_by(|&i, &j| svd.singular_values[i].total_cmp(&svd.singular_values[j]));
        let (smallest, second) = (order[0], order[1]);
        let largest = svd.singular_values.max();
        // A second (near-)null vector means the pairs fit a whole family of maps.
        if !largest.is_finite() || svd.singular_values[second] <= DEGENERATE_EPS * largest {
            return Err(HomographyError::Degenerate);
        }
        let hn = Matrix3::from_fn(|r, c| v_t[(smallest, 3 * r + c)]);
        let t_mm_inv = t_mm.try_inverse().ok_or(HomographyError::Degenerate)?;
        let mut h = t_mm_inv * hn * t_px;

        // Choose the sign for which the measured points are in front of the camera.
        let w: Vec<f64> = px.iter().map(|p| (h * Vector3::new(p[0], p[1], 1.0)).z).collect();
        let positive = w.iter().filter(|&&w| w > 0.0).count();
        if positive != w.len() && positive != 0 {
            return Err(HomographyError::PairsAcrossHorizon);
        }
        if positive == 0 {
            h = -h;
        }
        Self::from_matrix(h).map_err(|_| HomographyError::Degenerate)
    }

    /// The floor position (mm) seen at pixel `px`, or `None` when the pixel looks
    /// beyond the horizon (the homogeneous `w` is ~0 or negative).
    pub fn to_floor(&self, px: [f64; 2]) -> Option<[f64; 2]> {
        project(&self.h, px)
    }

    /// The pixel showing floor position `mm`, or `None` when that point is
    /// behind the camera / at infinity.
    pub fn to_pixel(&self, mm: [f64; 2]) -> Option<[f64; 2]> {
        project(&self.inv, mm)
    }

    /// Floor area, in mm², covered by one pixel at `px` (|det| of the Jacobian of
    /// `to_floor` there). `None` beyond the horizon.
    pub fn pixel_area_mm2(&self, px: [f64; 2]) -> Option<f64> {
        self.to_floor(px)?;
        let w = (self.h * Vector3::new(px[0], px[1], 1.0)).z;
        // For x -> Hx/w the Jacobian determinant is det(H) / w^3.
        let area = self.h.determinant().abs() / (w * w * w);
        area.is_finite().then_some(area)
    }

    /// The same homography for the image scaled by `s` (e.g. 0.25 for an analysis
    /// copy at a quarter of the size): `scaled.to_floor(s * p) == self.to_floor(p)`.
    ///
    /// `s` must be positive and finite; any other value returns an unchanged copy.
    pub fn scaled_image(&self, s: f64) -> Homography {
        if !(s.is_finite() && s > 0.0) {
            return *self;
        }
        let down = Matrix3::new(1.0 / s, 0.0, 0.0, 0.0, 1.0 / s, 0.0, 0.0, 0.0, 1.0);
        Self::from_matrix(self.h * down).unwrap_or(*self)
    }

    /// Root-mean-square reprojection error, in pixels, of the pairs (floor mm
    /// mapped back into the image). Infinite if a floor point maps to no pixel;
    /// 0 for no pairs.
    pub fn rms_error_px(&self, pairs: &[([f64; 2], [f64; 2])]) -> f64 {
        if pairs.is_empty() {
            return 0.0;
        }
        let mut sum = 0.0;
        for (px, mm) in pairs {
            match self.to_pixel(*mm) {
                Some(p) => sum += (p[0] - px[0]).powi(2) + (p[1] - px[1]).powi(2),
                None => return f64::INFINITY,
            }
        }
        (sum / pairs.len() as f64).sqrt()
    }

    /// Validates, normalises (positive scale only) and inverts `h`.
    fn from_matrix(h: Matrix3<f64>) -> Result<Self, HomographyError> {
        // Divide by the largest entry first so that the norm cannot overflow.
        let largest = h.amax();
        if !largest.is_finite() {
            return Err(HomographyError::NonFiniteMatrix);
        }
        if largest == 0.0 {
            return Err(HomographyError::Singular);
        }
        let h = h / largest;
        let h22 = h[(2, 2)];
        let h = if h22.abs() > DEGENERATE_EPS { h / h22.abs() } else { h };
        let inv = h.try_inverse().ok_or(HomographyError::Singular)?;
        // Invertible to working precision? (A determinant threshold would depend
        // on the units: pixel and mm scales make real homographies tiny-determinant.)
        let residual = (h * inv - Matrix3::identity()).amax();
        if residual.is_nan() || residual >= 1e-6 {
            return Err(HomographyError::Singular);
        }
        let inv = inv / inv.amax();
        Ok(Homography { h, inv })
    }
}

/// Applies `m` to a point; `None` when the result is at infinity or behind the camera.
fn project(m: &Matrix3<f64>, p: [f64; 2]) -> Option<[f64; 2]> {
    if !(p[0].is_finite() && p[1].is_finite()) {
        return None;
    }
    let v = m * Vector3::new(p[0], p[1], 1.0);
    if v.z.is_nan() || v.z <= 1e-12 * (v.x.abs() + v.y.abs()) {
        return None;
    }
    let out = [v.x / v.z, v.y / v.z];
    (out[0].is_finite() && out[1].is_finite()).then_some(out)
}

/// Hartley normalisation: moves the centroid to the origin and scales the mean
/// distance to sqrt(2), which keeps the DLT well conditioned. Returns the
/// transform and the normalised points.
fn normalise(points: &[[f64; 2]]) -> (Matrix3<f64>, Vec<[f64; 2]>) {
    let n = points.len().max(1) as f64;
    let cx = points.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = points.iter().map(|p| p[1]).sum::<f64>() / n;
    let mean_dist = points.iter().map(|p| (p[0] - cx).hypot(p[1] - cy)).sum::<f64>() / n;
    // All points equal: keep a unit scale, check_spread reports the duplicates.
    let s = if mean_dist > 0.0 { std::f64::consts::SQRT_2 / mean_dist } else { 1.0 };
    let t = Matrix3::new(s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0);
    let normalised = points.iter().map(|p| [s * (p[0] - cx), s * (p[1] - cy)]).collect();
    (t, normalised)
}

/// Rejects duplicates and collinear sets in normalised coordinates (mean distance
/// sqrt(2) from the centroid, so the tolerances are scale-free).
fn check_spread(points: &[[f64; 2]], space: &'static str) -> Result<(), HomographyError> {
    for (i, a) in points.iter().enumerate() {
        for (j, b) in points.iter().enumerate().skip(i + 1) {
            if (a[0] - b[0]).hypot(a[1] - b[1]) < 1e-6 {
                return Err(HomographyError::Duplicate { first: i, second: j, space });
            }
        }
    }
    // Smallest eigenvalue of the 2x2 scatter matrix: ~0 when all points share a line.
    let n = points.len() as f64;
    let (sxx, syy, sxy) = points.iter().fold((0.0, 0.0, 0.0), |(xx, yy, xy), p| {
        (xx + p[0] * p[0] / n, yy + p[1] * p[1] / n, xy + p[0] * p[1] / n)
    });
    let half_trace = 0.5 * (sxx + syy);
    let min_eig = half_trace - (0.25 * (sxx - syy).powi(2) + sxy * sxy).sqrt();
    if min_eig < 1e-6 {
        return Err(HomographyError::Collinear { space });
    }
    // With exactly 4 points, any 3 in a line already leave the map undetermined.
    if points.len() == 4 {
        for skip in 0..4 {
            let t: Vec<&[f64; 2]> = points.iter().enumerate().filter(|(k, _)| *k != skip).map(|(_, p)| p).collect();
            let area = (t[1][0] - t[0][0]) * (t[2][1] - t[0][1]) - (t[1][1] - t[0][1]) * (t[2][0] - t[0][0]);
            if area.abs() < 1e-6 {
                return Err(HomographyError::Collinear { space });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strongly tilted camera: pixel -> mm with real perspective terms.
    fn perspective() -> Homography {
        Homography::from_rows([[2.1, 0.35, -400.0], [0.12, 3.4, -250.0], [0.00021, 0.0012, 1.0]]).expect("valid")
    }

    fn grid_pairs(h: &Homography, n: usize, noise_px: f64, seed: u64) -> Vec<([f64; 2], [f64; 2])> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|k| {
                let px = [40.0 + (k % 10) as f64 * 60.0 + rng.f64() * 20.0, 30.0 + (k / 10) as f64 * 95.0 + rng.f64() * 20.0];
                let mm = h.to_floor(px).expect("in front of the camera");
                let noisy = [px[0] + (rng.f64() - 0.5) * 2.0 * noise_px, px[1] + (rng.f64() - 0.5) * 2.0 * noise_px];
                (noisy, mm)
            })
            .collect()
    }

    fn max_floor_diff(a: &Homography, b: &Homography) -> f64 {
        let mut worst: f64 = 0.0;
        for y in (0..480).step_by(40) {
            for x in (0..640).step_by(40) {
                let p = [x as f64 + 0.5, y as f64 + 0.5];
                let (fa, fb) = (a.to_floor(p).expect("floor"), b.to_floor(p).expect("floor"));
                worst = worst.max((fa[0] - fb[0]).hypot(fa[1] - fb[1]));
            }
        }
        worst
    }

    #[test]
    fn fit_recovers_exact_homography_from_4_points() {
        let truth = perspective();
        let pairs: Vec<_> = [[10.0, 20.0], [600.0, 35.0], [580.0, 460.0], [30.0, 440.0]]
            .iter()
            .map(|&p| (p, truth.to_floor(p).expect("floor")))
            .collect();
        let fit = Homography::fit(&pairs).expect("fit");
        assert!(max_floor_diff(&fit, &truth) < 1e-6, "diff {}", max_floor_diff(&fit, &truth));
        let (a, b) = (fit.rows(), truth.rows());
        for r in 0..3 {
            for c in 0..3 {
                assert!((a[r][c] - b[r][c]).abs() < 1e-9 * b[r][c].abs().max(1.0), "{a:?} vs {b:?}");
            }
        }
        assert!(fit.rms_error_px(&pairs) < 1e-8);
        // Large pixel offsets and mm units: a tiny determinant, yet well conditioned.
        let px = [[820.0, 380.0], [1110.0, 380.0], [1500.0, 820.0], [430.0, 820.0]];
        let mm = [[0.0, 0.0], [240.0, 0.0], [240.0, 150.0], [0.0, 150.0]];
        let pairs: Vec<_> = px.iter().copied().zip(mm.iter().copied()).collect();
        let trapezoid = Homography::fit(&pairs).expect("fit");
        assert!(trapezoid.rms_error_px(&pairs) < 1e-8);
    }

    #[test]
    fn fit_recovers_homography_from_50_noisy_points() {
        let truth = perspective();
        let pairs = grid_pairs(&truth, 50, 0.5, 7);
        let fit = Homography::fit(&pairs).expect("fit");
        let rms = fit.rms_error_px(&pairs);
        // Uniform noise of +-0.5 px has an RMS of 0.41 px in 2D; the fit absorbs a little.
        assert!(rms > 0.2 && rms < 0.45, "rms {rms}");
        // Floor scale is ~2-6 mm/px here; 50 points average the noise down to < 1 mm.
        let diff = max_floor_diff(&fit, &truth);
        println!("50 noisy points: rms {rms:.3} px, worst floor error {diff:.2} mm");
        assert!(diff < 2.0, "diff {diff} mm");
        // The noise-free fit is exact.
        let exact = Homography::fit(&grid_pairs(&truth, 50, 0.0, 7)).expect("fit");
        assert!(max_floor_diff(&exact, &truth) < 1e-6);
    }

    #[test]
    fn round_trips_pixel_floor_pixel() {
        let h = perspective();
        for &p in &[[0.5, 0.5], [320.0, 240.0], [639.5, 479.5], [17.25, 401.75]] {
            let mm = h.to_floor(p).expect("floor");
            let back = h.to_pixel(mm).expect("pixel");
            assert!((back[0] - p[0]).abs() < 1e-9 && (back[1] - p[1]).abs() < 1e-9, "{p:?} -> {back:?}");
        }
        let h2 = Homography::from_rows(h.rows()).expect("valid");
        assert_eq!(h2.rows(), h.rows());
        assert_eq!(h.rows()[2][2], 1.0);
    }

    #[test]
    fn beyond_the_horizon_maps_to_nothing() {
        // w = 1 - y/100: the horizon is the row y = 100, the floor is below it.
        let h = Homography::from_rows([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -0.01, 1.0]]).expect("valid");
        assert!(h.to_floor([10.0, 50.0]).is_some());
        assert!(h.to_floor([10.0, 100.0]).is_none());
        assert!(h.to_floor([10.0, 150.0]).is_none());
        assert!(h.pixel_area_mm2([10.0, 150.0]).is_none());
        assert!(h.to_floor([f64::NAN, 1.0]).is_none());
        // Pixel (0, 0) beyond the horizon: the sign is kept, so rows[2][2] is -1.
        let below = Homography::from_rows([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.01, -1.0]]).expect("valid");
        assert_eq!(below.rows()[2][2], -1.0);
        assert!(below.to_floor([10.0, 150.0]).is_some());
        assert!(below.to_floor([10.0, 50.0]).is_none());
        let again = Homography::from_rows(below.rows()).expect("valid");
        assert_eq!(again.to_floor([10.0, 150.0]), below.to_floor([10.0, 150.0]));
    }

    #[test]
    fn pixel_area_of_a_pure_scale_map() {
        let h = Homography::from_rows([[2.0, 0.0, 5.0], [0.0, 2.0, -3.0], [0.0, 0.0, 1.0]]).expect("valid");
        let area = h.pixel_area_mm2([123.0, 45.0]).expect("area");
        assert!((area - 4.0).abs() < 1e-12, "{area}");
    }

    #[test]
    fn pixel_area_matches_finite_differences() {
        let h = perspective();
        for &p in &[[10.0, 10.0], [320.0, 240.0], [600.0, 450.0]] {
            let e = 1e-3;
            let f = |x: f64, y: f64| h.to_floor([x, y]).expect("floor");
            let (fx0, fx1, fy0, fy1) = (f(p[0] - e, p[1]), f(p[0] + e, p[1]), f(p[0], p[1] - e), f(p[0], p[1] + e));
            let dx = [(fx1[0] - fx0[0]) / (2.0 * e), (fx1[1] - fx0[1]) / (2.0 * e)];
            let dy = [(fy1[0] - fy0[0]) / (2.0 * e), (fy1[1] - fy0[1]) / (2.0 * e)];
            let numeric = (dx[0] * dy[1] - dx[1] * dy[0]).abs();
            let area = h.pixel_area_mm2(p).expect("area");
            assert!((area - numeric).abs() < 1e-5 * numeric, "{area} vs {numeric}");
        }
        // Perspective: farther floor (smaller w) covers more mm² per pixel.
        assert!(h.pixel_area_mm2([600.0, 450.0]).expect("a") != h.pixel_area_mm2([10.0, 10.0]).expect("a"));
    }

    #[test]
    fn scaled_image_is_consistent() {
        let h = perspective();
        let q = h.scaled_image(0.25);
        for &p in &[[0.5, 0.5], [320.0, 240.0], [639.5, 479.5]] {
            let a = h.to_floor(p).expect("floor");
            let b = q.to_floor([p[0] * 0.25, p[1] * 0.25]).expect("floor");
            assert!((a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9, "{a:?} vs {b:?}");
            let area = h.pixel_area_mm2(p).expect("area");
            let area_q = q.pixel_area_mm2([p[0] * 0.25, p[1] * 0.25]).expect("area");
            assert!((area_q - 16.0 * area).abs() < 1e-9 * area_q);
        }
        let back = q.to_pixel(h.to_floor([100.0, 80.0]).expect("floor")).expect("pixel");
        assert!((back[0] - 25.0).abs() < 1e-9 && (back[1] - 20.0).abs() < 1e-9);
        assert_eq!(h.scaled_image(f64::NAN), h);
        assert_eq!(h.scaled_image(-1.0), h);
    }

    #[test]
    fn rejects_bad_point_sets() {
        let ok = [([0.0, 0.0], [0.0, 0.0]), ([100.0, 0.0], [1.0, 0.0]), ([100.0, 100.0], [1.0, 1.0]), ([0.0, 100.0], [0.0, 1.0])];
        assert!(Homography::fit(&ok).is_ok());
        assert!(matches!(Homography::fit(&ok[..3]), Err(HomographyError::TooFewPairs { got: 3 })));
        assert!(matches!(Homography::fit(&[]), Err(HomographyError::TooFewPairs { got: 0 })));

        let mut dup = ok;
        dup[3].0 = dup[1].0;
        assert!(matches!(Homography::fit(&dup), Err(HomographyError::Duplicate { first: 1, second: 3, space: "pixel" })));
        let mut dup_mm = ok;
        dup_mm[2].1 = dup_mm[0].1;
        assert!(matches!(Homography::fit(&dup_mm), Err(HomographyError::Duplicate { space: "floor", .. })));

        let line: Vec<_> = (0..6).map(|k| ([k as f64 * 10.0, k as f64 * 5.0], [k as f64, (k * k) as f64])).collect();
        assert!(matches!(Homography::fit(&line), Err(HomographyError::Collinear { space: "pixel" })));
        // Three of four in a line leave the map undetermined too.
        let mut three = ok;
        three[3].1 = [0.5, 0.5];
        assert!(matches!(Homography::fit(&three), Err(HomographyError::Collinear { space: "floor" })));

        let mut nan = ok;
        nan[2].1[0] = f64::NAN;
        assert!(matches!(Homography::fit(&nan), Err(HomographyError::NonFinitePair { index: 2 })));
        let mut inf = ok;
        inf[0].0[1] = f64::INFINITY;
        assert!(matches!(Homography::fit(&inf), Err(HomographyError::NonFinitePair { index: 0 })));
    }

    #[test]
    fn rejects_pairs_on_both_sides_of_the_horizon() {
        // Pixel y = 100 is the horizon of this map: fit points taken from both sides.
        let h = Homography::from_rows([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -0.01, 1.0]]).expect("valid");
        let pts = [[0.0, 0.0], [50.0, 20.0], [10.0, 60.0], [90.0, 80.0], [80.0, 150.0], [30.0, 190.0]];
        let pairs: Vec<_> = pts
            .iter()
            .map(|&p| {
                let w = 1.0 - p[1] / 100.0;
                (p, [p[0] / w, p[1] / w])
            })
            .collect();
        assert!(matches!(Homography::fit(&pairs), Err(HomographyError::PairsAcrossHorizon)));
        let front = Homography::fit(&pairs[..4]).expect("all in front");
        let (a, b) = (front.to_floor([40.0, 40.0]).expect("floor"), h.to_floor([40.0, 40.0]).expect("floor"));
        assert!((a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9);
    }

    #[test]
    fn rejects_singular_and_non_finite_matrices() {
        assert!(matches!(Homography::from_rows([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]]), Err(HomographyError::Singular)));
        assert!(matches!(Homography::from_rows([[0.0; 3]; 3]), Err(HomographyError::Singular)));
        assert!(matches!(Homography::from_rows([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0 + 1e-13], [0.0, 0.0, 1.0]]), Err(HomographyError::Singular)));
        assert!(matches!(Homography::from_rows([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, f64::NAN]]), Err(HomographyError::NonFiniteMatrix)));
        // Huge or tiny but regular matrices are fine: only the ratios matter.
        assert!(Homography::from_rows([[1e308, 0.0, 0.0], [0.0, 1e308, 0.0], [0.0, 0.0, 1e308]]).is_ok());
        assert!(Homography::from_rows([[1e-200, 0.0, 0.0], [0.0, 1e-200, 0.0], [0.0, 0.0, 1e-200]]).is_ok());
        let msg = HomographyError::Collinear { space: "pixel" }.to_string();
        assert!(msg.contains("collinear") && msg.contains("spread"), "{msg}");
    }
}
