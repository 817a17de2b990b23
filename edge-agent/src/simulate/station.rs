//! Seeded synthetic footage of a four-bin household-waste sorting station, with
//! ground truth, built from real photos of items (Debian's `opencv-doc` samples).
//!
//! A fixed camera looks straight down at four bin openings, left to right green
//! 厨余垃圾 (kitchen), blue 可回收物 (recyclable), red 有害垃圾 (hazardous) and grey
//! 其他垃圾 (other). A wall strip above the bins carries the printed category names;
//! a tiled floor lies around them. A [`Drop`] is a hand bringing a photographed item
//! in from the near (bottom) edge of the frame, holding it over an opening for a
//! while and letting it fall in; a nuisance drop is a bare hand passing over an
//! opening. Every frame gets a global light flicker of a few percent and Gaussian
//! sensor noise, seeded by (scene seed, t).
//!
//! [`item_photos`] cuts labelled item crops out of the sample photos (a fixed table,
//! checked visually); they double as a labelled set for enrollment benchmarks.
//!
//! Conventions: pixel coordinates are continuous with x right, y down and the centre
//! of pixel `(i, j)` at `(i + 0.5, j + 0.5)`. Everything is decided by the seeds: the
//! same inputs give the same bytes.

use std::collections::HashMap;
use std::sync::Arc;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use fastrand::Rng;
use image::imageops::FilterType;
use image::{GrayImage, Rgb, RgbImage};

use crate::calibration::{CalibrationFile, Zone, ZoneKind};
use crate::simulate::{OPENCV_DATA, SimError, opencv_photo};
use crate::waste::WasteCategory;

/// The CJK font used for the sign strip (Debian `fonts-wqy-microhei`).
pub const SIGN_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
/// How long a held item takes to come in from the near edge to its hold position (s).
pub const ENTER_S: f64 = 0.25;
/// How long a released item takes to fall in and vanish (s).
pub const FALL_S: f64 = 0.25;
/// Quiet time before the first drop of a [`drop_sequence`] (s): room for a background model to settle.
pub const LEAD_S: f64 = 2.0;
/// Default sensor noise (standard deviation, 8-bit levels).
pub const NOISE_SIGMA: f64 = 2.0;

// ---------------------------------------------------------------------------
// Item photos
// ---------------------------------------------------------------------------

/// One labelled item crop from a real photo.
#[derive(Clone)]
pub struct ItemPhoto {
    /// Stable id: photo stem, item, running number (`"fruits-lime-1"`).
    pub id: String,
    /// The source photo's file name in [`OPENCV_DATA`].
    pub source: String,
    /// Fine class in Chinese (水果, 糖果, 纸盒, 纸牌, 玩具, 金属瓶盖, 打火机, 笔 ...).
    pub label_zh: String,
    /// The Beijing category the item belongs in.
    pub category: WasteCategory,
    /// The tight crop.
    pub image: RgbImage,
    /// Item coverage over the crop (255 = item), same size as `image`; `None` makes the
    /// renderer key the item out against the crop's border colour (falling back to a
    /// rounded rectangle). [`item_photos`] always fills it in.
    pub mask: Option<GrayImage>,
}

impl std::fmt::Debug for ItemPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemPhoto")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("label_zh", &self.label_zh)
            .field("category", &self.category)
            .field("size", &self.image.dimensions())
            .field("mask", &self.mask.is_some())
            .finish()
    }
}

/// How the item is told from the rest of its crop.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Colour distance to the crop's border colour (holes filled); crops on a plain background.
    Key,
    /// The whole crop, as a rounded rectangle (the item fills the crop).
    Rect,
    /// The ellipse inscribed in the crop (round fruit among other things).
    Ellipse,
    /// A polygon in source-photo pixels (rotated boxes and cards, the orange wedge).
    Poly(&'static [[f32; 2]]),
}

