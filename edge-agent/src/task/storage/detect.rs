//! Containers in a storage camera's frame. No model knows hazardous-waste
//! drums, and a storage room is a fixed, calibrated scene, so this is change
//! detection against the reference picture of the empty storage spot: what
//! differs (beyond the lighting) inside the storage zones is a container
//! group, sized by the floor homography; QR codes in it identify containers
//! (the intake decoder); label-orange patches in it are HJ 1276 labels.

use super::inventory::{Blob, IdSighting};
use crate::calibration::{Calibration, Homography, ZoneKind};
use crate::label::idcode::IdCodeLayout;
use crate::label::qr::{self, QrFormat};
use geo::Contains;
use image::{GrayImage, Luma, RgbImage};
use imageproc::region_labelling::{Connectivity, connected_components};
use serde::{Deserialize, Serialize};

/// How the camera sees the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// From above: lids, codes and labels on the lids.
    #[default]
    Top,
    /// From the side (a wall camera): bodies, codes and labels on the bodies.
    Side,
}

#[derive(Debug, Clone, Copy)]
pub struct DetectSettings {
    pub view: View,
    /// Width the change detection runs at.
    pub analysis_width: u32,
    /// The usual container's diameter (a 200 L drum: 585 mm).
    pub container_diameter_mm: f64,
    /// Luminance change beyond the lighting that marks a container (log units).
    pub luma_change: f32,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self { view: View::Top, analysis_width: 640, container_diameter_mm: 585.0, luma_change: 0.2 }
    }
}

struct ZoneShape {
    name: String,
    polygon: geo::Polygon<f64>,
}

pub struct ContainerDetector {
    settings: DetectSettings,
    homography: Homography,
    /// Analysis size and its scale from frame pixels.
    size: (u32, u32),
    scale: f64,
    ref_log: Vec<f32>,
    ref_chroma: Vec<[f32; 2]>,
    /// Analysis pixels inside a storage zone (grown a little) and outside fixed safety items.
    roi: Vec<bool>,
    zones: Vec<ZoneShape>,
    layout: IdCodeLayout,
}

/// What one frame showed, with the figures the report and benchmark want.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detection {
    pub blobs: Vec<Blob>,
    /// Lighting relative to the reference (median gain).
    pub light_gain: f32,
    /// Codes read that were not 数字识别码 (wrong format), for the log.
    pub unreadable_codes: Vec<String>,
    pub qr_ms: f64,
    pub total_ms: f64,
}

fn log_luma(p: [u8; 3]) -> f32 {
    (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32 + 4.0).ln()
}

fn chroma(p: [u8; 3]) -> [f32; 2] {
    let sum = p[0] as f32 + p[1] as f32 + p[2] as f32 + 12.0;
    [(p[0] as f32 + 4.0) / sum, (p[1] as f32 + 4.0) / sum]
}

impl ContainerDetector {
    pub fn new(calibration: &Calibration, reference: &RgbImage, settings: DetectSettings) -> Result<Self, String> {
        let homography = calibration.homography.ok_or_else(|| {
            format!("{} has no homography, so container sizes and distances cannot be measured: run `edge-agent calibrate` with a chessboard or four points", calibration.path.display())
        })?;
        calibration.check_frame_size(reference.width(), reference.height())?;
        let zones: Vec<ZoneShape> = calibration
            .file
            .zones
            .iter()
            .filter(|z| z.kind == ZoneKind::Storage)
            .map(|z| ZoneShape { name: z.name.clone(), polygon: crate::calibration::to_geo(&z.polygon) })
            .collect();
        if zones.is_empty() {
            return Err(format!("{} marks no storage zone: add a [[zone]] with kind = \"storage\" (and the categories it may hold in `allow`)", calibration.path.display()));
        }
        let (w, h) = reference.dimensions();
        let aw = settings.analysis_width.clamp(160, w.max(160)).min(w);
        let scale = f64::from(aw) / f64::from(w);
        let ah = ((f64::from(h) * scale).round() as u32).max(1);
        let small = image::imageops::thumbnail(reference, aw, ah);
        let ref_log = small.pixels().map(|p| log_luma(p.0)).collect();
        let ref_chroma = small.pixels().map(|p| chroma(p.0)).collect();
        // Containers are looked for in the storage zones, grown by a container's
        // height (a side view sees bodies above the floor zone), never over the
        // fixed safety items (watched apart).
        let items: Vec<geo::Polygon<f64>> = calibration
            .file
            .zones
            .iter()
            .filter(|z| matches!(z.kind, ZoneKind::Extinguisher | ZoneKind::Sign))
            .map(|z| crate::calibration::to_geo(&z.polygon))
            .collect();
        let grow_px = match settings.view {
            View::Top => 0.15 * settings.container_diameter_mm,
            View::Side => 2.0 * settings.container_diameter_mm,
        } / mm_per_px(&homography, [f64::from(w) / 2.0, f64::from(h) / 2.0]).max(0.1);
        let bounds: Vec<[f64; 4]> = zones.iter().map(|z| bounds_of(&z.polygon)).collect();
        let mut roi = vec![false; (aw * ah) as usize];
        for y in 0..ah {
            for x in 0..aw {
                let p = geo::Point::new((f64::from(x) + 0.5) / scale, (f64::from(y) + 0.5) / scale);
                let near = zones.iter().zip(&bounds).any(|(z, b)| {
                    let grown_y0 = if settings.view == View::Side { b[1] - grow_px } else { b[1] - grow_px.min(b[3] * 0.5) };
                    z.polygon.contains(&p) || (p.x() >= b[0] - grow_px * 0.3 && p.x() <= b[0] + b[2] + grow_px * 0.3 && p.y() >= grown_y0 && p.y() <= b[1] + b[3] + grow_px * 0.3)
                });
                roi[(y * aw + x) as usize] = near && !items.iter().any(|i| i.contains(&p));
            }
        }
        Ok(Self { settings, homography, size: (aw, ah), scale, ref_log, ref_chroma, roi, zones, layout: IdCodeLayout::default() })
    }

