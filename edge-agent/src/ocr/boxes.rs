//! DB text detection post-processing: probability map -> rotated text boxes.
//!
//! A port of PaddleOCR's / RapidOCR's `DBPostProcess` ("fast" score mode):
//! threshold, connected regions, minimum-area rectangle, mean-probability
//! score, unclip, minimum-area rectangle again. Instead of OpenCV's contour
//! follower we label 8-connected regions from row runs: the convex hull of a
//! region equals that of its outer contour, and the hull is all the minimum-area
//! rectangle needs.

use super::Point;
use ndarray::Array2;

/// DBPostProcess settings; the defaults are RapidOCR's for PP-OCR det models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbParams {
    /// Pixels above this probability are text (`thresh`).
    pub binary_threshold: f32,
    /// Boxes whose mean probability is below this are dropped (`box_thresh`).
    pub box_threshold: f32,
    /// How far a box is grown: area * ratio / perimeter (`unclip_ratio`).
    pub unclip_ratio: f32,
    /// Boxes with a shorter side below this (map pixels) are dropped.
    pub min_size: f32,
    /// At most this many regions are looked at (`max_candidates`).
    pub max_candidates: usize,
    /// Dilate the bitmap with a 2x2 kernel first (`use_dilation`).
    pub dilate: bool,
}

impl Default for DbParams {
    fn default() -> Self {
        Self { binary_threshold: 0.3, box_threshold: 0.5, unclip_ratio: 1.6, min_size: 3.0, max_candidates: 1000, dilate: false }
    }
}

/// A detected text box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Corners in map pixels: top-left, top-right, bottom-right, bottom-left.
    pub quad: [Point; 4],
    /// Mean probability inside the (un-grown) box.
    pub score: f32,
}

/// Text boxes in a DB probability map (rows = y), in raster order of each
/// region's first pixel. Never panics, whatever the map holds (NaN is "no text").
pub fn text_boxes(map: &Array2<f32>, params: &DbParams) -> Vec<TextBox> {
    let (h, w) = map.dim();
    if h == 0 || w == 0 {
        return Vec::new();
    }
    let text = |&v: &f32| v > params.binary_threshold;
    let mut bitmap: Vec<bool> = match map.as_slice() {
        Some(s) => s.iter().map(text).collect(), // much faster than ndarray's iter
        None => map.iter().map(text).collect(),
    };
    if params.dilate {
        bitmap = dilate_2x2(&bitmap, w, h);
    }

    let mut boxes = Vec::new();
    for points in regions(&bitmap, w, h).iter().take(params.max_candidates) {
        let hull = convex_hull(points);
        let rect = Rect::min_area(&hull);
        if rect.short_side() < params.min_size as f64 {
            continue;
        }
        let score = box_score_fast(map, &rect.ordered_corners());
        // `is_none_or` also drops a NaN score.
        if score.partial_cmp(&(params.box_threshold as f64)).is_none_or(|o| o.is_lt()) {
            continue;
        }
        let grown = unclip(&rect, params.unclip_ratio as f64);
        if grown.short_side() < params.min_size as f64 + 2.0 {
            continue;
        }
        let quad = grown.ordered_corners().map(|[x, y]| [x.clamp(0.0, w as f64) as f32, y.clamp(0.0, h as f64) as f32]);
        boxes.push(TextBox { quad, score: score as f32 });
    }
    boxes
}

/// PaddleOCR's `unclip` followed by `get_mini_boxes`. pyclipper truncates the
/// box corners to integers, then offsets by d = area * ratio / perimeter with
/// round joins; the minimum-area rectangle of that offset shape is the one of
/// the truncated corners grown by d on every side.
fn unclip(rect: &Rect, ratio: f64) -> Rect {
    let d = rect.unclip_distance(ratio);
    let mut corners = rect.ordered_corners().map(|[x, y]| [x.trunc() as i32, y.trunc() as i32]);
    corners.sort_by_key(|&[x, y]| (y, x));
    Rect::min_area(&convex_hull(&corners)).grown(d)
}

