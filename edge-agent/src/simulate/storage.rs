//! Seeded footage of a pod's storage room for the storage watch, with its
//! calibration, the ledger at the start, and ground truth.
//!
//! A 4.0 m x 1.9 m storage floor with four taped zones (oils and other
//! waste, a staging row that takes any category, acids, alkalis) seen from
//! above (`View::Top`: lids) or from a wall (`View::Side`: bodies, cabinet
//! projection). Drums carry an HJ 1276 label (drawn by [`super::label`]) and
//! a 150 mm QR sticker with their 数字识别码. The wall band holds two fire
//! extinguishers and the door's warning sign. A [`StorageScript`] removes,
//! adds, moves and swaps drums, covers or takes away the safety items, sends
//! people through and switches the light. Frames must be asked for in time order.

use super::label::{LabelContent, LabelLayout, LabelStyle, id_code, qr_modules, random_credit_code, render_label};
use super::util::{mix_seed, uniform};
use crate::calibration::{CalibrationFile, HomographyRecord, ReferenceImage, Zone, ZoneKind};
use crate::task::storage::detect::View;
use crate::task::storage::ledger::LedgerRecord;
use ab_glyph::FontVec;
use fastrand::Rng;
use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// Floor size in mm (x across, y away from the wall).
pub const FLOOR_MM: [f64; 2] = [4000.0, 2250.0];
pub const DRUM_DIAMETER_MM: f64 = 585.0;
const DRUM_HEIGHT_MM: f64 = 880.0;
/// Heights are drawn at this share of the across scale in a side view.
const HEIGHT_SCALE: f64 = 0.55;
pub const STICKER_MM: f64 = 150.0;
const LABEL_MM: f64 = 150.0;

/// A storage zone of the room: name, allowed categories, floor rectangle x0, y0, x1, y1 (mm).
pub struct ZoneSpec {
    pub name: &'static str,
    pub allow: &'static [&'static str],
    pub rect_mm: [f64; 4],
}

pub const ZONES: [ZoneSpec; 4] = [
    ZoneSpec { name: "A-oils", allow: &["HW08", "HW09", "HW12", "HW49"], rect_mm: [100.0, 100.0, 1750.0, 1400.0] },
    // Ends 1 m before the acids' first drum can stand: anything may wait here.
    ZoneSpec { name: "D-staging", allow: &[], rect_mm: [100.0, 1550.0, 1500.0, 2200.0] },
    ZoneSpec { name: "B-acids", allow: &["HW34"], rect_mm: [1950.0, 100.0, 2750.0, 2200.0] },
    ZoneSpec { name: "C-alkalis", allow: &["HW35"], rect_mm: [3250.0, 100.0, 3950.0, 2200.0] },
];

/// Wastes a pod stores: category, code, name.
const WASTES: &[(&str, &str, &str)] = &[
    ("HW08", "900-249-08", "废矿物油"),
    ("HW08", "900-214-08", "废机油"),
    ("HW09", "900-006-09", "废切削液"),
    ("HW12", "900-252-12", "废油漆渣"),
    ("HW49", "900-041-49", "含油抹布手套"),
    ("HW49", "900-039-49", "废活性炭"),
    ("HW34", "900-300-34", "废酸"),
    ("HW35", "900-352-35", "废碱"),
];

/// Drum paints: blue and black steel, grey steel, white and green plastic.
const PAINTS: &[[u8; 3]] = &[[30, 70, 160], [38, 38, 42], [140, 145, 150], [225, 225, 215], [40, 110, 60]];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafetyKind {
    Extinguisher,
    Sign,
}

/// A drum as the truth knows it.
#[derive(Debug, Clone)]
pub struct Drum {
    pub id_code: String,
    pub category: String,
    pub waste_code: String,
    pub waste_name: String,
    pub weight_kg: f64,
    /// In the ledger (came in through intake).
    pub registered: bool,
    /// Wears its HJ 1276 label.
    pub labelled: bool,
    /// Wears the QR sticker.
    pub sticker: bool,
    pub pos_mm: [f64; 2],
    paint: [u8; 3],
    angle: f32,
    seed: u64,
}

impl Drum {
    /// A drum of `category` (any when None), labelled, with its sticker, registered.
    pub fn random(rng: &mut Rng, category: Option<&str>, pos_mm: [f64; 2]) -> Self {
        let choices: Vec<&(&str, &str, &str)> = WASTES.iter().filter(|w| category.is_none_or(|c| w.0 == c)).collect();
        let (cat, code, name) = **choices.get(rng.usize(..choices.len().max(1))).unwrap_or(&&WASTES[0]);
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default() + chrono::Days::new(rng.u64(0..30));
        Self {
            id_code: id_code(&random_credit_code(rng), code, date, rng.u32(1..1000)),
            category: cat.into(),
            waste_code: code.into(),
            waste_name: name.into(),
            weight_kg: (uniform(rng, 40.0, 190.0) * 10.0).round() / 10.0,
            registered: true,
            labelled: true,
            sticker: true,
            pos_mm,
            paint: PAINTS[rng.usize(..PAINTS.len())],
            angle: uniform(rng, -std::f64::consts::PI, std::f64::consts::PI) as f32,
            seed: rng.u64(..),
        }
    }

