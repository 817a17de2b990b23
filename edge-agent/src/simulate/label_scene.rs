//! Photos of a label on a container (part of `label.rs`): a textured container
//! surface, the label warped by a perspective and rotation, a hand or tape over an
//! edge, uneven light, glare from a plastic sleeve, focus blur, sensor noise, JPEG.
//!
//! The frame is kept as linear-ish f32 RGB (0..255) until the JPEG.

use super::{LabelField, RenderedLabel};
use fastrand::Rng;
use imageproc::geometric_transformations::Projection;
use serde::{Deserialize, Serialize};

/// The surface behind the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Background {
    DrumBlue,
    DrumBlack,
    Cardboard,
    PlasticBag,
    ConcreteFloor,
}

impl Background {
    pub const ALL: [Background; 5] = [Self::DrumBlue, Self::DrumBlack, Self::Cardboard, Self::PlasticBag, Self::ConcreteFloor];
}

/// How badly the label is photographed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SceneDamage {
    /// 0..1: corner jitter of up to 8 % of the label size times this.
    pub perspective: f32,
    pub rotation_deg: f32,
    /// Gaussian focus blur, scene pixels.
    pub blur_sigma: f32,
    pub jpeg_quality: u8,
    /// 0..1: how far the light falls off across the frame.
    pub uneven_light: f32,
    /// 0..1: strength of a bright elliptical reflection near the label.
    pub glare: f32,
    /// Share of the label's area covered by a hand or tape over an edge, 0..0.3.
    pub occlusion: f32,
    pub background: Background,
}

impl SceneDamage {
    /// A square-on, sharp, evenly lit photo (only sensor noise and JPEG q95).
    pub fn none() -> Self {
        Self { perspective: 0.0, rotation_deg: 0.0, blur_sigma: 0.0, jpeg_quality: 95, uneven_light: 0.0, glare: 0.0, occlusion: 0.0, background: Background::DrumBlue }
    }

    /// Damage growing with `severity` (0 = clean, 1 = hard but every field still
    /// legible to a person, except where an occluder lies; see [`Scene::occluded`]).
    pub fn random(rng: &mut Rng, severity: f32) -> Self {
        let s = if severity.is_finite() { severity.clamp(0.0, 1.0) } else { 0.0 };
        let mut u = |lo: f32, hi: f32| lo + (hi - lo) * rng.f32();
        let perspective = (0.3 + 0.7 * s) * u(0.5, 1.0);
        let rotation_deg = u(-1.0, 1.0) * (2.0 + 18.0 * s);
        let blur_sigma = 1.6 * s * u(0.4, 1.0);
        let jpeg_quality = (95.0 - 40.0 * s * u(0.6, 1.0)).round() as u8;
        let uneven_light = u(0.0, 0.15) + 0.6 * s * u(0.3, 1.0);
        let glare = if u(0.0, 1.0) < 0.5 * s { u(0.3, 1.0) * (0.4 + 0.6 * s) } else { 0.0 };
        let occlusion = if u(0.0, 1.0) < 0.3 * s { u(0.03, 0.12) } else { 0.0 };
        let background = Background::ALL[rng.usize(..Background::ALL.len())];
        Self { perspective, rotation_deg, blur_sigma, jpeg_quality, uneven_light, glare, occlusion, background }
    }

    /// The same damage with every number in its range (NaN counts as none).
    fn sanitized(&self) -> Self {
        let c = |v: f32, lo: f32, hi: f32| if v.is_finite() { v.clamp(lo, hi) } else { 0.0 };
        Self {
            perspective: c(self.perspective, 0.0, 1.0),
            rotation_deg: c(self.rotation_deg, -180.0, 180.0),
            blur_sigma: c(self.blur_sigma, 0.0, 8.0),
            jpeg_quality: self.jpeg_quality.clamp(1, 100),
            uneven_light: c(self.uneven_light, 0.0, 1.0),
            glare: c(self.glare, 0.0, 1.0),
            occlusion: c(self.occlusion, 0.0, 0.3),
            background: self.background,
        }
    }
}

/// A photographed label and where its values landed.
#[derive(Debug, Clone)]
pub struct Scene {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Each of the label's `field_boxes` (same order) after the perspective map:
    /// corners top-left, top-right, bottom-right, bottom-left of the label's box.
    pub field_quads: Vec<(LabelField, [[f32; 2]; 4])>,
    /// The label's corners (same order), None without a label.
    pub label_quad: Option<[[f32; 2]; 4]>,
    /// The QR symbol's corners, if the label has one.
    pub qr_quad: Option<[[f32; 2]; 4]>,
    /// Fields with at least 30 % of one of their boxes under the occluder.
    pub occluded: Vec<LabelField>,
}

