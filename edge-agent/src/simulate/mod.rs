//! Seeded synthetic footage of a hazardous-waste storage pod floor, with ground
//! truth, for testing and benchmarking the leak detector without real spill footage.
//!
//! A fixed camera on the wall looks down at a 3.0 m x 1.7 m floor zone with mild
//! perspective. The floor is a real photo turned into a floor finish; drums and IBCs
//! stand on it; a [`Script`] says when liquids leak from a container base and when
//! distractors happen (people, trolleys, shadows, light switches, lamp outages,
//! containers moved). Every frame goes through a simple camera model (vignetting,
//! Gaussian sensor noise, optional JPEG).
//!
//! Conventions: pixel coordinates are continuous with x right, y down, and the centre
//! of pixel `(i, j)` at `(i + 0.5, j + 0.5)`. Floor coordinates are mm with x to the
//! right and y towards the camera (down the image); the zone is `[0, 3000] x [0, 1700]`.
//! Everything is decided by the seeds: the same inputs give the same frames.
//!
//! Parts: `camera` (pose, homography), `floor` (texture, lamps, marks), `props`
//! (containers), `spill` (pools and the truth area), `actors` (people, trolleys,
//! shadows), `render` (ray casting of solids), `sensor` (noise, JPEG), `script`.

mod actors;
mod camera;
mod floor;
pub mod intake;
pub mod label;
pub mod station;
pub mod storage;
mod props;
mod render;
mod script;
mod sensor;
mod spill;
mod util;

use fastrand::Rng;
use image::RgbImage;

pub use camera::FLOOR_MM;
pub use script::{
    ContainerMoved, Happening, LightGradient, LightSwitch, LiquidKind, Pause, Person, Script, Shadow, ShadowShape,
    Spill, Trolley, spill_tail_s,
};

use actors::{Caster, SoftShadow, Walker};
use camera::Camera;
use floor::{DustMark, FloorTexture, Lamps};
use props::Container;
use render::{Prim, ShadeCtx, Swatch};
use sensor::{Exposure, Sensor};
use spill::{Pool, PoolState};
use util::mix_seed;

/// Largest frame side accepted.
pub const MAX_SIDE: u32 = 8_192;
/// Largest frame area accepted (pixels, a little over 4K UHD): a scene keeps about
/// 70 bytes of working planes a pixel.
pub const MAX_PIXELS: u64 = 10_000_000;
/// Where Debian's `opencv-doc` package puts its sample photos.
pub const OPENCV_DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