    pub fn ledger_record(&self) -> LedgerRecord {
        LedgerRecord {
            id_code: self.id_code.clone(),
            waste_code: Some(self.waste_code.clone()),
            category: Some(self.category.clone()),
            waste_name: Some(self.waste_name.clone()),
            weight_kg: Some(self.weight_kg),
            intake_at: "2026-12-01T09:00:00.000Z".into(),
            slip_id: None,
            verdict: "accept".into(),
            transfer: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Act {
    /// A drum leaves; with a manifest number when it leaves on a transfer.
    Remove { id_code: String, manifest: Option<String> },
    /// A drum is put down (a registered one was recorded at intake first).
    Add(Box<Drum>),
    Move { id_code: String, to_mm: [f64; 2] },
    /// A safety item (index into the room's items) covered until the time given.
    Cover { item: usize, until_s: f64 },
    /// A safety item taken away until the time given.
    TakeAway { item: usize, until_s: f64 },
    /// Someone walks from one floor point to another.
    Person { from_mm: [f64; 2], to_mm: [f64; 2], duration_s: f64 },
    /// The light changes: overall gain and a left-to-right gradient.
    Light { gain: f32, gradient: f32 },
}

#[derive(Debug, Clone)]
pub struct Happening {
    pub at_s: f64,
    pub act: Act,
}

/// What the scene is made of.
#[derive(Debug, Clone)]
pub struct StorageScript {
    pub view: View,
    pub width: u32,
    pub height: u32,
    pub drums: Vec<Drum>,
    pub happenings: Vec<Happening>,
}

struct Sprite {
    image: RgbaImage,
    /// Where the drum's floor point sits in the sprite.
    anchor: [f64; 2],
}

struct Walker {
    from: [f64; 2],
    to: [f64; 2],
    start: f64,
    end: f64,
    colour: [u8; 3],
}

/// What is true at a frame.
#[derive(Debug, Clone)]
pub struct StorageTruth {
    /// Drums standing now, with the pixel of their floor point.
    pub drums: Vec<(Drum, [f64; 2])>,
    /// Per safety item: in place and uncovered.
    pub items_visible: Vec<bool>,
    /// People in view.
    pub people: usize,
}

pub struct StorageScene {
    view: View,
    width: u32,
    height: u32,
    seed: u64,
    /// Pixels per mm across; the floor's depth is drawn at `s * k`.
    s: f64,
    k: f64,
    floor_top: f64,
    base: RgbImage,
    bare_wall: RgbImage,
    items: Vec<(SafetyKind, [u32; 4])>,
    drums: Vec<(Drum, Sprite)>,
    /// Sprites of drums added later, by id.
    spare: Vec<(Drum, Sprite)>,
    happenings: Vec<Happening>,
    next: usize,
    walkers: Vec<Walker>,
    covered_until: Vec<f64>,
    taken_until: Vec<f64>,
    light: (f32, f32),
    noise: Vec<f32>,
}

impl StorageScene {
    pub fn new(seed: u64, script: StorageScript) -> Result<Self, String> {
        let (w, h) = (script.width, script.height);
        if !(320..=4096).contains(&w) || !(180..=4096).contains(&h) {
            return Err(format!("{w}x{h} is not a storage camera size: use 320x180 to 4096x4096"));
        }
        let s = f64::from(w) / FLOOR_MM[0];
        let floor_top = match script.view {
            View::Top => 0.14,
            View::Side => 0.40,
        } * f64::from(h);
        let k = (f64::from(h) - floor_top) / (FLOOR_MM[1] * s);
        let mut rng = Rng::with_seed(mix_seed(seed, 0x5701));
        let font = super::label::load_font()?;
        let mut scene = Self {
            view: script.view,
            width: w,
            height: h,
            seed,
            s,
            k,
            floor_top,
            base: RgbImage::new(w, h),
            bare_wall: RgbImage::new(w, h),
            items: Vec::new(),
            drums: Vec::new(),
            spare: Vec::new(),
            happenings: Vec::new(),
            next: 0,
            walkers: Vec::new(),
            covered_until: Vec::new(),
            taken_until: Vec::new(),
            light: (1.0, 0.0),
            noise: (0..65_536).map(|_| gaussian(&mut rng) * 2.0).collect(),
        };
        scene.paint_room(&mut rng);
        scene.covered_until = vec![f64::NEG_INFINITY; scene.items.len()];
        scene.taken_until = vec![f64::NEG_INFINITY; scene.items.len()];
        for d in script.drums {
            let sprite = scene.sprite(&d, &font);
            scene.drums.push((d, sprite));
        }
        let mut happenings = script.happenings;
        happenings.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        for h in &happenings {
            if let Act::Add(d) = &h.act {
                let sprite = scene.sprite(d, &font);
                scene.spare.push(((**d).clone(), sprite));
            }
        }
        scene.happenings = happenings;
        Ok(scene)
    }

    /// Floor mm to frame pixels.
    pub fn to_px(&self, mm: [f64; 2]) -> [f64; 2] {
        [mm[0] * self.s, self.floor_top + mm[1] * self.s * self.k]
    }

    /// The safety items: kind and x, y, w, h in pixels.
    pub fn items(&self) -> &[(SafetyKind, [u32; 4])] {
        &self.items
    }

    /// The calibration a technician would make of this room: homography,
    /// storage zones with their categories, the safety items' regions.
    pub fn calibration(&self, camera: &str, reference: &str) -> CalibrationFile {
        let (s, sk) = (self.s, self.s * self.k);
        let px_to_mm = [[1.0 / s, 0.0, 0.0], [0.0, 1.0 / sk, -self.floor_top / sk], [0.0, 0.0, 1.0]];
        let mut zones: Vec<Zone> = ZONES
            .iter()
            .map(|z| {
                let [x0, y0, x1, y1] = z.rect_mm;
                Zone {
                    name: z.name.into(),
                    kind: ZoneKind::Storage,
                    polygon: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].iter().map(|p| self.to_px(*p)).map(|p| [p[0].round(), p[1].round()]).collect(),
                    category: None,
                    allow: z.allow.iter().map(|a| a.to_string()).collect(),
                }
            })
            .collect();
        let mut n_ext = 0;
        for (kind, [x, y, w, h]) in &self.items {
            let (kind, name) = match kind {
                SafetyKind::Extinguisher => {
                    n_ext += 1;
                    (ZoneKind::Extinguisher, format!("extinguisher-{n_ext}"))
                }
                SafetyKind::Sign => (ZoneKind::Sign, "door-sign".to_string()),
            };
            let (x0, y0, x1, y1) = (f64::from(*x), f64::from(*y), f64::from(x + w), f64::from(y + h));
            zones.push(Zone { name, kind, polygon: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]], category: None, allow: Vec::new() });
        }
        CalibrationFile {
            camera: camera.into(),
            resolution: [self.width, self.height],
            homography: Some(HomographyRecord { px_to_mm, method: "simulated room".into(), rms_px: 0.0, computed_at: "2026-12-01T08:00:00Z".into() }),
            references: vec![ReferenceImage { image: reference.into(), taken_at: "2026-12-01T08:00:00Z".into() }],
            zones,
        }
    }