/// One row of the crop table: source photo, crop `[x0, y0, x1, y1]` (px, exclusive
/// ends), item word for the id, fine label, category, cut.
struct CropRow(&'static str, [u32; 4], &'static str, &'static str, WasteCategory, Cut);

use WasteCategory::{Kitchen as K, Other as O, Recyclable as R};

/// The labelled crops. Every rect was checked on a gridded preview of its photo.
/// No sample photo shows batteries, medicine or other hazardous household waste, so
/// there are no 有害垃圾 crops.
#[rustfmt::skip]
const CROPS: &[CropRow] = &[
    // fruits.jpg (512x480): a still life of cut fruit and vegetables.
    CropRow("fruits.jpg", [70, 40, 346, 474], "orange", "水果", K, Cut::Poly(&[[205.0, 44.0], [248.0, 46.0], [290.0, 100.0], [318.0, 200.0], [338.0, 290.0], [342.0, 420.0], [330.0, 462.0], [300.0, 472.0], [200.0, 458.0], [150.0, 442.0], [122.0, 400.0], [119.0, 369.0], [109.0, 319.0], [78.0, 281.0], [80.0, 250.0], [88.0, 200.0], [130.0, 100.0]])),
    CropRow("fruits.jpg", [328, 116, 512, 284], "lime", "水果", K, Cut::Poly(&[[331.0, 176.0], [358.0, 136.0], [420.0, 118.0], [480.0, 122.0], [512.0, 134.0], [512.0, 248.0], [475.0, 250.0], [425.0, 260.0], [380.0, 281.0], [346.0, 281.0], [332.0, 240.0]])),
    CropRow("fruits.jpg", [318, 246, 512, 480], "lemon", "水果", K, Cut::Poly(&[[322.0, 394.0], [328.0, 340.0], [360.0, 296.0], [420.0, 262.0], [480.0, 250.0], [512.0, 248.0], [512.0, 480.0], [372.0, 480.0], [350.0, 460.0], [330.0, 432.0]])),
    CropRow("fruits.jpg", [0, 272, 116, 480], "kiwi", "水果", K, Cut::Poly(&[[0.0, 276.0], [40.0, 275.0], [71.0, 286.0], [94.0, 306.0], [106.0, 326.0], [111.0, 354.0], [113.0, 380.0], [110.0, 409.0], [104.0, 431.0], [97.0, 454.0], [89.0, 478.0], [0.0, 480.0]])),
    CropRow("fruits.jpg", [300, 0, 512, 112], "cabbage", "蔬菜", K, Cut::Rect),
    // apple.jpg, orange.jpg (512x512): one fruit each on a greenish backdrop.
    CropRow("apple.jpg", [40, 2, 464, 506], "apple", "水果", K, Cut::Poly(&[[176.0, 6.0], [190.0, 4.0], [222.0, 58.0], [300.0, 60.0], [380.0, 80.0], [440.0, 140.0], [460.0, 260.0], [450.0, 380.0], [420.0, 460.0], [380.0, 498.0], [260.0, 504.0], [180.0, 502.0], [120.0, 470.0], [66.0, 390.0], [44.0, 260.0], [60.0, 150.0], [120.0, 80.0], [205.0, 62.0]])),
    CropRow("orange.jpg", [36, 50, 458, 500], "orange", "水果", K, Cut::Ellipse),
    // smarties.png (413x356): sugar-coated sweets on white, cut as small piles.
    CropRow("smarties.png", [2, 200, 181, 300], "candy", "糖果", K, Cut::Key),
    CropRow("smarties.png", [175, 182, 318, 242], "candy", "糖果", K, Cut::Key),
    CropRow("smarties.png", [184, 274, 326, 352], "candy", "糖果", K, Cut::Key),
    CropRow("smarties.png", [240, 52, 408, 146], "candy", "糖果", K, Cut::Key),
    CropRow("smarties.png", [318, 141, 413, 268], "candy", "糖果", K, Cut::Key),
    // box.png (324x223): a biscuit box, filling the photo.
    CropRow("box.png", [0, 0, 324, 223], "box", "纸盒", R, Cut::Rect),
    // box_in_scene.png (512x384): the same box, a rice box, a book and a snack bag in a pile.
    CropRow("box_in_scene.png", [95, 160, 264, 300], "box", "纸盒", R, Cut::Poly(&[[121.0, 162.0], [250.0, 180.0], [262.0, 298.0], [97.0, 272.0]])),
    CropRow("box_in_scene.png", [248, 162, 390, 350], "box", "纸盒", R, Cut::Poly(&[[250.0, 186.0], [317.0, 165.0], [387.0, 290.0], [319.0, 346.0], [262.0, 300.0]])),
    CropRow("box_in_scene.png", [140, 22, 402, 198], "book", "书本", R, Cut::Poly(&[[142.0, 150.0], [257.0, 24.0], [400.0, 126.0], [362.0, 196.0], [334.0, 194.0], [318.0, 166.0], [262.0, 182.0], [152.0, 166.0]])),
    CropRow("box_in_scene.png", [110, 264, 300, 384], "bag", "零食包装袋", O, Cut::Poly(&[[112.0, 266.0], [160.0, 282.0], [250.0, 318.0], [298.0, 346.0], [292.0, 384.0], [165.0, 384.0], [132.0, 336.0], [118.0, 300.0]])),
    // cards.png (640x480): playing cards scattered on white.
    CropRow("cards.png", [170, 76, 259, 206], "card", "纸牌", R, Cut::Rect),
    CropRow("cards.png", [332, 122, 420, 252], "card", "纸牌", R, Cut::Rect),
    CropRow("cards.png", [100, 302, 232, 402], "card", "纸牌", R, Cut::Poly(&[[108.0, 304.0], [230.0, 314.0], [228.0, 400.0], [102.0, 388.0]])),
    CropRow("cards.png", [232, 300, 406, 408], "card", "纸牌", R, Cut::Poly(&[[240.0, 302.0], [404.0, 320.0], [394.0, 406.0], [232.0, 390.0]])),
    CropRow("cards.png", [60, 176, 198, 332], "card", "纸牌", R, Cut::Poly(&[[112.0, 178.0], [196.0, 216.0], [145.0, 330.0], [61.0, 293.0]])),
    // rubberwhale1.png (584x388): a toy corner.
    CropRow("rubberwhale1.png", [216, 94, 322, 184], "toy", "玩具", R, Cut::Poly(&[[254.0, 98.0], [290.0, 96.0], [310.0, 108.0], [316.0, 128.0], [314.0, 150.0], [306.0, 162.0], [316.0, 164.0], [320.0, 176.0], [300.0, 182.0], [270.0, 178.0], [246.0, 172.0], [226.0, 160.0], [218.0, 136.0], [224.0, 112.0], [236.0, 102.0]])),
    CropRow("rubberwhale1.png", [148, 224, 302, 320], "toy", "玩具", R, Cut::Poly(&[[156.0, 232.0], [260.0, 226.0], [284.0, 236.0], [298.0, 258.0], [300.0, 290.0], [292.0, 312.0], [200.0, 318.0], [160.0, 316.0], [150.0, 270.0]])),
    CropRow("rubberwhale1.png", [68, 292, 184, 388], "toy", "玩具", R, Cut::Ellipse),
    CropRow("rubberwhale1.png", [390, 256, 584, 388], "box", "纸盒", R, Cut::Rect),
    CropRow("rubberwhale1.png", [60, 140, 156, 184], "shell", "贝壳", O, Cut::Poly(&[[63.0, 158.0], [72.0, 148.0], [92.0, 142.5], [125.0, 144.0], [148.0, 155.0], [152.0, 165.0], [147.0, 173.0], [125.0, 180.0], [100.0, 180.0], [77.0, 177.0], [65.0, 168.0]])),
    // blox.jpg (256x256): wooden blocks.
    CropRow("blox.jpg", [84, 62, 152, 116], "toy", "玩具", R, Cut::Poly(&[[87.0, 85.0], [140.0, 64.0], [149.0, 69.0], [149.0, 100.0], [100.0, 114.0], [87.0, 110.0]])),
    CropRow("blox.jpg", [132, 148, 172, 212], "toy", "玩具", R, Cut::Poly(&[[135.0, 157.0], [154.0, 150.0], [170.0, 158.0], [170.0, 198.0], [152.0, 210.0], [136.0, 205.0]])),
    CropRow("blox.jpg", [74, 188, 120, 240], "toy", "玩具", R, Cut::Poly(&[[77.0, 226.0], [104.0, 190.0], [118.0, 196.0], [117.0, 216.0], [96.0, 237.0], [77.0, 235.0]])),
    CropRow("blox.jpg", [184, 190, 238, 240], "toy", "玩具", R, Cut::Poly(&[[187.0, 210.0], [220.0, 192.0], [236.0, 198.0], [236.0, 222.0], [206.0, 238.0], [187.0, 232.0]])),
    CropRow("blox.jpg", [172, 76, 204, 114], "toy", "玩具", R, Cut::Poly(&[[174.0, 92.0], [190.0, 78.0], [202.0, 84.0], [200.0, 108.0], [188.0, 112.0], [174.0, 108.0]])),
    CropRow("blox.jpg", [8, 148, 52, 194], "toy", "玩具", R, Cut::Poly(&[[10.0, 154.0], [40.0, 150.0], [50.0, 158.0], [48.0, 188.0], [20.0, 192.0], [10.0, 184.0]])),
    // stuff.jpg (640x480): small things on a desk.
    CropRow("stuff.jpg", [186, 286, 234, 330], "cap", "金属瓶盖", R, Cut::Ellipse),
    CropRow("stuff.jpg", [188, 15, 266, 102], "lid", "瓶盖", R, Cut::Poly(&[[212.0, 19.0], [244.0, 20.0], [258.0, 31.0], [263.0, 51.0], [259.0, 75.0], [246.0, 93.0], [226.0, 98.0], [206.0, 89.0], [196.0, 71.0], [191.0, 51.0], [198.0, 27.0]])),
    CropRow("stuff.jpg", [50, 86, 344, 258], "pencil", "笔", O, Cut::Key),
    CropRow("stuff.jpg", [310, 310, 358, 464], "lighter", "打火机", O, Cut::Poly(&[[314.0, 322.0], [322.0, 313.0], [350.0, 313.0], [354.0, 322.0], [354.0, 460.0], [314.0, 460.0]])),
    // board.jpg (640x480): a sound card.
    CropRow("board.jpg", [30, 40, 250, 150], "pcb", "电路板", R, Cut::Rect),
];

/// The labelled crops, from the table above (source, crop rect, label, category);
/// each rect is checked to lie inside its photo, and each crop gets its item mask.
///
/// Errors when a photo cannot be read (`apt-get install opencv-doc`) or a rect does
/// not fit its photo.
pub fn item_photos() -> Result<Vec<ItemPhoto>, SimError> {
    let mut photos: HashMap<&str, RgbImage> = HashMap::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(CROPS.len());
    for CropRow(source, r, word, label, category, cut) in CROPS {
        if !photos.contains_key(source) {
            photos.insert(source, opencv_photo(source)?);
        }
        let photo = &photos[source];
        let (pw, ph) = photo.dimensions();
        let [x0, y0, x1, y1] = *r;
        if x0 >= x1 || y0 >= y1 || x1 > pw || y1 > ph {
            return Err(SimError::Photo {
                path: format!("{OPENCV_DATA}/{source}"),
                reason: format!("crop [{x0}, {y0}, {x1}, {y1}] does not fit the {pw}x{ph} photo"),
            });
        }
        let image = image::imageops::crop_imm(photo, x0, y0, x1 - x0, y1 - y0).to_image();
        let mask = match cut {
            Cut::Key => key_mask(&image).unwrap_or_else(|| shape_mask(image.width(), image.height(), Shape::RoundRect)),
            Cut::Rect => shape_mask(image.width(), image.height(), Shape::RoundRect),
            Cut::Ellipse => shape_mask(image.width(), image.height(), Shape::Ellipse),
            Cut::Poly(p) => {
                let pts: Vec<[f32; 2]> = p.iter().map(|q| [q[0] - x0 as f32, q[1] - y0 as f32]).collect();
                shape_mask(image.width(), image.height(), Shape::Poly(&pts))
            }
        };
        let stem = source.rsplit_once('.').map_or(*source, |s| s.0);
        let key = format!("{stem}-{word}");
        let n = counts.entry(key.clone()).or_insert(0);
        *n += 1;
        out.push(ItemPhoto {
            id: format!("{key}-{n}"),
            source: source.to_string(),
            label_zh: label.to_string(),
            category: *category,
            image,
            mask: Some(mask),
        });
    }
    Ok(out)
}

enum Shape<'a> {
    RoundRect,
    Ellipse,
    Poly(&'a [[f32; 2]]),
}

/// Anti-aliased coverage of a shape over a `w` x `h` crop (4 samples a pixel).
fn shape_mask(w: u32, h: u32, shape: Shape) -> GrayImage {
    let (fw, fh) = (w as f32, h as f32);
    let r = 0.12 * fw.min(fh);
    let inside = |x: f32, y: f32| -> bool {
        match &shape {
            Shape::RoundRect => sd_round_rect(x, y, [0.0, 0.0, fw, fh], r) <= 0.0,
            Shape::Ellipse => {
                let (dx, dy) = ((x - fw / 2.0) / (fw / 2.0), (y - fh / 2.0) / (fh / 2.0));
                dx * dx + dy * dy <= 1.0
            }
            Shape::Poly(p) => point_in_poly(x, y, p),
        }
    };
    GrayImage::from_fn(w, h, |i, j| {
        let mut n = 0u32;
        for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
            n += inside(i as f32 + sx, j as f32 + sy) as u32;
        }
        image::Luma([(n * 255 / 4) as u8])
    })
}

fn point_in_poly(x: f32, y: f32, p: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut j = p.len() - 1;
    for i in 0..p.len() {
        let (a, b) = (p[i], p[j]);
        if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Keys the item out of a crop on a plain background: pixels far (in RGB) from the
/// border's median colour, holes filled, specks removed. `None` when the border is not
/// plain enough or the result covers too little or too much of the crop.
fn key_mask(img: &RgbImage) -> Option<GrayImage> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 8 || h < 8 {
        return None;
    }
    let b = (w.min(h) / 40).max(1);
    let mut border: Vec<[u8; 3]> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if x < b || y < b || x >= w - b || y >= h - b {
                border.push(img.get_pixel(x as u32, y as u32).0);
            }
        }
    }
    let med: [f32; 3] = std::array::from_fn(|c| {
        let mut v: Vec<u8> = border.iter().map(|p| p[c]).collect();
        v.sort_unstable();
        v[v.len() / 2] as f32
    });
    // Chroma counts fully, brightness less: soft shadows on the backdrop stay backdrop.
    let dist = |p: [u8; 3]| -> f32 {
        let d = [p[0] as f32 - med[0], p[1] as f32 - med[1], p[2] as f32 - med[2]];
        let l = (d[0] + d[1] + d[2]) / 3.0;
        let c = [d[0] - l, d[1] - l, d[2] - l];
        (c[0] * c[0] + c[1] * c[1] + c[2] * c[2] + 3.0 * (0.4 * l) * (0.4 * l)).sqrt()
    };
    let mut bd: Vec<f32> = border.iter().map(|p| dist(*p)).collect();
    bd.sort_by(f32::total_cmp);
    let spread = bd[bd.len() * 3 / 4];
    if spread > 40.0 {
        return None;
    }
    let thr = (2.5 * spread).max(48.0);
    let d: Vec<f32> = img.pixels().map(|p| dist(p.0)).collect();
    // Flood the background in from the border.
    let mut bg = vec![false; w * h];
    let mut stack: Vec<usize> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1) && d[y * w + x] <= thr {
                bg[y * w + x] = true;
                stack.push(y * w + x);
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        let mut visit = |j: usize| {
            if !bg[j] && d[j] <= thr {
                bg[j] = true;
                stack.push(j);
            }
        };
        if x > 0 {
            visit(i - 1);
        }
        if x + 1 < w {
            visit(i + 1);
        }
        if y > 0 {
            visit(i - w);
        }
        if y + 1 < h {
            visit(i + w);
        }
    }
    // Specks and hairlines go: blur and threshold.
    let mut m: Vec<f32> = bg.iter().map(|&b| if b { 0.0 } else { 1.0 }).collect();
    box_blur(&mut m, w, h, 2);
    let keep = main_parts(&m.iter().map(|&v| v > 0.5).collect::<Vec<_>>(), w, h);
    let cover = keep.iter().filter(|&&v| v).count() as f32 / (w * h) as f32;
    if !(0.02..=0.97).contains(&cover) {
        return None;
    }
    Some(GrayImage::from_fn(w as u32, h as u32, |x, y| {
        image::Luma([if keep[y as usize * w + x as usize] { 255 } else { 0 }])
    }))
}