/// Why a scene or photo could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A frame side of 0.
    #[error("frame size {width}x{height} is empty")]
    EmptyFrame {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// Beyond [`MAX_SIDE`] or [`MAX_PIXELS`].
    #[error("frame size {width}x{height} is too large (at most {MAX_SIDE} a side and {MAX_PIXELS} pixels)")]
    FrameTooLarge {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// A 0-pixel floor photo.
    #[error("the floor photo is empty")]
    EmptyPhoto,
    /// A sample photo could not be read.
    #[error("cannot read photo {path}: {reason} (the sample photos come with `apt-get install opencv-doc`)")]
    Photo {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Loads one of the `opencv-doc` sample photos (e.g. `"building.jpg"`, `"baboon.jpg"`).
pub fn opencv_photo(name: &str) -> Result<RgbImage, SimError> {
    let path = format!("{OPENCV_DATA}/{name}");
    image::open(&path).map(|i| i.to_rgb8()).map_err(|e| SimError::Photo { path, reason: e.to_string() })
}

/// What the detector is told about the pod when it is set up.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneGeometry {
    /// Frame width (px).
    pub width: u32,
    /// Frame height (px).
    pub height: u32,
    /// Pixel -> floor mm homography, row-major 3x3 (x right, y down, pixel centres at +0.5).
    pub px_to_mm: [[f64; 3]; 3],
    /// The floor zone (polygon in pixels, inside the frame), and spill-tray zones if any
    /// (this simulator has none).
    pub floor: Vec<[f64; 2]>,
    /// Spill-tray polygons (pixels); always empty here.
    pub trays: Vec<Vec<[f64; 2]>>,
    /// Containers (drums / IBCs) standing on the floor: a name and a polygon in pixels
    /// (the hull of the drum or IBC as seen, not just its footprint), as commissioned:
    /// a later [`ContainerMoved`] does not update it.
    pub containers: Vec<(String, Vec<[f64; 2]>)>,
}

impl SceneGeometry {
    /// Floor mm of a continuous pixel point (only meaningful where the floor is seen).
    pub fn to_mm(&self, u: f64, v: f64) -> [f64; 2] {
        let m = &self.px_to_mm;
        let w = m[2][0] * u + m[2][1] * v + m[2][2];
        [(m[0][0] * u + m[0][1] * v + m[0][2]) / w, (m[1][0] * u + m[1][1] * v + m[1][2]) / w]
    }

    /// Floor area (mm²) seen by the pixel whose centre is at `(u, v)`: |det J| of the homography.
    pub fn mm2_per_px(&self, u: f64, v: f64) -> f64 {
        let m = nalgebra::Matrix3::from_fn(|r, c| self.px_to_mm[r][c]);
        let w = m[(2, 0)] * u + m[(2, 1)] * v + m[(2, 2)];
        (m.determinant() / (w * w * w)).abs()
    }
}

/// Ground truth for one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// Visible spill area on the floor in cm² at t (0 when none), its centroid in pixels and floor mm, and the name of the container it came from.
    ///
    /// Visible: liquid alpha > 0.5, inside the floor zone, not hidden behind a
    /// container in the image; people and trolleys passing over it are not subtracted.
    /// Integrated in floor mm (not from pixel counts). `spill_source` is set from the
    /// moment a spill starts, even while its area is hidden.
    pub spill_cm2: f64,
    /// Centroid of the visible area in continuous pixel coordinates (pixel-area weighted).
    pub spill_centroid_px: Option<[f64; 2]>,
    /// Centroid of the visible area on the floor (mm).
    pub spill_centroid_mm: Option<[f64; 2]>,
    /// Name of the source container, as in [`SceneGeometry::containers`].
    pub spill_source: Option<String>,
    /// Which distractors make the frame differ from the reference at t: "person",
    /// "trolley", "shadow", "light_switch" (light level or colour not as in the
    /// reference), "light_gradient", "container_moved" (from the move on).
    pub distractors: Vec<&'static str>,
}

/// The parts of a scene that never change: camera, floor, lamps, fabric photo.
struct Stage {
    cam: Camera,
    xs: Vec<f32>,
    ys: Vec<f32>,
    base: Vec<[f32; 3]>,
    /// Mean luma of the floor finish (tests judge liquids against it).
    #[cfg_attr(not(test), allow(dead_code))]
    floor_luma: f32,
    lamps: Lamps,
    swatch: Swatch,
}

/// Precomputed planes for one container layout.
struct Layers {
    /// Floor with contact shadows and dust marks, no containers (liquids wet this).
    floor: Vec<[f32; 3]>,
    /// Floor with the containers over it.
    comp: Vec<[f32; 3]>,
    /// Container coverage per pixel (0-1).
    cover: Vec<f32>,
    /// Camera distance to the nearest container surface (people behind are hidden).
    near: Vec<f32>,
}

impl Stage {
    fn layers(&self, containers: &[Container], marks: &[DustMark]) -> Layers {
        let floor = floor::marked_floor(&self.base, &self.cam, &self.xs, &self.ys, containers, marks);
        let lamps = &self.lamps;
        let planes = props::render_all(containers, &self.cam, &self.swatch, lamps.key, |x, y| lamps.at(x, y));
        let comp = floor
            .iter()
            .zip(&planes.cover)
            .zip(&planes.colour)
            .map(|((f, a), c)| [c[0] + f[0] * (1.0 - a), c[1] + f[1] * (1.0 - a), c[2] + f[2] * (1.0 - a)])
            .collect();
        Layers { floor, comp, cover: planes.cover, near: planes.near }
    }

    fn outlines(&self, containers: &[Container]) -> Vec<(String, Vec<[f64; 2]>)> {
        containers.iter().map(|c| (c.name.clone(), c.outline_px(&self.cam))).collect()
    }
}

/// A resolved container move.
struct Move {
    at_s: f64,
    idx: usize,
    to: [f64; 2],
    dust: f64,
}

/// A simulated pod: build once, then ask for frames at increasing times.
pub struct PodScene {
    seed: u64,
    duration_s: f64,
    stage: Stage,
    geometry: SceneGeometry,
    containers: Vec<Container>,
    initial: Layers,
    /// Layers after the first `k` moves (cached for the latest `k`).
    moved: Option<(usize, Layers)>,
    moves: Vec<Move>,
    pools: Vec<Pool>,
    walkers: Vec<Walker>,
    trolleys: Vec<actors::Trolley>,
    casters: Vec<Caster>,
    switches: Vec<LightSwitch>,
    gradients: Vec<LightGradient>,
    sensor: Sensor,
    /// Pixel block per ray for people and trolleys: up to 4 mm of floor, so large
    /// frames stay fast (and get the slight blur of a moving subject).
    actor_step: usize,
    work: Vec<[f32; 3]>,
}

impl PodScene {
    /// `floor_photo` is a real photo used as the floor texture (tiled/rescaled in floor mm so its scale is plausible), `seed` decides everything else.
    ///
    /// The photo also dresses people until [`PodScene::with_clothing_photo`] gives
    /// another. Errors for an empty photo or a frame size of 0 or above the limits.
    pub fn new(
        seed: u64,
        floor_photo: &RgbImage,
        width: u32,
        height: u32,
        script: Script,
    ) -> Result<PodScene, SimError> {
        if width == 0 || height == 0 {
            return Err(SimError::EmptyFrame { width, height });
        }
        if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
            return Err(SimError::FrameTooLarge { width, height });
        }
        let swatch = Swatch::from_image(floor_photo).ok_or(SimError::EmptyPhoto)?;
        let mut rng = Rng::with_seed(mix_seed(seed, 0x9D0));
        let cam = Camera::new(&mut rng, width, height);
        let (xs, ys) = cam.floor_coords();
        let lamps = Lamps::new(&mut rng);
        let tex = FloorTexture::from_photo(floor_photo, &mut rng, cam.finest_px_mm());
        let base = floor::base_floor(&cam, &xs, &ys, &tex, &lamps, &mut rng);
        let containers = props::place(&mut rng, &cam);
        let sensor = Sensor::new(&mut rng, script.jpeg_quality);
        let stage_px_mm = cam.finest_px_mm();
        let stage = Stage { cam, xs, ys, base, floor_luma: tex.mean_luma, lamps, swatch };
        let initial = stage.layers(&containers, &[]);
        let m = &stage.cam.px_to_mm;
        let geometry = SceneGeometry {
            width,
            height,
            px_to_mm: std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)])),
            floor: stage.cam.zone_polygon(),
            trays: Vec::new(),
            containers: stage.outlines(&containers),
        };
        let mut scene = PodScene {
            seed,
            duration_s: script.duration_s,
            stage,
            geometry,
            containers,
            initial,
            moved: None,
            moves: Vec::new(),
            pools: Vec::new(),
            walkers: Vec::new(),
            trolleys: Vec::new(),
            casters: Vec::new(),
            switches: Vec::new(),
            gradients: Vec::new(),
            sensor,
            actor_step: (4.0 / stage_px_mm).floor().clamp(1.0, 4.0) as usize,
            work: Vec::new(),
        };
        scene.prepare(script);
        Ok(scene)
    }

    /// Dresses people in patches of this photo (e.g. `baboon.jpg`); an empty photo is ignored.
    pub fn with_clothing_photo(mut self, photo: &RgbImage) -> PodScene {
        if let Some(s) = Swatch::from_image(photo) {
            self.stage.swatch = s;
        }
        self
    }

    /// Turns the script's happenings into ready-to-render objects.
    fn prepare(&mut self, script: Script) {
        let mut events = script.events;
        events.sort_by(|a, b| a.start_s().total_cmp(&b.start_s()));
        // Moves first: spills need the layout at their start.
        let n = self.containers.len();
        let mut layout = self.containers.clone();
        for e in &events {
            let Happening::ContainerMoved(m) = e else { continue };
            if n == 0 || !m.at_s.is_finite() {
                continue;
            }
            let idx = m.container % n;
            let mut rng = Rng::with_seed(m.seed);
            let to = m
                .to_mm
                .filter(|p| props::spot_ok(idx, *p, &layout, &self.stage.cam))
                .or_else(|| props::free_spot(&mut rng, idx, &layout, &self.stage.cam));
            if let Some(to) = to {
                layout[idx].pos = to;
                let dust = if m.dust.is_finite() { m.dust.clamp(0.0, 0.5) } else { 0.0 };
                self.moves.push(Move { at_s: m.at_s, idx, to, dust });
            }
        }
        for e in events {
            match e {
                Happening::Spill(s) => {
                    let (layout, _) = self.layout(self.moves.partition_point(|m| m.at_s <= s.start_s));
                    let outlines = self.stage.outlines(&layout);
                    let axis = self.stage.lamps.tube_axis;
                    self.pools.extend(Pool::new(&s, &layout, &outlines, &self.stage.cam, axis));
                }
                Happening::LightSwitch(l) => self.switches.push(l),
                Happening::LightGradient(g) => self.gradients.push(g),
                Happening::Shadow(s) => self.casters.push(Caster::new(&s)),
                Happening::Person(p) => {
                    let obstacles = self.obstacles(p.start_s, 350.0);
                    self.walkers.push(Walker::new(&p, &obstacles));
                }
                Happening::Trolley(t) => {
                    let obstacles = self.obstacles(t.start_s, 750.0);
                    self.trolleys.push(actors::Trolley::new(&t, &obstacles));
                }
                Happening::ContainerMoved(_) => {}
            }
        }
    }

    /// Where the containers stand at `t`, as circles grown by `clearance` (mm).
    fn obstacles(&self, t: f64, clearance: f64) -> Vec<actors::Obstacle> {
        let (layout, _) = self.layout(self.moves.partition_point(|m| m.at_s <= t));
        layout.iter().map(|c| (c.pos, c.bound_r() + clearance)).collect()
    }

    /// Containers and dust marks after the first `k` moves.
    fn layout(&self, k: usize) -> (Vec<Container>, Vec<DustMark>) {
        let mut cs = self.containers.clone();
        let mut marks = Vec::new();
        for m in &self.moves[..k.min(self.moves.len())] {
            if m.dust > 0.0 {
                marks.push(DustMark { footprint: cs[m.idx].clone(), strength: m.dust });
            }
            cs[m.idx].pos = m.to;
        }
        (cs, marks)
    }

    /// The scene's layout as commissioned: zone, containers, homography.
    pub fn geometry(&self) -> &SceneGeometry {
        &self.geometry
    }

    /// The script's duration (s).
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    /// The camera's noise level (standard deviation in 8-bit levels, 1-4).
    pub fn noise_sigma(&self) -> f64 {
        self.sensor.sigma as f64
    }

    /// The clean reference frame: default lighting, containers in place, no spill, no people, no noise beyond the camera's usual.
    ///
    /// It is one camera frame (its own seeded noise, and JPEG if the script asks).
    pub fn reference(&self) -> RgbImage {
        let s = &self.stage;
        let seed = mix_seed(mix_seed(self.seed, 0x2EF), 0x2EF);
        self.sensor.develop(&s.cam, &s.xs, &s.ys, &self.initial.comp, &Exposure::default(), Some(seed))
    }

    /// The reference without any noise or compression (the mean the camera's frames
    /// scatter around): for measuring, not for a detector.
    pub fn reference_clean(&self) -> RgbImage {
        let s = &self.stage;
        self.sensor.develop(&s.cam, &s.xs, &s.ys, &self.initial.comp, &Exposure::default(), None)
    }

    /// The frame at time `t_s` seconds (monotonic calls; may cache), and its ground truth.
    ///
    /// Any order of calls works and gives the same frame for the same `t_s`;
    /// increasing times just avoid rebuilding the container layers. A non-finite
    /// `t_s` is read as 0.
    pub fn frame(&mut self, t_s: f64) -> (RgbImage, Truth) {
        self.render_at(t_s, true)
    }

    /// A frame with or without the camera's noise and compression (without: to
    /// compare pixels with the truth exactly).
    fn render_at(&mut self, t_s: f64, noisy: bool) -> (RgbImage, Truth) {
        let t = if t_s.is_finite() { t_s } else { 0.0 };
        let k = self.moves.partition_point(|m| m.at_s <= t);
        if k > 0 && self.moved.as_ref().is_none_or(|(mk, _)| *mk != k) {
            let (cs, marks) = self.layout(k);
            self.moved = Some((k, self.stage.layers(&cs, &marks)));
        }
        let layers = match &self.moved {
            Some((mk, l)) if k > 0 && *mk == k => l,
            _ => &self.initial,
        };
        let stage = &self.stage;
        let cam = &stage.cam;
        let mut distractors: Vec<&'static str> = Vec::new();
        let mut work = std::mem::take(&mut self.work);
        let mut dirty = false;
        let mut touch = |work: &mut Vec<[f32; 3]>| {
            if !dirty {
                work.clear();
                work.extend_from_slice(&layers.comp);
                dirty = true;
            }
        };

        // Liquids wet the floor first: everything else sits on top.
        let pools: Vec<(&Pool, PoolState)> = self.pools.iter().filter_map(|p| p.state(t).map(|s| (p, s))).collect();
        for (p, st) in &pools {
            touch(&mut work);
            p.render(st, cam, &stage.xs, &stage.ys, &layers.floor, &layers.cover, &stage.lamps, &mut work);
        }

        // Shadows fall on floor, liquid and containers alike.
        let mut shadows: Vec<SoftShadow> = Vec::new();
        for c in &self.casters {
            if let Some(s) = c.at(t).filter(|s| s.bbox(cam).is_some()) {
                push_once(&mut distractors, "shadow");
                shadows.push(s);
            }
        }
        // People and trolleys out of view can still throw a shadow into it.
        let mut actors: Vec<(Vec<Prim>, [f64; 2], &'static str)> = Vec::new();
        let mut cast = |shadows: &mut Vec<SoftShadow>, s: SoftShadow, what: &'static str| {
            if s.bbox(cam).is_some() {
                push_once(&mut distractors, what);
                shadows.push(s);
            }
        };
        for w in &self.walkers {
            if let Some(pose) = w.track.at(t) {
                for s in w.look.shadows(&pose) {
                    cast(&mut shadows, s, "person");
                }
                actors.push((w.look.prims(&pose), pose.p, "person"));
            }
        }
        for tr in &self.trolleys {
            if let Some(pose) = tr.track.at(t) {
                cast(&mut shadows, tr.shadow(&pose), "trolley");
                for s in tr.pusher.shadows(&tr.pusher_pose(&pose)) {
                    cast(&mut shadows, s, "person");
                }
                actors.push((tr.prims(&pose), pose.p, "trolley"));
            }
        }
        for s in &shadows {
            touch(&mut work);
            s.apply(cam, &mut work);
        }

        // People and trolleys, far ones first.
        let dist = |p: &[f64; 2]| (p[0] - cam.pos.x).hypot(p[1] - cam.pos.y);
        actors.sort_by(|a, b| dist(&b.1).total_cmp(&dist(&a.1)));
        for (prims, p, what) in &actors {
            let ctx = ShadeCtx { light: stage.lamps.key, illum: stage.lamps.at(p[0], p[1]), swatch: &stage.swatch };
            if let Some(sprite) = render::render(prims, cam, &ctx, 1, self.actor_step, Some(&layers.near)) {
                touch(&mut work);
                let sprite = if self.actor_step == 1 { render::soften(&sprite, cam.w, cam.h) } else { sprite };
                render::composite(&sprite, &mut work, cam.w);
                push_once(&mut distractors, what);
                if *what == "trolley" {
                    push_once(&mut distractors, "person");
                }
            }
        }

        let exposure = self.exposure(t, &mut distractors);
        if k > 0 {
            push_once(&mut distractors, "container_moved");
        }
        let src = if dirty { &work[..] } else { &layers.comp[..] };
        let seed = mix_seed(self.seed, t.to_bits());
        let img = self.sensor.develop(cam, &stage.xs, &stage.ys, src, &exposure, noisy.then_some(seed));

        let cov = spill::visible(&pools, cam, &layers.cover);
        let source = pools.iter().map(|(p, _)| p.source_name.clone()).next();
        let truth = Truth {
            spill_cm2: cov.mm2 / 100.0,
            spill_centroid_px: cov.centroid_px,
            spill_centroid_mm: cov.centroid_mm,
            spill_source: source,
            distractors,
        };
        self.work = work;
        (img, truth)
    }

    /// Room light at `t`: compounded switches and the lamps that are out.
    fn exposure(&self, t: f64, distractors: &mut Vec<&'static str>) -> Exposure {
        let mut gain = [1.0f64; 3];
        for s in self.switches.iter().filter(|s| s.at_s <= t) {
            let g = if s.gain.is_finite() { s.gain.clamp(0.05, 20.0) } else { 1.0 };
            for (c, tint) in gain.iter_mut().zip(s.tint) {
                *c *= g * if tint.is_finite() { tint.clamp(0.5, 2.0) } else { 1.0 };
            }
        }
        if gain.iter().any(|g| (g - 1.0).abs() > 1e-3) {
            push_once(distractors, "light_switch");
        }
        let lamps_off: Vec<([f64; 2], f64, f64)> = self
            .gradients
            .iter()
            .filter(|g| g.start_s <= t && t < g.end_s && g.lamp_mm.iter().all(|v| v.is_finite()))
            .map(|g| {
                let h = if g.height_mm.is_finite() { g.height_mm.clamp(100.0, 20_000.0) } else { 2500.0 };
                let depth = if g.depth.is_finite() { g.depth.clamp(0.0, 0.95) } else { 0.0 };
                (g.lamp_mm, h * h, depth)
            })
            .collect();
        if !lamps_off.is_empty() {
            push_once(distractors, "light_gradient");
        }
        Exposure { gain: gain.map(|g| g as f32), lamps_off }
    }
}

/// Adds a name once.
fn push_once(v: &mut Vec<&'static str>, what: &'static str) {
    if !v.contains(&what) {
        v.push(what);
    }
}

#[cfg(test)]
mod tests;
