//! Finds the label by its colour: HJ 1276 prints black on orange-yellow
//! RGB(255,150,0). OCR then reads only that part of the frame (half the
//! pixels or less), and "no orange" with no text read means "no label".

use image::RgbImage;
use imageproc::region_labelling::{Connectivity, connected_components};

/// Width the colour search runs at.
const SEARCH_WIDTH: u32 = 256;
/// Smallest label, as a share of the frame, that counts as one.
const MIN_SHARE: f32 = 0.01;
/// Margin added around the orange region, as a share of its size (the border and its margin are black / white).
const MARGIN: f32 = 0.06;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LabelRegion {
    /// x0, y0, x1, y1 in frame pixels (with the margin).
    pub bounds: [u32; 4],
    /// Share of the frame that is label-orange.
    pub share: f32,
}

/// Orange-yellow under any brightness: hue between red and yellow, saturated.
/// Ratios, not levels, so uneven light and shadow keep the colour.
pub fn is_label_orange(r: u8, g: u8, b: u8) -> bool {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    r >= 60.0 && g >= 0.35 * r && g <= 0.85 * r && b <= 0.4 * r
}

/// The largest orange region, if it is large enough to be a label.
pub fn locate(frame: &RgbImage) -> Option<LabelRegion> {
    let (w, h) = frame.dimensions();
    if w < 8 || h < 8 {
        return None;
    }
    let scale = (SEARCH_WIDTH as f32 / w as f32).min(1.0);
    let (sw, sh) = (((w as f32 * scale) as u32).max(1), ((h as f32 * scale) as u32).max(1));
    let small = image::imageops::thumbnail(frame, sw, sh);
    let mask = image::GrayImage::from_fn(sw, sh, |x, y| {
        let p = small.get_pixel(x, y).0;
        image::Luma([if is_label_orange(p[0], p[1], p[2]) { 255 } else { 0 }])
    });
    let labels = connected_components(&mask, Connectivity::Eight, image::Luma([0u8]));
    let mut stats: std::collections::HashMap<u32, (u32, [u32; 4])> = std::collections::HashMap::new();
    for (x, y, l) in labels.enumerate_pixels() {
        if l.0[0] == 0 {
            continue;
        }
        let e = stats.entry(l.0[0]).or_insert((0, [x, y, x, y]));
        e.0 += 1;
        e.1 = [e.1[0].min(x), e.1[1].min(y), e.1[2].max(x), e.1[3].max(y)];
    }
    let (count, b) = stats.values().max_by_key(|(n, _)| *n).copied()?;
    let share = count as f32 / (sw * sh) as f32;
    if share < MIN_SHARE {
        return None;
    }
    let (bw, bh) = ((b[2] - b[0] + 1) as f32, (b[3] - b[1] + 1) as f32);
    let to_frame = |v: f32, limit: u32| ((v / scale).round().max(0.0) as u32).min(limit);
    let bounds = [
        to_frame(b[0] as f32 - bw * MARGIN - 1.0, w),
        to_frame(b[1] as f32 - bh * MARGIN - 1.0, h),
        to_frame(b[2] as f32 + 1.0 + bw * MARGIN + 1.0, w),
        to_frame(b[3] as f32 + 1.0 + bh * MARGIN + 1.0, h),
    ];
    Some(LabelRegion { bounds, share })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orange_label_on_a_blue_drum_is_found_and_a_bare_drum_is_not() {
        let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([30, 60, 140]));
        assert_eq!(locate(&frame), None);
        for y in 100..300 {
            for x in 200..400 {
                // Darker towards the right: uneven light keeps the colour.
                let k = 1.0 - (x - 200) as f32 / 400.0;
                frame.put_pixel(x, y, image::Rgb([(255.0 * k) as u8, (150.0 * k) as u8, 0]));
            }
        }
        let region = locate(&frame).unwrap();
        let [x0, y0, x1, y1] = region.bounds;
        assert!((180..=200).contains(&x0) && (80..=100).contains(&y0), "{:?}", region.bounds);
        assert!((400..=420).contains(&x1) && (300..=320).contains(&y1), "{:?}", region.bounds);
        assert!((region.share - 0.13).abs() < 0.02, "{}", region.share);
        // Cardboard and skin are not label orange.
        let cardboard = RgbImage::from_pixel(640, 480, image::Rgb([180, 140, 100]));
        assert_eq!(locate(&cardboard), None);
        assert_eq!(locate(&RgbImage::new(3, 3)), None);
    }
}
