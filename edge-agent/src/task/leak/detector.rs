//! Spill detection against the clean reference, one camera at a time.
//!
//! Per analysis pixel of the watched zones (floor, spill trays; containers
//! excluded), each frame:
//! 1. Lighting: the log-luminance difference to the reference is fitted by a
//!    plane (robustly: a spill is an outlier). Switching lights, daylight and
//!    a lamp off at one end become that plane; what is left is local change.
//! 2. Candidates: pixels clearly darker than the lighting explains, or darker
//!    with a colour shift, or glossy (bright, colourless highlights).
//! 3. Persistence and motion: a pixel counts only once it has been a
//!    candidate for `persist`. A pixel that became a candidate while
//!    something moved there (a person, a trolley, a carried container, a
//!    shadow walking in) must persist `persist_after_motion` instead: leaks
//!    appear where they are and grow slowly; objects arrive.
//! 4. Each connected region of counted pixels is an observation, scored by
//!    how liquid-like it is: it appeared in place, it smooths the floor's
//!    texture (a shadow keeps the log-gradient), it tints, it shows
//!    highlights. The tracker makes a region that arrived with motion a leak
//!    only once it spreads.
//! 5. Changes that stay and are not spills (a container moved, a parked
//!    trolley) are taken into the reference after `absorb_after`.

use crate::calibration::{Calibration, Homography, ZoneKind};
use crate::vision::analysis::{AnalysisFrame, chromaticity, rasterize};
use image::RgbImage;

/// Tunables, in seconds and cm²; see `LeakTaskConfig` for their meaning and defaults.
#[derive(Debug, Clone)]
pub struct DetectorSettings {
    pub analysis_width: u32,
    pub persist_s: f64,
    pub persist_after_motion_s: f64,
    pub absorb_after_s: f64,
    pub min_area_cm2: f64,
    /// Darkening (in log-luminance) a candidate needs: 0.15 is ~14 % darker.
    pub darkening: f32,
}

/// One spill-like region on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub area_cm2: f64,
    /// Full-resolution pixels.
    pub centroid_px: [f64; 2],
    pub centroid_mm: Option<[f64; 2]>,
    /// `[x, y, width, height]`, full-resolution pixels.
    pub bbox_px: [f64; 4],
    /// Outer contour, full-resolution pixels.
    pub outline_px: Vec<[f64; 2]>,
    /// The watched zone holding the centroid.
    pub zone: String,
    /// The nearest container zone and the floor distance to it.
    pub container: Option<(String, f64)>,
    /// 0..1: how much it looks like a liquid rather than a shadow or object.
    pub spill_score: f32,
    pub features: Features,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Features {
    /// Mean darkening beyond the lighting, in log-luminance.
    pub darkening: f32,
    /// Floor texture left (log-gradient now / in the reference): ~1 under a shadow.
    pub texture: f32,
    /// Mean colour shift (chromaticity L1).
    pub tint: f32,
    /// Share of the region's box with glossy highlights.
    pub gloss: f32,
    /// Share of the region's pixels that became candidates while something moved there.
    pub moved_in: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Frame(String),
}

struct Reference {
    log_lum: Vec<f32>,
    chroma: Vec<[f32; 2]>,
    gradient: Vec<f32>,
}

/// Per-pixel memory across frames.
struct PixelState {
    /// When the pixel became a candidate (NaN: it is not one).
    candidate_since: Vec<f32>,
    /// When it started to differ from the reference in any way (NaN: it does not).
    changed_since: Vec<f32>,
    last_motion: Vec<f32>,
    moved_in: Vec<bool>,
}

pub struct LeakDetector {
    settings: DetectorSettings,
    homography: Homography,
    width: u32,
    height: u32,
    scale: f64,
    /// Watched pixels, and the zone index each belongs to.
    watched: Vec<bool>,
    zone_of: Vec<u8>,
    zone_names: Vec<String>,
    /// Floor area of each analysis pixel, mm².
    area_mm2: Vec<f32>,
    containers: Vec<(String, geo::Polygon<f64>)>,
    reference: Reference,
    state: PixelState,
    previous: Option<Vec<f32>>,
    /// Neighbourhood for motion, in analysis pixels: about 15 cm of floor.
    motion_radius: usize,
    /// Open leaks' boxes, kept out of the reference.
    protected: Vec<[f64; 4]>,
    /// Normalised pixel coordinates for the lighting plane.
    coords: Vec<[f32; 2]>,
    frames: u64,
}