    /// The storage zone a floor point (frame pixels) lies in.
    pub fn zone_at(&self, px: [f64; 2]) -> Option<String> {
        let p = geo::Point::new(px[0], px[1]);
        self.zones.iter().find(|z| z.polygon.contains(&p)).map(|z| z.name.clone())
    }

    pub fn zone_names(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.name.clone()).collect()
    }

    pub fn container_diameter_mm(&self) -> f64 {
        self.settings.container_diameter_mm
    }

    /// Floor millimetres per frame pixel at a pixel.
    pub fn mm_per_px(&self, px: [f64; 2]) -> f64 {
        mm_per_px(&self.homography, px)
    }

    pub fn to_mm(&self, px: [f64; 2]) -> Option<[f64; 2]> {
        self.homography.to_floor(px)
    }

    pub fn detect(&self, frame: &RgbImage) -> Detection {
        let started = std::time::Instant::now();
        let (aw, ah) = self.size;
        let small = image::imageops::thumbnail(frame, aw, ah);
        let (diff, gain) = self.lighting_corrected_change(&small);
        let t = self.settings.luma_change;
        let mask = GrayImage::from_fn(aw, ah, |x, y| {
            let i = (y * aw + x) as usize;
            if !self.roi[i] {
                return Luma([0]);
            }
            let c = chroma(small.get_pixel(x, y).0);
            let r = self.ref_chroma[i];
            let chroma_change = (c[0] - r[0]).abs() + (c[1] - r[1]).abs();
            Luma([if diff[i].abs() > t || chroma_change > 0.06 { 255 } else { 0 }])
        });
        // Speckle (noise, a dust mark) goes, gaps inside a container (a
        // label the colour of the floor) close.
        let mask = imageproc::morphology::open(&mask, imageproc::distance_transform::Norm::LInf, 1);
        let mask = imageproc::morphology::close(&mask, imageproc::distance_transform::Norm::LInf, 2);
        // A drum the colour of the floor shows only its rim, label and code:
        // what a ring encloses is part of it.
        let mask = fill_holes(&mask);
        let labels = connected_components(&mask, Connectivity::Eight, Luma([0u8]));
        let mut stats: std::collections::BTreeMap<u32, Component> = std::collections::BTreeMap::new();
        for (x, y, l) in labels.enumerate_pixels() {
            if l.0[0] != 0 {
                stats.entry(l.0[0]).or_insert_with(|| Component::new(x, y)).add(x, y);
            }
        }
        let mut detection = Detection { light_gain: gain, ..Default::default() };
        let footprint = std::f64::consts::PI * (self.settings.container_diameter_mm / 2.0).powi(2);
        for c in stats.values() {
            let inv = 1.0 / self.scale;
            let bbox = [f64::from(c.x0) * inv, f64::from(c.y0) * inv, f64::from(c.x1 - c.x0 + 1) * inv, f64::from(c.y1 - c.y0 + 1) * inv];
            let centroid = [(c.sx / c.n as f64 + 0.5) * inv, (c.sy / c.n as f64 + 0.5) * inv];
            let base = match self.settings.view {
                View::Top => centroid,
                View::Side => [centroid[0], bbox[1] + bbox[3] - 0.25 * self.settings.container_diameter_mm / mm_per_px(&self.homography, centroid).max(0.1)],
            };
            let estimated = match self.settings.view {
                View::Top => {
                    let area = c.n as f64 * inv * inv * self.homography.pixel_area_mm2(centroid).unwrap_or(0.0);
                    area / footprint
                }
                View::Side => {
                    let width = bbox[2] * mm_per_px(&self.homography, base);
                    width / self.settings.container_diameter_mm
                }
            };
            // Smaller than half a container: not one (a bag, a person from above, a shadow).
            if estimated < 0.5 {
                continue;
            }
            let labels = self.count_labels(&small, c);
            let qr_started = std::time::Instant::now();
            let ids = self.read_codes(frame, bbox, &mut detection.unreadable_codes);
            detection.qr_ms += qr_started.elapsed().as_secs_f64() * 1000.0;
            let estimated = (estimated.round() as usize).max(1).max(ids.len());
            detection.blobs.push(Blob { bbox_px: bbox, base_px: base, zone: self.zone_at(base), estimated, labels, ids });
        }
        detection.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        detection
    }

    /// Log-luminance change per analysis pixel after removing the lighting
    /// (a plane in log-gain fitted to the pixels that did not change), and the median gain.
    fn lighting_corrected_change(&self, small: &RgbImage) -> (Vec<f32>, f32) {
        let (aw, ah) = self.size;
        let d: Vec<f32> = small.pixels().zip(&self.ref_log).map(|(p, r)| log_luma(p.0) - r).collect();
        let mut sample: Vec<(f32, f32, f32)> = Vec::new();
        for y in (0..ah).step_by(2) {
            for x in (0..aw).step_by(2) {
                sample.push((x as f32 / aw as f32 - 0.5, y as f32 / ah as f32 - 0.5, d[(y * aw + x) as usize]));
            }
        }
        let mut values: Vec<f32> = sample.iter().map(|s| s.2).collect();
        values.sort_by(f32::total_cmp);
        let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
        let mut plane = [median, 0.0, 0.0];
        for band in [0.15f32, 0.1] {
            let inliers: Vec<&(f32, f32, f32)> = sample.iter().filter(|s| (s.2 - (plane[0] + plane[1] * s.0 + plane[2] * s.1)).abs() < band).collect();
            if inliers.len() < 50 {
                break;
            }
            let mut a = nalgebra::Matrix3::<f64>::zeros();
            let mut b = nalgebra::Vector3::<f64>::zeros();
            for s in inliers {
                let v = nalgebra::Vector3::new(1.0, f64::from(s.0), f64::from(s.1));
                a += v * v.transpose();
                b += v * f64::from(s.2);
            }
            if let Some(x) = a.lu().solve(&b) {
                plane = [x[0] as f32, x[1] as f32, x[2] as f32];
            }
        }
        let out = d
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (x, y) = ((i as u32 % aw) as f32 / aw as f32 - 0.5, (i as u32 / aw) as f32 / ah as f32 - 0.5);
                v - (plane[0] + plane[1] * x + plane[2] * y)
            })
            .collect();
        (out, plane[0].exp())
    }

    /// Label-orange patches of at least a third of a 100 mm label inside a group.
    fn count_labels(&self, small: &RgbImage, c: &Component) -> usize {
        let (x0, y0) = (c.x0, c.y0);
        let (w, h) = (c.x1 - c.x0 + 1, c.y1 - c.y0 + 1);
        let mask = GrayImage::from_fn(w, h, |x, y| {
            let p = small.get_pixel(x0 + x, y0 + y).0;
            Luma([if crate::label::locate::is_label_orange(p[0], p[1], p[2]) { 255 } else { 0 }])
        });
        let centre = [(f64::from(x0) + f64::from(w) / 2.0) / self.scale, (f64::from(y0) + f64::from(h) / 2.0) / self.scale];
        let px_mm = mm_per_px(&self.homography, centre) / self.scale;
        let min_px = (100.0 * 100.0 / 3.0) / (px_mm * px_mm);
        let labels = connected_components(&mask, Connectivity::Eight, Luma([0u8]));
        let mut sizes: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
        for l in labels.pixels().filter(|l| l.0[0] != 0) {
            *sizes.entry(l.0[0]).or_default() += 1;
        }
        sizes.values().filter(|n| **n as f64 >= min_px).count()
    }

    /// QR codes in a group's region of the full frame.
    fn read_codes(&self, frame: &RgbImage, bbox: [f64; 4], unreadable: &mut Vec<String>) -> Vec<IdSighting> {
        let (fw, fh) = frame.dimensions();
        let margin = 0.08 * bbox[2].max(bbox[3]);
        let x0 = (bbox[0] - margin).max(0.0) as u32;
        let y0 = (bbox[1] - margin).max(0.0) as u32;
        let x1 = ((bbox[0] + bbox[2] + margin) as u32).min(fw);
        let y1 = ((bbox[1] + bbox[3] + margin) as u32).min(fh);
        if x1 <= x0 + 8 || y1 <= y0 + 8 {
            return Vec::new();
        }
        let crop = image::imageops::crop_imm(frame, x0, y0, x1 - x0, y1 - y0).to_image();
        let luma = image::DynamicImage::ImageRgb8(crop).to_luma8();
        let mut found = qr::decode_all(&luma);
        // Several codes in a large group can defeat the whole-crop search:
        // then windows of about three code widths each are read one by one.
        let window = (3.0 * 150.0 / self.mm_per_px([bbox[0] + bbox[2] / 2.0, bbox[1] + bbox[3] / 2.0]).max(0.1)) as u32;
        let (cw, ch) = luma.dimensions();
        if found.len() < 2 && (cw > window * 3 / 2 || ch > window * 3 / 2) && window >= 32 {
            let step = (window / 2).max(16);
            let mut y = 0;
            while y < ch {
                let mut x = 0;
                while x < cw {
                    let (w, h) = (window.min(cw - x), window.min(ch - y));
                    let tile = image::imageops::crop_imm(&luma, x, y, w, h).to_image();
                    if let Some((text, corners)) = qr::decode(&tile)
                        && !found.iter().any(|(t, _)| *t == text)
                    {
                        found.push((text, corners.iter().map(|c| [c[0] + x as f32, c[1] + y as f32]).collect()));
                    }
                    x += step;
                }
                y += step;
            }
        }
        let mut out = Vec::new();
        for (text, corners) in found {
            let n = corners.len().max(1) as f64;
            let cx = corners.iter().map(|c| f64::from(c[0])).sum::<f64>() / n + f64::from(x0);
            let cy = corners.iter().map(|c| f64::from(c[1])).sum::<f64>() / n + f64::from(y0);
            let payload = match qr::interpret(&text, &QrFormat::Auto, corners) {
                Ok(p) => p,
                Err(e) => {
                    unreadable.push(e);
                    continue;
                }
            };
            let Some(id_code) = payload.id_code else { continue };
            let waste_code = self.layout.split(&id_code).ok().map(|s| s.waste_code);
            let at_px = match self.settings.view {
                View::Top => [cx, cy],
                // The code is on the body: the container stands below it.
                View::Side => [cx, bbox[1] + bbox[3] - 0.25 * self.settings.container_diameter_mm / mm_per_px(&self.homography, [cx, bbox[1] + bbox[3]]).max(0.1)],
            };
            if out.iter().any(|s: &IdSighting| s.id_code == id_code) {
                continue;
            }
            out.push(IdSighting { at_mm: self.homography.to_floor(at_px), zone: self.zone_at(at_px), id_code, waste_code, at_px });
        }
        out
    }
}