    /// The empty room, safety items in place, default light: the calibration's reference picture.
    pub fn reference(&self) -> RgbImage {
        self.develop(self.base.clone(), (1.0, 0.0), mix_seed(self.seed, 0xE7))
    }

    /// The frame at `t_s` (asked for in increasing time) and what is true then.
    pub fn frame(&mut self, t_s: f64) -> (RgbImage, StorageTruth) {
        self.advance(t_s);
        let mut img = self.base.clone();
        let mut items_visible = Vec::new();
        for (i, (_, [x, y, w, h])) in self.items.clone().into_iter().enumerate() {
            let taken = self.taken_until[i] > t_s;
            let covered = self.covered_until[i] > t_s;
            if taken {
                let patch = image::imageops::crop_imm(&self.bare_wall, x, y, w, h).to_image();
                image::imageops::replace(&mut img, &patch, i64::from(x), i64::from(y));
            }
            if covered {
                self.draw_cover(&mut img, [x, y, w, h], i as u64);
            }
            items_visible.push(!taken && !covered);
        }
        // Back to front: in a side view nearer drums hide farther ones.
        let mut order: Vec<usize> = (0..self.drums.len()).collect();
        order.sort_by(|a, b| self.drums[*a].0.pos_mm[1].total_cmp(&self.drums[*b].0.pos_mm[1]));
        let mut truth = Vec::new();
        for i in order {
            let (d, sprite) = &self.drums[i];
            let at = self.to_px(d.pos_mm);
            blit(&mut img, sprite, at);
            truth.push((d.clone(), at));
        }
        let mut people = 0;
        for w in &self.walkers {
            if t_s < w.start || t_s > w.end {
                continue;
            }
            let f = (t_s - w.start) / (w.end - w.start).max(1e-6);
            let p = [w.from[0] + (w.to[0] - w.from[0]) * f, w.from[1] + (w.to[1] - w.from[1]) * f];
            self.draw_person(&mut img, p, w.colour);
            people += 1;
        }
        let frame = self.develop(img, self.light, mix_seed(self.seed, t_s.to_bits()));
        (frame, StorageTruth { drums: truth, items_visible, people })
    }

    fn advance(&mut self, t: f64) {
        while self.next < self.happenings.len() && self.happenings[self.next].at_s <= t {
            let h = self.happenings[self.next].clone();
            self.next += 1;
            match h.act {
                Act::Remove { id_code, .. } => self.drums.retain(|(d, _)| d.id_code != id_code),
                Act::Add(d) => {
                    if let Some(i) = self.spare.iter().position(|(s, _)| s.id_code == d.id_code) {
                        let spare = self.spare.remove(i);
                        self.drums.push(spare);
                    }
                }
                Act::Move { id_code, to_mm } => {
                    for (d, _) in self.drums.iter_mut().filter(|(d, _)| d.id_code == id_code) {
                        d.pos_mm = to_mm;
                    }
                }
                Act::Cover { item, until_s } => {
                    if let Some(c) = self.covered_until.get_mut(item) {
                        *c = until_s;
                    }
                }
                Act::TakeAway { item, until_s } => {
                    if let Some(c) = self.taken_until.get_mut(item) {
                        *c = until_s;
                    }
                }
                Act::Person { from_mm, to_mm, duration_s } => {
                    let mut rng = Rng::with_seed(mix_seed(self.seed, h.at_s.to_bits()));
                    let colour = [rng.u8(20..200), rng.u8(20..200), rng.u8(20..200)];
                    self.walkers.push(Walker { from: from_mm, to: to_mm, start: h.at_s, end: h.at_s + duration_s.max(1.0), colour });
                }
                Act::Light { gain, gradient } => self.light = (gain.clamp(0.3, 2.0), gradient.clamp(-0.8, 0.8)),
            }
        }
    }