/// The main parts of a binary mask: 4-connected pieces of at least a quarter of the
/// largest's area, less pieces cut by the crop edge that are under 60 % of it (the
/// neighbours' edges that a crop catches).
fn main_parts(m: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut label = vec![0u32; w * h];
    let mut parts: Vec<(usize, bool)> = vec![(0, false)];
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !m[start] || label[start] != 0 {
            continue;
        }
        let id = parts.len() as u32;
        let (mut area, mut edge) = (0usize, false);
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            area += 1;
            edge |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
            for (ok, j) in
                [(x > 0, i.wrapping_sub(1)), (x + 1 < w, i + 1), (y > 0, i.wrapping_sub(w)), (y + 1 < h, i + w)]
            {
                if ok && m[j] && label[j] == 0 {
                    label[j] = id;
                    stack.push(j);
                }
            }
        }
        parts.push((area, edge));
    }
    let largest = parts.iter().map(|p| p.0).max().unwrap_or(0) as f32;
    let keep: Vec<bool> = parts
        .iter()
        .map(|&(a, edge)| a > 0 && a as f32 >= 0.25 * largest && !(edge && (a as f32) < 0.6 * largest))
        .collect();
    label.iter().map(|&l| l != 0 && keep[l as usize]).collect()
}

/// In-place separable box blur of radius `r`, edges clamped.
fn box_blur(v: &mut [f32], w: usize, h: usize, r: usize) {
    if r == 0 || w == 0 || h == 0 {
        return;
    }
    let mut tmp = vec![0.0f32; w.max(h)];
    let norm = 1.0 / (2 * r + 1) as f32;
    for y in 0..h {
        let row = &mut v[y * w..(y + 1) * w];
        let mut acc: f32 = (0..=2 * r).map(|k| row[k.saturating_sub(r).min(w - 1)]).sum();
        for x in 0..w {
            tmp[x] = acc * norm;
            acc += row[(x + r + 1).min(w - 1)] - row[x.saturating_sub(r)];
        }
        row.copy_from_slice(&tmp[..w]);
    }
    for x in 0..w {
        let at = |y: usize| y * w + x;
        let mut acc: f32 = (0..=2 * r).map(|k| v[at(k.saturating_sub(r).min(h - 1))]).sum();
        for y in 0..h {
            tmp[y] = acc * norm;
            acc += v[at((y + r + 1).min(h - 1))] - v[at(y.saturating_sub(r))];
        }
        for y in 0..h {
            v[at(y)] = tmp[y];
        }
    }
}

// ---------------------------------------------------------------------------
// Drops
// ---------------------------------------------------------------------------

/// One item brought to a bin (or, for a nuisance, a bare hand passing over it).
#[derive(Clone, Debug)]
pub struct Drop {
    /// The item (ignored for a nuisance).
    pub item: Arc<ItemPhoto>,
    /// Which opening, 0..4 left to right (others are not drawn).
    pub bin: usize,
    /// When the hand starts coming in (s).
    pub start_s: f64,
    /// How long the item is held still over the opening before it falls (s).
    pub hold_s: f64,
    /// A bare hand/arm passing over the opening, no item.
    pub nuisance: bool,
}

impl Drop {
    /// When the drop is over: nothing of it is drawn from then on (s).
    pub fn end_s(&self) -> f64 {
        self.start_s + ENTER_S + self.hold_s.max(0.0) + FALL_S
    }
}

/// Ground truth for one drop in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DropTruth {
    /// Index into the `drops` slice given to [`StationScene::frame`].
    pub drop_index: usize,
    /// The opening, as in the drop.
    pub bin: usize,
    /// Visible box of the item (its pixels over half coverage), `[x, y, w, h]`; for a
    /// nuisance the hand's box.
    pub bbox: [u32; 4],
    /// The item's box lies fully inside the opening polygon (always false for a nuisance).
    pub landed: bool,
}

/// A seeded drop sequence: `n` drops, one at a time, starts `gap_s` apart after
/// [`LEAD_S`] of quiet; `round(n * wrong_share)` of them go into a wrong bin (one
/// whose category is not the item's), the rest into the right one; about `n / 10`
/// nuisance passes (a bare hand over a bin) are mixed in as extra slots.
///
/// Items are drawn in shuffled rounds so each is used about equally. `hold_s` is
/// 1.0-1.4 s, shortened when `gap_s` is too small to keep drops apart (a `gap_s`
/// that is not finite or under 1 s is read as 1 s). No items: no drops.
pub fn drop_sequence(items: &[ItemPhoto], n: usize, wrong_share: f64, gap_s: f64, seed: u64) -> Vec<Drop> {
    if items.is_empty() {
        return Vec::new();
    }
    let gap = if gap_s.is_finite() { gap_s.max(1.0) } else { 1.0 };
    let share = if wrong_share.is_finite() { wrong_share.clamp(0.0, 1.0) } else { 0.0 };
    let mut rng = Rng::with_seed(mix(seed, 0xD409));
    let arcs: Vec<Arc<ItemPhoto>> = items.iter().cloned().map(Arc::new).collect();
    let n_wrong = ((n as f64) * share).round() as usize;
    let mut wrong: Vec<bool> = (0..n).map(|i| i < n_wrong).collect();
    rng.shuffle(&mut wrong);
    let n_nuisance = (n + 5) / 10;
    let mut slots: Vec<bool> = (0..n + n_nuisance).map(|i| i >= n).collect();
    rng.shuffle(&mut slots);
    let mut order: Vec<usize> = Vec::new();
    let mut next_item = || {
        if order.is_empty() {
            order = (0..arcs.len()).collect();
            rng.shuffle(&mut order);
        }
        order.pop().unwrap_or(0)
    };
    let mut picks: Vec<usize> = (0..n).map(|_| next_item()).collect();
    picks.reverse();
    let max_hold = (gap - ENTER_S - FALL_S - 0.3).max(0.2);
    let mut out = Vec::with_capacity(slots.len());
    let mut k = 0;
    for (slot, nuisance) in slots.into_iter().enumerate() {
        let start_s = LEAD_S + slot as f64 * gap;
        let hold_s = (1.0 + 0.4 * rng.f64()).min(max_hold);
        if nuisance {
            let item = arcs[rng.usize(..arcs.len())].clone();
            out.push(Drop { item, bin: rng.usize(..4), start_s, hold_s, nuisance: true });
            continue;
        }
        let item = arcs[picks.pop().unwrap_or(0)].clone();
        let right = item.category.index();
        let bin = if wrong[k] {
            let mut b = rng.usize(..3);
            if b >= right {
                b += 1;
            }
            b
        } else {
            right
        };
        k += 1;
        out.push(Drop { item, bin, start_s, hold_s, nuisance: false });
    }
    out
}

// ---------------------------------------------------------------------------
// The scene
// ---------------------------------------------------------------------------

/// One bin as seen from above.
#[derive(Clone, Debug)]
struct BinGeom {
    /// Outer edge of the rim `[x0, y0, x1, y1]` and its corner radius.
    outer: [f32; 4],
    outer_r: f32,
    /// The opening inside the rim and its corner radius.
    open: [f32; 4],
    open_r: f32,
    /// The opening as a polygon (pixels, clockwise on screen).
    polygon: Vec<[f64; 2]>,
}

/// A simulated station: build once, then ask for frames.
pub struct StationScene {
    width: u32,
    height: u32,
    seed: u64,
    bins: [BinGeom; 4],
    background: RgbImage,
    noise: Box<[i16; 65_536]>,
    hands: bool,
}

/// Bin colours, kitchen / recyclable / hazardous / other.
const BIN_RGB: [[f32; 3]; 4] = [[28.0, 132.0, 66.0], [22.0, 88.0, 170.0], [198.0, 36.0, 40.0], [104.0, 108.0, 114.0]];

/// Skin tones for hands and arms.
const SKIN: [[f32; 3]; 5] =
    [[232.0, 190.0, 160.0], [218.0, 168.0, 132.0], [196.0, 140.0, 104.0], [164.0, 112.0, 80.0], [120.0, 82.0, 58.0]];
/// Sleeve colours.
const SLEEVE: [[f32; 3]; 6] = [
    [40.0, 44.0, 60.0],
    [180.0, 180.0, 184.0],
    [150.0, 40.0, 40.0],
    [60.0, 90.0, 140.0],
    [230.0, 228.0, 220.0],
    [70.0, 100.0, 60.0],
];

