//! What changed in each bin opening: a running background of the scene (log
//! luminance and chromaticity on a small analysis copy), a foreground mask
//! against it, and per bin zone the largest changed blob, if big enough to
//! be an item. Global light changes are taken out as one offset per frame.

use crate::vision::analysis::{AnalysisFrame, chromaticity, rasterize};

#[derive(Debug, Clone, Copy)]
pub struct ChangeSettings {
    /// Analysis copy width (1080p -> 320x180: an item is still 30-50 px there).
    pub analysis_width: u32,
    /// Log-luminance change (after the frame's light offset) that counts (~0.15 = 16 %).
    pub luminance_step: f32,
    /// Chromaticity change that counts (colour without brightness).
    pub chroma_step: f32,
    /// Smallest blob, as a share of its zone, taken as an item.
    pub min_area: f32,
    /// Background learning rate per frame where nothing is seen.
    pub learn: f32,
    /// Frames a changed pixel must stay unchanged before it joins the background
    /// (an item left on a sorting table, a new bag in the bin).
    pub absorb_frames: u32,
}

impl Default for ChangeSettings {
    fn default() -> Self {
        Self { analysis_width: 320, luminance_step: 0.15, chroma_step: 0.035, min_area: 0.03, learn: 0.05, absorb_frames: 40 }
    }
}

/// One zone's view of the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneChange {
    /// Changed share of the zone.
    pub changed: f32,
    /// The largest blob, in full-resolution pixels `[x, y, w, h]`, when it is item-sized.
    pub item: Option<[u32; 4]>,
}

pub struct BackgroundModel {
    settings: ChangeSettings,
    width: u32,
    height: u32,
    scale: f64,
    log_lum: Vec<f32>,
    chroma: Vec<[f32; 2]>,
    /// Frames each pixel has been foreground in a row, and how still it was.
    held: Vec<u32>,
    zones: Vec<Vec<bool>>,
    zone_area: Vec<usize>,
    full: (u32, u32),
}

impl BackgroundModel {
    /// Starts from `first` as the empty scene; `zones` are polygons in full-resolution pixels.
    pub fn new(first: &image::RgbImage, zones: &[Vec<[f64; 2]>], settings: ChangeSettings) -> Result<Self, String> {
        let a = AnalysisFrame::new(first, settings.analysis_width)?;
        let masks: Vec<Vec<bool>> = zones.iter().map(|p| rasterize(p, a.width, a.height, a.scale)).collect();
        let zone_area = masks.iter().map(|m| m.iter().filter(|&&b| b).count()).collect();
        Ok(Self {
            settings,
            width: a.width,
            height: a.height,
            scale: a.scale,
            chroma: a.rgb.iter().map(|p| chromaticity(*p)).collect(),
            log_lum: a.log_lum,
            held: vec![0; (a.width * a.height) as usize],
            zones: masks,
            zone_area,
            full: first.dimensions(),
        })
    }

    /// Compares `frame` with the background, learns from it, and says what changed per zone.
    pub fn update(&mut self, frame: &image::RgbImage) -> Result<Vec<ZoneChange>, String> {
        if frame.dimensions() != self.full {
            return Err(format!("frame is {:?}, the background was made at {:?}", frame.dimensions(), self.full));
        }
        let a = AnalysisFrame::new(frame, self.settings.analysis_width)?;
        let s = self.settings;
        // The frame's light offset: the median log-luminance change (most of the scene is background).
        let mut diffs: Vec<f32> = a.log_lum.iter().zip(&self.log_lum).map(|(f, b)| f - b).collect();
        let mid = diffs.len() / 2;
        let offset = if diffs.is_empty() { 0.0 } else { *diffs.select_nth_unstable_by(mid, f32::total_cmp).1 };
        let mut fg = vec![false; a.len()];
        for i in 0..a.len() {
            let dl = (a.log_lum[i] - self.log_lum[i] - offset).abs();
            let c = chromaticity(a.rgb[i]);
            let dc = (c[0] - self.chroma[i][0]).abs() + (c[1] - self.chroma[i][1]).abs();
            fg[i] = dl > s.luminance_step || dc > s.chroma_step;
        }
        let fg = open_close(&fg, self.width as usize, self.height as usize);
        // Learn: background pixels follow the scene; foreground that stays put long enough joins it.
        for i in 0..a.len() {
            let c = chromaticity(a.rgb[i]);
            if fg[i] {
                self.held[i] = self.held[i].saturating_add(1);
                if self.held[i] < s.absorb_frames {
                    // Only the light offset, so a held item does not fade in.
                    self.log_lum[i] += s.learn * offset;
                    continue;
                }
            } else {
                self.held[i] = 0;
            }
            self.log_lum[i] += s.learn * (a.log_lum[i] - self.log_lum[i]);
            self.chroma[i][0] += s.learn * (c[0] - self.chroma[i][0]);
            self.chroma[i][1] += s.learn * (c[1] - self.chroma[i][1]);
        }
        Ok(self.zones.iter().zip(&self.zone_area).map(|(mask, &area)| self.zone_change(&fg, mask, area)).collect())
    }