    /// Light, sensor noise and 8-bit output.
    fn develop(&self, img: RgbImage, (gain, gradient): (f32, f32), seed: u64) -> RgbImage {
        let w = self.width as f32;
        let offset = (seed % 65_536) as usize;
        let mut out = img;
        for (x, _, p) in out.enumerate_pixels_mut() {
            let g = gain * (1.0 + gradient * (x as f32 / w - 0.5));
            let i = (x as usize).wrapping_mul(3);
            for (c, v) in p.0.iter_mut().enumerate() {
                let n = self.noise[(offset + i + c * 7919) & 0xFFFF];
                *v = (f32::from(*v) * g + n).round().clamp(0.0, 255.0) as u8;
            }
        }
        // Rows differ in noise too.
        for (y, row) in out.rows_mut().enumerate() {
            let n = self.noise[(offset + y * 131) & 0xFFFF] * 0.5;
            for p in row {
                for v in p.0.iter_mut() {
                    *v = (f32::from(*v) + n).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        out
    }

    /// Floor (epoxy with mottling), zone tape, the wall band with two
    /// extinguishers and the door with its warning sign.
    fn paint_room(&mut self, rng: &mut Rng) {
        let (w, h) = (self.width, self.height);
        let tone = [uniform(rng, 105.0, 135.0), uniform(rng, 115.0, 140.0), uniform(rng, 105.0, 125.0)];
        let blobs: Vec<([f64; 2], f64, f64)> = (0..40).map(|_| ([uniform(rng, 0.0, f64::from(w)), uniform(rng, 0.0, f64::from(h))], uniform(rng, 40.0, 220.0), uniform(rng, -10.0, 10.0))).collect();
        let mut img = RgbImage::new(w, h);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let (fx, fy) = (f64::from(x), f64::from(y));
            if fy < self.floor_top {
                // Wall: pale paint, a darker skirting at the bottom.
                let skirting = fy > self.floor_top - 0.08 * self.floor_top;
                let v = if skirting { 95.0 } else { 200.0 - 20.0 * fy / self.floor_top };
                *p = Rgb([v as u8, v as u8, (v + 4.0).min(255.0) as u8]);
                continue;
            }
            let mottle: f64 = blobs.iter().map(|(c, r, a)| a * (-((fx - c[0]).powi(2) + (fy - c[1]).powi(2)) / (r * r)).exp()).sum();
            let grain = ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 13) as f64 - 6.0;
            *p = Rgb(std::array::from_fn(|c| (tone[c] + mottle + grain * 0.8).clamp(0.0, 255.0) as u8));
        }
        // Yellow tape round each zone, 50 mm wide.
        let tape = (50.0 * self.s).max(2.0);
        for z in &ZONES {
            let [x0, y0, x1, y1] = z.rect_mm;
            let a = self.to_px([x0, y0]);
            let b = self.to_px([x1, y1]);
            let t = tape * if self.view == View::Side { self.k } else { 1.0 };
            fill(&mut img, [a[0], a[1], b[0] - a[0], t], [215, 180, 40]);
            fill(&mut img, [a[0], b[1] - t, b[0] - a[0], t], [215, 180, 40]);
            fill(&mut img, [a[0], a[1], tape, b[1] - a[1]], [215, 180, 40]);
            fill(&mut img, [b[0] - tape, a[1], tape, b[1] - a[1]], [215, 180, 40]);
        }
        self.bare_wall = img.clone();
        // The door with its sign, in the middle of the wall.
        let band = self.floor_top;
        let door = [0.44 * f64::from(w), 0.02 * band, 0.12 * f64::from(w), 0.9 * band];
        fill(&mut img, door, [120, 90, 60]);
        self.bare_wall = img.clone();
        let sign_w = 0.075 * f64::from(w);
        let sign = [door[0] + (door[2] - sign_w) / 2.0, 0.12 * band, sign_w, (0.6 * band).min(sign_w * 0.9)];
        draw_sign(&mut img, sign);
        // Extinguishers near both ends of the wall.
        let ext_w = (0.03 * f64::from(w)).max(8.0);
        let ext_h = (0.7 * band).min(2.6 * ext_w);
        let mut items = Vec::new();
        for cx in [0.06 * f64::from(w), 0.92 * f64::from(w)] {
            let r = [cx - ext_w / 2.0, (0.2 * band).min(0.9 * band - ext_h), ext_w, ext_h];
            draw_extinguisher(&mut img, r);
            items.push((SafetyKind::Extinguisher, margin_box(r, 3.0, w, h)));
        }
        items.insert(1, (SafetyKind::Sign, margin_box(sign, 3.0, w, h)));
        self.items = items;
        self.base = img;
    }

    fn draw_cover(&self, img: &mut RgbImage, [x, y, w, h]: [u32; 4], salt: u64) {
        let mut rng = Rng::with_seed(mix_seed(self.seed, 0xC0 + salt));
        let colour = [rng.u8(60..140), rng.u8(60..140), rng.u8(80..160)];
        let (ex, ey) = (w / 6 + 2, h / 8 + 2);
        let (x0, y0) = (x.saturating_sub(ex), y.saturating_sub(ey));
        let (x1, y1) = ((x + w + ex).min(self.width), (y + h + ey).min(self.height));
        for yy in y0..y1 {
            for xx in x0..x1 {
                // Folds: slow stripes of shade.
                let fold = 1.0 + 0.18 * ((f64::from(xx) * 0.21 + f64::from(yy) * 0.05).sin());
                img.put_pixel(xx, yy, Rgb(colour.map(|c| (f64::from(c) * fold).clamp(0.0, 255.0) as u8)));
            }
        }
    }

    fn draw_person(&self, img: &mut RgbImage, at_mm: [f64; 2], colour: [u8; 3]) {
        let p = self.to_px(at_mm);
        let s = self.s;
        match self.view {
            View::Top => {
                // Shadow, shoulders, head from above.
                ellipse(img, [p[0] + 60.0 * s, p[1] + 60.0 * s], [300.0 * s, 180.0 * s], |c| c.map(|v| (f32::from(v) * 0.75) as u8));
                ellipse(img, p, [250.0 * s, 140.0 * s], |_| colour);
                ellipse(img, p, [100.0 * s, 100.0 * s], |_| [35, 30, 28]);
            }
            View::Side => {
                let hs = HEIGHT_SCALE * s;
                fill(img, [p[0] - 220.0 * s, p[1] - 1450.0 * hs, 440.0 * s, 1450.0 * hs], colour);
                ellipse(img, [p[0], p[1] - 1560.0 * hs], [110.0 * s, 120.0 * hs], |_| [190, 150, 120]);
            }
        }
    }

    /// A drum drawn once: lid (top view) or body (side view) with its label and sticker.
    fn sprite(&self, d: &Drum, font: &FontVec) -> Sprite {
        let s = self.s;
        let r = DRUM_DIAMETER_MM / 2.0 * s;
        let decal = decal(d, s, font, self.view);
        match self.view {
            View::Top => {
                let side = (2.0 * r).ceil() as u32 + 4;
                let c = f64::from(side) / 2.0;
                let rotated = imageproc::geometric_transformations::rotate_about_center(&decal, d.angle, imageproc::geometric_transformations::Interpolation::Bilinear, Rgba([0, 0, 0, 0]));
                let (dw, dh) = rotated.dimensions();
                let mut img = RgbaImage::new(side, side);
                for (x, y, px) in img.enumerate_pixels_mut() {
                    let (dx, dy) = (f64::from(x) + 0.5 - c, f64::from(y) + 0.5 - c);
                    let dist = dx.hypot(dy);
                    let alpha = (r - dist + 0.5).clamp(0.0, 1.0);
                    if alpha <= 0.0 {
                        continue;
                    }
                    let q = dist / r;
                    let mut shade = 1.0 - 0.18 * q * q;
                    if q > 0.9 {
                        shade *= 0.72;
                    } else if (q - 0.8).abs() < 0.025 {
                        shade *= 0.85;
                    }
                    let bung = |bx: f64, by: f64| (dx - bx * r).hypot(dy - by * r) < 0.07 * r;
                    let base = if bung(-0.55, -0.35) || bung(0.55, 0.4) { [90, 90, 90] } else { d.paint };
                    let mut rgb = base.map(|v| f64::from(v) * shade);
                    let (ux, uy) = ((f64::from(dw) / 2.0 + dx) as i64, (f64::from(dh) / 2.0 + dy) as i64);
                    if ux >= 0 && uy >= 0 && (ux as u32) < dw && (uy as u32) < dh {
                        let dp = rotated.get_pixel(ux as u32, uy as u32).0;
                        let a = f64::from(dp[3]) / 255.0;
                        for ch in 0..3 {
                            rgb[ch] = rgb[ch] * (1.0 - a) + f64::from(dp[ch]) * (0.92 + 0.08 * (1.0 - q)) * a;
                        }
                    }
                    *px = Rgba([rgb[0] as u8, rgb[1] as u8, rgb[2] as u8, (alpha * 255.0) as u8]);
                }
                Sprite { image: imageproc::filter::gaussian_blur_f32(&img, 0.6), anchor: [c, c] }
            }
            View::Side => {
                let k = self.k;
                let hb = DRUM_HEIGHT_MM * HEIGHT_SCALE * s;
                let ry = r * k;
                let (wd, ht) = ((2.0 * r).ceil() as u32 + 4, (hb + 2.0 * ry).ceil() as u32 + 4);
                let anchor = [f64::from(wd) / 2.0, f64::from(ht) - ry - 2.0];
                let small_angle = d.angle * 0.03;
                let rotated = imageproc::geometric_transformations::rotate_about_center(&decal, small_angle, imageproc::geometric_transformations::Interpolation::Bilinear, Rgba([0, 0, 0, 0]));
                let (dw, dh) = rotated.dimensions();
                // Below the lid as seen: the lid's ellipse hides the body's top.
                let decal_centre = [anchor[0], anchor[1] - 0.38 * hb];
                let mut img = RgbaImage::new(wd, ht);
                for (x, y, px) in img.enumerate_pixels_mut() {
                    let (dx, dy) = (f64::from(x) + 0.5 - anchor[0], f64::from(y) + 0.5 - anchor[1]);
                    let in_top = (dx / r).powi(2) + ((dy + hb) / ry).powi(2) <= 1.0;
                    let in_body = dx.abs() <= r && dy >= -hb && dy <= 0.0;
                    let in_bottom = (dx / r).powi(2) + (dy / ry).powi(2) <= 1.0 && dy > 0.0;
                    if !(in_top || in_body || in_bottom) {
                        continue;
                    }
                    let mut rgb = if in_top {
                        d.paint.map(|v| (f64::from(v) * 1.08).min(255.0))
                    } else {
                        let across = (1.0 - (dx / r).powi(2)).max(0.0).sqrt();
                        let rib = [-hb / 3.0, -2.0 * hb / 3.0].iter().any(|ry| (dy - ry).abs() < 8.0 * s);
                        d.paint.map(|v| f64::from(v) * (0.5 + 0.5 * across) * if rib { 0.8 } else { 1.0 })
                    };
                    if !in_top {
                        let (ux, uy) = ((f64::from(dw) / 2.0 + f64::from(x) + 0.5 - decal_centre[0]) as i64, (f64::from(dh) / 2.0 + f64::from(y) + 0.5 - decal_centre[1]) as i64);
                        if ux >= 0 && uy >= 0 && (ux as u32) < dw && (uy as u32) < dh {
                            let dp = rotated.get_pixel(ux as u32, uy as u32).0;
                            let a = f64::from(dp[3]) / 255.0;
                            let across = (1.0 - (dx / r).powi(2)).max(0.0).sqrt();
                            for ch in 0..3 {
                                rgb[ch] = rgb[ch] * (1.0 - a) + f64::from(dp[ch]) * (0.75 + 0.25 * across) * a;
                            }
                        }
                    }
                    *px = Rgba([rgb[0] as u8, rgb[1] as u8, rgb[2] as u8, 255]);
                }
                Sprite { image: imageproc::filter::gaussian_blur_f32(&img, 0.6), anchor }
            }
        }
    }
}

/// The drum's label and QR sticker side by side, unrotated, at frame scale.
fn decal(d: &Drum, s: f64, font: &FontVec, view: View) -> RgbaImage {
    let side = (DRUM_DIAMETER_MM * s).ceil() as u32 + 2;
    let mut out = RgbaImage::new(side, side);
    let c = f64::from(side) / 2.0;
    let (label_at, sticker_at) = match view {
        View::Top => ([-95.0, 70.0], [100.0, -70.0]),
        View::Side => ([-100.0, 0.0], [105.0, 0.0]),
    };
    if d.labelled {
        let mut rng = Rng::with_seed(d.seed);
        let catalogue = crate::label::catalogue::Catalogue::builtin();
        let mut content = LabelContent::random(&mut rng, catalogue.entries(), chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default());
        content.waste_name = d.waste_name.clone();
        content.waste_code = d.waste_code.clone();
        content.category = d.category.clone();
        content.id_code = d.id_code.clone();
        content.qr_payload = Some(d.id_code.clone());
        content.weight_kg = d.weight_kg;
        let style = LabelStyle { layout: LabelLayout::Table, size_mm: LABEL_MM as f32, px_per_mm: 4.0 };
        let label = render_label(&content, &style, font);
        let px = ((LABEL_MM * s).round() as u32).max(4);
        let small = image::imageops::resize(&label.image, px, px, image::imageops::FilterType::Triangle);
        paste(&mut out, &small, [c + label_at[0] * s, c + label_at[1] * s]);
    }
    if d.sticker
        && let Some((n, dark)) = qr_modules(&d.id_code)
    {
        let quiet = 2;
        let total = n + 2 * quiet;
        let per = 8u32;
        let big = RgbImage::from_fn(total as u32 * per, total as u32 * per, |x, y| {
            let (mx, my) = ((x / per) as usize, (y / per) as usize);
            let on = mx >= quiet && my >= quiet && mx < n + quiet && my < n + quiet && dark[(my - quiet) * n + (mx - quiet)];
            if on { Rgb([20, 20, 20]) } else { Rgb([240, 240, 235]) }
        });
        let px = ((STICKER_MM * s).round() as u32).max(4);
        let small = image::imageops::resize(&big, px, px, image::imageops::FilterType::Triangle);
        paste(&mut out, &small, [c + sticker_at[0] * s, c + sticker_at[1] * s]);
    }
    out
}

fn paste(out: &mut RgbaImage, img: &RgbImage, centre: [f64; 2]) {
    let (w, h) = img.dimensions();
    let x0 = (centre[0] - f64::from(w) / 2.0).round() as i64;
    let y0 = (centre[1] - f64::from(h) / 2.0).round() as i64;
    for (x, y, p) in img.enumerate_pixels() {
        let (ox, oy) = (x0 + i64::from(x), y0 + i64::from(y));
        if ox >= 0 && oy >= 0 && (ox as u32) < out.width() && (oy as u32) < out.height() {
            out.put_pixel(ox as u32, oy as u32, Rgba([p.0[0], p.0[1], p.0[2], 255]));
        }
    }
}

fn blit(img: &mut RgbImage, sprite: &Sprite, at: [f64; 2]) {
    let x0 = (at[0] - sprite.anchor[0]).round() as i64;
    let y0 = (at[1] - sprite.anchor[1]).round() as i64;
    for (x, y, p) in sprite.image.enumerate_pixels() {
        let a = u32::from(p.0[3]);
        if a == 0 {
            continue;
        }
        let (ox, oy) = (x0 + i64::from(x), y0 + i64::from(y));
        if ox < 0 || oy < 0 || ox as u32 >= img.width() || oy as u32 >= img.height() {
            continue;
        }
        let q = img.get_pixel_mut(ox as u32, oy as u32);
        for c in 0..3 {
            q.0[c] = ((u32::from(p.0[c]) * a + u32::from(q.0[c]) * (255 - a)) / 255) as u8;
        }
    }
}

fn fill(img: &mut RgbImage, [x, y, w, h]: [f64; 4], rgb: [u8; 3]) {
    let (iw, ih) = img.dimensions();
    let x0 = x.max(0.0).round() as u32;
    let y0 = y.max(0.0).round() as u32;
    let x1 = ((x + w).round().max(0.0) as u32).min(iw);
    let y1 = ((y + h).round().max(0.0) as u32).min(ih);
    for yy in y0..y1 {
        for xx in x0..x1 {
            img.put_pixel(xx, yy, Rgb(rgb));
        }
    }
}

fn ellipse(img: &mut RgbImage, c: [f64; 2], r: [f64; 2], colour: impl Fn([u8; 3]) -> [u8; 3]) {
    let (iw, ih) = img.dimensions();
    let x0 = (c[0] - r[0]).max(0.0) as u32;
    let y0 = (c[1] - r[1]).max(0.0) as u32;
    let x1 = ((c[0] + r[0]).max(0.0) as u32 + 1).min(iw);
    let y1 = ((c[1] + r[1]).max(0.0) as u32 + 1).min(ih);
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = ((f64::from(x) + 0.5 - c[0]) / r[0].max(0.5), (f64::from(y) + 0.5 - c[1]) / r[1].max(0.5));
            if dx * dx + dy * dy <= 1.0 {
                let p = img.get_pixel_mut(x, y);
                p.0 = colour(p.0);
            }
        }
    }
}