impl StationScene {
    /// Four bins seen from above at `width` x `height` (1920x1080 normally), seeded.
    ///
    /// Openings left to right green/blue/red/grey with rims in their colour, dark
    /// bag-lined interiors, a tiled floor around, and the category names printed on
    /// a sign strip above each bin (left blank when [`SIGN_FONT`] is missing). Sides
    /// are clamped to 64..=8192.
    pub fn new(width: u32, height: u32, seed: u64) -> Self {
        let (w, h) = (width.clamp(64, 8192), height.clamp(64, 8192));
        let bins = layout(w, h);
        let background = paint_background(w, h, seed, &bins);
        StationScene { width: w, height: h, seed, bins, background, noise: noise_table(NOISE_SIGMA), hands: true }
    }

    /// Draws (default) or leaves out the hand and arm that hold an item as it comes in.
    /// Nuisance drops always show their hand.
    pub fn with_hands(mut self, on: bool) -> Self {
        self.hands = on;
        self
    }

    /// Sets the sensor noise (standard deviation in 8-bit levels, clamped to 0-20).
    pub fn with_noise_sigma(mut self, sigma: f64) -> Self {
        self.noise = noise_table(if sigma.is_finite() { sigma.clamp(0.0, 20.0) } else { NOISE_SIGMA });
        self
    }

    /// Frame width (px).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height (px).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The empty station without flicker or noise.
    pub fn background(&self) -> &RgbImage {
        &self.background
    }

    /// The opening of bin `bin` (0..4) as a polygon in pixels.
    pub fn opening(&self, bin: usize) -> &[[f64; 2]] {
        &self.bins[bin.min(3)].polygon
    }

    /// Categories of the bins, left to right.
    pub fn bin_categories(&self) -> [WasteCategory; 4] {
        WasteCategory::ALL
    }

    /// Calibration for this view: one [`ZoneKind::Bin`] zone per opening
    /// (`bin-kitchen`, `bin-recyclable`, `bin-hazardous`, `bin-other`) with its
    /// category; the polygon is the opening inside the rim. No homography, no references.
    pub fn calibration(&self, camera: &str) -> CalibrationFile {
        let zones = self
            .bin_categories()
            .iter()
            .zip(&self.bins)
            .map(|(c, b)| Zone {
                name: format!("bin-{}", c.code()),
                kind: ZoneKind::Bin,
                polygon: b.polygon.clone(),
                category: Some(*c),
                allow: Vec::new(),
            })
            .collect();
        CalibrationFile {
            camera: camera.to_string(),
            resolution: [self.width, self.height],
            homography: None,
            references: Vec::new(),
            zones,
        }
    }

    /// The frame at `t_s` seconds: every drop and nuisance active at `t_s` drawn, light
    /// flicker and sensor noise seeded by (seed, t), and the truth for each drop that
    /// shows at least one pixel. A non-finite `t_s` is read as 0.
    pub fn frame(&self, drops: &[Drop], t_s: f64) -> (RgbImage, Vec<DropTruth>) {
        let t = if t_s.is_finite() { t_s } else { 0.0 };
        let mut img = self.background.clone();
        let mut truths = Vec::new();
        for (i, d) in drops.iter().enumerate() {
            let tau = t - d.start_s;
            if d.bin >= 4 || !(tau >= 0.0 && t < d.end_s()) {
                continue;
            }
            if let Some(truth) = self.draw_drop(&mut img, i, d, tau) {
                truths.push(truth);
            }
        }
        let fseed = mix(self.seed, t.to_bits());
        let gain = self.gain(t, fseed);
        develop(&mut img, gain, &self.noise, fseed);
        (img, truths)
    }

    /// Global light gain at `t`: a slow wobble and a per-frame flicker, within about ±3.5 %.
    fn gain(&self, t: f64, fseed: u64) -> f32 {
        let phase = (mix(self.seed, 0x6A1) % 1000) as f64 / 1000.0 * std::f64::consts::TAU;
        let slow = 0.02 * (std::f64::consts::TAU * t / 7.3 + phase).sin();
        let u = (mix(fseed, 0xF11C) >> 11) as f64 / (1u64 << 53) as f64;
        (1.0 + slow + 0.03 * (u - 0.5)) as f32
    }

    /// Draws one active drop at `tau` seconds after its start.
    fn draw_drop(&self, img: &mut RgbImage, index: usize, d: &Drop, tau: f64) -> Option<DropTruth> {
        let (w, h) = (self.width as f32, self.height as f32);
        let bin = &self.bins[d.bin];
        let mut rng = Rng::with_seed(mix(self.seed, drop_hash(d)));
        let skin = SKIN[rng.usize(..SKIN.len())];
        let sleeve = SLEEVE[rng.usize(..SLEEVE.len())];
        let u = unit(w, h);
        let arm_w = 0.07 * u * (0.9 + 0.2 * rng.f32());
        let shoulder_dx = (rng.f32() - 0.35) * 0.3 * u;
        let hold = d.hold_s.max(0.0);
        let o = bin.open;
        let margin_r = 0.3 * bin.open_r + 0.006 * u + 3.0;
        if d.nuisance {
            // A bare hand sweeps in, lingers, and goes.
            let target =
                [o[0] + (o[2] - o[0]) * (0.3 + 0.4 * rng.f32()), o[1] + (o[3] - o[1]) * (0.25 + 0.4 * rng.f32())];
            let span = ENTER_S + hold + FALL_S;
            let come = smooth(((tau / (ENTER_S + 0.1)) as f32).min(1.0));
            let go = smooth((((tau - (span - FALL_S - 0.1)) / (FALL_S + 0.1)) as f32).clamp(0.0, 1.0));
            let sway = 0.01 * u * ((tau * 3.1) as f32 + rng.f32() * 6.0).sin();
            let out_y = h + 0.2 * h;
            let y = out_y + (target[1] - out_y) * come * (1.0 - go);
            let x = target[0] + sway;
            let angle = (rng.f32() - 0.5) * 0.5;
            let hand = Hand {
                palm: [x, y],
                shoulder: [x + shoulder_dx, h + 0.45 * h],
                width: arm_w,
                skin,
                sleeve,
                open: true,
                angle,
            };
            hand.draw_shadow(img, shadow_offset(u));
            let bbox = hand.draw(img);
            return bbox.map(|b| DropTruth { drop_index: index, bin: d.bin, bbox: b, landed: false });
        }
        // The item: size, tilt and hold position.
        let photo = &d.item;
        let (cw, ch) = photo.image.dimensions();
        if cw == 0 || ch == 0 {
            return None;
        }
        let long = cw.max(ch) as f32;
        let mut size = (200.0 + 90.0 * rng.f32()) / 1080.0 * u;
        size = size.min(4.0 * long);
        // Seen from above an item can lie any way round: mostly upright, else a quarter
        // or half turn, plus a small tilt.
        let quarter = [0.0, 0.0, 1.0, 2.0, 3.0][rng.usize(..5)];
        let rot = quarter * std::f32::consts::FRAC_PI_2 + (rng.f32() - 0.5) * 0.5;
        let (cs, sn) = (rot.cos().abs(), rot.sin().abs());
        let k0 = size / long;
        let (bw0, bh0) = (cw as f32 * k0, ch as f32 * k0);
        let ext = [(bw0 * cs + bh0 * sn) / 2.0, (bw0 * sn + bh0 * cs) / 2.0];
        let room = [(o[2] - o[0]) / 2.0 - margin_r, (o[3] - o[1]) / 2.0 - margin_r];
        let fit = (room[0] / ext[0]).min(room[1] / ext[1]).clamp(0.05, 1.0);
        let size = size * fit;
        let ext = [ext[0] * fit, ext[1] * fit];
        let lo = [o[0] + margin_r + ext[0], o[1] + margin_r + ext[1]];
        let hi = [o[2] - margin_r - ext[0], o[3] - margin_r - ext[1]];
        let hold_c = [lo[0] + (hi[0] - lo[0]).max(0.0) * rng.f32(), lo[1] + (hi[1] - lo[1]).max(0.0) * rng.f32()];
        let start_c = [hold_c[0] + (rng.f32() - 0.5) * 0.12 * u, h + 0.8 * ext[1]];
        let jit = [rng.f32() * 6.3, rng.f32() * 6.3, 2.0 + rng.f32(), 2.5 + rng.f32()];
        let amp = 0.004 * u;

        let t_hold = ENTER_S;
        let t_fall = ENTER_S + hold;
        let (centre, scale, bright, fade, grip) = if tau < t_hold {
            let s = smooth_out((tau / ENTER_S) as f32);
            let c = [start_c[0] + (hold_c[0] - start_c[0]) * s, start_c[1] + (hold_c[1] - start_c[1]) * s];
            (c, 1.0, 1.0, 1.0, 1.0)
        } else if tau < t_fall {
            let u = (tau - t_hold) as f32;
            let ramp = (u / 0.2).min(1.0);
            let c = [
                hold_c[0] + ramp * amp * (std::f32::consts::TAU * jit[2] * u / 3.0 + jit[0]).sin(),
                hold_c[1] + ramp * amp * (std::f32::consts::TAU * jit[3] * u / 3.0 + jit[1]).sin(),
            ];
            (c, 1.0, 1.0, 1.0, 1.0)
        } else {
            let f = (((tau - t_fall) / FALL_S) as f32).clamp(0.0, 1.0);
            let e = f * f;
            // Falling away from the camera: shrinks towards the principal point.
            let c = [hold_c[0] + (w / 2.0 - hold_c[0]) * 0.05 * e, hold_c[1] + (h / 2.0 - hold_c[1]) * 0.05 * e];
            (c, 1.0 - 0.65 * e, 1.0 - 0.65 * f, (1.0 - (f - 0.6).max(0.0) / 0.4).clamp(0.0, 1.0), 1.0 - f)
        };

        let sprite = Sprite::new(photo, size);
        let sh = shadow_offset(u);
        let palm = [centre[0], centre[1] + ext[1] * scale + 0.15 * arm_w];
        let hand = Hand {
            palm: [palm[0], palm[1] + (h + 0.3 * h - palm[1]) * (1.0 - grip)],
            shoulder: [palm[0] + shoulder_dx, h + 0.45 * h],
            width: arm_w,
            skin,
            sleeve,
            open: false,
            angle: 0.0,
        };
        let show_hand = self.hands && tau < t_fall + FALL_S;
        if show_hand {
            hand.draw_shadow(img, sh);
        }
        sprite.draw_shadow(img, centre, rot, scale, fade, [sh[0] * scale, sh[1] * scale]);
        let (under, over) = hand.limbs();
        if show_hand {
            draw_limbs(img, &under, skin, sleeve);
        }
        let bbox = sprite.draw(img, centre, rot, scale, bright, fade);
        if show_hand {
            draw_limbs(img, &over, skin, sleeve);
        }
        let bbox = bbox?;
        let landed = bbox_inside(&bbox, &bin.polygon);
        Some(DropTruth { drop_index: index, bin: d.bin, bbox, landed })
    }
}

