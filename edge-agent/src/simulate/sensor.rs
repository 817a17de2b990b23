//! The camera's last steps: exposure (room light level and colour, lamp outages),
//! lens vignetting, sensor noise, 8-bit quantisation and optional JPEG.

use fastrand::Rng;
use image::RgbImage;

use super::camera::Camera;
use super::util::uniform;

/// Scene-wide lighting at one time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Exposure {
    /// Per-channel gain: light switches and colour temperature.
    pub gain: [f32; 3],
    /// Lamps off: floor point under the lamp (mm), height² (mm²) and light lost under it.
    pub lamps_off: Vec<([f64; 2], f64, f64)>,
}

impl Default for Exposure {
    fn default() -> Exposure {
        Exposure { gain: [1.0; 3], lamps_off: Vec::new() }
    }
}

/// Size of the Gaussian quantile table (indexed by random bits); small enough to stay
/// in L1, fine enough (tails at +-3.5 sigma) for sensor noise.
const TABLE: usize = 1 << 12;

/// The camera's noise, vignetting and compression.
pub(crate) struct Sensor {
    /// Noise standard deviation in 8-bit levels.
    pub sigma: f32,
    /// Gaussian quantiles scaled by sigma: fast exact-shape noise from random bits.
    table: Vec<f32>,
    vignette: f32,
    pub jpeg: Option<u8>,
}

impl Sensor {
    pub(crate) fn new(rng: &mut Rng, jpeg: Option<u8>) -> Sensor {
        let sigma = uniform(rng, 1.0, 4.0) as f32;
        let table = (0..TABLE).map(|i| (inverse_normal((i as f64 + 0.5) / TABLE as f64) as f32) * sigma).collect();
        Sensor { sigma, table, vignette: uniform(rng, 0.08, 0.2) as f32, jpeg: jpeg.map(|q| q.clamp(1, 100)) }
    }

    /// Turns a linear-in-levels frame buffer into an 8-bit frame. `noise_seed` `None`
    /// gives the noise-free (and JPEG-free) image.
    pub(crate) fn develop(
        &self,
        cam: &Camera,
        xs: &[f32],
        ys: &[f32],
        src: &[[f32; 3]],
        exp: &Exposure,
        noise_seed: Option<u64>,
    ) -> RgbImage {
        let (w, h) = (cam.w as usize, cam.h as usize);
        let mut rng = noise_seed.map(Rng::with_seed);
        let mut raw = vec![0u8; w * h * 3];
        let (hw, hh) = (w as f32 / 2.0, h as f32 / 2.0);
        let vig = self.vignette / (hw * hw + hh * hh).max(1e-6);
        let gain = exp.gain;
        let mask = TABLE as u64 - 1;
        for j in 0..h {
            let dy = j as f32 + 0.5 - hh;
            let row = j * w;
            let out = &mut raw[row * 3..(row + w) * 3];
            for (i, (c, o)) in src[row..row + w].iter().zip(out.chunks_exact_mut(3)).enumerate() {
                let dx = i as f32 + 0.5 - hw;
                let mut k = 1.0 - vig * (dx * dx + dy * dy);
                for &(p, h2, depth) in &exp.lamps_off {
                    let (ex, ey) = (xs[row + i] as f64 - p[0], ys[row + i] as f64 - p[1]);
                    let s = h2 / (h2 + ex * ex + ey * ey);
                    k *= (1.0 - depth * s * s.sqrt()) as f32;
                }
                let n = match rng.as_mut() {
                    Some(r) => {
                        let bits = r.u64(..);
                        [
                            self.table[(bits & mask) as usize],
                            self.table[((bits >> 16) & mask) as usize],
                            self.table[((bits >> 32) & mask) as usize],
                        ]
                    }
                    None => [0.0; 3],
                };
                // Float-to-int casts saturate: this rounds and clamps to 0-255.
                o[0] = (c[0] * k * gain[0] + n[0] + 0.5) as u8;
                o[1] = (c[1] * k * gain[1] + n[1] + 0.5) as u8;
                o[2] = (c[2] * k * gain[2] + n[2] + 0.5) as u8;
            }
        }
        let img = RgbImage::from_raw(cam.w, cam.h, raw).unwrap_or_else(|| RgbImage::new(cam.w, cam.h));
        match (self.jpeg, noise_seed) {
            (Some(q), Some(_)) => jpeg_round_trip(img, q),
            _ => img,
        }
    }
}

/// Encodes and decodes a frame as JPEG; on any codec error the frame passes unchanged.
fn jpeg_round_trip(img: RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality);
    if img.write_with_encoder(enc).is_err() {
        return img;
    }
    match image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg) {
        Ok(d) => d.to_rgb8(),
        Err(_) => img,
    }
}

/// The standard normal quantile (Acklam's rational approximation, ~1e-9 relative).
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_table_is_gaussian_with_sigma() {
        let s = Sensor::new(&mut Rng::with_seed(2), None);
        let n = s.table.len() as f64;
        let mean = s.table.iter().map(|v| *v as f64).sum::<f64>() / n;
        let sd = (s.table.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 1e-3 && (sd / s.sigma as f64 - 1.0).abs() < 0.01, "{mean} {sd} {}", s.sigma);
        assert!((1.0..=4.0).contains(&s.sigma));
        assert!((inverse_normal(0.975) - 1.959964).abs() < 1e-5);
    }
}