/// A warning sign: white board, yellow triangle with a black edge and "!", text bars.
fn draw_sign(img: &mut RgbImage, [x, y, w, h]: [f64; 4]) {
    fill(img, [x, y, w, h], [245, 245, 240]);
    let (cx, top, base) = (x + w / 2.0, y + 0.08 * h, y + 0.62 * h);
    let half = 0.42 * w;
    for yy in top as u32..base as u32 {
        let f = (f64::from(yy) - top) / (base - top);
        let hw = half * f;
        for xx in (cx - hw) as u32..(cx + hw) as u32 {
            let edge = f > 0.9 || (f64::from(xx) - (cx - hw)).abs() < 0.08 * w || (f64::from(xx) - (cx + hw)).abs() < 0.08 * w;
            img.put_pixel(xx, yy, Rgb(if edge { [20, 20, 20] } else { [250, 200, 0] }));
        }
    }
    fill(img, [cx - 0.04 * w, top + 0.3 * (base - top), 0.08 * w, 0.35 * (base - top)], [20, 20, 20]);
    fill(img, [cx - 0.04 * w, top + 0.75 * (base - top), 0.08 * w, 0.08 * (base - top)], [20, 20, 20]);
    for i in 0..3 {
        fill(img, [x + 0.12 * w, y + (0.7 + 0.09 * f64::from(i)) * h, w * (0.76 - 0.15 * f64::from(i)), 0.05 * h], [30, 30, 30]);
    }
}