/// Where the shadows fall relative to what casts them (px), for a frame of [`unit`] `u`.
fn shadow_offset(u: f32) -> [f32; 2] {
    [0.012 * u, 0.022 * u]
}

/// The frame's size unit (px): its height, or less for frames narrower than 16:9
/// (the bins then are narrower than they are tall), so hands and items keep to the bins.
fn unit(w: f32, h: f32) -> f32 {
    h.min(w * 9.0 / 16.0)
}

/// The box `[x, y, w, h]` (its continuous corners) lies in the convex polygon.
fn bbox_inside(b: &[u32; 4], poly: &[[f64; 2]]) -> bool {
    let (x0, y0, x1, y1) = (b[0] as f64, b[1] as f64, (b[0] + b[2]) as f64, (b[1] + b[3]) as f64);
    [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].iter().all(|p| in_convex(p, poly))
}

/// Point in a convex polygon (either winding; on the edge counts).
fn in_convex(p: &[f64; 2], poly: &[[f64; 2]]) -> bool {
    let n = poly.len();
    if n < 3 {
        return false;
    }
    let (mut pos, mut neg) = (false, false);
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        pos |= cross > 1e-9;
        neg |= cross < -1e-9;
    }
    !(pos && neg)
}

/// Stable hash of a drop's content (not its place in the slice).
fn drop_hash(d: &Drop) -> u64 {
    let mut s = mix(d.start_s.to_bits(), d.hold_s.to_bits());
    s = mix(s, d.bin as u64 * 2 + d.nuisance as u64);
    for b in d.item.id.bytes() {
        s = mix(s, b as u64);
    }
    s
}

/// SplitMix64 of a combined pair.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn smooth(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

fn smooth_out(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    1.0 - (1.0 - x) * (1.0 - x)
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    smooth((x - e0) / (e1 - e0))
}

/// Signed distance to a rounded rectangle `[x0, y0, x1, y1]` (negative inside).
fn sd_round_rect(x: f32, y: f32, r: [f32; 4], rad: f32) -> f32 {
    let (cx, cy) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
    let (hx, hy) = ((r[2] - r[0]) / 2.0 - rad, (r[3] - r[1]) / 2.0 - rad);
    let (qx, qy) = ((x - cx).abs() - hx, (y - cy).abs() - hy);
    let (ox, oy) = (qx.max(0.0), qy.max(0.0));
    let outside = (ox * ox + oy * oy).sqrt();
    outside + qx.max(qy).min(0.0) - rad
}

/// Signed distance to a capsule from `a` to `b` of radius `r`, and where along it (0-1).
fn sd_capsule(p: [f32; 2], a: [f32; 2], b: [f32; 2], r: f32) -> (f32, f32) {
    let (pa, ba) = ([p[0] - a[0], p[1] - a[1]], [b[0] - a[0], b[1] - a[1]]);
    let l2 = ba[0] * ba[0] + ba[1] * ba[1];
    let s = if l2 > 0.0 { ((pa[0] * ba[0] + pa[1] * ba[1]) / l2).clamp(0.0, 1.0) } else { 0.0 };
    let (ex, ey) = (pa[0] - ba[0] * s, pa[1] - ba[1] * s);
    ((ex * ex + ey * ey).sqrt() - r, s)
}

/// Where the bins and their openings are for a `w` x `h` frame.
fn layout(w: u32, h: u32) -> [BinGeom; 4] {
    let (w, h) = (w as f32, h as f32);
    let slot = w / 4.0;
    let ow = (0.22 * w).min(0.9 * slot);
    let (y0, y1) = (0.205 * h, 0.865 * h);
    let u = unit(w, h);
    let rim = (0.035 * u).min(0.12 * ow);
    let open_r = 0.03 * u;
    std::array::from_fn(|i| {
        let cx = slot * (i as f32 + 0.5);
        let outer = [cx - ow / 2.0, y0, cx + ow / 2.0, y1];
        let open = [outer[0] + rim, y0 + rim, outer[2] - rim, y1 - 1.5 * rim];
        BinGeom { outer, outer_r: open_r + rim, open, open_r, polygon: round_rect_polygon(open, open_r, 6) }
    })
}

/// A rounded rectangle as a polygon, `seg` chords a corner, clockwise on screen.
fn round_rect_polygon(r: [f32; 4], rad: f32, seg: usize) -> Vec<[f64; 2]> {
    let (x0, y0, x1, y1) = (r[0] as f64, r[1] as f64, r[2] as f64, r[3] as f64);
    let rad = rad as f64;
    let corners = [
        (x1 - rad, y0 + rad, -90.0f64),
        (x1 - rad, y1 - rad, 0.0),
        (x0 + rad, y1 - rad, 90.0),
        (x0 + rad, y0 + rad, 180.0),
    ];
    let mut pts = Vec::with_capacity(4 * (seg + 1));
    for (cx, cy, a0) in corners {
        for k in 0..=seg {
            let a = (a0 + 90.0 * k as f64 / seg as f64).to_radians();
            pts.push([cx + rad * a.cos(), cy + rad * a.sin()]);
        }
    }
    pts
}

// ---------------------------------------------------------------------------
// Background
// ---------------------------------------------------------------------------

/// Smooth value noise in 0-1 over a `w` x `h` grid with lattice spacing `cell` px.
struct ValueNoise {
    gw: usize,
    cell: f32,
    v: Vec<f32>,
}

impl ValueNoise {
    fn new(rng: &mut Rng, w: f32, h: f32, cell: f32) -> Self {
        let cell = cell.max(1.0);
        let gw = (w / cell) as usize + 3;
        let gh = (h / cell) as usize + 3;
        ValueNoise { gw, cell, v: (0..gw * gh).map(|_| rng.f32()).collect() }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (fx, fy) = (x.max(0.0) / self.cell, y.max(0.0) / self.cell);
        let (ix, iy) = (fx as usize, fy as usize);
        let (tx, ty) = (smooth(fx - ix as f32), smooth(fy - iy as f32));
        let i = iy * self.gw + ix;
        let (a, b, c, d) = (self.v[i], self.v[i + 1], self.v[i + self.gw], self.v[i + self.gw + 1]);
        let top = a + (b - a) * tx;
        let bot = c + (d - c) * tx;
        top + (bot - top) * ty
    }
}