/// Puts a label (or None: a container with no label) on a background, applies the
/// damage and encodes a JPEG of `width` x `height` (clamped to 16..8192).
pub fn render_scene(label: Option<&RenderedLabel>, damage: &SceneDamage, rng: &mut Rng, width: u32, height: u32) -> Scene {
    let (w, h) = (width.clamp(16, 8192), height.clamp(16, 8192));
    let d = damage.sanitized();
    let mut frame = Planes::new(w, h);
    background(&mut frame, rng, d.background);
    let mut scene = Scene { jpeg: Vec::new(), width: w, height: h, field_quads: Vec::new(), label_quad: None, qr_quad: None, occluded: Vec::new() };

    let mut glare_at = None;
    match label {
        Some(label) if label.image.width() > 0 && label.image.height() > 0 => {
            let (lw, lh) = (label.image.width() as f32, label.image.height() as f32);
            let map = place(rng, &d, lw, lh, w, h);
            composite_label(&mut frame, rng, label, &map);
            let quad = |b: [f32; 4]| [b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]].chunks(2).map(|p| map.apply(p[0], p[1])).collect::<Vec<_>>().try_into().unwrap_or([[0.0; 2]; 4]);
            scene.field_quads = label.field_boxes.iter().map(|(f, b)| (*f, quad(*b))).collect();
            scene.label_quad = Some(quad([0.0, 0.0, lw, lh]));
            scene.qr_quad = label.qr_box.map(quad);
            if d.occlusion > 0.0 {
                let occ = Occluder::random(rng, d.occlusion);
                occ.draw(&mut frame, rng, &map, lw, lh);
                let mut occluded: Vec<LabelField> = label.field_boxes.iter().filter(|(_, b)| occ.covers_box(*b, lw, lh) >= 0.3).map(|(f, _)| *f).collect();
                occluded.dedup();
                scene.occluded = occluded;
            }
            let c = map.apply(lw / 2.0, lh / 2.0);
            glare_at = Some((c[0], c[1], map.scale * lw.max(lh)));
        }
        _ => {
            if rng.f32() < 0.3 {
                sticker(&mut frame, rng);
            }
        }
    }

    light(&mut frame, rng, d.uneven_light);
    if d.glare > 0.0 {
        let (cx, cy, size) = glare_at.unwrap_or((w as f32 * rng.f32(), h as f32 * rng.f32(), w.min(h) as f32 * 0.6));
        glare(&mut frame, rng, d.glare, cx, cy, size);
    }
    if d.blur_sigma > 0.05 {
        frame.blur(d.blur_sigma);
    }
    let rgb = frame.to_rgb(rng, 1.8);
    let mut jpeg = Vec::new();
    let ok = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, d.jpeg_quality).encode(rgb.as_raw(), w, h, image::ExtendedColorType::Rgb8);
    scene.jpeg = if ok.is_ok() { jpeg } else { Vec::new() };
    scene
}

/// Three f32 planes interleaved (r, g, b per pixel).
struct Planes {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Planes {
    fn new(w: u32, h: u32) -> Self {
        Self { w: w as usize, h: h as usize, px: vec![[0.0; 3]; w as usize * h as usize] }
    }