    fn zone_change(&self, fg: &[bool], mask: &[bool], area: usize) -> ZoneChange {
        if area == 0 {
            return ZoneChange { changed: 0.0, item: None };
        }
        let inside: Vec<bool> = fg.iter().zip(mask).map(|(f, m)| *f && *m).collect();
        let changed = inside.iter().filter(|&&b| b).count() as f32 / area as f32;
        let item = largest_blob(&inside, self.width as usize, self.height as usize)
            .filter(|b| b.0 as f32 >= self.settings.min_area * area as f32)
            .map(|(_, [x0, y0, x1, y1])| {
                let s = self.scale;
                let (fx0, fy0) = ((x0 as f64 * s).floor() as u32, (y0 as f64 * s).floor() as u32);
                let (fx1, fy1) = ((((x1 + 1) as f64) * s).ceil() as u32, (((y1 + 1) as f64) * s).ceil() as u32);
                let (fx1, fy1) = (fx1.min(self.full.0), fy1.min(self.full.1));
                [fx0, fy0, fx1.saturating_sub(fx0).max(1), fy1.saturating_sub(fy0).max(1)]
            });
        ZoneChange { changed, item }
    }
}

/// 3x3 opening then closing: drops speckle noise, fills pin holes.
fn open_close(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    let erode = |m: &[bool], keep_all: bool| -> Vec<bool> {
        let mut out = vec![false; m.len()];
        for y in 0..h {
            for x in 0..w {
                let mut all = true;
                let mut any = false;
                for dy in -1i32..=1 {
                    for dx in -1i32..=1 {
                        let (nx, ny) = (x as i32 + dx, y as i32 + dy);
                        let v = nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h && m[ny as usize * w + nx as usize];
                        all &= v;
                        any |= v;
                    }
                }
                out[y * w + x] = if keep_all { all } else { any };
            }
        }
        out
    };
    let opened = erode(&erode(mask, true), false);
    erode(&erode(&opened, false), true)
}

/// The largest 8-connected blob: (pixel count, [x0, y0, x1, y1] inclusive).
fn largest_blob(mask: &[bool], w: usize, h: usize) -> Option<(usize, [usize; 4])> {
    let mut seen = vec![false; mask.len()];
    let mut best: Option<(usize, [usize; 4])> = None;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut n, mut b) = (0usize, [usize::MAX, usize::MAX, 0, 0]);
        while let Some(i) = stack.pop() {
            n += 1;
            let (x, y) = (i % w, i / w);
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            for dy in -1i32..=1 {
                for dx in -1i32..=1 {
                    let (nx, ny) = (x as i32 + dx, y as i32 + dy);
                    if nx < 0 || ny < 0 || nx as usize >= w || ny as usize >= h {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if best.is_none_or(|(bn, _)| n > bn) {
            best = Some((n, b));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn scene(light: f32, item: Option<(u32, u32, u32)>) -> RgbImage {
        RgbImage::from_fn(640, 360, |x, y| {
            if let Some((ix, iy, s)) = item {
                if x >= ix && x < ix + s && y >= iy && y < iy + s {
                    return Rgb([220, 60, 40]);
                }
            }
            let base = if x < 320 { [40u8, 120, 60] } else { [50, 80, 160] };
            let v = |c: u8| ((f32::from(c) + ((x * 7 + y * 13) % 9) as f32) * light).min(255.0) as u8;
            Rgb([v(base[0]), v(base[1]), v(base[2])])
        })
    }

    fn zones() -> Vec<Vec<[f64; 2]>> {
        vec![vec![[20.0, 20.0], [300.0, 20.0], [300.0, 340.0], [20.0, 340.0]], vec![[340.0, 20.0], [620.0, 20.0], [620.0, 340.0], [340.0, 340.0]]]
    }

    #[test]
    fn an_item_is_found_in_its_zone_with_its_box_and_a_light_change_is_not_an_item() {
        let mut bg = BackgroundModel::new(&scene(1.0, None), &zones(), ChangeSettings { analysis_width: 160, ..Default::default() }).unwrap();
        let calm = bg.update(&scene(1.25, None)).unwrap();
        assert!(calm.iter().all(|z| z.item.is_none()), "25 % brighter is light, not an item: {calm:?}");
        let seen = bg.update(&scene(1.0, Some((400, 100, 100)))).unwrap();
        assert!(seen[0].item.is_none());
        let [x, y, w, h] = seen[1].item.expect("item in the second zone");
        assert!((x as i32 - 400).abs() <= 8 && (y as i32 - 100).abs() <= 8, "{x},{y}");
        assert!((w as i32 - 100).abs() <= 12 && (h as i32 - 100).abs() <= 12, "{w}x{h}");
    }

    #[test]
    fn an_item_left_in_place_joins_the_background() {
        let settings = ChangeSettings { analysis_width: 160, absorb_frames: 10, learn: 0.3, ..Default::default() };
        let mut bg = BackgroundModel::new(&scene(1.0, None), &zones(), settings).unwrap();
        let with = scene(1.0, Some((80, 100, 100)));
        assert!(bg.update(&with).unwrap()[0].item.is_some());
        let mut last = None;
        for _ in 0..40 {
            last = bg.update(&with).unwrap()[0].item;
        }
        assert!(last.is_none(), "still there after absorbing");
        assert!(bg.update(&RgbImage::new(10, 10)).is_err(), "a frame of another size is an error, not a panic");
    }
}