/// The empty station: wall strip with signs, tiled floor, bins with bagged interiors.
fn paint_background(w: u32, h: u32, seed: u64, bins: &[BinGeom; 4]) -> RgbImage {
    let mut rng = Rng::with_seed(mix(seed, 0xBAC6));
    let (fw, fh) = (w as f32, h as f32);
    let wall_y = 0.185 * fh;
    // Floor: square tiles with grout, a per-tile tone, fine grain and grime.
    let tile = 0.125 * fh * (0.85 + 0.3 * rng.f32());
    let tile_dx = rng.f32() * tile;
    let floors = [[168.0, 164.0, 156.0], [150.0, 150.0, 148.0], [176.0, 160.0, 140.0], [128.0, 124.0, 118.0]];
    let floor = floors[rng.usize(..floors.len())];
    let wall = [218.0 + 10.0 * rng.f32(), 216.0 + 8.0 * rng.f32(), 206.0 + 10.0 * rng.f32()];
    let tones: Vec<f32> = (0..4096).map(|_| 0.94 + 0.12 * rng.f32()).collect();
    let grain = ValueNoise::new(&mut rng, fw, fh, 2.5);
    let grime = ValueNoise::new(&mut rng, fw, fh, 0.09 * fh);
    let bag_big = ValueNoise::new(&mut rng, 1.4 * fw + fh, 1.4 * fw + fh, 0.11 * fh);
    let bag_fine = ValueNoise::new(&mut rng, fw, fh, 0.035 * fh);
    let bag_tints: [[f32; 3]; 4] = std::array::from_fn(|_| {
        let t = [[1.0, 1.0, 1.0], [0.85, 1.15, 0.9], [0.9, 0.95, 1.2], [1.05, 1.0, 0.95]];
        t[rng.usize(..t.len())]
    });
    let grout = (0.004 * fh).max(1.0);
    let sh = shadow_offset(unit(fw, fh));
    let soft = 0.02 * fh;

    let mut img = RgbImage::new(w, h);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
        let g = grain.at(xf, yf) - 0.5;
        let mut c: [f32; 3];
        if yf < wall_y {
            let v = 1.0 + 0.03 * g - 0.05 * (yf / wall_y);
            c = [wall[0] * v, wall[1] * v, wall[2] * v];
            // Skirting line where wall meets floor.
            if yf > wall_y - 0.008 * fh {
                c = [c[0] * 0.7, c[1] * 0.7, c[2] * 0.7];
            }
        } else {
            let (u, v) = ((xf + tile_dx) / tile, (yf - wall_y) / tile);
            let (iu, iv) = (u.floor(), v.floor());
            let tone = tones[((iu as i64 * 31 + iv as i64 * 17).rem_euclid(4096)) as usize];
            let du = (u - iu).min(1.0 - (u - iu)) * tile;
            let dv = (v - iv).min(1.0 - (v - iv)) * tile;
            let in_grout = 1.0 - smoothstep(grout * 0.5, grout * 1.5, du.min(dv));
            let gr = 0.88 + 0.2 * grime.at(xf, yf);
            let f = tone * gr * (1.0 + 0.06 * g) * (1.0 - 0.35 * in_grout);
            c = [floor[0] * f, floor[1] * f, floor[2] * f];
            // Soft shadows of the bins on the floor.
            let mut shade = 1.0f32;
            for b in bins {
                let d = sd_round_rect(xf - sh[0], yf - sh[1], b.outer, b.outer_r);
                shade = shade.min(1.0 - 0.45 * (1.0 - smoothstep(-soft, soft, d)));
            }
            c = [c[0] * shade, c[1] * shade, c[2] * shade];
        }
        for (i, b) in bins.iter().enumerate() {
            let d_out = sd_round_rect(xf, yf, b.outer, b.outer_r);
            if d_out > 1.0 {
                continue;
            }
            let d_in = sd_round_rect(xf, yf, b.open, b.open_r);
            let rim_w = b.open[0] - b.outer[0];
            // Rim: moulded plastic in the bin colour, a lip at either edge.
            let base = BIN_RGB[i];
            let across = ((d_in) / rim_w).clamp(0.0, 1.0);
            let bevel =
                0.86 + 0.22 * (1.0 - (2.0 * across - 1.0).powi(2)) - 0.18 * (1.0 - smoothstep(0.0, 0.12, across));
            let top_light = 1.0 + 0.06 * ((b.outer[3] - yf) / (b.outer[3] - b.outer[1]) - 0.5);
            let rv = bevel * top_light * (1.0 + 0.05 * g);
            let rim = [base[0] * rv, base[1] * rv, base[2] * rv];
            // Interior: a dark bag in soft folds with a sheen on the ridges, darker under the rim.
            let (rx, ry) = (0.87 * xf - 0.5 * yf + fh, 0.5 * xf + 0.87 * yf);
            let big = bag_big.at(rx, ry);
            let fine = bag_fine.at(xf, yf);
            let fold = 1.0 - (2.0 * (0.75 * big + 0.25 * fine) - 1.0).abs();
            let sheen = smoothstep(0.55, 1.0, fold);
            let depth = smoothstep(0.0, 0.09 * fh, -d_in);
            let far = 1.0 - 0.25 * ((b.open[3] - yf) / (b.open[3] - b.open[1])).clamp(0.0, 1.0);
            let lum = (14.0 + 34.0 * sheen * sheen + 14.0 * big) * (0.45 + 0.55 * depth) * far * (1.0 + 0.08 * g);
            let t = bag_tints[i];
            let inside = [lum * t[0], lum * t[1], lum * t[2]];
            let a_in = (0.5 - d_in).clamp(0.0, 1.0);
            let a_out = (0.5 - d_out).clamp(0.0, 1.0);
            let bin_c: [f32; 3] = std::array::from_fn(|k| inside[k] * a_in + rim[k] * (1.0 - a_in));
            c = std::array::from_fn(|k| bin_c[k] * a_out + c[k] * (1.0 - a_out));
        }
        *px = Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8));
    }
    draw_signs(&mut img, bins, wall_y);
    img
}

/// Coloured plates on the wall strip, one above each bin, with the category name.
fn draw_signs(img: &mut RgbImage, bins: &[BinGeom; 4], wall_y: f32) {
    let font = std::fs::read(SIGN_FONT).ok().and_then(|b| FontVec::try_from_vec_and_index(b, 0).ok());
    let h = img.height() as f32;
    for (i, (b, cat)) in bins.iter().zip(WasteCategory::ALL).enumerate() {
        let plate = [b.outer[0] + 0.01 * h, 0.03 * h, b.outer[2] - 0.01 * h, wall_y - 0.025 * h];
        let rad = 0.012 * h;
        let base = BIN_RGB[i];
        let (x0, y0) = (plate[0].floor().max(0.0) as u32, plate[1].floor().max(0.0) as u32);
        let (x1, y1) = ((plate[2].ceil() as u32).min(img.width()), (plate[3].ceil() as u32).min(img.height()));
        for y in y0..y1 {
            for x in x0..x1 {
                let d = sd_round_rect(x as f32 + 0.5, y as f32 + 0.5, plate, rad);
                let a = (0.5 - d).clamp(0.0, 1.0);
                if a <= 0.0 {
                    continue;
                }
                let p = img.get_pixel_mut(x, y);
                // A thin white inner border, as on printed signs.
                let border = (1.0 - smoothstep(0.004 * h, 0.006 * h, -d)) * smoothstep(0.0015 * h, 0.003 * h, -d);
                let c: [f32; 3] = std::array::from_fn(|k| base[k] * (1.0 - border) + 245.0 * border);
                for (v, c) in p.0.iter_mut().zip(c) {
                    *v = (c * a + *v as f32 * (1.0 - a) + 0.5) as u8;
                }
            }
        }
        let Some(font) = &font else { continue };
        let text = cat.name_zh();
        let mut px = 0.075 * h;
        let maxw = 0.85 * (plate[2] - plate[0]);
        let (tw, _) = imageproc::drawing::text_size(PxScale::from(px), font, text);
        if tw as f32 > maxw {
            px *= maxw / tw as f32;
        }
        let scale = PxScale::from(px);
        let (tw, _) = imageproc::drawing::text_size(scale, font, text);
        let ascent = font.as_scaled(scale).ascent();
        let cx = (plate[0] + plate[2]) / 2.0;
        let cy = (plate[1] + plate[3]) / 2.0;
        let x = (cx - tw as f32 / 2.0).round() as i32;
        let y = (cy - ascent + 0.40 * px).round() as i32;
        imageproc::drawing::draw_text_mut(img, Rgb([250, 250, 250]), x, y, scale, font, text);
    }
}

// ---------------------------------------------------------------------------
// Hands and items
// ---------------------------------------------------------------------------

/// An arm from off-frame to a hand; `open` spreads the fingers (a bare hand), else
/// they close over the near edge of what the hand holds.
struct Hand {
    palm: [f32; 2],
    shoulder: [f32; 2],
    width: f32,
    skin: [f32; 3],
    sleeve: [f32; 3],
    open: bool,
    angle: f32,
}

/// A capsule of a limb: ends, radius, skin (else sleeve), and its box grown by `pad`.
#[derive(Clone, Copy)]
struct Limb {
    a: [f32; 2],
    b: [f32; 2],
    r: f32,
    skin: bool,
}

impl Limb {
    /// The x range (px) this limb, grown by `pad`, can reach on the row at `y`.
    fn span(&self, y: f32, pad: f32) -> Option<(f32, f32)> {
        let m = self.r + pad;
        let dy = self.b[1] - self.a[1];
        let (s0, s1) = if dy.abs() < 1e-6 {
            if (y - self.a[1]).abs() > m {
                return None;
            }
            (0.0, 1.0)
        } else {
            let (p, q) = ((y - m - self.a[1]) / dy, (y + m - self.a[1]) / dy);
            let (lo, hi) = (p.min(q).max(0.0), p.max(q).min(1.0));
            if lo > hi {
                return None;
            }
            (lo, hi)
        };
        let xa = self.a[0] + s0 * (self.b[0] - self.a[0]);
        let xb = self.a[0] + s1 * (self.b[0] - self.a[0]);
        Some((xa.min(xb) - m, xa.max(xb) + m))
    }
}

/// Visits the pixels within `pad` of any limb moved by `off`: `(x, y, distance to the
/// nearest limb, its relative depth 0-1, skin)`. Rows are cut to the limbs' reach.
fn scan_limbs(limbs: &[Limb], off: [f32; 2], pad: f32, w: u32, h: u32, mut f: impl FnMut(u32, u32, f32, f32, bool)) {
    let Some([_, y0, _, y1]) = bounds(limbs, off, pad, w, h) else { return };
    let mut spans: Vec<(usize, f32, f32)> = Vec::with_capacity(limbs.len());
    for y in y0..y1 {
        let yc = y as f32 + 0.5 - off[1];
        spans.clear();
        for (i, l) in limbs.iter().enumerate() {
            if let Some((a, b)) = l.span(yc, pad) {
                spans.push((i, a + off[0], b + off[0]));
            }
        }
        if spans.is_empty() {
            continue;
        }
        let lo = spans.iter().map(|s| s.1).fold(f32::MAX, f32::min).floor().max(0.0) as u32;
        let hi = (spans.iter().map(|s| s.2).fold(f32::MIN, f32::max).ceil().max(0.0) as u32).min(w);
        for x in lo..hi {
            let xc = x as f32 + 0.5;
            let p = [xc - off[0], yc];
            let mut best = (f32::MAX, 0.0f32, false);
            for &(i, a, b) in &spans {
                if xc < a || xc > b {
                    continue;
                }
                let l = &limbs[i];
                let (d, _) = sd_capsule(p, l.a, l.b, l.r);
                if d < best.0 {
                    best = (d, (-d / l.r).clamp(0.0, 1.0), l.skin);
                }
            }
            if best.0 < pad {
                f(x, y, best.0, best.1, best.2);
            }
        }
    }
}