/// OpenCV's `dilate` with a 2x2 kernel of ones (anchor at its centre, (1, 1)):
/// a pixel is set if it or its left, upper or upper-left neighbour is.
fn dilate_2x2(src: &[bool], w: usize, h: usize) -> Vec<bool> {
    // Separable: first with the left neighbour, then with the row above.
    let mut across = src.to_vec();
    for row in across.chunks_exact_mut(w) {
        for x in (1..w).rev() {
            row[x] |= row[x - 1];
        }
    }
    let mut out = across.clone();
    for y in 1..h {
        for x in 0..w {
            out[y * w + x] |= across[(y - 1) * w + x];
        }
    }
    out
}

/// A horizontal run of set pixels, `x0..=x1` on row `y`.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

/// The run end points of each 8-connected region, ordered by (y, x) within a
/// region; regions in raster order of their first pixel.
fn regions(bitmap: &[bool], w: usize, h: usize) -> Vec<Vec<[i32; 2]>> {
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = Vec::with_capacity(h + 1);
    for (y, row) in bitmap.chunks_exact(w).enumerate() {
        row_start.push(runs.len());
        let mut x = 0;
        while x < w {
            if row[x] {
                let x0 = x;
                while x < w && row[x] {
                    x += 1;
                }
                runs.push(Run { y: y as u32, x0: x0 as u32, x1: (x - 1) as u32 });
            }
            x += 1;
        }
    }
    row_start.push(runs.len());

    // Union-find over runs; runs on neighbouring rows touch (8-connected)
    // when their column spans overlap or meet at a corner.
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for y in 1..h {
        let (mut i, prev_end) = (row_start[y - 1], row_start[y]);
        let (mut j, cur_end) = (row_start[y], row_start[y + 1]);
        while i < prev_end && j < cur_end {
            let (p, c) = (runs[i], runs[j]);
            if p.x0 <= c.x1 + 1 && c.x0 <= p.x1 + 1 {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                // Keep the earlier run as root so regions stay in raster order.
                parent[a.max(b)] = a.min(b);
            }
            if p.x1 < c.x1 { i += 1 } else { j += 1 }
        }
    }

    let mut region_of_root = vec![usize::MAX; runs.len()];
    let mut regions: Vec<Vec<[i32; 2]>> = Vec::new();
    for (k, r) in runs.iter().enumerate() {
        let root = find(&mut parent, k);
        if region_of_root[root] == usize::MAX {
            region_of_root[root] = regions.len();
            regions.push(Vec::new());
        }
        let points = &mut regions[region_of_root[root]];
        points.push([r.x0 as i32, r.y as i32]);
        if r.x1 != r.x0 {
            points.push([r.x1 as i32, r.y as i32]);
        }
    }
    regions
}

fn cross(o: [i32; 2], a: [i32; 2], b: [i32; 2]) -> i64 {
    (a[0] - o[0]) as i64 * (b[1] - o[1]) as i64 - (a[1] - o[1]) as i64 * (b[0] - o[0]) as i64
}

/// Convex hull (monotone chain) of points already sorted by (y, x); collinear
/// points are dropped, so a line of pixels gives its two ends.
fn convex_hull(points: &[[i32; 2]]) -> Vec<[f64; 2]> {
    fn chain<'a>(points: impl Iterator<Item = &'a [i32; 2]>) -> Vec<[i32; 2]> {
        let mut out: Vec<[i32; 2]> = Vec::new();
        for &p in points {
            while out.len() >= 2 && cross(out[out.len() - 2], out[out.len() - 1], p) <= 0 {
                out.pop();
            }
            out.push(p);
        }
        out.pop(); // the last point starts the other chain
        out
    }
    let mut hull = chain(points.iter());
    hull.extend(chain(points.iter().rev()));
    if hull.is_empty() {
        // Fewer than two distinct points.
        hull.extend(points.first());
    }
    hull.iter().map(|p| [p[0] as f64, p[1] as f64]).collect()
}

/// A rotated rectangle: centre, unit axis `u` (v is u turned by 90°) and half extents.
#[derive(Debug, Clone, Copy)]
struct Rect {
    center: [f64; 2],
    u: [f64; 2],
    half: [f64; 2],
}

