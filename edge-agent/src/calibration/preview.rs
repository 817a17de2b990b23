//! The picture a technician checks after calibrating: the frame with the
//! zones outlined and named, and a floor grid in millimetres drawn through
//! the homography. If the grid's squares do not look square on the floor, or
//! the zones miss what they name, the calibration is wrong.

use super::{CalibrationFile, Homography, ZoneKind};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_cross_mut, draw_line_segment_mut, draw_text_mut};

/// Fonts tried for the labels (Debian: fonts-wqy-microhei, fonts-dejavu-core).
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

pub fn zone_color(kind: ZoneKind) -> Rgb<u8> {
    Rgb(match kind {
        ZoneKind::Floor => [0, 200, 255],
        ZoneKind::SpillTray => [255, 140, 0],
        ZoneKind::Container => [255, 60, 200],
        ZoneKind::Storage => [120, 160, 255],
        ZoneKind::Intake => [80, 255, 80],
        ZoneKind::Bin => [255, 255, 0],
        ZoneKind::Extinguisher => [255, 0, 0],
        ZoneKind::Sign => [255, 255, 255],
        ZoneKind::Other => [180, 180, 180],
    })
}

/// Draws zones, the millimetre grid (every `grid_mm`, every fifth line bold)
/// and the measured points onto a copy of `frame`.
pub fn render(frame: &RgbImage, file: &CalibrationFile, homography: Option<&Homography>, points: &[[f64; 2]], grid_mm: f64) -> RgbImage {
    let mut out = frame.clone();
    let font = FONTS.iter().find_map(|p| std::fs::read(p).ok()).and_then(|bytes| ab_glyph::FontVec::try_from_vec(bytes).ok());
    let text_px = (frame.width() as f32 / 60.0).clamp(12.0, 40.0);
    if let Some(h) = homography {
        draw_grid(&mut out, h, grid_mm);
    }
    for zone in &file.zones {
        let color = zone_color(zone.kind);
        let n = zone.polygon.len();
        for i in 0..n {
            let (a, b) = (zone.polygon[i], zone.polygon[(i + 1) % n]);
            thick_line(&mut out, a, b, color);
        }
        if let (Some(font), Some(first)) = (&font, zone.polygon.first()) {
            let label = match zone.category {
                Some(c) => format!("{} ({})", zone.name, c.name_zh()),
                None => zone.name.clone(),
            };
            draw_text_mut(&mut out, color, first[0] as i32 + 4, first[1] as i32 + 4, text_px, font, &label);
        }
    }
    for p in points {
        draw_cross_mut(&mut out, Rgb([255, 0, 0]), p[0].round() as i32, p[1].round() as i32);
    }
    if let (Some(font), Some(_)) = (&font, homography) {
        let note = format!("grid {grid_mm:.0} mm (bold every {:.0} mm)", grid_mm * 5.0);
        draw_text_mut(&mut out, Rgb([255, 255, 255]), 8, 8, text_px, font, &note);
    }
    out
}

/// Lines of constant floor X and Y, sampled and mapped back into the image.
fn draw_grid(out: &mut RgbImage, h: &Homography, step: f64) {
    let (w, ht) = (f64::from(out.width()), f64::from(out.height()));
    // The floor area seen: the image border mapped onto the floor, where it can be.
    let border: Vec<[f64; 2]> = (0..=20)
        .flat_map(|k| {
            let f = f64::from(k) / 20.0;
            [[f * w, 0.0], [f * w, ht], [0.0, f * ht], [w, f * ht]]
        })
        .filter_map(|p| h.to_floor(p))
        .collect();
    if border.is_empty() || !(step.is_finite() && step > 0.0) {
        return;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for [x, y] in &border {
        (x0, y0, x1, y1) = (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y));
    }
    // Far beyond a pod's floor, the grid would be a smear: cap it at 400 lines a side.
    let step = step.max((x1 - x0).max(y1 - y0) / 400.0);
    let lines = |from: f64, to: f64| {
        let first = (from / step).floor() as i64;
        let last = (to / step).ceil() as i64;
        (first..=last).map(move |k| (k, k as f64 * step))
    };
    for (k, x) in lines(x0, x1) {
        polyline(out, h, (0..=100).map(|s| [x, y0 + (y1 - y0) * f64::from(s) / 100.0]), k % 5 == 0);
    }
    for (k, y) in lines(y0, y1) {
        polyline(out, h, (0..=100).map(|s| [x0 + (x1 - x0) * f64::from(s) / 100.0, y]), k % 5 == 0);
    }
}

fn polyline(out: &mut RgbImage, h: &Homography, floor: impl Iterator<Item = [f64; 2]>, bold: bool) {
    let (w, ht) = (f64::from(out.width()), f64::from(out.height()));
    let color = if bold { Rgb([60, 255, 60]) } else { Rgb([30, 150, 30]) };
    let mut last: Option<[f64; 2]> = None;
    for p in floor {
        let px = h.to_pixel(p).filter(|[x, y]| x.is_finite() && y.is_finite() && x.abs() < 4.0 * w && y.abs() < 4.0 * ht);
        if let (Some(a), Some(b)) = (last, px) {
            if bold {
                thick_line(out, a, b, color);
            } else {
                draw_line_segment_mut(out, (a[0] as f32, a[1] as f32), (b[0] as f32, b[1] as f32), color);
            }
        }
        last = px;
    }
}

fn thick_line(out: &mut RgbImage, a: [f64; 2], b: [f64; 2], color: Rgb<u8>) {
    for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)] {
        draw_line_segment_mut(out, ((a[0] + dx) as f32, (a[1] + dy) as f32), ((b[0] + dx) as f32, (b[1] + dy) as f32), color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::{Zone, ZoneKind};

    #[test]
    fn the_grid_and_zones_are_drawn_where_the_homography_and_polygons_say() {
        let frame = RgbImage::from_pixel(400, 300, Rgb([0, 0, 0]));
        // 2 mm per pixel: the 100 mm grid lines fall every 50 px.
        let h = Homography::from_rows([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]).unwrap();
        let file = CalibrationFile {
            camera: "c".into(),
            resolution: [400, 300],
            homography: None,
            references: vec![],
            zones: vec![Zone { name: "tray".into(), kind: ZoneKind::SpillTray, polygon: vec![[20.0, 20.0], [120.0, 20.0], [120.0, 120.0]], category: None, allow: Vec::new() }],
        };
        let out = render(&frame, &file, Some(&h), &[], 100.0);
        let green = |x: u32, y: u32| out.get_pixel(x, y)[1] > 100 && out.get_pixel(x, y)[0] < 100;
        assert!(green(50, 200) && green(150, 250) && green(300, 10), "grid lines every 50 px");
        assert!(!green(75, 230), "nothing between the lines");
        assert_eq!(*out.get_pixel(70, 20), zone_color(ZoneKind::SpillTray), "the tray's top edge");
    }
}