impl Hand {
    /// The limbs under the item (arm, palm) and over it (fingers, thumb).
    fn limbs(&self) -> (Vec<Limb>, Vec<Limb>) {
        let r = self.width / 2.0;
        let (p, s) = (self.palm, self.shoulder);
        let (dx, dy) = (p[0] - s[0], p[1] - s[1]);
        let len = dx.hypot(dy).max(1.0);
        let dir = [dx / len, dy / len];
        let side = [-dir[1], dir[0]];
        let wrist = [p[0] - dir[0] * 1.3 * r, p[1] - dir[1] * 1.3 * r];
        let cuff = [p[0] - dir[0] * 5.5 * r, p[1] - dir[1] * 5.5 * r];
        let under = vec![
            Limb { a: s, b: cuff, r: r * 1.3, skin: false },
            Limb { a: cuff, b: wrist, r: r * 0.9, skin: true },
            Limb { a: wrist, b: p, r: r * 1.2, skin: true },
        ];
        let mut over = Vec::new();
        let base = dir[1].atan2(dir[0]) + self.angle;
        let (len_f, spread, from) = if self.open { (2.0 * r, 0.2f32, 0.7) } else { (1.1 * r, 0.06, 0.9) };
        for k in 0..4 {
            let off = k as f32 - 1.5;
            let a = base + off * spread;
            let start = [
                p[0] + dir[0] * from * r + side[0] * off * 0.5 * r,
                p[1] + dir[1] * from * r + side[1] * off * 0.5 * r,
            ];
            let l = len_f * if k == 0 || k == 3 { 0.8 } else { 1.0 };
            over.push(Limb { a: start, b: [start[0] + a.cos() * l, start[1] + a.sin() * l], r: r * 0.25, skin: true });
        }
        let a = base - if self.open { 1.2 } else { 0.7 };
        let t0 = [p[0] - side[0] * 0.6 * r, p[1] - side[1] * 0.6 * r];
        over.push(Limb { a: t0, b: [t0[0] + a.cos() * 1.5 * r, t0[1] + a.sin() * 1.5 * r], r: r * 0.3, skin: true });
        (under, over)
    }

    fn all(&self) -> Vec<Limb> {
        let (mut u, o) = self.limbs();
        u.extend(o);
        u
    }

    fn draw_shadow(&self, img: &mut RgbImage, off: [f32; 2]) {
        let soft = 0.9 * self.width;
        let (w, h) = img.dimensions();
        scan_limbs(&self.all(), off, soft, w, h, |x, y, d, _, _| {
            let s = 1.0 - 0.35 * (1.0 - smoothstep(-soft, soft, d));
            let px = img.get_pixel_mut(x, y);
            px.0 = px.0.map(|v| (v as f32 * s) as u8);
        });
    }

    /// Draws the whole hand; returns its skin's box `[x, y, w, h]`.
    fn draw(&self, img: &mut RgbImage) -> Option<[u32; 4]> {
        draw_limbs(img, &self.all(), self.skin, self.sleeve)
    }
}

fn bounds(limbs: &[Limb], off: [f32; 2], pad: f32, w: u32, h: u32) -> Option<[u32; 4]> {
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for l in limbs {
        b[0] = b[0].min(l.a[0].min(l.b[0]) - l.r);
        b[1] = b[1].min(l.a[1].min(l.b[1]) - l.r);
        b[2] = b[2].max(l.a[0].max(l.b[0]) + l.r);
        b[3] = b[3].max(l.a[1].max(l.b[1]) + l.r);
    }
    let x0 = (b[0] + off[0] - pad).floor().max(0.0) as u32;
    let y0 = (b[1] + off[1] - pad).floor().max(0.0) as u32;
    let x1 = ((b[2] + off[0] + pad).ceil().max(0.0) as u32).min(w);
    let y1 = ((b[3] + off[1] + pad).ceil().max(0.0) as u32).min(h);
    (x0 < x1 && y0 < y1).then_some([x0, y0, x1, y1])
}

/// Draws round limbs (brighter along the middle); returns the skin's box over half coverage.
fn draw_limbs(img: &mut RgbImage, limbs: &[Limb], skin_rgb: [f32; 3], sleeve_rgb: [f32; 3]) -> Option<[u32; 4]> {
    let mut bb = [u32::MAX, u32::MAX, 0, 0];
    let (w, h) = img.dimensions();
    scan_limbs(limbs, [0.0, 0.0], 0.5, w, h, |x, y, d, depth, skin| {
        let a = (0.5 - d).clamp(0.0, 1.0);
        if a <= 0.0 {
            return;
        }
        let shade = 0.62 + 0.45 * (1.0 - (1.0 - depth).powi(2)).sqrt();
        let base = if skin { skin_rgb } else { sleeve_rgb };
        let px = img.get_pixel_mut(x, y);
        for (v, b) in px.0.iter_mut().zip(base) {
            *v = ((b * shade).min(255.0) * a + *v as f32 * (1.0 - a) + 0.5) as u8;
        }
        if skin && a > 0.5 {
            bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x + 1), bb[3].max(y + 1)];
        }
    });
    (bb[2] > bb[0]).then(|| [bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]])
}

/// An item scaled for drawing: colour, feathered coverage, and a blurrier shadow mask.
struct Sprite {
    w: usize,
    h: usize,
    rgb: Vec<[f32; 3]>,
    alpha: Vec<f32>,
    shadow: Vec<f32>,
    shadow_pad: usize,
}

impl Sprite {
    /// The item with its long side `long` px.
    fn new(photo: &ItemPhoto, long: f32) -> Sprite {
        let (cw, ch) = photo.image.dimensions();
        let k = long / cw.max(ch) as f32;
        let w = ((cw as f32 * k).round() as u32).max(2);
        let h = ((ch as f32 * k).round() as u32).max(2);
        let filter = if k < 1.0 { FilterType::Triangle } else { FilterType::CatmullRom };
        let img = image::imageops::resize(&photo.image, w, h, filter);
        let mask = match &photo.mask {
            Some(m) if m.dimensions() == (cw, ch) => image::imageops::resize(m, w, h, FilterType::Triangle),
            _ => key_mask(&img).unwrap_or_else(|| shape_mask(w, h, Shape::RoundRect)),
        };
        let (wu, hu) = (w as usize, h as usize);
        let mut alpha: Vec<f32> = mask.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
        let feather = ((long / 150.0).round() as usize).max(1);
        box_blur(&mut alpha, wu, hu, feather);
        // Pull the soft edge in a little so no background fringe shows.
        for a in alpha.iter_mut() {
            *a = smoothstep(0.3, 0.95, *a);
        }
        // The shadow: coverage padded and blurred wide.
        let pad = ((long / 14.0).round() as usize).max(2);
        let (sw, shh) = (wu + 2 * pad, hu + 2 * pad);
        let mut shadow = vec![0.0f32; sw * shh];
        for y in 0..hu {
            shadow[(y + pad) * sw + pad..(y + pad) * sw + pad + wu].copy_from_slice(&alpha[y * wu..(y + 1) * wu]);
        }
        box_blur(&mut shadow, sw, shh, pad / 2);
        box_blur(&mut shadow, sw, shh, pad / 2);
        let rgb = img.pixels().map(|p| p.0.map(|v| v as f32)).collect();
        Sprite { w: wu, h: hu, rgb, alpha, shadow, shadow_pad: pad }
    }

    /// Screen box covered by a `sw` x `sh` plane drawn at `centre`, tilted `rot`, scaled `scale`.
    fn screen_box(sw: f32, sh: f32, centre: [f32; 2], rot: f32, scale: f32, w: u32, h: u32) -> Option<[u32; 4]> {
        let (c, s) = (rot.cos().abs(), rot.sin().abs());
        let ex = (sw * c + sh * s) / 2.0 * scale + 2.0;
        let ey = (sw * s + sh * c) / 2.0 * scale + 2.0;
        let x0 = (centre[0] - ex).floor().max(0.0) as u32;
        let y0 = (centre[1] - ey).floor().max(0.0) as u32;
        let x1 = ((centre[0] + ex).ceil().max(0.0) as u32).min(w);
        let y1 = ((centre[1] + ey).ceil().max(0.0) as u32).min(h);
        (x0 < x1 && y0 < y1).then_some([x0, y0, x1, y1])
    }

    fn draw_shadow(&self, img: &mut RgbImage, centre: [f32; 2], rot: f32, scale: f32, fade: f32, off: [f32; 2]) {
        let (sw, sh) = (self.w + 2 * self.shadow_pad, self.h + 2 * self.shadow_pad);
        let c = [centre[0] + off[0], centre[1] + off[1]];
        let Some([x0, y0, x1, y1]) = Self::screen_box(sw as f32, sh as f32, c, rot, scale, img.width(), img.height())
        else {
            return;
        };
        let (cs, sn) = (rot.cos() / scale, rot.sin() / scale);
        let (hx, hy) = (sw as f32 / 2.0, sh as f32 / 2.0);
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f32 + 0.5 - c[0], y as f32 + 0.5 - c[1]);
                let u = cs * dx + sn * dy + hx;
                let v = -sn * dx + cs * dy + hy;
                let a = bilinear(&self.shadow, sw, sh, u, v) * fade;
                if a > 0.002 {
                    let s = 1.0 - 0.45 * a;
                    let px = img.get_pixel_mut(x, y);
                    px.0 = px.0.map(|p| (p as f32 * s) as u8);
                }
            }
        }
    }

    /// Draws the item; returns the box of its pixels over half coverage `[x, y, w, h]`.
    fn draw(
        &self,
        img: &mut RgbImage,
        centre: [f32; 2],
        rot: f32,
        scale: f32,
        bright: f32,
        fade: f32,
    ) -> Option<[u32; 4]> {
        let [x0, y0, x1, y1] =
            Self::screen_box(self.w as f32, self.h as f32, centre, rot, scale, img.width(), img.height())?;
        let (cs, sn) = (rot.cos() / scale, rot.sin() / scale);
        let (hx, hy) = (self.w as f32 / 2.0, self.h as f32 / 2.0);
        let mut bb = [u32::MAX, u32::MAX, 0, 0];
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f32 + 0.5 - centre[0], y as f32 + 0.5 - centre[1]);
                let u = cs * dx + sn * dy + hx;
                let v = -sn * dx + cs * dy + hy;
                let a = bilinear(&self.alpha, self.w, self.h, u, v) * fade;
                if a <= 0.002 {
                    continue;
                }
                let col = bilinear3(&self.rgb, self.w, self.h, u, v);
                let px = img.get_pixel_mut(x, y);
                for (v, c) in px.0.iter_mut().zip(col) {
                    *v = ((c * bright).min(255.0) * a + *v as f32 * (1.0 - a) + 0.5) as u8;
                }
                if a > 0.5 {
                    bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x + 1), bb[3].max(y + 1)];
                }
            }
        }
        (bb[2] > bb[0]).then(|| [bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]])
    }
}