    /// Separable Gaussian, edges clamped; both passes run along whole rows so they vectorise.
    fn blur(&mut self, sigma: f32) {
        let r = ((3.0 * sigma).ceil() as usize).min(self.w.max(self.h));
        let k: Vec<f32> = (0..=2 * r).map(|i| (-((i as f32 - r as f32).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
        let sum: f32 = k.iter().sum();
        let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
        let (w, h) = (self.w, self.h);
        let flat: &mut [f32] = self.px.as_flattened_mut();
        // Horizontal: each row padded with its edge pixels.
        let mut padded = vec![0.0f32; (w + 2 * r) * 3];
        let mut acc = vec![0.0f32; w * 3];
        for y in 0..h {
            let row = &mut flat[y * w * 3..(y + 1) * w * 3];
            for x in 0..w + 2 * r {
                let src = x.saturating_sub(r).min(w - 1);
                padded[x * 3..x * 3 + 3].copy_from_slice(&row[src * 3..src * 3 + 3]);
            }
            acc.fill(0.0);
            for (j, kj) in k.iter().enumerate() {
                for (a, p) in acc.iter_mut().zip(&padded[j * 3..j * 3 + w * 3]) {
                    *a += kj * p;
                }
            }
            row.copy_from_slice(&acc);
        }
        // Vertical: output row y is the weighted sum of rows y - r ..= y + r (clamped).
        let src = flat.to_vec();
        for y in 0..h {
            acc.fill(0.0);
            for (j, kj) in k.iter().enumerate() {
                let sy = (y + j).saturating_sub(r).min(h - 1);
                for (a, p) in acc.iter_mut().zip(&src[sy * w * 3..(sy + 1) * w * 3]) {
                    *a += kj * p;
                }
            }
            flat[y * w * 3..(y + 1) * w * 3].copy_from_slice(&acc);
        }
    }

    /// Quantised with Gaussian sensor noise, mostly shared by the channels (as in
    /// luma noise); one random draw a pixel picks four values from a table.
    fn to_rgb(&self, rng: &mut Rng, sigma: f32) -> image::RgbImage {
        let table: Vec<f32> = (0..256)
            .map(|_| {
                // Box-Muller.
                let (u, v) = (rng.f32().max(1e-7), rng.f32());
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos() * sigma
            })
            .collect();
        let mut out = image::RgbImage::new(self.w as u32, self.h as u32);
        for (o, p) in out.pixels_mut().zip(&self.px) {
            let b = rng.u32(..).to_le_bytes();
            let common = table[b[0] as usize];
            for c in 0..3 {
                o.0[c] = (p[c] + common + 0.4 * table[b[c + 1] as usize]).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// Smooth random field: random values on a grid of `cx` x `cy` px cells, smoothstep-interpolated.
struct ValueNoise {
    gw: usize,
    cx: f32,
    cy: f32,
    v: Vec<f32>,
}

impl ValueNoise {
    fn new(rng: &mut Rng, w: usize, h: usize, cx: f32, cy: f32) -> Self {
        let (cx, cy) = (cx.max(1.0), cy.max(1.0));
        let gw = (w as f32 / cx).ceil() as usize + 2;
        let gh = (h as f32 / cy).ceil() as usize + 2;
        Self { gw, cx, cy, v: (0..gw * gh).map(|_| rng.f32() * 2.0 - 1.0).collect() }
    }

    /// In -1..1.
    fn at(&self, x: f32, y: f32) -> f32 {
        let (fx, fy) = ((x / self.cx).max(0.0), (y / self.cy).max(0.0));
        let (ix, iy) = (fx as usize, fy as usize);
        let s = |t: f32| t * t * (3.0 - 2.0 * t);
        let (tx, ty) = (s(fx - ix as f32), s(fy - iy as f32));
        let gh = self.v.len() / self.gw;
        let g = |x: usize, y: usize| self.v[y.min(gh - 1) * self.gw + x.min(self.gw - 1)];
        let top = g(ix, iy) + (g(ix + 1, iy) - g(ix, iy)) * tx;
        let bot = g(ix, iy + 1) + (g(ix + 1, iy + 1) - g(ix, iy + 1)) * tx;
        top + (bot - top) * ty
    }
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn scale3(a: [f32; 3], f: f32) -> [f32; 3] {
    [a[0] * f, a[1] * f, a[2] * f]
}

/// Simple textured fills; the scale of features follows the frame (the label covers about half of it).
fn background(f: &mut Planes, rng: &mut Rng, kind: Background) {
    let (w, h) = (f.w, f.h);
    let (wf, hf) = (w as f32, h as f32);
    let big = ValueNoise::new(rng, w, h, wf / 4.0, wf / 4.0);
    let mid = ValueNoise::new(rng, w, h, wf / 24.0, wf / 24.0);
    let fine = ValueNoise::new(rng, w, h, 3.0, 3.0);
    match kind {
        Background::DrumBlue | Background::DrumBlack => {
            let black = kind == Background::DrumBlack;
            let base = if black { [40.0, 42.0, 46.0] } else { [24.0 + 20.0 * rng.f32(), 70.0 + 20.0 * rng.f32(), 150.0 + 25.0 * rng.f32()] };
            // A vertical cylinder seen side-on: brightness follows the cosine of the surface angle.
            let u0 = 0.3 + 0.4 * rng.f32();
            let k = 1.2 + rng.f32();
            let spec_x = wf * (0.1 + 0.8 * rng.f32());
            let spec_w = wf * (0.04 + 0.08 * rng.f32());
            let spec = if black { 60.0 } else { 45.0 } * (0.5 + 0.5 * rng.f32());
            // Rolling hoops: 1 or 2 horizontal ribs.
            let ribs: Vec<(f32, f32)> = (0..1 + rng.usize(0..2)).map(|_| (hf * (0.05 + 0.9 * rng.f32()), hf * (0.03 + 0.03 * rng.f32()))).collect();
            let dirt = ValueNoise::new(rng, w, h, wf / 20.0, wf / 20.0);
            for y in 0..h {
                for x in 0..w {
                    let (xf, yf) = (x as f32, y as f32);
                    let cyl = 0.72 + 0.32 * ((xf / wf - u0) * k).cos();
                    let mut shade = cyl * (1.0 + 0.05 * big.at(xf, yf) + 0.03 * mid.at(xf, yf) + 0.03 * fine.at(xf, yf));
                    for &(ry, rh) in &ribs {
                        let t = (yf - ry) / rh;
                        if t.abs() < 1.0 {
                            // Embossed: lit upper flank, shadowed lower flank.
                            shade *= 1.0 - 0.3 * (std::f32::consts::PI * t).sin() * (1.0 - t.abs()).sqrt();
                        }
                    }
                    let dd = dirt.at(xf, yf);
                    if dd > 0.55 {
                        shade *= 1.0 - (dd - 0.55) * 0.5;
                    }
                    let s = spec * (-((xf - spec_x) / spec_w).powi(2)).exp();
                    let c = scale3(base, shade);
                    f.px[y * w + x] = [c[0] + s, c[1] + s, c[2] + s];
                }
            }
        }
        Background::Cardboard => {
            let base = [170.0 + 20.0 * rng.f32(), 128.0 + 15.0 * rng.f32(), 84.0 + 12.0 * rng.f32()];
            let fibre = ValueNoise::new(rng, w, h, 40.0, 2.5);
            let tape = (rng.f32() < 0.4).then(|| (hf * rng.f32(), hf * (0.06 + 0.04 * rng.f32())));
            let edge = (rng.f32() < 0.3).then(|| wf * (0.02 + 0.1 * rng.f32()));
            for y in 0..h {
                for x in 0..w {
                    let (xf, yf) = (x as f32, y as f32);
                    let shade = 1.0 + 0.06 * big.at(xf, yf) + 0.04 * fibre.at(xf, yf) + 0.03 * fine.at(xf, yf);
                    let mut c = scale3(base, shade);
                    if let Some((ty, th)) = tape
                        && (yf - ty).abs() < th / 2.0
                    {
                        c = lerp3(c, [200.0, 165.0, 110.0], 0.45);
                        c = lerp3(c, [255.0; 3], 0.15 * (1.0 - ((yf - ty) / th * 4.0).abs()).max(0.0));
                    }
                    if let Some(ex) = edge
                        && xf < ex
                    {
                        c = scale3(c, 0.6);
                    }
                    f.px[y * w + x] = c;
                }
            }
        }
        Background::PlasticBag => {
            // A woven sack: fine weave, soft bulges and a few long creases.
            let base = if rng.f32() < 0.7 { [222.0, 222.0, 214.0] } else { [120.0, 160.0, 205.0] };
            let period = 4.0 + 2.0 * rng.f32();
            let creases: Vec<(f32, f32, f32, f32)> = (0..3 + rng.usize(0..4))
                .map(|_| {
                    let a = rng.f32() * std::f32::consts::PI;
                    (wf * rng.f32(), hf * rng.f32(), a, wf * (0.01 + 0.02 * rng.f32()))
                })
                .collect();
            for y in 0..h {
                for x in 0..w {
                    let (xf, yf) = (x as f32, y as f32);
                    let weave = 0.03 * ((xf / period * std::f32::consts::TAU).sin() * (yf / period * std::f32::consts::TAU).sin());
                    let mut shade = 0.88 + 0.08 * big.at(xf, yf) + 0.04 * mid.at(xf, yf) + weave + 0.02 * fine.at(xf, yf);
                    for &(cx, cy, a, cw) in &creases {
                        // Signed distance across the crease: shadow on one side, a lit edge on the other.
                        let d = ((xf - cx) * a.sin() - (yf - cy) * a.cos()) / cw;
                        if d.abs() < 3.0 {
                            shade += if d < 0.0 { -0.12 * (-(d * d)).exp() } else { 0.06 * (-(d - 0.5).powi(2)).exp() };
                        }
                    }
                    f.px[y * w + x] = scale3(base, shade);
                }
            }
        }
        Background::ConcreteFloor => {
            let g = 130.0 + 35.0 * rng.f32();
            let base = [g, g * 0.98, g * 0.94];
            let stain = ValueNoise::new(rng, w, h, wf / 6.0, wf / 6.0);
            for y in 0..h {
                for x in 0..w {
                    let (xf, yf) = (x as f32, y as f32);
                    let mut shade = 1.0 + 0.08 * big.at(xf, yf) + 0.06 * mid.at(xf, yf) + 0.07 * fine.at(xf, yf);
                    let st = stain.at(xf, yf);
                    if st > 0.5 {
                        shade *= 1.0 - (st - 0.5) * 0.7;
                    }
                    // Aggregate speckles.
                    let r = rng.f32();
                    if r < 0.006 {
                        shade *= 0.6;
                    } else if r > 0.996 {
                        shade *= 1.25;
                    }
                    f.px[y * w + x] = scale3(base, shade);
                }
            }
        }
    }
}

/// Label coordinates -> scene coordinates (continuous pixels).
struct LabelMap {
    proj: Projection,
    /// Scene px per label px, roughly.
    scale: f32,
}

impl LabelMap {
    fn apply(&self, x: f32, y: f32) -> [f32; 2] {
        let (u, v) = self.proj * (x, y);
        [u, v]
    }
}

/// Where the label goes: about half the frame width, corners jittered by the
/// perspective, rotated, kept inside the frame.
fn place(rng: &mut Rng, d: &SceneDamage, lw: f32, lh: f32, w: u32, h: u32) -> LabelMap {
    let (wf, hf) = (w as f32, h as f32);
    // 42-68 % of the width: CJK glyphs 15-28 px tall in a 1280 px frame.
    let side = wf * (0.42 + 0.26 * rng.f32());
    let (sw, sh) = (side, side * lh / lw);
    let jitter = 0.08 * side * d.perspective;
    let mut corners: Vec<(f32, f32)> = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
        .iter()
        .map(|&(x, y)| (x * sw + jitter * (2.0 * rng.f32() - 1.0), y * sh + jitter * (2.0 * rng.f32() - 1.0)))
        .collect();
    let (s, c) = d.rotation_deg.to_radians().sin_cos();
    for p in &mut corners {
        *p = (p.0 * c - p.1 * s, p.0 * s + p.1 * c);
    }
    // Shrink until it fits in 94 % of the frame, then put it anywhere it fits.
    let bounds = |cs: &[(f32, f32)]| cs.iter().fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| [b[0].min(p.0), b[1].min(p.1), b[2].max(p.0), b[3].max(p.1)]);
    let b = bounds(&corners);
    let fit = (0.94 * wf / (b[2] - b[0])).min(0.94 * hf / (b[3] - b[1])).min(1.0);
    for p in &mut corners {
        *p = (p.0 * fit, p.1 * fit);
    }
    let b = bounds(&corners);
    let room_x = (wf - (b[2] - b[0])).max(0.0) * 0.9;
    let room_y = (hf - (b[3] - b[1])).max(0.0) * 0.9;
    let cx = wf / 2.0 - (b[0] + b[2]) / 2.0 + room_x * (rng.f32() - 0.5);
    let cy = hf / 2.0 - (b[1] + b[3]) / 2.0 + room_y * (rng.f32() - 0.5);
    let to: Vec<(f32, f32)> = corners.iter().map(|p| (p.0 + cx, p.1 + cy)).collect();
    let from = [(0.0, 0.0), (lw, 0.0), (lw, lh), (0.0, lh)];
    let proj = Projection::from_control_points(from, [to[0], to[1], to[2], to[3]])
        // Degenerate corners cannot come from the jitter above; keep a plain scale just in case.
        .unwrap_or_else(|| Projection::translate(wf / 2.0 - sw * fit / 2.0, hf / 2.0 - sh * fit / 2.0) * Projection::scale(sw * fit / lw, sh * fit / lh));
    LabelMap { proj, scale: side * fit / lw }
}

/// Warps the label into the frame (bilinear, anti-aliased edges). A label much
/// larger than its place is first shrunk with a proper filter so the text does not alias.
fn composite_label(f: &mut Planes, rng: &mut Rng, label: &RenderedLabel, map: &LabelMap) {
    let (lw, lh) = label.image.dimensions();
    let shrink = (map.scale * 1.3).min(1.0);
    let resized;
    let src = if shrink < 0.8 {
        let (nw, nh) = (((lw as f32 * shrink).round() as u32).max(8), ((lh as f32 * shrink).round() as u32).max(8));
        resized = image::imageops::resize(&label.image, nw, nh, image::imageops::FilterType::Triangle);
        &resized
    } else {
        &label.image
    };
    let (sw, sh) = src.dimensions();
    let (fx, fy) = (sw as f32 / lw as f32, sh as f32 / lh as f32);
    // Printed and laminated labels are never quite the file's colours.
    let tint = [0.94 + 0.06 * rng.f32(), 0.92 + 0.08 * rng.f32(), 0.85 + 0.15 * rng.f32()];
    let corners = [map.apply(0.0, 0.0), map.apply(lw as f32, 0.0), map.apply(lw as f32, lh as f32), map.apply(0.0, lh as f32)];
    let lo = |i: usize| corners.iter().map(|p| p[i]).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let hi = |i: usize, n: usize| (corners.iter().map(|p| p[i]).fold(f32::MIN, f32::max).ceil().max(0.0) as usize + 1).min(n);
    let (x0, x1, y0, y1) = (lo(0), hi(0, f.w), lo(1), hi(1, f.h));
    let inv = map.proj.invert();
    // Source px per scene px, for the edge ramp.
    let edge = 1.0 / (map.scale * fx).max(1e-3);
    let raw = src.as_raw();
    let texel = |x: usize, y: usize| {
        let i = (y * sw as usize + x) * 3;
        [raw[i] as f32, raw[i + 1] as f32, raw[i + 2] as f32]
    };
    for y in y0..y1 {
        for x in x0..x1 {
            // Scene pixel centre -> label continuous -> source pixel-centre coordinates.
            let (u, v) = inv * (x as f32 + 0.5, y as f32 + 0.5);
            let (u, v) = (u * fx, v * fy);
            let inside = u.min(v).min(sw as f32 - u).min(sh as f32 - v);
            // (NaN from a degenerate map counts as outside.)
            if inside.is_nan() || inside <= -edge {
                continue;
            }
            let a = (inside / edge + 0.5).clamp(0.0, 1.0);
            let (su, sv) = ((u - 0.5).clamp(0.0, sw as f32 - 1.0), (v - 0.5).clamp(0.0, sh as f32 - 1.0));
            let (ix, iy) = (su as usize, sv as usize);
            let (tx, ty) = (su - ix as f32, sv - iy as f32);
            let (ix1, iy1) = ((ix + 1).min(sw as usize - 1), (iy + 1).min(sh as usize - 1));
            let (p00, p10, p01, p11) = (texel(ix, iy), texel(ix1, iy), texel(ix, iy1), texel(ix1, iy1));
            let dst = &mut f.px[y * f.w + x];
            for c in 0..3 {
                let top = p00[c] + (p10[c] - p00[c]) * tx;
                let bot = p01[c] + (p11[c] - p01[c]) * tx;
                let col = (top + (bot - top) * ty) * tint[c];
                dst[c] += (col - dst[c]) * a;
            }
        }
    }
}

/// A gloved hand or a strip of tape over one edge of the label, defined in the
/// label's own normalised coordinates (so the perspective applies to it too).
struct Occluder {
    /// 0 top, 1 right, 2 bottom, 3 left.
    edge: u8,
    hand: bool,
    /// Scale of the shape, chosen so it covers the requested share.
    k: f32,
    /// Where along the edge (0..1).
    along: f32,
    tilt: f32,
    colour: [f32; 3],
    opacity: f32,
}

impl Occluder {
    fn random(rng: &mut Rng, share: f32) -> Self {
        let hand = rng.bool();
        let colour = if hand {
            // Blue nitrile, black, yellow rubber, white cotton gloves.
            [[70.0, 110.0, 200.0], [45.0, 45.0, 50.0], [220.0, 190.0, 55.0], [225.0, 225.0, 218.0]][rng.usize(..4)]
        } else {
            // Brown packing tape, silver duct tape, cream masking tape.
            [[185.0, 145.0, 90.0], [165.0, 168.0, 172.0], [228.0, 218.0, 190.0]][rng.usize(..3)]
        };
        let mut o = Self { edge: rng.u8(0..4), hand, k: 0.0, along: 0.25 + 0.5 * rng.f32(), tilt: 0.2 * (rng.f32() - 0.5), colour, opacity: if hand { 1.0 } else { 0.93 } };
        // Bisect the size for the requested covered share of the label.
        let (mut lo, mut hi) = (0.0f32, 2.0f32);
        for _ in 0..18 {
            o.k = (lo + hi) / 2.0;
            if o.coverage() < share {
                lo = o.k;
            } else {
                hi = o.k;
            }
        }
        o
    }

    /// Label-normalised (s, t) rotated so the chosen edge is t = 0 and t grows inwards.
    fn edge_frame(&self, s: f32, t: f32) -> (f32, f32) {
        match self.edge {
            0 => (s, t),
            1 => (t, 1.0 - s),
            2 => (1.0 - s, 1.0 - t),
            _ => (1.0 - t, s),
        }
    }

    /// Signed distance-like value, negative inside (label-normalised units).
    fn sd(&self, s: f32, t: f32) -> f32 {
        let (a, b) = self.edge_frame(s, t);
        let b = b + (a - self.along) * self.tilt;
        if !self.hand {
            // A strip from beyond the edge to depth k.
            return (-0.3 - b).max(b - self.k);
        }
        // Palm outside the edge, four fingers reaching in; all scaled by k.
        let k = self.k.max(1e-4);
        let (x, y) = ((a - self.along) / k, b / k);
        let palm = ((x / 0.22).powi(2) + ((y + 0.12) / 0.2).powi(2)).sqrt() - 1.0;
        let mut d = palm * 0.2;
        for (i, off) in [-0.15f32, -0.05, 0.05, 0.15].iter().enumerate() {
            let len = [0.22, 0.3, 0.31, 0.27][i];
            let (x0, y0, x1, y1) = (*off, 0.0, off * 1.3, len);
            let (dx, dy) = (x1 - x0, y1 - y0);
            let t = (((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
            let dist = ((x - x0 - t * dx).powi(2) + (y - y0 - t * dy).powi(2)).sqrt() - 0.045;
            d = d.min(dist);
        }
        d * k
    }

    /// Share of the label's area covered (48 x 48 samples).
    fn coverage(&self) -> f32 {
        let n = 48;
        let mut hits = 0;
        for j in 0..n {
            for i in 0..n {
                if self.sd((i as f32 + 0.5) / n as f32, (j as f32 + 0.5) / n as f32) <= 0.0 {
                    hits += 1;
                }
            }
        }
        hits as f32 / (n * n) as f32
    }

    /// Share of a label-pixel box under the occluder (5 x 3 samples).
    fn covers_box(&self, b: [f32; 4], lw: f32, lh: f32) -> f32 {
        let mut hits = 0;
        for j in 0..3 {
            for i in 0..5 {
                let x = b[0] + (b[2] - b[0]) * (i as f32 + 0.5) / 5.0;
                let y = b[1] + (b[3] - b[1]) * (j as f32 + 0.5) / 3.0;
                if self.sd(x / lw, y / lh) <= 0.0 {
                    hits += 1;
                }
            }
        }
        hits as f32 / 15.0
    }

    /// Paints it (with a soft contact shadow) into the frame.
    fn draw(&self, f: &mut Planes, rng: &mut Rng, map: &LabelMap, lw: f32, lh: f32) {
        let inv = map.proj.invert();
        let mottle = ValueNoise::new(rng, f.w, f.h, 60.0, 60.0);
        // One scene pixel in label-normalised units, for anti-aliasing.
        let px = 1.0 / (map.scale * lw.max(lh)).max(1.0);
        let shadow_w = 0.02;
        // Only around the label: the occluder reaches at most ~0.6 of it beyond an edge.
        let corners = [[-0.7f32, -0.7f32], [1.7, -0.7], [1.7, 1.7], [-0.7, 1.7]].map(|[s, t]| map.apply(s * lw, t * lh));
        let xs = corners.iter().map(|p| p[0]);
        let ys = corners.iter().map(|p| p[1]);
        let x0 = xs.clone().fold(f32::MAX, f32::min).max(0.0) as usize;
        let x1 = (xs.fold(f32::MIN, f32::max).max(0.0) as usize).min(f.w);
        let y0 = ys.clone().fold(f32::MAX, f32::min).max(0.0) as usize;
        let y1 = (ys.fold(f32::MIN, f32::max).max(0.0) as usize).min(f.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let (u, v) = inv * (x as f32 + 0.5, y as f32 + 0.5);
                let sd = self.sd(u / lw, v / lh);
                if !sd.is_finite() || sd > shadow_w {
                    continue;
                }
                let p = &mut f.px[y * f.w + x];
                if sd > 0.0 {
                    let dark = 0.3 * (1.0 - sd / shadow_w);
                    *p = scale3(*p, 1.0 - dark);
                    continue;
                }
                let a = (0.5 - sd / px).clamp(0.0, 1.0) * self.opacity;
                // Rounded look: darker towards the outline, some mottling.
                let rim = 1.0 - 0.3 * (-(-sd) / 0.015).exp();
                let c = scale3(self.colour, rim * (1.0 + 0.04 * mottle.at(x as f32, y as f32)));
                *p = lerp3(*p, c, a);
            }
        }
    }
}

/// A white shipping sticker with bars, on containers without a hazard label (a distractor).
fn sticker(f: &mut Planes, rng: &mut Rng) {
    let (wf, hf) = (f.w as f32, f.h as f32);
    let (sw, sh) = (wf * (0.12 + 0.1 * rng.f32()), hf * (0.08 + 0.08 * rng.f32()));
    let (x0, y0) = (rng.f32() * (wf - sw), rng.f32() * (hf - sh));
    let bars: Vec<bool> = (0..40).map(|_| rng.bool()).collect();
    for y in y0 as usize..((y0 + sh) as usize).min(f.h) {
        for x in x0 as usize..((x0 + sw) as usize).min(f.w) {
            let (u, v) = ((x as f32 - x0) / sw, (y as f32 - y0) / sh);
            let bar = (0.1..0.9).contains(&u) && (0.3..0.8).contains(&v) && bars[((u - 0.1) / 0.8 * 40.0) as usize % 40];
            f.px[y * f.w + x] = if bar { [25.0; 3] } else { [238.0, 238.0, 232.0] };
        }
    }
}

/// Multiplicative light: a ramp in a random direction plus a broad hot spot.
fn light(f: &mut Planes, rng: &mut Rng, uneven: f32) {
    let (wf, hf) = (f.w as f32, f.h as f32);
    let angle = rng.f32() * std::f32::consts::TAU;
    let (ca, sa) = (angle.cos(), angle.sin());
    let diag = (wf * wf + hf * hf).sqrt();
    let (hx, hy) = (wf * rng.f32(), hf * rng.f32());
    let exposure = 0.95 + 0.1 * rng.f32();
    if uneven <= 0.0 && (exposure - 1.0).abs() < 1e-6 {
        return;
    }
    for y in 0..f.h {
        for x in 0..f.w {
            let (xf, yf) = (x as f32, y as f32);
            let ramp = (((xf - wf / 2.0) * ca + (yf - hf / 2.0) * sa) / diag + 0.5).clamp(0.0, 1.0);
            let spot = (-((xf - hx).powi(2) + (yf - hy).powi(2)) / (0.25 * diag * diag)).exp();
            let factor = exposure * (1.0 - 0.55 * uneven * ramp) * (1.0 + 0.12 * uneven * spot);
            let p = &mut f.px[y * f.w + x];
            *p = scale3(*p, factor);
        }
    }
}

/// A bright elliptical reflection (the plastic sleeve), strongest 0.7 of the way to white.
fn glare(f: &mut Planes, rng: &mut Rng, strength: f32, cx: f32, cy: f32, size: f32) {
    let gx = cx + size * 0.3 * (2.0 * rng.f32() - 1.0);
    let gy = cy + size * 0.3 * (2.0 * rng.f32() - 1.0);
    let a = size * (0.2 + 0.25 * rng.f32());
    let b = a * (0.3 + 0.4 * rng.f32());
    let (s, c) = (rng.f32() * std::f32::consts::PI).sin_cos();
    let reach = 3.0 * a;
    let x0 = (gx - reach).max(0.0) as usize;
    let x1 = ((gx + reach).max(0.0) as usize).min(f.w);
    let y0 = (gy - reach).max(0.0) as usize;
    let y1 = ((gy + reach).max(0.0) as usize).min(f.h);
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 - gx, y as f32 - gy);
            let (u, v) = ((dx * c + dy * s) / a, (-dx * s + dy * c) / b);
            let r2 = u * u + v * v;
            let k = strength * (0.5 * (-2.0 * r2).exp() + 0.2 * (-10.0 * r2).exp());
            let p = &mut f.px[y * f.w + x];
            *p = lerp3(*p, [255.0; 3], k);
        }
    }
}
