//! Text boxes -> upright line pictures for the recogniser, and reading order.
//!
//! Ports of PaddleOCR's `get_rotate_crop_image` and `sorted_boxes`. An
//! upside-down line (the angle classifier's 180°) is turned with
//! `image::imageops::rotate180_in_place`; nothing here for that.

use super::Point;
use image::RgbImage;
use nalgebra::{SMatrix, SVector};

/// Boxes whose top-left corners are closer than this vertically (picture
/// pixels) count as one row (PaddleOCR's `sorted_boxes`).
pub const ROW_TOLERANCE: f32 = 10.0;

/// PaddleOCR's `get_rotate_crop_image`: the quad (top-left, top-right,
/// bottom-right, bottom-left) warped onto a `max(top, bottom)` x
/// `max(left, right)` rectangle (bicubic, edge pixels repeated outside the
/// picture), turned 90° counter-clockwise when at least 1.5 times taller than
/// wide (vertical text). None when a side is under 2 pixels, the quad is
/// degenerate, or absurdly larger than the picture.
pub fn crop_quad(img: &RgbImage, quad: &[Point; 4]) -> Option<RgbImage> {
    if img.width() == 0 || img.height() == 0 || quad.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let dist = |a: Point, b: Point| (a[0] - b[0]).hypot(a[1] - b[1]);
    let width = dist(quad[0], quad[1]).max(dist(quad[2], quad[3]));
    let height = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
    // A quad inside the picture has no side longer than the picture's diagonal.
    let limit = (img.width() as f32 + img.height() as f32) * 2.0;
    if !(width >= 2.0 && height >= 2.0 && width <= limit && height <= limit) {
        return None;
    }
    // Truncated as Python's int().
    let (w, h) = (width as u32, height as u32);
    let (wf, hf) = (w as f64, h as f64);
    let to_picture = homography([[0.0, 0.0], [wf, 0.0], [wf, hf], [0.0, hf]], quad.map(|p| p.map(f64::from)))?;
    let mut out = RgbImage::new(w, h);
    warp_bicubic(img, &to_picture, &mut out);
    if h as f32 / w as f32 >= 1.5 {
        // numpy's rot90: counter-clockwise, the top goes to the left.
        return Some(image::imageops::rotate270(&out));
    }
    Some(out)
}

/// The 3x3 perspective transform (row-major, last entry 1) taking `from[i]` to
/// `to[i]`; None when the points are degenerate.
fn homography(from: [[f64; 2]; 4], to: [[f64; 2]; 4]) -> Option<[f64; 9]> {
    let mut a = SMatrix::<f64, 8, 8>::zeros();
    let mut b = SVector::<f64, 8>::zeros();
    for i in 0..4 {
        let ([x, y], [u, v]) = (from[i], to[i]);
        let (r0, r1) = (2 * i, 2 * i + 1);
        for (c, val) in [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y].into_iter().enumerate() {
            a[(r0, c)] = val;
        }
        for (c, val) in [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y].into_iter().enumerate() {
            a[(r1, c)] = val;
        }
        b[r0] = u;
        b[r1] = v;
    }
    let h = a.lu().solve(&b)?;
    let m = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0];
    // Near-singular systems "solve" to huge values; treat them as degenerate.
    (m.iter().all(|v| v.is_finite() && v.abs() < 1e12)).then_some(m)
}

/// `v.floor() as i64` without the libm call that baseline x86-64 makes of `floor`.
fn floor(v: f64) -> i64 {
    let i = v as i64;
    if (i as f64) > v { i.saturating_sub(1) } else { i }
}

/// OpenCV's cubic kernel (A = -0.75) weights for the four taps around a
/// sample at fraction `t` past the second tap.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let w0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
    let w1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let s = 1.0 - t;
    let w2 = ((A + 2.0) * s - (A + 3.0)) * s * s + 1.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