const NONE: u8 = u8::MAX;
/// Half the side of the motion neighbourhood on the floor: a person's shoulders.
const MOTION_RADIUS_MM: f64 = 150.0;
/// Floor left unwatched round a container's outline.
const CONTAINER_MARGIN_MM: f64 = 8.0;

impl LeakDetector {
    /// A detector for the zones of `calibration`, against `reference` (a clean frame at the calibration's resolution).
    pub fn new(calibration: &Calibration, reference: &RgbImage, settings: DetectorSettings) -> Result<Self, DetectorError> {
        let homography = calibration.homography.ok_or_else(|| {
            DetectorError::Setup(format!(
                "{} has no homography, so spill areas cannot be measured: run `edge-agent calibrate` with a chessboard or four measured points",
                calibration.path.display()
            ))
        })?;
        calibration.check_frame_size(reference.width(), reference.height()).map_err(DetectorError::Setup)?;
        let zones: Vec<_> = calibration.file.zones.iter().filter(|z| z.kind.watched_for_spills()).collect();
        if zones.is_empty() {
            return Err(DetectorError::Setup(format!(
                "{} has no `floor` or `spill_tray` zone to watch: add one (see calibration/README.md)",
                calibration.path.display()
            )));
        }
        let analysis = AnalysisFrame::new(reference, settings.analysis_width).map_err(DetectorError::Setup)?;
        let (w, h, scale) = (analysis.width, analysis.height, analysis.scale);
        let n = analysis.len();
        let mut zone_of = vec![NONE; n];
        for (zi, zone) in zones.iter().enumerate().take(usize::from(NONE)) {
            for (i, inside) in rasterize(&zone.polygon, w, h, scale).into_iter().enumerate() {
                if inside && zone_of[i] == NONE {
                    zone_of[i] = zi as u8;
                }
            }
        }
        // Containers themselves change (handled, opened, moved, tinted by a
        // new light): not floor, nor is a margin round them (their outline is
        // drawn by hand, and they cast contact shadows).
        let centre = [f64::from(reference.width()) / 2.0, f64::from(reference.height()) / 2.0];
        let mm_per_px = homography.pixel_area_mm2(centre).map_or(5.0, f64::sqrt) * scale;
        let margin = (CONTAINER_MARGIN_MM / mm_per_px.max(0.1)).round().clamp(1.0, 20.0) as u8;
        let mut containers = Vec::new();
        let mut covered = vec![false; n];
        for zone in calibration.file.zones.iter().filter(|z| z.kind == ZoneKind::Container) {
            for (i, inside) in rasterize(&zone.polygon, w, h, scale).into_iter().enumerate() {
                covered[i] |= inside;
            }
            let mm: Option<Vec<[f64; 2]>> = zone.polygon.iter().map(|p| homography.to_floor(*p)).collect();
            if let Some(mm) = mm {
                containers.push((zone.name.clone(), crate::calibration::to_geo(&mm)));
            }
        }
        let covered = from_mask(&imageproc::morphology::dilate(&to_mask(&covered, w, h), imageproc::distance_transform::Norm::LInf, margin));
        for (zone, covered) in zone_of.iter_mut().zip(&covered) {
            if *covered {
                *zone = NONE;
            }
        }
        let watched: Vec<bool> = zone_of.iter().map(|z| *z != NONE).collect();
        if !watched.iter().any(|w| *w) {
            return Err(DetectorError::Setup("the watched zones are covered by container zones: nothing is left to watch".into()));
        }
        let area_mm2 = (0..n)
            .map(|i| {
                let [x, y] = analysis.to_full((i % w as usize) as f64, (i / w as usize) as f64);
                homography.pixel_area_mm2([x, y]).map_or(0.0, |a| (a * scale * scale) as f32)
            })
            .collect();
        let coords = (0..n)
            .map(|i| [((i % w as usize) as f32 / w as f32) * 2.0 - 1.0, ((i / w as usize) as f32 / h as f32) * 2.0 - 1.0])
            .collect();
        let nan = vec![f32::NAN; n];
        let motion_radius = (MOTION_RADIUS_MM / mm_per_px.max(0.1)).round().clamp(3.0, 40.0) as usize;
        Ok(Self {
            settings,
            homography,
            width: w,
            height: h,
            scale,
            watched,
            zone_of,
            zone_names: zones.iter().map(|z| z.name.clone()).collect(),
            area_mm2,
            containers,
            reference: reference_of(&analysis),
            state: PixelState { candidate_since: nan.clone(), changed_since: nan, last_motion: vec![f32::NEG_INFINITY; n], moved_in: vec![false; n] },
            previous: None,
            motion_radius,
            protected: Vec::new(),
            coords,
            frames: 0,
        })
    }

