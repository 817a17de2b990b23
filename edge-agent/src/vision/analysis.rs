//! Small analysis copies of frames for change detection: a frame is scaled to
//! a fixed width (a 1080p frame to 480x270 by default) once, and every
//! per-pixel measure is taken on that copy. Averaging 4x4 pixels also cuts
//! camera noise and JPEG blocking by about four.

use super::preprocess::resize_region;
use image::RgbImage;

/// A frame scaled down for analysis, with its log-luminance.
#[derive(Debug, Clone)]
pub struct AnalysisFrame {
    pub width: u32,
    pub height: u32,
    /// Full-resolution pixels per analysis pixel.
    pub scale: f64,
    pub rgb: Vec<[u8; 3]>,
    /// ln(1 + luminance): a change of lighting is an offset here, not a factor.
    pub log_lum: Vec<f32>,
}

impl AnalysisFrame {
    /// Scales `frame` to `width` pixels wide (never up).
    pub fn new(frame: &RgbImage, width: u32) -> Result<Self, String> {
        let (fw, fh) = frame.dimensions();
        if fw == 0 || fh == 0 {
            return Err(format!("an empty {fw}x{fh} frame"));
        }
        let width = width.clamp(1, fw);
        let scale = f64::from(fw) / f64::from(width);
        let height = ((f64::from(fh) / scale).round() as u32).max(1);
        let raw = resize_region(frame, (0.0, 0.0, f64::from(fw), f64::from(fh)), (width, height)).map_err(|e| e.to_string())?;
        let rgb: Vec<[u8; 3]> = raw.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        let log_lum = rgb.iter().map(|p| log_luminance(*p)).collect();
        Ok(Self { width, height, scale, rgb, log_lum })
    }

    pub fn len(&self) -> usize {
        self.rgb.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rgb.is_empty()
    }

    /// Full-resolution position of an analysis pixel's centre.
    pub fn to_full(&self, x: f64, y: f64) -> [f64; 2] {
        [(x + 0.5) * self.scale, (y + 0.5) * self.scale]
    }

    /// Magnitude of the log-luminance gradient (central differences): the
    /// texture of the scene, unchanged by a shadow or a dimmer light.
    pub fn log_gradient(&self) -> Vec<f32> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut out = vec![0f32; w * h];
        if w < 3 || h < 3 {
            return out;
        }
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                let gx = self.log_lum[i + 1] - self.log_lum[i - 1];
                let gy = self.log_lum[i + w] - self.log_lum[i - w];
                out[i] = 0.5 * (gx * gx + gy * gy).sqrt();
            }
        }
        out
    }

    pub fn gray(&self) -> image::GrayImage {
        let bytes = self.rgb.iter().map(|p| luminance(*p).round().clamp(0.0, 255.0) as u8).collect();
        image::GrayImage::from_raw(self.width, self.height, bytes).unwrap_or_else(|| image::GrayImage::new(self.width, self.height))
    }
}

pub fn luminance([r, g, b]: [u8; 3]) -> f32 {
    0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)
}

pub fn log_luminance(p: [u8; 3]) -> f32 {
    (1.0 + luminance(p)).ln()
}

/// Normalised red and green (r / sum, g / sum): colour without brightness,
/// which a shadow or a dimmer keeps.
pub fn chromaticity([r, g, b]: [u8; 3]) -> [f32; 2] {
    let sum = f32::from(r) + f32::from(g) + f32::from(b) + 3.0;
    [(f32::from(r) + 1.0) / sum, (f32::from(g) + 1.0) / sum]
}

/// Which analysis pixels lie inside `polygon` (given in full-resolution pixels).
pub fn rasterize(polygon: &[[f64; 2]], width: u32, height: u32, scale: f64) -> Vec<bool> {
    use geo::Contains;
    let poly = crate::calibration::to_geo(&polygon.iter().map(|[x, y]| [x / scale, y / scale]).collect::<Vec<_>>());
    let mut out = vec![false; (width * height) as usize];
    let bounds = polygon.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, [x, y]| {
        [b[0].min(x / scale), b[1].min(y / scale), b[2].max(x / scale), b[3].max(y / scale)]
    });
    let (x0, y0) = (bounds[0].floor().max(0.0) as u32, bounds[1].floor().max(0.0) as u32);
    let (x1, y1) = ((bounds[2].ceil() as u32).min(width), (bounds[3].ceil() as u32).min(height));
    for y in y0..y1 {
        for x in x0..x1 {
            if poly.contains(&geo::Point::new(f64::from(x) + 0.5, f64::from(y) + 0.5)) {
                out[(y * width + x) as usize] = true;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1080p_frame_becomes_480x270_with_its_mean_kept() {
        let frame = RgbImage::from_fn(1920, 1080, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let a = AnalysisFrame::new(&frame, 480).unwrap();
        assert_eq!((a.width, a.height, a.scale), (480, 270, 4.0));
        let mean = |v: &mut dyn Iterator<Item = f64>, n: f64| v.sum::<f64>() / n;
        let full = mean(&mut frame.pixels().map(|p| f64::from(p[2])), 1920.0 * 1080.0);
        let small = mean(&mut a.rgb.iter().map(|p| f64::from(p[2])), a.len() as f64);
        assert!((full - small).abs() < 1.0);
        assert_eq!(a.to_full(0.0, 0.0), [2.0, 2.0]);
        assert!(AnalysisFrame::new(&RgbImage::new(0, 0), 480).is_err());
    }

    #[test]
    fn a_shadow_keeps_chromaticity_and_the_log_gradient() {
        let lit = RgbImage::from_fn(64, 64, |x, _| image::Rgb([100 + ((x / 2) % 2 * 60) as u8, 120, 80]));
        let shaded = RgbImage::from_fn(64, 64, |x, y| {
            let p = lit.get_pixel(x, y).0;
            image::Rgb(p.map(|c| (f32::from(c) * 0.5) as u8))
        });
        let (a, b) = (AnalysisFrame::new(&lit, 64).unwrap(), AnalysisFrame::new(&shaded, 64).unwrap());
        let i = 32 * 64 + 32;
        let (ca, cb) = (chromaticity(a.rgb[i]), chromaticity(b.rgb[i]));
        assert!((ca[0] - cb[0]).abs() < 0.01 && (ca[1] - cb[1]).abs() < 0.01);
        let (ga, gb) = (a.log_gradient()[i], b.log_gradient()[i]);
        assert!(ga > 0.05 && (ga - gb).abs() / ga < 0.1, "{ga} vs {gb}");
    }

    #[test]
    fn polygons_are_rasterized_at_the_analysis_scale() {
        let mask = rasterize(&[[0.0, 0.0], [40.0, 0.0], [40.0, 40.0], [0.0, 40.0]], 20, 20, 4.0);
        assert_eq!(mask.iter().filter(|m| **m).count(), 100);
        assert!(mask[0] && !mask[10]);
    }
}