impl Rect {
    /// Minimum-area enclosing rectangle of a convex hull (rotating calipers:
    /// one side lies on a hull edge).
    fn min_area(hull: &[[f64; 2]]) -> Rect {
        let mut best = Rect { center: hull.first().copied().unwrap_or([0.0; 2]), u: [1.0, 0.0], half: [0.0; 2] };
        let mut best_area = f64::INFINITY;
        let n = hull.len();
        if n < 2 {
            return best;
        }
        for i in 0..n {
            let (a, b) = (hull[i], hull[(i + 1) % n]);
            let len = (b[0] - a[0]).hypot(b[1] - a[1]);
            if len == 0.0 {
                continue;
            }
            let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
            let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
            for p in hull {
                let (s, t) = (p[0] * u[0] + p[1] * u[1], -p[0] * u[1] + p[1] * u[0]);
                lo = [lo[0].min(s), lo[1].min(t)];
                hi = [hi[0].max(s), hi[1].max(t)];
            }
            let area = (hi[0] - lo[0]) * (hi[1] - lo[1]);
            if area < best_area {
                best_area = area;
                let (s, t) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
                best = Rect {
                    center: [s * u[0] - t * u[1], s * u[1] + t * u[0]],
                    u,
                    half: [(hi[0] - lo[0]) / 2.0, (hi[1] - lo[1]) / 2.0],
                };
            }
        }
        best
    }

    fn short_side(&self) -> f64 {
        2.0 * self.half[0].min(self.half[1])
    }

    /// PaddleOCR's unclip distance: area * ratio / perimeter (Shapely on the box).
    fn unclip_distance(&self, ratio: f64) -> f64 {
        let (a, b) = (2.0 * self.half[0], 2.0 * self.half[1]);
        let perimeter = 2.0 * (a + b);
        if perimeter > 0.0 { a * b * ratio / perimeter } else { 0.0 }
    }

    fn grown(&self, d: f64) -> Rect {
        Rect { half: self.half.map(|h| (h + d).max(0.0)), ..*self }
    }

    /// Corners ordered as PaddleOCR's `get_mini_boxes`: sorted by x, the upper
    /// of the two leftmost is top-left, the lower of the two rightmost bottom-right.
    fn ordered_corners(&self) -> [[f64; 2]; 4] {
        let [cx, cy] = self.center;
        let (u, v) = (self.u, [-self.u[1], self.u[0]]);
        let mut p = [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)].map(|(su, sv): (f64, f64)| {
            [
                cx + su * self.half[0] * u[0] + sv * self.half[1] * v[0],
                cy + su * self.half[0] * u[1] + sv * self.half[1] * v[1],
            ]
        });
        p.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let (tl, bl) = if p[1][1] > p[0][1] { (p[0], p[1]) } else { (p[1], p[0]) };
        let (tr, br) = if p[3][1] > p[2][1] { (p[2], p[3]) } else { (p[3], p[2]) };
        [tl, tr, br, bl]
    }
}