/// Bilinear sample of a plane at continuous `(u, v)` (pixel centres at +0.5); 0 outside.
fn bilinear(p: &[f32], w: usize, h: usize, u: f32, v: f32) -> f32 {
    let (x, y) = (u - 0.5, v - 0.5);
    if x <= -1.0 || y <= -1.0 || x >= w as f32 || y >= h as f32 {
        return 0.0;
    }
    let (ix, iy) = (x.floor() as isize, y.floor() as isize);
    let (tx, ty) = (x - ix as f32, y - iy as f32);
    let at = |i: isize, j: isize| -> f32 {
        if i < 0 || j < 0 || i >= w as isize || j >= h as isize { 0.0 } else { p[j as usize * w + i as usize] }
    };
    let top = at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx;
    let bot = at(ix, iy + 1) * (1.0 - tx) + at(ix + 1, iy + 1) * tx;
    top * (1.0 - ty) + bot * ty
}

/// Bilinear colour, edges clamped.
fn bilinear3(p: &[[f32; 3]], w: usize, h: usize, u: f32, v: f32) -> [f32; 3] {
    let x = (u - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (v - 0.5).clamp(0.0, (h - 1) as f32);
    let (ix, iy) = ((x as usize).min(w.saturating_sub(2)), (y as usize).min(h.saturating_sub(2)));
    let (tx, ty) = (x - ix as f32, y - iy as f32);
    let (i1, j1) = ((ix + 1).min(w - 1), (iy + 1).min(h - 1));
    let (a, b, c, d) = (p[iy * w + ix], p[iy * w + i1], p[j1 * w + ix], p[j1 * w + i1]);
    std::array::from_fn(|k| {
        let top = a[k] + (b[k] - a[k]) * tx;
        let bot = c[k] + (d[k] - c[k]) * tx;
        top + (bot - top) * ty
    })
}

// ---------------------------------------------------------------------------
// Sensor
// ---------------------------------------------------------------------------

/// 65 536 rounded Gaussian samples of standard deviation `sigma` (fixed seed).
fn noise_table(sigma: f64) -> Box<[i16; 65_536]> {
    let mut rng = Rng::with_seed(0x5E45_0A15E);
    let v: Vec<i16> = (0..65_536)
        .map(|_| {
            let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (z * sigma).round().clamp(-127.0, 127.0) as i16
        })
        .collect();
    v.into_boxed_slice().try_into().expect("65 536 samples")
}

/// Light gain and sensor noise over the whole frame, in place.
fn develop(img: &mut RgbImage, gain: f32, noise: &[i16; 65_536], fseed: u64) {
    let lut: [i16; 256] = std::array::from_fn(|v| ((v as f32 * gain) + 0.5).min(400.0) as i16);
    let w = img.width() as usize;
    for (row, line) in img.chunks_exact_mut(w * 3).enumerate() {
        let mut rng = Rng::with_seed(mix(fseed, row as u64));
        for px in line.chunks_exact_mut(3) {
            let r = rng.u64(..);
            for (k, v) in px.iter_mut().enumerate() {
                let n = noise[(r >> (16 * k)) as u16 as usize];
                *v = (lut[*v as usize] + n).clamp(0, 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photos() -> Vec<ItemPhoto> {
        item_photos().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn same_seed_same_bytes() {
        let items = photos();
        let drops = drop_sequence(&items, 6, 0.3, 3.0, 11);
        let a = StationScene::new(640, 360, 5);
        let b = StationScene::new(640, 360, 5);
        for t in [0.0, drops[0].start_s + 0.1, drops[0].start_s + 0.8, drops[1].start_s + 1.5] {
            let (fa, ta) = a.frame(&drops, t);
            let (fb, tb) = b.frame(&drops, t);
            assert_eq!(fa.as_raw(), fb.as_raw(), "t = {t}");
            assert_eq!(ta, tb);
        }
        let (f1, _) = a.frame(&drops, 0.5);
        let (f2, _) = a.frame(&drops, 0.54);
        assert_ne!(f1.as_raw(), f2.as_raw(), "noise must change between frames");
        let c = StationScene::new(640, 360, 6);
        assert_ne!(a.background().as_raw(), c.background().as_raw());
    }

    #[test]
    fn zones_inside_frame() {
        for (w, h) in [(1920, 1080), (1280, 1024), (640, 360)] {
            let s = StationScene::new(w, h, 1);
            let cal = s.calibration("cam-1");
            assert_eq!(cal.resolution, [w, h]);
            assert_eq!(cal.zones.len(), 4);
            for (z, c) in cal.zones.iter().zip(WasteCategory::ALL) {
                assert_eq!(z.kind, ZoneKind::Bin);
                assert_eq!(z.category, Some(c));
                assert_eq!(z.name, format!("bin-{}", c.code()));
                assert!(z.polygon.len() >= 4);
                for p in &z.polygon {
                    assert!(p[0] >= 0.0 && p[0] <= w as f64 && p[1] >= 0.0 && p[1] <= h as f64, "{p:?}");
                }
            }
        }
    }

    #[test]
    fn calibration_passes_validation() {
        for (w, h) in [(1920, 1080), (1280, 720)] {
            let scene = StationScene::new(w, h, 2);
            let text = toml::to_string(&scene.calibration("station-1")).unwrap();
            let cal = crate::calibration::Calibration::parse(&text, std::path::Path::new("station-1.toml"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cal.file.zones.len(), 4);
        }
    }

    #[test]
    fn landed_boxes_inside_their_bin() {
        let items = photos();
        let scene = StationScene::new(960, 540, 3);
        let drops = drop_sequence(&items, 12, 0.25, 2.5, 9);
        let mut landed = vec![false; drops.len()];
        let end = drops.iter().map(Drop::end_s).fold(0.0, f64::max);
        let mut t = 0.0;
        while t < end {
            let (_, truths) = scene.frame(&drops, t);
            for tr in truths {
                let d = &drops[tr.drop_index];
                assert_eq!(tr.bin, d.bin);
                if tr.landed {
                    assert!(!d.nuisance);
                    assert!(bbox_inside(&tr.bbox, scene.opening(tr.bin)), "{tr:?}");
                    landed[tr.drop_index] = true;
                }
            }
            t += 0.1;
        }
        for (d, l) in drops.iter().zip(&landed) {
            assert_eq!(*l, !d.nuisance, "{d:?}");
        }
    }

    #[test]
    fn quiet_between_drops_and_small_frames() {
        let items = photos();
        let drops = drop_sequence(&items, 5, 0.2, 3.0, 21);
        let scene = StationScene::new(320, 180, 8);
        for pair in drops.windows(2) {
            let (_, truths) = scene.frame(&drops, (pair[0].end_s() + pair[1].start_s) / 2.0);
            assert!(truths.is_empty(), "{truths:?}");
        }
        let (_, truths) = scene.frame(&drops, LEAD_S / 2.0);
        assert!(truths.is_empty());
        // Tiny and odd frames still work (sides are clamped to 64).
        for (w, h) in [(0, 0), (64, 64), (100, 300)] {
            let s = StationScene::new(w, h, 1);
            for d in &drops {
                let (img, _) = s.frame(std::slice::from_ref(d), d.start_s + 0.6);
                assert_eq!(img.dimensions(), (s.width(), s.height()));
            }
        }
    }

    #[test]
    fn wrong_share_respected() {
        let items = photos();
        let drops = drop_sequence(&items, 200, 0.3, 3.0, 4);
        let real: Vec<&Drop> = drops.iter().filter(|d| !d.nuisance).collect();
        assert_eq!(real.len(), 200);
        let wrong = real.iter().filter(|d| WasteCategory::ALL[d.bin] != d.item.category).count();
        assert!((50..=70).contains(&wrong), "{wrong}");
        let nuisances = drops.len() - real.len();
        assert!((15..=25).contains(&nuisances), "{nuisances}");
        for pair in drops.windows(2) {
            assert!(pair[0].end_s() <= pair[1].start_s, "drops overlap");
        }
    }

    #[test]
    fn photos_cover_categories() {
        let items = photos();
        assert!(items.len() >= 30);
        for c in [WasteCategory::Kitchen, WasteCategory::Recyclable, WasteCategory::Other] {
            assert!(items.iter().any(|i| i.category == c), "{c:?}");
        }
        let sources: std::collections::HashSet<&str> = items.iter().map(|i| i.source.as_str()).collect();
        assert!(sources.len() >= 8);
        let ids: std::collections::HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), items.len());
        for i in &items {
            let m = i.mask.as_ref().unwrap();
            assert_eq!(m.dimensions(), i.image.dimensions());
            let cover = m.pixels().filter(|p| p.0[0] > 127).count() as f64 / m.len() as f64;
            assert!(cover > 0.02, "{}: {cover}", i.id);
        }
    }
}