/// A red extinguisher with a black head and hose and a white instruction label.
fn draw_extinguisher(img: &mut RgbImage, [x, y, w, h]: [f64; 4]) {
    fill(img, [x + 0.3 * w, y, 0.4 * w, 0.12 * h], [30, 30, 30]);
    fill(img, [x, y + 0.12 * h, w, 0.88 * h], [200, 25, 25]);
    fill(img, [x + 0.15 * w, y + 0.35 * h, 0.7 * w, 0.3 * h], [235, 235, 225]);
    fill(img, [x + 0.2 * w, y + 0.42 * h, 0.6 * w, 0.04 * h], [40, 40, 40]);
    fill(img, [x + 0.2 * w, y + 0.52 * h, 0.5 * w, 0.04 * h], [40, 40, 40]);
    fill(img, [x + 0.85 * w, y + 0.1 * h, 0.12 * w, 0.6 * h], [25, 25, 25]);
}

fn margin_box([x, y, w, h]: [f64; 4], m: f64, iw: u32, ih: u32) -> [u32; 4] {
    let x0 = (x - m).max(0.0) as u32;
    let y0 = (y - m).max(0.0) as u32;
    let x1 = ((x + w + m).ceil() as u32).min(iw);
    let y1 = ((y + h + m).ceil() as u32).min(ih);
    [x0, y0, x1 - x0, y1 - y0]
}