/// Fills `out` by sampling `img` at `m` * (x, y) for every output pixel
/// (bicubic, coordinates clamped to the picture as BORDER_REPLICATE).
fn warp_bicubic(img: &RgbImage, m: &[f64; 9], out: &mut RgbImage) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let src = img.as_raw();
    let stride = iw as usize * 3;
    let ow = out.width() as usize;
    for (y, row) in (**out).chunks_exact_mut(ow * 3).enumerate() {
        let y = y as f64;
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let x = x as f64;
            let z = m[6] * x + m[7] * y + m[8];
            let sx = (m[0] * x + m[1] * y + m[2]) / z;
            let sy = (m[3] * x + m[4] * y + m[5]) / z;
            // `as` saturates (NaN -> 0), and the clamps below keep every tap inside.
            let (ix, iy) = (floor(sx), floor(sy));
            let wx = cubic_weights((sx - ix as f64) as f32);
            let wy = cubic_weights((sy - iy as f64) as f32);
            let cols = [-1, 0, 1, 2].map(|d| ix.saturating_add(d).clamp(0, iw - 1) as usize * 3);
            let mut acc = [0f32; 3];
            for (j, wyj) in wy.into_iter().enumerate() {
                let r = iy.saturating_add(j as i64 - 1).clamp(0, ih - 1) as usize * stride;
                let row = &src[r..r + stride];
                let mut line = [0f32; 3];
                for (&c, wxi) in cols.iter().zip(wx) {
                    let p: &[u8; 3] = row[c..c + 3].try_into().unwrap_or(&[0; 3]);
                    for k in 0..3 {
                        line[k] += wxi * p[k] as f32;
                    }
                }
                for k in 0..3 {
                    acc[k] += wyj * line[k];
                }
            }
            for k in 0..3 {
                px[k] = (acc[k].clamp(0.0, 255.0) + 0.5) as u8;
            }
        }
    }
}

/// PaddleOCR's `sorted_boxes`: by the top-left corner's y then x, then boxes
/// whose top-left y differ by less than [`ROW_TOLERANCE`] are put left to right.
pub fn reading_order(quads: &mut [[Point; 4]]) {
    reading_order_by(quads, |q| q);
}