    /// Forgets what it saw (after the camera was moved and put back, say).
    pub fn reset(&mut self) {
        let n = self.watched.len();
        self.state.candidate_since = vec![f32::NAN; n];
        self.state.changed_since = vec![f32::NAN; n];
        self.state.last_motion = vec![f32::NEG_INFINITY; n];
        self.state.moved_in = vec![false; n];
        self.previous = None;
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Looks at one frame taken at `t` seconds (any monotonic clock).
    pub fn observe(&mut self, frame: &RgbImage, t: f64) -> Result<Vec<Observation>, DetectorError> {
        let expected = (self.width as f64 * self.scale).round() as u32;
        if frame.width() != expected {
            return Err(DetectorError::Frame(format!("a {}x{} frame, but the detector was set up for {expected} px wide frames", frame.width(), frame.height())));
        }
        let now = AnalysisFrame::new(frame, self.width).map_err(DetectorError::Frame)?;
        if now.width != self.width || now.height != self.height {
            return Err(DetectorError::Frame(format!("a {}x{} frame does not match the reference", frame.width(), frame.height())));
        }
        self.frames += 1;
        let t = t as f32;
        let n = now.len();
        let residual = self.lighting_residual(&now);
        let tint = self.tint(&now);

        // Motion: the lighting-corrected picture changed since the last frame
        // over much of the neighbourhood. A person, a trolley or a shadow
        // changes a whole body-sized patch at once; a growing puddle only a
        // thin ring at its edge, however fast it spreads.
        // The whole frame counts: a person or trolley arrives from outside the zones.
        let mut changed_now = vec![false; n];
        if let Some(prev) = &self.previous {
            for i in 0..n {
                changed_now[i] = (residual[i] - prev[i]).abs() > 0.10;
            }
        }
        let moving: Vec<bool> = box_share(&changed_now, self.width, self.height, self.motion_radius).into_iter().map(|share| share >= 0.25).collect();
        let s = &self.settings;
        let mut counted = vec![false; n];
        for i in 0..n {
            if !self.watched[i] {
                continue;
            }
            let st = &mut self.state;
            if moving[i] {
                st.last_motion[i] = t;
            }
            let dark = -residual[i];
            let was = !st.candidate_since[i].is_nan();
            let (dark_needed, tint_needed) = if was { (s.darkening * 0.7, 0.025) } else { (s.darkening, 0.035) };
            let candidate = dark > dark_needed || (dark > dark_needed * 0.5 && tint[i] > tint_needed) || glossy(now.rgb[i], residual[i]);
            if candidate && !was {
                st.candidate_since[i] = t;
                st.moved_in[i] |= t - st.last_motion[i] < 3.0;
            } else if !candidate {
                st.candidate_since[i] = f32::NAN;
            }
            let changed = residual[i].abs() > s.darkening || tint[i] > 0.035;
            if changed && st.changed_since[i].is_nan() {
                st.changed_since[i] = t;
            } else if !changed {
                st.changed_since[i] = f32::NAN;
            }
            // Once something moved over a changed pixel, the change is
            // theirs (a container set down, floor revealed where one stood)
            // until the pixel matches the reference again.
            if !changed {
                st.moved_in[i] = false;
            } else if moving[i] {
                st.moved_in[i] = true;
            }
            if candidate {
                let age = f64::from(t - st.candidate_since[i]);
                let needed = if st.moved_in[i] { s.persist_after_motion_s } else { s.persist_s };
                counted[i] = age >= needed;
            }
        }
        tracing::trace!(
            candidates = self.state.candidate_since.iter().filter(|c| !c.is_nan()).count(),
            counted = counted.iter().filter(|c| **c).count(),
            "leak pixels"
        );
        let counted = close(&counted, self.width, self.height);
        let observations = self.regions(&counted, &now, &residual, &tint, t);
        self.absorb(&now, &residual, &observations, t);
        self.previous = Some(residual);
        Ok(observations)
    }

    /// Log-luminance left after a robust fit of the lighting change by a
    /// quadratic surface: a dimmer, daylight, or one lamp out at one end of
    /// the room is smooth over the floor; a spill is a local outlier.
    fn lighting_residual(&self, now: &AnalysisFrame) -> Vec<f32> {
        type V6 = nalgebra::SVector<f64, 6>;
        let diff: Vec<f32> = now.log_lum.iter().zip(&self.reference.log_lum).map(|(a, b)| a - b).collect();
        let terms = |[x, y]: [f32; 2]| {
            let (x, y) = (f64::from(x), f64::from(y));
            V6::from([1.0, x, y, x * x, x * y, y * y])
        };
        let sample: Vec<usize> = (0..diff.len()).filter(|i| self.watched[*i] && i % 2 == 0).collect();
        let mut surface = V6::zeros();
        surface[0] = f64::from(median(sample.iter().map(|i| diff[*i]).collect()));
        for round in 0..4 {
            let band = if round == 0 { 0.3 } else { 0.12 };
            let mut ata = nalgebra::SMatrix::<f64, 6, 6>::zeros();
            let mut atb = V6::zeros();
            for &i in &sample {
                let row = terms(self.coords[i]);
                if (f64::from(diff[i]) - surface.dot(&row)).abs() > band {
                    continue;
                }
                ata += row * row.transpose();
                atb += row * f64::from(diff[i]);
            }
            match ata.try_inverse() {
                Some(inv) => surface = inv * atb,
                None => break,
            }
        }
        diff.iter().zip(&self.coords).map(|(d, c)| d - surface.dot(&terms(*c)) as f32).collect()
    }

    /// Colour shift per pixel, after removing the scene-wide shift of a new light's colour.
    fn tint(&self, now: &AnalysisFrame) -> Vec<f32> {
        let shift: Vec<[f32; 2]> = now.rgb.iter().zip(&self.reference.chroma).map(|(p, r)| {
            let c = chromaticity(*p);
            [c[0] - r[0], c[1] - r[1]]
        }).collect();
        let watched = |k: usize| shift.iter().zip(&self.watched).filter(|(_, w)| **w).map(|(s, _)| s[k]).step_by(3).collect::<Vec<_>>();
        let global = [median(watched(0)), median(watched(1))];
        shift.iter().map(|s| (s[0] - global[0]).abs() + (s[1] - global[1]).abs()).collect()
    }

    fn regions(&self, counted: &[bool], now: &AnalysisFrame, residual: &[f32], tint: &[f32], _t: f32) -> Vec<Observation> {
        let (w, h) = (self.width, self.height);
        let mask = image::GrayImage::from_raw(w, h, counted.iter().map(|c| if *c { 255 } else { 0 }).collect()).unwrap_or_else(|| image::GrayImage::new(w, h));
        let labels = imageproc::region_labelling::connected_components(&mask, imageproc::region_labelling::Connectivity::Eight, image::Luma([0u8]));
        let mut pixels: std::collections::HashMap<u32, Vec<usize>> = std::collections::HashMap::new();
        for (i, label) in labels.as_raw().iter().enumerate() {
            if *label != 0 {
                pixels.entry(*label).or_default().push(i);
            }
        }
        let gradient = now.log_gradient();
        let mut out = Vec::new();
        for region in pixels.values() {
            let area_mm2: f64 = region.iter().map(|i| f64::from(self.area_mm2[*i])).sum();
            let area_cm2 = area_mm2 / 100.0;
            if area_cm2 < self.settings.min_area_cm2 {
                continue;
            }
            let features = self.features(region, now, residual, tint, &gradient);
            let spill_score = spill_score(&features);
            tracing::debug!(area_cm2, spill_score, ?features, "leak candidate region");
            // What is left of a light change is faint: a liquid darkens the
            // floor clearly, or tints it clearly, or shines.
            let s = &self.settings;
            let liquid = features.darkening >= s.darkening * 4.0 / 3.0
                || (features.darkening >= s.darkening * 2.0 / 3.0 && features.tint >= 0.08)
                || features.gloss >= 0.004;
            if !liquid {
                continue;
            }
            out.push(self.observation(region, area_cm2, features, spill_score, now));
        }
        out.sort_by(|a, b| b.area_cm2.total_cmp(&a.area_cm2));
        out
    }

    fn features(&self, region: &[usize], now: &AnalysisFrame, residual: &[f32], tint: &[f32], gradient: &[f32]) -> Features {
        let n = region.len() as f32;
        let w = self.width as usize;
        let (mut dark, mut tinted, mut moved, mut g_now, mut g_ref) = (0f32, 0f32, 0f32, 0f32, 0f32);
        let inside: std::collections::HashSet<usize> = region.iter().copied().collect();
        for &i in region {
            dark += -residual[i];
            tinted += tint[i];
            moved += f32::from(u8::from(self.state.moved_in[i]));
            // Texture only inside (edges of the region are the region's own).
            let interior = [i.wrapping_sub(1), i + 1, i.wrapping_sub(w), i + w].iter().all(|j| inside.contains(j));
            if interior {
                g_now += gradient[i];
                g_ref += self.reference.gradient[i];
            }
        }
        let (mut gloss, mut boxed) = (0f32, 0f32);
        let (x0, y0, x1, y1) = bbox(region, w);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let i = y * w + x;
                if self.watched[i] {
                    boxed += 1.0;
                    gloss += f32::from(u8::from(glossy(now.rgb[i], residual[i])));
                }
            }
        }
        Features {
            darkening: dark / n,
            texture: if g_ref > 1e-3 { g_now / g_ref } else { 1.0 },
            tint: tinted / n,
            gloss: gloss / boxed.max(1.0),
            moved_in: moved / n,
        }
    }

    fn observation(&self, region: &[usize], area_cm2: f64, features: Features, spill_score: f32, now: &AnalysisFrame) -> Observation {
        let w = self.width as usize;
        let (mut sx, mut sy) = (0f64, 0f64);
        let mut zone_votes = vec![0usize; self.zone_names.len()];
        for &i in region {
            sx += (i % w) as f64;
            sy += (i / w) as f64;
            if let Some(v) = zone_votes.get_mut(usize::from(self.zone_of[i])) {
                *v += 1;
            }
        }
        let n = region.len() as f64;
        let centroid_px = now.to_full(sx / n, sy / n);
        let (x0, y0, x1, y1) = bbox(region, w);
        let [bx, by] = [x0 as f64 * self.scale, y0 as f64 * self.scale];
        let bbox_px = [bx, by, (x1 - x0 + 1) as f64 * self.scale, (y1 - y0 + 1) as f64 * self.scale];
        let zone = zone_votes.iter().enumerate().max_by_key(|(_, v)| **v).map(|(z, _)| self.zone_names[z].clone()).unwrap_or_default();
        let centroid_mm = self.homography.to_floor(centroid_px);
        let container = centroid_mm.and_then(|[x, y]| {
            use geo::{Distance, Euclidean};
            let p = geo::Point::new(x, y);
            self.containers
                .iter()
                .map(|(name, poly)| (name.clone(), Euclidean.distance(&p, poly)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
        });
        Observation {
            area_cm2,
            centroid_px,
            centroid_mm,
            bbox_px,
            outline_px: outline(region, self.width, self.height, self.scale),
            zone,
            container,
            spill_score,
            features,
        }
    }

    /// Open leaks (boxes in full-resolution pixels) are never taken into the reference.
    pub fn protect(&mut self, boxes: Vec<[f64; 4]>) {
        self.protected = boxes;
    }

    /// Takes lasting changes into the reference, pixel by pixel: a container
    /// moved, a trolley parked for good. Regions that appeared in place (a
    /// leak in the making) and open leaks are kept.
    fn absorb(&mut self, now: &AnalysisFrame, residual: &[f32], observations: &[Observation], t: f32) {
        let after = self.settings.absorb_after_s as f32;
        let w = self.width as usize;
        let inside = |b: &[f64; 4], x: f64, y: f64| x >= b[0] && y >= b[1] && x <= b[0] + b[2] && y <= b[1] + b[3];
        let in_leak = |i: usize| {
            let (x, y) = (((i % w) as f64 + 0.5) * self.scale, ((i / w) as f64 + 0.5) * self.scale);
            self.protected.iter().any(|b| inside(b, x, y))
                || observations.iter().any(|o| o.features.moved_in <= 0.5 && inside(&o.bbox_px, x, y))
        };
        let mut absorbed = false;
        for i in 0..now.len() {
            // A region that arrived with motion counts from when it became a
            // candidate (steadier than "changed", which flickers with the light).
            let since = if self.state.moved_in[i] && !self.state.candidate_since[i].is_nan() {
                self.state.candidate_since[i]
            } else {
                self.state.changed_since[i]
            };
            if since.is_nan() || t - since < after || in_leak(i) {
                continue;
            }
            // Keep the reference's lighting: only the local change is taken.
            self.reference.log_lum[i] += residual[i];
            self.reference.chroma[i] = chromaticity(now.rgb[i]);
            self.state.changed_since[i] = f32::NAN;
            self.state.candidate_since[i] = f32::NAN;
            absorbed = true;
        }
        if absorbed {
            self.reference.gradient = gradient_of(&self.reference.log_lum, self.width, self.height);
        }
    }
}

fn reference_of(a: &AnalysisFrame) -> Reference {
    Reference { log_lum: a.log_lum.clone(), chroma: a.rgb.iter().map(|p| chromaticity(*p)).collect(), gradient: a.log_gradient() }
}

fn gradient_of(log_lum: &[f32], width: u32, height: u32) -> Vec<f32> {
    AnalysisFrame { width, height, scale: 1.0, rgb: vec![], log_lum: log_lum.to_vec() }.log_gradient()
}

/// A specular highlight: much brighter than the lighting explains, bright and colourless.
fn glossy(p: [u8; 3], residual: f32) -> bool {
    let max = p.iter().copied().max().unwrap_or(0);
    let min = p.iter().copied().min().unwrap_or(0);
    residual > 0.35 && max > 170 && f32::from(max - min) < 0.25 * f32::from(max)
}

/// How liquid-like a region is, 0..1: it appeared where it is rather than
/// arriving with motion (the strongest cue: leaks spread, objects and
/// shadows arrive), and it looks like a liquid rather than a shadow
/// (smoothed texture, tint, highlights).
pub fn spill_score(f: &Features) -> f32 {
    let smoothed = ((0.85 - f.texture) / 0.35).clamp(0.0, 1.0);
    let tinted = ((f.tint - 0.015) / 0.04).clamp(0.0, 1.0);
    let gloss = (f.gloss / 0.004).clamp(0.0, 1.0);
    let dark = (f.darkening / 0.2).clamp(0.0, 1.0);
    let in_place = 0.7 * (1.0 - f.moved_in).clamp(0.0, 1.0);
    smoothed.max(tinted).max(gloss).max(in_place) * (0.5 + 0.5 * dark)
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
}

fn bbox(region: &[usize], w: usize) -> (usize, usize, usize, usize) {
    region.iter().fold((usize::MAX, usize::MAX, 0, 0), |(x0, y0, x1, y1), i| {
        let (x, y) = (i % w, i / w);
        (x0.min(x), y0.min(y), x1.max(x), y1.max(y))
    })
}

/// Share of `true` in the (2r+1)² box around each pixel (clipped at the border), via an integral image.
fn box_share(v: &[bool], w: u32, h: u32, r: usize) -> Vec<f32> {
    let (w, h) = (w as usize, h as usize);
    let mut integral = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += u32::from(v[y * w + x]);
            integral[(y + 1) * (w + 1) + x + 1] = integral[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let sum = integral[y1 * (w + 1) + x1] + integral[y0 * (w + 1) + x0] - integral[y0 * (w + 1) + x1] - integral[y1 * (w + 1) + x0];
            out[y * w + x] = sum as f32 / ((y1 - y0) * (x1 - x0)) as f32;
        }
    }
    out
}