fn gaussian(rng: &mut Rng) -> f32 {
    let u1 = rng.f64().max(1e-12);
    let u2 = rng.f64();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

// ---------------------------------------------------------------------------
// Scenarios: a stocked room and one fault (or none), with distractors.
// ---------------------------------------------------------------------------

/// The fault a scenario plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Distractors only.
    None,
    /// A registered drum leaves without a manifest.
    Missing,
    /// A drum leaves on a transfer manifest (no finding is due).
    Transferred,
    /// A drum with no intake record is put down in its zone.
    Unregistered,
    /// A registered drum is put down (no finding is due).
    RegisteredAdd,
    /// A drum is moved into a zone that does not take its category.
    WrongZone,
    /// An acid drum is put next to an alkali drum in the staging row.
    Incompatible,
    /// A registered drum without its HJ 1276 label is put down.
    Unlabelled,
    /// An extinguisher is covered for good.
    ExtinguisherCovered,
    /// The door's sign is taken away.
    SignRemoved,
    /// An extinguisher is covered for a minute only (no finding is due).
    BriefCover,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::None,
        Fault::Missing,
        Fault::Transferred,
        Fault::Unregistered,
        Fault::RegisteredAdd,
        Fault::WrongZone,
        Fault::Incompatible,
        Fault::Unlabelled,
        Fault::ExtinguisherCovered,
        Fault::SignRemoved,
        Fault::BriefCover,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Missing => "missing",
            Self::Transferred => "transferred",
            Self::Unregistered => "unregistered",
            Self::RegisteredAdd => "registered-add",
            Self::WrongZone => "wrong-zone",
            Self::Incompatible => "incompatible",
            Self::Unlabelled => "unlabelled",
            Self::ExtinguisherCovered => "extinguisher-covered",
            Self::SignRemoved => "sign-removed",
            Self::BriefCover => "brief-cover",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// A finding the scenario makes due: its event (`storage.missing`, ...,
/// `safety.missing`), the containers or item it names, and when the fault happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub event: &'static str,
    /// Codes of the containers (all must be named), or the safety item's index.
    pub subjects: Vec<String>,
    pub at_s: f64,
}

/// A scenario: the script, the ledger at the start, what is due, and the ledger's changes over time.
pub struct Scenario {
    pub script: StorageScript,
    pub ledger: Vec<LedgerRecord>,
    pub expected: Vec<Expected>,
    /// (time, what the platform or intake does to the ledger then).
    pub ledger_acts: Vec<(f64, LedgerAct)>,
}

#[derive(Debug, Clone)]
pub enum LedgerAct {
    Intake(LedgerRecord),
    TransferOut { manifest: String, ids: Vec<String> },
}

fn free_spot(rng: &mut Rng, zone: &ZoneSpec, placed: &[[f64; 2]]) -> Option<[f64; 2]> {
    let r = DRUM_DIAMETER_MM / 2.0 + 30.0;
    let [x0, y0, x1, y1] = zone.rect_mm;
    (0..400).find_map(|_| {
        let p = [uniform(rng, x0 + r, (x1 - r).max(x0 + r + 1.0)), uniform(rng, y0 + r, (y1 - r).max(y0 + r + 1.0))];
        placed.iter().all(|q| (p[0] - q[0]).hypot(p[1] - q[1]) >= DRUM_DIAMETER_MM + 80.0).then_some(p)
    })
}

fn zone(name: &str) -> &'static ZoneSpec {
    ZONES.iter().find(|z| z.name == name).unwrap_or(&ZONES[0])
}