/// [`reading_order`] for any items that have a quad.
pub fn reading_order_by<T>(items: &mut [T], quad: impl Fn(&T) -> &[Point; 4]) {
    let top_left = |t: &T| quad(t)[0];
    items.sort_by(|a, b| {
        let (a, b) = (top_left(a), top_left(b));
        a[1].total_cmp(&b[1]).then(a[0].total_cmp(&b[0]))
    });
    // The same bubbling pass as PaddleOCR, so ties across a row come out alike.
    for i in 0..items.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (a, b) = (top_left(&items[j]), top_left(&items[j + 1]));
            if (b[1] - a[1]).abs() < ROW_TOLERANCE && b[0] < a[0] {
                items.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

/// A quad in detector-map pixels -> picture pixels (the map is the picture
/// resized by 1/sx, 1/sy).
pub fn scale_quad(quad: &[Point; 4], sx: f32, sy: f32) -> [Point; 4] {
    quad.map(|[x, y]| [x * sx, y * sy])
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    const RED: Rgb<u8> = Rgb([255, 0, 0]);
    const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
    const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

    /// A 200 x 40 "text line" tilted by `deg` (y down) on a grey 400 x 300
    /// picture: red for its first 40 pixels, then 10-pixel black/white
    /// stripes. Returns the picture and the line's quad.
    fn tilted_line(deg: f32) -> (RgbImage, [Point; 4]) {
        let c = [200.0f32, 150.0];
        let (s, co) = deg.to_radians().sin_cos();
        let img = RgbImage::from_fn(400, 300, |x, y| {
            let (dx, dy) = (x as f32 - c[0], y as f32 - c[1]);
            let (a, b) = (dx * co + dy * s + 100.0, -dx * s + dy * co);
            if !(0.0..200.0).contains(&a) || b.abs() > 20.0 {
                Rgb([128, 128, 128])
            } else if a < 40.0 {
                RED
            } else if ((a / 10.0) as u32).is_multiple_of(2) {
                BLACK
            } else {
                WHITE
            }
        });
        let corner = |a: f32, b: f32| [c[0] + a * co - b * s, c[1] + a * s + b * co];
        (img, [corner(-100.0, -20.0), corner(100.0, -20.0), corner(100.0, 20.0), corner(-100.0, 20.0)])
    }

    fn near(p: &Rgb<u8>, want: Rgb<u8>) -> bool {
        p.0.iter().zip(want.0).all(|(a, b)| a.abs_diff(b) < 60)
    }

    #[test]
    fn tilted_line_comes_out_upright() {
        for deg in [0.0, 20.0, -35.0, 180.0] {
            let (img, quad) = tilted_line(deg);
            let crop = crop_quad(&img, &quad).unwrap();
            assert!((199..=200).contains(&crop.width()) && (39..=40).contains(&crop.height()), "{deg}°: {:?}", crop.dimensions());
            for y in [4, 20, 35] {
                for x in [5, 20, 34] {
                    assert!(near(crop.get_pixel(x, y), RED), "{deg}°: ({x}, {y}) {:?}", crop.get_pixel(x, y));
                }
                for k in 4..20 {
                    let want = if k % 2 == 0 { BLACK } else { WHITE };
                    let p = crop.get_pixel(10 * k + 5, y);
                    assert!(near(p, want), "{deg}°: stripe {k} at y {y}: {p:?}");
                }
            }
        }
    }

    #[test]
    fn tall_boxes_are_turned_counter_clockwise() {
        // 30 wide, 120 tall, red at the top.
        let img = RgbImage::from_fn(200, 200, |x, y| if (50..80).contains(&x) && (20..50).contains(&y) { RED } else { WHITE });
        let crop = crop_quad(&img, &[[50.0, 20.0], [80.0, 20.0], [80.0, 140.0], [50.0, 140.0]]).unwrap();
        assert_eq!(crop.dimensions(), (120, 30));
        assert!(near(crop.get_pixel(10, 15), RED) && near(crop.get_pixel(100, 15), WHITE));
        // The 1.5 ratio is inclusive.
        assert_eq!(crop_quad(&img, &[[0.0, 0.0], [40.0, 0.0], [40.0, 60.0], [0.0, 60.0]]).unwrap().dimensions(), (60, 40));
        assert_eq!(crop_quad(&img, &[[0.0, 0.0], [40.0, 0.0], [40.0, 59.0], [0.0, 59.0]]).unwrap().dimensions(), (40, 59));
    }

    #[test]
    fn sampling_is_sub_pixel_exact_on_a_ramp() {
        // Value 4x along x; a crop starting at x = 10.25 must read 4 * (10.25 + x).
        let img = RgbImage::from_fn(64, 20, |x, _| Rgb([(4 * x) as u8; 3]));
        let crop = crop_quad(&img, &[[10.25, 5.0], [50.25, 5.0], [50.25, 15.0], [10.25, 15.0]]).unwrap();
        assert_eq!(crop.dimensions(), (40, 10));
        for x in 0..40 {
            let want = 4.0 * (10.25 + x as f32);
            let got = crop.get_pixel(x, 5).0[0] as f32;
            assert!((got - want).abs() <= 1.0, "x {x}: {got} vs {want}");
        }
    }

    #[test]
    fn size_is_the_longer_of_opposite_sides() {
        let img = RgbImage::new(100, 100);
        // A trapezoid: top 60, bottom 40, sides about 20.
        let crop = crop_quad(&img, &[[10.0, 10.0], [70.0, 10.0], [60.0, 30.0], [20.0, 30.0]]).unwrap();
        assert_eq!(crop.dimensions(), (60, 22));
    }

    #[test]
    fn quads_past_the_edge_repeat_edge_pixels() {
        let img = RgbImage::from_pixel(50, 50, Rgb([10, 200, 30]));
        let crop = crop_quad(&img, &[[-20.0, -10.0], [80.0, -10.0], [80.0, 20.0], [-20.0, 20.0]]).unwrap();
        assert!(crop.pixels().all(|p| *p == Rgb([10, 200, 30])));
    }

    #[test]
    fn degenerate_quads_give_none() {
        let img = RgbImage::new(100, 100);
        let none = |q: [Point; 4]| assert!(crop_quad(&img, &q).is_none(), "{q:?}");
        none([[5.0, 5.0]; 4]);
        none([[0.0, 0.0], [1.5, 0.0], [1.5, 30.0], [0.0, 30.0]]);
        none([[0.0, 0.0], [30.0, 0.0], [30.0, 1.0], [0.0, 1.0]]);
        none([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]]); // collinear
        none([[0.0, 0.0], [f32::NAN, 0.0], [30.0, 10.0], [0.0, 10.0]]);
        none([[0.0, 0.0], [f32::INFINITY, 0.0], [30.0, 10.0], [0.0, 10.0]]);
        none([[0.0, 0.0], [1e9, 0.0], [1e9, 1e9], [0.0, 1e9]]);
        assert!(crop_quad(&RgbImage::new(0, 0), &[[0.0, 0.0], [30.0, 0.0], [30.0, 10.0], [0.0, 10.0]]).is_none());
        // A bow-tie or a quad off the picture is odd but must not panic.
        let _ = crop_quad(&img, &[[0.0, 0.0], [30.0, 10.0], [30.0, 0.0], [0.0, 10.0]]);
        let _ = crop_quad(&img, &[[-300.0, -300.0], [-250.0, -300.0], [-250.0, -280.0], [-300.0, -280.0]]);
    }

    #[test]
    fn floor_matches_std_and_saturates() {
        for v in [0.0, 0.5, -0.5, -1.0, 3.999, -3.001, 1e6 + 0.25] {
            assert_eq!(floor(v), v.floor() as i64, "{v}");
        }
        assert_eq!(floor(-1e30), i64::MIN);
        assert_eq!(floor(1e30), i64::MAX);
        assert_eq!(floor(f64::NAN), 0);
    }

    #[test]
    fn reading_order_is_row_major_despite_jitter() {
        let mut want = Vec::new();
        let mut seed = 7u32;
        let mut rand = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as f32 / 65_536.0
        };
        for row in 0..5 {
            for col in 0..6 {
                // Up to ±4.5 px of jitter: within a row, y differs by < 10.
                let (x, y) = (20.0 + 110.0 * col as f32, 40.0 + 40.0 * row as f32 + 9.0 * (rand() - 0.5));
                want.push([[x, y], [x + 90.0, y], [x + 90.0, y + 25.0], [x, y + 25.0]]);
            }
        }
        let mut quads = want.clone();
        for i in (1..quads.len()).rev() {
            quads.swap(i, (rand() * (i + 1) as f32) as usize);
        }
        assert_ne!(quads, want);
        reading_order(&mut quads);
        assert_eq!(quads, want);
        // Odd coordinates do not panic.
        let mut odd = vec![[[f32::NAN, 0.0]; 4], [[0.0, f32::NAN]; 4], [[1.0, 1.0]; 4]];
        reading_order(&mut odd);
        reading_order(&mut Vec::new());
    }

    #[test]
    fn reading_order_by_sorts_any_item() {
        let mut items = vec![("b", [[50.0, 12.0]; 4]), ("a", [[10.0, 15.0]; 4]), ("c", [[0.0, 40.0]; 4])];
        reading_order_by(&mut items, |(_, q)| q);
        assert_eq!(items.iter().map(|i| i.0).collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn scale_quad_scales_each_axis() {
        let q = scale_quad(&[[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 4.0]], 2.0, 0.5);
        assert_eq!(q, [[2.0, 1.0], [6.0, 1.0], [6.0, 2.0], [2.0, 2.0]]);
    }
}
