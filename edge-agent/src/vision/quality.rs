//! Picture-quality and view measures against a camera's reference picture:
//! is the lens sharp, is there glare, is it covered, is the picture frozen,
//! has the camera been turned. All on analysis copies, lighting-invariant
//! where it matters (log-luminance), so a light switched is not a fault.

use super::analysis::AnalysisFrame;

/// What one frame measures.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Quality {
    /// Mean |Laplacian| of log-luminance: fine detail, lost by a dirty, fogged or defocused lens.
    pub sharpness: f32,
    /// Share of clipped (near-white) pixels.
    pub clipped: f32,
    /// Mean and spread of luminance (0-255): a covered lens is dark or featureless.
    pub mean_luma: f32,
    pub luma_spread: f32,
}

pub fn measure(a: &AnalysisFrame) -> Quality {
    let (w, h) = (a.width as usize, a.height as usize);
    let mut lap = 0f64;
    let mut count = 0usize;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let i = y * w + x;
            let l = &a.log_lum;
            lap += f64::from((4.0 * l[i] - l[i - 1] - l[i + 1] - l[i - w] - l[i + w]).abs());
            count += 1;
        }
    }
    let n = a.len().max(1) as f64;
    let lumas: Vec<f64> = a.rgb.iter().map(|p| f64::from(super::analysis::luminance(*p))).collect();
    let mean = lumas.iter().sum::<f64>() / n;
    let spread = (lumas.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n).sqrt();
    let clipped = a.rgb.iter().filter(|p| p.iter().all(|c| *c >= 250)).count() as f64 / n;
    Quality { sharpness: (lap / count.max(1) as f64) as f32, clipped: clipped as f32, mean_luma: mean as f32, luma_spread: spread as f32 }
}

/// Edge map for view comparison: log-luminance gradient, zero-mean, unit-norm.
#[derive(Debug, Clone)]
pub struct EdgeMap {
    pub width: usize,
    pub height: usize,
    values: Vec<f32>,
}

impl EdgeMap {
    pub fn new(a: &AnalysisFrame) -> Self {
        let mut values = a.log_gradient();
        let n = values.len().max(1) as f32;
        let mean = values.iter().sum::<f32>() / n;
        values.iter_mut().for_each(|v| *v -= mean);
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        values.iter_mut().for_each(|v| *v /= norm);
        Self { width: a.width as usize, height: a.height as usize, values }
    }

    /// Normalised correlation with `other` shifted by (dx, dy), over the overlap.
    pub fn correlation(&self, other: &EdgeMap, dx: i32, dy: i32) -> f32 {
        if (self.width, self.height) != (other.width, other.height) {
            return 0.0;
        }
        let (w, h) = (self.width as i32, self.height as i32);
        let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
        for y in dy.max(0)..(h + dy.min(0)) {
            for x in dx.max(0)..(w + dx.min(0)) {
                let a = self.values[(y * w + x) as usize];
                let b = other.values[((y - dy) * w + (x - dx)) as usize];
                ab += a * b;
                aa += a * a;
                bb += b * b;
            }
        }
        if aa <= 0.0 || bb <= 0.0 { 0.0 } else { ab / (aa * bb).sqrt() }
    }

    /// The shift (within ±`radius` pixels) that best aligns `self` onto `other`, and its correlation.
    pub fn best_shift(&self, other: &EdgeMap, radius: i32) -> ((i32, i32), f32) {
        let mut best = ((0, 0), self.correlation(other, 0, 0));
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                if (dx, dy) == (0, 0) {
                    continue;
                }
                let c = self.correlation(other, dx, dy);
                if c > best.1 {
                    best = ((dx, dy), c);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn photo() -> RgbImage {
        // A deterministic texture with structure at several scales.
        RgbImage::from_fn(320, 180, |x, y| {
            let v = ((x as f32 * 0.21).sin() * 60.0 + (y as f32 * 0.13).cos() * 50.0 + ((x * y) % 37) as f32 + 120.0) as u8;
            image::Rgb([v, v.saturating_sub(20), v / 2])
        })
    }

    #[test]
    fn a_shifted_view_is_found_with_its_shift() {
        let base = photo();
        let shifted = RgbImage::from_fn(320, 180, |x, y| *base.get_pixel((x + 6).min(319), (y + 3).min(179)));
        let a = EdgeMap::new(&AnalysisFrame::new(&base, 320).unwrap());
        let b = EdgeMap::new(&AnalysisFrame::new(&shifted, 320).unwrap());
        assert!(a.correlation(&a, 0, 0) > 0.999);
        let ((dx, dy), c) = b.best_shift(&a, 8);
        assert_eq!((dx, dy), (-6, -3));
        assert!(c > 0.9 && b.correlation(&a, 0, 0) < c - 0.2);
    }

    #[test]
    fn blur_lowers_sharpness_and_dimming_does_not() {
        let base = photo();
        let q = measure(&AnalysisFrame::new(&base, 320).unwrap());
        let blurred = measure(&AnalysisFrame::new(&image::imageops::blur(&base, 3.0), 320).unwrap());
        let dim = RgbImage::from_fn(320, 180, |x, y| image::Rgb(base.get_pixel(x, y).0.map(|c| c / 2)));
        let dimmed = measure(&AnalysisFrame::new(&dim, 320).unwrap());
        assert!(blurred.sharpness < 0.5 * q.sharpness, "{blurred:?} vs {q:?}");
        assert!((dimmed.sharpness - q.sharpness).abs() < 0.3 * q.sharpness, "{dimmed:?} vs {q:?}");
        let covered = measure(&AnalysisFrame::new(&RgbImage::from_pixel(320, 180, image::Rgb([5, 5, 5])), 320).unwrap());
        assert!(covered.mean_luma < 10.0 && covered.luma_spread < 1.0);
    }
}