/// Sets every background region that does not reach the picture's edge.
fn fill_holes(mask: &GrayImage) -> GrayImage {
    let (w, h) = mask.dimensions();
    let inverted = GrayImage::from_fn(w, h, |x, y| Luma([255 - mask.get_pixel(x, y).0[0]]));
    let regions = connected_components(&inverted, Connectivity::Four, Luma([0u8]));
    let mut outside = std::collections::HashSet::new();
    for x in 0..w {
        outside.insert(regions.get_pixel(x, 0).0[0]);
        outside.insert(regions.get_pixel(x, h - 1).0[0]);
    }
    for y in 0..h {
        outside.insert(regions.get_pixel(0, y).0[0]);
        outside.insert(regions.get_pixel(w - 1, y).0[0]);
    }
    GrayImage::from_fn(w, h, |x, y| {
        let r = regions.get_pixel(x, y).0[0];
        Luma([if mask.get_pixel(x, y).0[0] > 0 || (r != 0 && !outside.contains(&r)) { 255 } else { 0 }])
    })
}

struct Component {
    n: usize,
    sx: f64,
    sy: f64,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Component {
    fn new(x: u32, y: u32) -> Self {
        Self { n: 0, sx: 0.0, sy: 0.0, x0: x, y0: y, x1: x, y1: y }
    }

    fn add(&mut self, x: u32, y: u32) {
        self.n += 1;
        self.sx += f64::from(x);
        self.sy += f64::from(y);
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x);
        self.y1 = self.y1.max(y);
    }
}

/// Floor millimetres per pixel at a pixel (square root of its area).
fn mm_per_px(h: &Homography, px: [f64; 2]) -> f64 {
    h.pixel_area_mm2(px).unwrap_or(1.0).sqrt()
}

fn bounds_of(p: &geo::Polygon<f64>) -> [f64; 4] {
    let xs = p.exterior().points().map(|q| q.x());
    let ys = p.exterior().points().map(|q| q.y());
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    [x0, y0, x1 - x0, y1 - y0]
}