fn to_mask(v: &[bool], w: u32, h: u32) -> image::GrayImage {
    image::GrayImage::from_raw(w, h, v.iter().map(|b| if *b { 255 } else { 0 }).collect()).unwrap_or_else(|| image::GrayImage::new(w, h))
}

fn from_mask(m: &image::GrayImage) -> Vec<bool> {
    m.as_raw().iter().map(|v| *v > 0).collect()
}

/// Fills pinholes (highlights, noise) and drops single-pixel specks.
fn close(v: &[bool], w: u32, h: u32) -> Vec<bool> {
    let m = imageproc::morphology::close(&to_mask(v, w, h), imageproc::distance_transform::Norm::LInf, 1);
    from_mask(&imageproc::morphology::open(&m, imageproc::distance_transform::Norm::LInf, 1))
}

/// The region's outer contour in full-resolution pixels.
fn outline(region: &[usize], w: u32, h: u32, scale: f64) -> Vec<[f64; 2]> {
    let mut raw = vec![0u8; (w * h) as usize];
    for &i in region {
        raw[i] = 255;
    }
    let mask = image::GrayImage::from_raw(w, h, raw).unwrap_or_else(|| image::GrayImage::new(w, h));
    let contours = imageproc::contours::find_contours::<i32>(&mask);
    contours
        .into_iter()
        .filter(|c| c.border_type == imageproc::contours::BorderType::Outer)
        .max_by_key(|c| c.points.len())
        .map(|c| c.points.iter().map(|p| [(f64::from(p.x) + 0.5) * scale, (f64::from(p.y) + 0.5) * scale]).collect())
        .unwrap_or_default()
}