/// PaddleOCR's `box_score_fast`: the mean of the map over the box's bounding
/// rectangle, masked by `cv2.fillPoly` of the box with truncated corners.
/// Values outside 0..1 are clamped and NaN counts as 0, so a broken map cannot
/// produce a NaN or infinite score.
fn box_score_fast(map: &Array2<f32>, quad: &[[f64; 2]; 4]) -> f64 {
    let (h, w) = map.dim();
    let clip = |v: f64, n: usize| (v.max(0.0) as usize).min(n - 1);
    let (xs, ys) = (quad.map(|p| p[0]), quad.map(|p| p[1]));
    let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = (clip(min(xs).floor(), w), clip(max(xs).ceil(), w));
    let (y0, y1) = (clip(min(ys).floor(), h), clip(max(ys).ceil(), h));
    let (mw, mh) = (x1 - x0 + 1, y1 - y0 + 1);
    // Corners relative to the bounding rectangle, truncated as numpy's astype(int32).
    let poly = quad.map(|p| [(p[0] - x0 as f64).trunc(), (p[1] - y0 as f64).trunc()]);

    let mut mask = vec![false; mw * mh];
    let mut set = |x: f64, y: f64| {
        if x >= 0.0 && y >= 0.0 && (x as usize) < mw && (y as usize) < mh {
            mask[y as usize * mw + x as usize] = true;
        }
    };
    // fillPoly: pixel centres inside the polygon...
    for row in 0..mh {
        if let Some((l, r)) = row_span(&poly, row as f64) {
            let (mut x, r) = (l.ceil().max(0.0), r.floor().min((mw - 1) as f64));
            while x <= r {
                set(x, row as f64);
                x += 1.0;
            }
        }
    }
    // ...plus its outline drawn as 8-connected lines, which reach up to half a
    // pixel outside (this lowers the score of a box by a few hundredths).
    for i in 0..4 {
        let (a, b) = (poly[i], poly[(i + 1) % 4]);
        let steps = (b[0] - a[0]).abs().max((b[1] - a[1]).abs());
        let n = if steps.is_finite() { steps as usize } else { 0 };
        for k in 0..=n {
            let t = if n == 0 { 0.0 } else { k as f64 / n as f64 };
            set((a[0] + t * (b[0] - a[0])).round(), (a[1] + t * (b[1] - a[1])).round());
        }
    }

    let (mut sum, mut count) = (0.0f64, 0usize);
    for (row, mask_row) in mask.chunks_exact(mw).enumerate() {
        for (col, _) in mask_row.iter().enumerate().filter(|(_, m)| **m) {
            let v = map[[y0 + row, x0 + col]];
            sum += if v >= 0.0 { v.min(1.0) as f64 } else { 0.0 };
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// Where the horizontal line at `y` crosses a convex polygon, edges included.
fn row_span(poly: &[[f64; 2]; 4], y: f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..4 {
        let (a, b) = (poly[i], poly[(i + 1) % 4]);
        if y < a[1].min(b[1]) || y > a[1].max(b[1]) {
            continue;
        }
        let xs = if a[1] == b[1] {
            [a[0], b[0]]
        } else {
            let x = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            [x, x]
        };
        for x in xs {
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(map: &mut Array2<f32>, x0: usize, y0: usize, x1: usize, y1: usize, v: f32) {
        map.slice_mut(ndarray::s![y0..=y1, x0..=x1]).fill(v);
    }

    fn close(a: Point, b: [f64; 2], tol: f64) -> bool {
        (a[0] as f64 - b[0]).abs() <= tol && (a[1] as f64 - b[1]).abs() <= tol
    }

    /// The box PaddleOCR gives for an axis-aligned block of ones covering
    /// pixels x0..=x1, y0..=y1: the rectangle through the pixel centres,
    /// grown by area * 1.6 / perimeter.
    fn expected_axis_box(x0: f64, y0: f64, x1: f64, y1: f64) -> [[f64; 2]; 4] {
        let (w, h) = (x1 - x0, y1 - y0);
        let d = w * h * 1.6 / (2.0 * (w + h));
        [[x0 - d, y0 - d], [x1 + d, y0 - d], [x1 + d, y1 + d], [x0 - d, y1 + d]]
    }

    fn assert_box(b: &TextBox, want: [[f64; 2]; 4], tol: f64) {
        for (got, want) in b.quad.iter().zip(want) {
            assert!(close(*got, want, tol), "corner {got:?}, expected {want:?} (box {:?})", b.quad);
        }
    }

    #[test]
    fn axis_aligned_rectangles_give_one_grown_box_each() {
        let mut map = Array2::<f32>::zeros((200, 300));
        fill(&mut map, 20, 30, 119, 49, 1.0); // 100 x 20 pixels
        fill(&mut map, 150, 120, 269, 159, 0.9); // 120 x 40 pixels
        let boxes = text_boxes(&map, &DbParams::default());
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        assert_box(&boxes[0], expected_axis_box(20.0, 30.0, 119.0, 49.0), 0.5);
        assert_box(&boxes[1], expected_axis_box(150.0, 120.0, 269.0, 159.0), 0.5);
        assert!((boxes[0].score - 1.0).abs() < 1e-6);
        assert!((boxes[1].score - 0.9).abs() < 1e-6);
    }

    #[test]
    fn boxes_are_clipped_to_the_map() {
        let mut map = Array2::<f32>::zeros((50, 80));
        fill(&mut map, 0, 0, 39, 9, 1.0);
        let boxes = text_boxes(&map, &DbParams::default());
        assert_eq!(boxes.len(), 1);
        let d = 39.0 * 9.0 * 1.6 / (2.0 * 48.0);
        assert_box(&boxes[0], [[0.0, 0.0], [39.0 + d, 0.0], [39.0 + d, 9.0 + d], [0.0, 9.0 + d]], 0.5);
    }

    /// Sets every pixel whose centre lies in the rectangle of size `len` x
    /// `thick` centred at `c`, long axis at `deg` degrees (y down).
    fn rotated_rect(map: &mut Array2<f32>, c: [f64; 2], len: f64, thick: f64, deg: f64) {
        let (s, co) = deg.to_radians().sin_cos();
        for ((y, x), v) in map.indexed_iter_mut() {
            let (dx, dy) = (x as f64 - c[0], y as f64 - c[1]);
            let (a, b) = (dx * co + dy * s, -dx * s + dy * co);
            if a.abs() <= len / 2.0 && b.abs() <= thick / 2.0 {
                *v = 1.0;
            }
        }
    }

    fn edge_angle(a: Point, b: Point) -> f64 {
        ((b[1] - a[1]) as f64).atan2((b[0] - a[0]) as f64).to_degrees()
    }

    fn side(a: Point, b: Point) -> f64 {
        ((b[0] - a[0]) as f64).hypot((b[1] - a[1]) as f64)
    }

    #[test]
    fn rotated_rectangle_keeps_its_angle() {
        for deg in [30.0, -30.0, 10.0] {
            let mut map = Array2::<f32>::zeros((240, 320));
            rotated_rect(&mut map, [160.0, 120.0], 160.0, 24.0, deg);
            let boxes = text_boxes(&map, &DbParams::default());
            assert_eq!(boxes.len(), 1, "{deg}°: {boxes:?}");
            let q = boxes[0].quad;
            let top = edge_angle(q[0], q[1]);
            let bottom = edge_angle(q[3], q[2]);
            assert!((top - deg).abs() < 2.0 && (bottom - deg).abs() < 2.0, "{deg}°: edges at {top:.2}° / {bottom:.2}°");
            // Sides: a tilted grid's pixel centres fill the rectangle almost
            // to its edges, so expect it grown by d on each side.
            let d = 160.0 * 24.0 * 1.6 / (2.0 * 184.0);
            assert!((side(q[0], q[1]) - (160.0 + 2.0 * d)).abs() < 1.5, "{deg}°: {q:?}");
            assert!((side(q[0], q[3]) - (24.0 + 2.0 * d)).abs() < 1.5, "{deg}°: {q:?}");
            // Clockwise from top-left (y down): positive shoelace sum.
            let area2: f32 = (0..4).map(|i| q[i][0] * q[(i + 1) % 4][1] - q[(i + 1) % 4][0] * q[i][1]).sum();
            assert!(area2 > 0.0, "{deg}°: not clockwise {q:?}");
        }
    }

    #[test]
    fn nearby_but_separate_rectangles_stay_separate() {
        let mut map = Array2::<f32>::zeros((60, 200));
        fill(&mut map, 10, 10, 79, 29, 1.0);
        fill(&mut map, 81, 10, 150, 29, 1.0); // one empty column between
        fill(&mut map, 10, 31, 79, 50, 1.0); // one empty row below the first
        let boxes = text_boxes(&map, &DbParams::default());
        assert_eq!(boxes.len(), 3, "{boxes:?}");
        // A diagonal touch is 8-connected, as OpenCV's contours are.
        let mut map = Array2::<f32>::zeros((60, 200));
        fill(&mut map, 10, 10, 79, 29, 1.0);
        fill(&mut map, 80, 30, 150, 49, 1.0);
        assert_eq!(text_boxes(&map, &DbParams::default()).len(), 1);
    }

    #[test]
    fn dilation_joins_a_one_pixel_gap() {
        let mut map = Array2::<f32>::zeros((60, 200));
        fill(&mut map, 10, 10, 79, 29, 1.0);
        fill(&mut map, 81, 10, 150, 29, 1.0);
        let params = DbParams { dilate: true, ..DbParams::default() };
        assert_eq!(text_boxes(&map, &params).len(), 1);
    }

    #[test]
    fn faint_and_tiny_blobs_are_dropped() {
        let mut map = Array2::<f32>::zeros((100, 200));
        fill(&mut map, 10, 10, 99, 29, 0.35); // above 0.3, scores below 0.5
        fill(&mut map, 10, 50, 11, 51, 1.0); // 2 x 2
        fill(&mut map, 30, 50, 129, 52, 1.0); // 3 px tall: centres span 2 < 3
        fill(&mut map, 150, 50, 150, 50, 1.0); // one pixel
        fill(&mut map, 10, 70, 10, 95, 1.0); // one column
        assert_eq!(text_boxes(&map, &DbParams::default()), vec![]);
        // ...while a 4 x 4 blob survives (side 3, grown 3 + 2 * 1.2 >= 5).
        fill(&mut map, 170, 80, 173, 83, 1.0);
        assert_eq!(text_boxes(&map, &DbParams::default()).len(), 1);
    }

    #[test]
    fn score_is_the_mean_inside_the_box() {
        let mut map = Array2::<f32>::zeros((60, 120));
        fill(&mut map, 10, 10, 59, 29, 1.0);
        fill(&mut map, 60, 10, 109, 29, 0.4);
        let boxes = text_boxes(&map, &DbParams::default());
        assert_eq!(boxes.len(), 1);
        assert!((boxes[0].score - 0.7).abs() < 0.01, "{}", boxes[0].score);
    }

    #[test]
    fn max_candidates_limits_regions() {
        let mut map = Array2::<f32>::zeros((20, 200));
        for i in 0..10 {
            fill(&mut map, 2 + 19 * i, 5, 15 + 19 * i, 12, 1.0);
        }
        assert_eq!(text_boxes(&map, &DbParams::default()).len(), 10);
        assert_eq!(text_boxes(&map, &DbParams { max_candidates: 4, ..DbParams::default() }).len(), 4);
    }

    #[test]
    fn odd_maps_do_not_panic() {
        let p = DbParams::default();
        for (h, w) in [(0, 0), (0, 5), (5, 0)] {
            assert!(text_boxes(&Array2::zeros((h, w)), &p).is_empty());
        }
        assert!(text_boxes(&Array2::from_elem((1, 1), 1.0), &p).is_empty());
        assert!(text_boxes(&Array2::from_elem((40, 30), f32::NAN), &p).is_empty());
        assert!(text_boxes(&Array2::zeros((40, 30)), &p).is_empty());
        // All ones: one box covering the map.
        let all = text_boxes(&Array2::from_elem((40, 30), 1.0), &p);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].quad, [[0.0, 0.0], [30.0, 0.0], [30.0, 40.0], [0.0, 40.0]]);
        // Infinities and NaN inside a region: a finite score.
        let mut map = Array2::<f32>::zeros((40, 60));
        fill(&mut map, 5, 5, 50, 20, f32::INFINITY);
        map[[10, 10]] = f32::NAN;
        map[[12, 10]] = f32::NEG_INFINITY;
        let b = text_boxes(&map, &p);
        assert_eq!(b.len(), 1);
        assert!(b[0].score.is_finite() && b[0].score <= 1.0);
        // Degenerate regions with no size limit: points and lines have no
        // area, so no unclip distance, and fail the grown-size check.
        let loose = DbParams { min_size: 0.0, box_threshold: 0.0, ..p };
        let mut map = Array2::<f32>::zeros((30, 30));
        map[[3, 3]] = 1.0;
        for i in 10..25 {
            map[[i, i]] = 1.0;
            map[[i, 2]] = 1.0;
        }
        assert!(text_boxes(&map, &loose).is_empty());
        // A non-standard (column-major) layout reads the same.
        let mut map = Array2::<f32>::zeros((60, 200));
        fill(&mut map, 10, 10, 79, 29, 1.0);
        let mut fortran = Array2::<f32>::zeros(ndarray::ShapeBuilder::f((60, 200)));
        fortran.assign(&map);
        assert!(!fortran.is_standard_layout());
        assert_eq!(text_boxes(&fortran, &p), text_boxes(&map, &p));
    }
}