/// A stocked room with `fault` at about a fifth of `duration_s`, people passing and light changes.
pub fn scenario(seed: u64, fault: Fault, view: View, width: u32, height: u32, duration_s: f64) -> Scenario {
    let mut rng = Rng::with_seed(mix_seed(seed, 0x5CE));
    let mut drums: Vec<Drum> = Vec::new();
    let mut placed: Vec<[f64; 2]> = Vec::new();
    let mut put = |rng: &mut Rng, zone_name: &str, category: Option<&str>, drums: &mut Vec<Drum>| {
        if let Some(p) = free_spot(rng, zone(zone_name), &placed) {
            placed.push(p);
            drums.push(Drum::random(rng, category, p));
        }
    };
    let oils = ["HW08", "HW09", "HW12", "HW49"];
    for _ in 0..rng.usize(3..=5) {
        let c = oils[rng.usize(..oils.len())];
        put(&mut rng, "A-oils", Some(c), &mut drums);
    }
    for _ in 0..rng.usize(1..=2) {
        put(&mut rng, "B-acids", Some("HW34"), &mut drums);
    }
    for _ in 0..rng.usize(1..=2) {
        put(&mut rng, "C-alkalis", Some("HW35"), &mut drums);
    }
    if fault == Fault::Incompatible {
        // An alkali drum waiting at the staging row's far end; the acid drum comes next to it.
        let p = [450.0, uniform(&mut rng, 1870.0, 1880.0)];
        placed.push(p);
        drums.push(Drum::random(&mut rng, Some("HW35"), p));
    } else if rng.bool() {
        put(&mut rng, "D-staging", Some("HW49"), &mut drums);
    }
    let ledger: Vec<LedgerRecord> = drums.iter().map(Drum::ledger_record).collect();
    let at = (0.2 + 0.1 * rng.f64()) * duration_s;
    let mut happenings = Vec::new();
    let mut expected = Vec::new();
    let mut ledger_acts = Vec::new();
    let manifest = format!("202611{:02}{:06}", 1 + rng.u32(0..28), rng.u32(0..1_000_000));
    let pick_in = |rng: &mut Rng, drums: &[Drum], zone_name: &str| -> Option<Drum> {
        let z = zone(zone_name);
        let inside: Vec<&Drum> = drums.iter().filter(|d| d.pos_mm[0] >= z.rect_mm[0] && d.pos_mm[0] <= z.rect_mm[2] && d.pos_mm[1] >= z.rect_mm[1] && d.pos_mm[1] <= z.rect_mm[3]).collect();
        (!inside.is_empty()).then(|| inside[rng.usize(..inside.len())].clone())
    };
    let placed_now: Vec<[f64; 2]> = drums.iter().map(|d| d.pos_mm).collect();
    match fault {
        Fault::None => {}
        Fault::Missing | Fault::Transferred => {
            let d = drums[rng.usize(..drums.len())].clone();
            let m = (fault == Fault::Transferred).then(|| manifest.clone());
            if let Some(m) = &m {
                ledger_acts.push((at - 30.0, LedgerAct::TransferOut { manifest: m.clone(), ids: vec![d.id_code.clone()] }));
            } else {
                expected.push(Expected { event: "storage.missing", subjects: vec![d.id_code.clone()], at_s: at });
            }
            happenings.push(Happening { at_s: at, act: Act::Remove { id_code: d.id_code, manifest: m } });
        }
        Fault::Unregistered | Fault::RegisteredAdd | Fault::Unlabelled => {
            // The first zone, from a random one on, with room for it.
            let zones = ["A-oils", "B-acids", "C-alkalis", "D-staging"];
            let first = rng.usize(..3);
            let spot = (0..4).map(|k| zones[if k == 3 { 3 } else { (first + k) % 3 }]).find_map(|z| free_spot(&mut rng, zone(z), &placed_now).map(|p| (z, p)));
            if let Some((z, p)) = spot {
                let category = match z {
                    "B-acids" => "HW34",
                    "C-alkalis" => "HW35",
                    "D-staging" => "HW49",
                    _ => oils[rng.usize(..oils.len())],
                };
                let mut d = Drum::random(&mut rng, Some(category), p);
                d.registered = fault != Fault::Unregistered;
                d.labelled = fault != Fault::Unlabelled;
                if d.registered {
                    ledger_acts.push((at - 60.0, LedgerAct::Intake(d.ledger_record())));
                }
                match fault {
                    Fault::Unregistered => expected.push(Expected { event: "storage.unregistered", subjects: vec![d.id_code.clone()], at_s: at }),
                    Fault::Unlabelled => expected.push(Expected { event: "storage.unlabelled", subjects: vec![d.id_code.clone()], at_s: at }),
                    _ => {}
                }
                happenings.push(Happening { at_s: at, act: Act::Add(Box::new(d)) });
            }
        }
        Fault::WrongZone => {
            // An oil drum into the acid zone, or an acid drum into the oil zone.
            let (from, to) = if rng.bool() { ("A-oils", "B-acids") } else { ("B-acids", "A-oils") };
            if let (Some(d), Some(p)) = (pick_in(&mut rng, &drums, from), free_spot(&mut rng, zone(to), &placed_now)) {
                expected.push(Expected { event: "storage.segregation", subjects: vec![d.id_code.clone()], at_s: at });
                happenings.push(Happening { at_s: at, act: Act::Move { id_code: d.id_code, to_mm: p } });
            }
        }
        Fault::Incompatible => {
            let alkali = pick_in(&mut rng, &drums, "D-staging");
            let acid = pick_in(&mut rng, &drums, "B-acids");
            if let (Some(alkali), Some(acid)) = (alkali, acid) {
                // 680-730 mm from the alkali drum (a hand's width between them), still in the staging row.
                let x = alkali.pos_mm[0] + uniform(&mut rng, 680.0, 730.0);
                expected.push(Expected { event: "storage.segregation", subjects: vec![acid.id_code.clone(), alkali.id_code.clone()], at_s: at });
                happenings.push(Happening { at_s: at, act: Act::Move { id_code: acid.id_code, to_mm: [x, alkali.pos_mm[1]] } });
            }
        }
        Fault::ExtinguisherCovered => {
            let item = if rng.bool() { 0 } else { 2 };
            expected.push(Expected { event: "safety.missing", subjects: vec![item.to_string()], at_s: at });
            happenings.push(Happening { at_s: at, act: Act::Cover { item, until_s: f64::INFINITY } });
        }
        Fault::SignRemoved => {
            expected.push(Expected { event: "safety.missing", subjects: vec!["1".into()], at_s: at });
            happenings.push(Happening { at_s: at, act: Act::TakeAway { item: 1, until_s: f64::INFINITY } });
        }
        Fault::BriefCover => {
            happenings.push(Happening { at_s: at, act: Act::Cover { item: 0, until_s: at + 50.0 } });
        }
    }
    // Distractors: people crossing (some stop a while), the light switched,
    // a drum moved within its own zone.
    let people = rng.usize(2..=5);
    for _ in 0..people {
        let t = uniform(&mut rng, 0.0, duration_s);
        let from = [uniform(&mut rng, -300.0, 0.0), uniform(&mut rng, 1420.0, 1530.0)];
        let to = [FLOOR_MM[0] + 300.0, uniform(&mut rng, 1420.0, 1530.0)];
        let (from, to) = if rng.bool() { (from, to) } else { (to, from) };
        happenings.push(Happening { at_s: t, act: Act::Person { from_mm: from, to_mm: to, duration_s: uniform(&mut rng, 10.0, 25.0) } });
    }
    if rng.bool() {
        // Someone stops by the drums for half a minute to a minute and a half.
        let p = [uniform(&mut rng, 300.0, 3700.0), 1475.0];
        happenings.push(Happening { at_s: uniform(&mut rng, 0.0, duration_s), act: Act::Person { from_mm: p, to_mm: [p[0] + 150.0, p[1]], duration_s: uniform(&mut rng, 30.0, 90.0) } });
    }
    for _ in 0..rng.usize(0..=2) {
        let gain = uniform(&mut rng, 0.65, 1.35) as f32;
        let gradient = uniform(&mut rng, -0.3, 0.3) as f32;
        happenings.push(Happening { at_s: uniform(&mut rng, 0.0, duration_s), act: Act::Light { gain, gradient } });
    }
    Scenario { script: StorageScript { view, width, height, drums, happenings }, ledger, expected, ledger_acts }
}
