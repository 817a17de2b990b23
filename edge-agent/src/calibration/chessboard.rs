//! Chessboard corner detection for floor calibration, without OpenCV.
//!
//! Pipeline: Gaussian blur -> saddle response (negative Hessian determinant) ->
//! local maxima -> ring test (two dark and two bright sectors split by two
//! straight edges through the point: a true X-junction) -> gradient-orthogonality
//! sub-pixel refinement -> grid growing from a seed along the corners' own edge
//! directions, predicting each next corner with a local homography (handles
//! perspective and mild lens distortion) -> size and checker-colour checks ->
//! deterministic ordering.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::f64::consts::PI;

use image::{GrayImage, ImageBuffer, Luma};
use imageproc::filter::{gaussian_blur_f32, horizontal_filter, vertical_filter};

use super::homography::{Homography, HomographyError};

/// A printed chessboard: `cols` x `rows` INNER corners (OpenCV convention, e.g. 9x6), squares of `square_mm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chessboard {
    pub cols: usize,
    pub rows: usize,
    pub square_mm: f64,
}

/// Why a chessboard could not be read or found.
#[derive(Debug, thiserror::Error)]
pub enum ChessboardError {
    #[error("cannot read chessboard {input:?}: {reason}; expected COLSxROWS@SQUARE_MM with inner-corner counts, e.g. 9x6@25 or 9x6@25mm")]
    Parse { input: String, reason: &'static str },
    #[error("invalid chessboard {cols}x{rows}@{square_mm}: need 2 to {MAX_CORNERS} inner corners per side and a positive square size in mm")]
    InvalidBoard { cols: usize, rows: usize, square_mm: f64 },
    #[error("the image is {width}x{height} pixels, too small to find a chessboard in: use the camera's full-size picture")]
    ImageTooSmall { width: u32, height: u32 },
    #[error("no chessboard found (looked for {cols}x{rows} inner corners): make the whole board visible, evenly lit and in focus, with squares at least {min_square_px} pixels wide")]
    NoBoard { cols: usize, rows: usize, min_square_px: u32 },
    #[error("found {found} of the {expected} inner corners of a {cols}x{rows} board: make the whole board visible, evenly lit and in focus")]
    Incomplete { found: usize, expected: usize, cols: usize, rows: usize },
    #[error("found a {found_cols}x{found_rows} grid of inner corners, but the board is described as {cols}x{rows}: check the board size (count inner corners, not squares) and that the whole board is visible")]
    WrongSize { found_cols: usize, found_rows: usize, cols: usize, rows: usize },
    #[error("the chessboard corners do not give a usable homography: {0}")]
    Homography(#[from] HomographyError),
}

/// Largest accepted number of inner corners along one side.
const MAX_CORNERS: usize = 100;
/// Samples on the ring around a candidate corner.
const RING_SAMPLES: usize = 32;
/// Weakest dark/bright difference (gray levels / 255) taken for a board edge.
const MIN_CONTRAST: f32 = 0.06;
/// At most this many saddle maxima are examined (strongest first).
const MAX_MAXIMA: usize = 6000;
/// At most this many seeds are grown into grids before giving up.
const MAX_SEEDS: usize = 400;
/// Angular tolerance (radians) for "lies along that edge".
const EDGE_TOLERANCE: f64 = 15.0 * PI / 180.0;

impl Chessboard {
    /// Parses "9x6@25" or "9x6@25mm" (inner corners, square size in mm). Clear error otherwise.
    pub fn parse(s: &str) -> Result<Self, ChessboardError> {
        let err = |reason| ChessboardError::Parse { input: s.to_string(), reason };
        let (size, square) = s.trim().split_once('@').ok_or_else(|| err("missing '@' before the square size"))?;
        let (c, r) = size.split_once(['x', 'X']).ok_or_else(|| err("missing 'x' between the corner counts"))?;
        let count = |t: &str| t.trim().parse::<usize>().map_err(|_| err("the corner counts must be whole numbers"));
        let (cols, rows) = (count(c)?, count(r)?);
        let square = square.trim().to_ascii_lowercase();
        let square = square.strip_suffix("mm").unwrap_or(&square).trim();
        let square_mm = square.parse::<f64>().map_err(|_| err("the square size must be a number of millimetres"))?;
        let board = Chessboard { cols, rows, square_mm };
        board.validate().map_err(|_| err("need 2 to 100 inner corners per side and a positive square size"))?;
        Ok(board)
    }

    /// Finds all inner corners with sub-pixel accuracy (pixel centres at +0.5).
    ///
    /// Order: corner (i, j) is at index `j * cols + i`, matching [`Chessboard::corner_mm`].
    /// The i axis is the grid direction with `cols` corners (for a square board,
    /// the one closer to the image's x axis); i runs towards +x (towards +y if the
    /// axis is exactly vertical), and j runs so that the floor frame has the same
    /// handedness as the image (never mirrored). So for a board turned by less
    /// than 45 degrees, corner 0 is the top-left one, i goes right and j goes down.
    pub fn find_corners(&self, gray: &GrayImage) -> Result<Vec<[f64; 2]>, ChessboardError> {
        self.validate()?;
        let (width, height) = gray.dimensions();
        if width < 32 || height < 32 {
            return Err(ChessboardError::ImageTooSmall { width, height });
        }
        let params = Params::for_size(width, height);
        let (maps, response) = Maps::new(gray, params.sigma).ok_or(ChessboardError::ImageTooSmall { width, height })?;
        let corners = detect_corners(&maps, &response, &params);
        let grid = self.find_grid(&maps, &corners, &params)?;
        self.order(&grid, &corners).ok_or(ChessboardError::NoBoard {
            cols: self.cols,
            rows: self.rows,
            min_square_px: params.min_square_px(),
        })
    }

    /// The floor position (mm) of corner (i, j) = (index % cols, index / cols):
    /// (i * square_mm, j * square_mm).
    pub fn corner_mm(&self, index: usize) -> [f64; 2] {
        let i = index.checked_rem(self.cols).unwrap_or(0);
        let j = index.checked_div(self.cols).unwrap_or(0);
        [i as f64 * self.square_mm, j as f64 * self.square_mm]
    }

    /// `find_corners` + `Homography::fit` over all corners; returns the pixel ->
    /// floor-mm homography and the RMS reprojection error in pixels.
    pub fn calibrate(&self, gray: &GrayImage) -> Result<(Homography, f64), ChessboardError> {
        self.fit_corners(&self.find_corners(gray)?)
    }

    /// The homography and RMS reprojection error (px) of corners from
    /// `find_corners`, for callers that want the corners too without detecting twice.
    pub fn fit_corners(&self, corners: &[[f64; 2]]) -> Result<(Homography, f64), ChessboardError> {
        let pairs: Vec<([f64; 2], [f64; 2])> = corners.iter().enumerate().map(|(k, &p)| (p, self.corner_mm(k))).collect();
        let homography = Homography::fit(&pairs)?;
        Ok((homography, homography.rms_error_px(&pairs)))
    }

    fn validate(&self) -> Result<(), ChessboardError> {
        let ok = (2..=MAX_CORNERS).contains(&self.cols)
            && (2..=MAX_CORNERS).contains(&self.rows)
            && self.square_mm.is_finite()
            && self.square_mm > 0.0;
        if ok {
            Ok(())
        } else {
            Err(ChessboardError::InvalidBoard { cols: self.cols, rows: self.rows, square_mm: self.square_mm })
        }
    }

    /// Grows grids from the strongest corners until one has exactly this board's
    /// shape and checker colouring; otherwise explains what the best one lacked.
    fn find_grid(&self, maps: &Maps, corners: &[Corner], params: &Params) -> Result<Grid, ChessboardError> {
        let expected = self.cols * self.rows;
        let max_extent = 2 * self.cols.max(self.rows) as i32 + 2;
        let index = BucketIndex::new(corners, maps.w, maps.h, 4.0 * params.ring_radius);
        let mut claimed = vec![false; corners.len()];
        let mut best: Option<Grid> = None;
        for seed in 0..corners.len().min(MAX_SEEDS) {
            if claimed[seed] {
                continue;
            }
            let Some(mut grid) = grow_grid(seed, corners, &index, max_extent) else { continue };
            trim_sparse_borders(&mut grid);
            if grid.cells.len() < 4 || !checker_colours_alternate(maps, &grid, corners) {
                continue;
            }
            let (a, b) = grid.dims();
            let complete = grid.cells.len() == a * b;
            if complete && ((a, b) == (self.cols, self.rows) || (a, b) == (self.rows, self.cols)) {
                return Ok(grid);
            }
            // A checkered grid regrows much the same from any of its corners (a stray
            // seed beside the board only adds a sparse line, trimmed above).
            grid.cells.values().for_each(|&k| claimed[k] = true);
            if best.as_ref().is_none_or(|g| grid.cells.len() > g.cells.len()) {
                best = Some(grid);
            }
        }
        // A few aligned corners in clutter are no evidence of a board.
        let Some(best) = best.filter(|g| g.cells.len() >= 6.max(expected / 4)) else {
            return Err(ChessboardError::NoBoard { cols: self.cols, rows: self.rows, min_square_px: params.min_square_px() });
        };
        let (a, b) = best.dims();
        let larger = a.min(b) > self.cols.min(self.rows) || a.max(b) > self.cols.max(self.rows);
        // A complete grid with room around it in the image is a whole board of another size.
        let whole = best.cells.len() == a * b && !cut_by_frame(&best, corners, maps, params.ring_radius);
        if larger || whole {
            return Err(ChessboardError::WrongSize { found_cols: a, found_rows: b, cols: self.cols, rows: self.rows });
        }
        Err(ChessboardError::Incomplete { found: best.cells.len(), expected, cols: self.cols, rows: self.rows })
    }

    /// Lays the complete grid out as index = j * cols + i (see `find_corners`).
    fn order(&self, grid: &Grid, corners: &[Corner]) -> Option<Vec<[f64; 2]>> {
        let (imin, jmin) = grid.min();
        let (na, nb) = grid.dims();
        let at = |a: usize, b: usize| -> Option<[f64; 2]> {
            let k = *grid.cells.get(&(imin + a as i32, jmin + b as i32))?;
            corners.get(k).map(|c| c.p)
        };
        let mut g = vec![vec![[0.0; 2]; nb]; na];
        for (a, col) in g.iter_mut().enumerate() {
            for (b, p) in col.iter_mut().enumerate() {
                *p = at(a, b)?;
            }
        }
        let transpose = if self.cols != self.rows {
            na != self.cols
        } else {
            let (da, db) = (axis_direction(&g, true), axis_direction(&g, false));
            da[0].abs() / da[0].hypot(da[1]).max(1e-9) < db[0].abs() / db[0].hypot(db[1]).max(1e-9)
        };
        if transpose {
            g = (0..nb).map(|b| (0..na).map(|a| g[a][b]).collect()).collect();
        }
        if g.len() != self.cols || g.first().is_none_or(|c| c.len() != self.rows) {
            return None;
        }
        let di = axis_direction(&g, true);
        if di[0] < 0.0 || (di[0] == 0.0 && di[1] < 0.0) {
            g.reverse();
        }
        let (di, dj) = (axis_direction(&g, true), axis_direction(&g, false));
        if di[0] * dj[1] - di[1] * dj[0] < 0.0 {
            g.iter_mut().for_each(|col| col.reverse());
        }
        // Detection works in pixel-index coordinates; the API puts pixel centres at +0.5.
        Some((0..self.rows).flat_map(|j| (0..self.cols).map(move |i| (i, j))).map(|(i, j)| [g[i][j][0] + 0.5, g[i][j][1] + 0.5]).collect())
    }
}

/// Summed first-to-last corner vectors along the first (`along_first`) or the
/// second index of `g[a][b]`; only its direction matters.
fn axis_direction(g: &[Vec<[f64; 2]>], along_first: bool) -> [f64; 2] {
    let (na, nb) = (g.len(), g.first().map_or(0, Vec::len));
    if na == 0 || nb == 0 {
        return [0.0; 2];
    }
    let ends = |k: usize| if along_first { (g[0][k], g[na - 1][k]) } else { (g[k][0], g[k][nb - 1]) };
    (0..if along_first { nb } else { na }).map(ends).fold([0.0; 2], |s, (a, e)| [s[0] + e[0] - a[0], s[1] + e[1] - a[1]])
}

/// Detector settings derived from the image size.
struct Params {
    /// Gaussian blur before everything else; larger images have coarser noise.
    sigma: f32,
    /// Radius (px) of the ring test and of the refinement window.
    ring_radius: f64,
}

impl Params {
    fn for_size(width: u32, height: u32) -> Params {
        let sigma = (width.max(height) as f32 / 1000.0).clamp(1.0, 2.5);
        Params { sigma, ring_radius: (2.5 * sigma as f64 + 2.0).round() }
    }

    /// Squares must hold the ring test's circle between neighbouring corners.
    fn min_square_px(&self) -> u32 {
        (2.5 * self.ring_radius).ceil() as u32
    }
}

/// The blurred image and its gradients, row-major, in pixel-index coordinates.
struct Maps {
    w: usize,
    h: usize,
    smooth: Vec<f32>,
    gx: Vec<f32>,
    gy: Vec<f32>,
}

impl Maps {
    /// Returns the maps and the saddle response `Ixy² - Ixx·Iyy` (> 0 at saddles).
    fn new(gray: &GrayImage, sigma: f32) -> Option<(Maps, Vec<f32>)> {
        let (w, h) = gray.dimensions();
        let data = gray.as_raw().iter().take(w as usize * h as usize).map(|&v| v as f32 / 255.0).collect();
        let image: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_raw(w, h, data)?;
        let smooth = gaussian_blur_f32(&image, sigma);
        let (d1, d2) = ([-0.5f32, 0.0, 0.5], [1.0f32, -2.0, 1.0]);
        let gx = horizontal_filter(&smooth, &d1);
        let gy = vertical_filter(&smooth, &d1);
        let gxx = horizontal_filter(&smooth, &d2);
        let gyy = vertical_filter(&smooth, &d2);
        let gxy = vertical_filter(&gx, &d1);
        let response = gxy.iter().zip(gxx.iter().zip(gyy.iter())).map(|(xy, (xx, yy))| xy * xy - xx * yy).collect();
        let maps = Maps { w: w as usize, h: h as usize, smooth: smooth.into_raw(), gx: gx.into_raw(), gy: gy.into_raw() };
        Some((maps, response))
    }

    /// Bilinear sample of the blurred image; `None` outside it.
    fn sample(&self, x: f64, y: f64) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0) {
            return None;
        }
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        if x0 >= self.w.saturating_sub(1) || y0 >= self.h.saturating_sub(1) {
            return None;
        }
        let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
        let i = y0 * self.w + x0;
        let s = &self.smooth;
        let top = s[i] + (s[i + 1] - s[i]) * fx;
        let bottom = s[i + self.w] + (s[i + self.w + 1] - s[i + self.w]) * fx;
        Some(top + (bottom - top) * fy)
    }
}

/// A verified X-junction.
#[derive(Debug, Clone, Copy)]
struct Corner {
    /// Sub-pixel position in pixel-index coordinates.
    p: [f64; 2],
    /// Angles (mod pi) of the two edges crossing at the corner.
    edges: [f64; 2],
}

impl Corner {
    /// Whether one of the corner's edges runs along direction `angle`.
    fn has_edge_along(&self, angle: f64) -> bool {
        self.edges.iter().any(|&e| line_angle_diff(e, angle) < EDGE_TOLERANCE)
    }
}

/// Difference between two line angles (mod pi), in [0, pi/2].
fn line_angle_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(PI);
    d.min(PI - d)
}

/// Saddle maxima that pass the ring test, refined, strongest first, de-duplicated.
fn detect_corners(maps: &Maps, response: &[f32], params: &Params) -> Vec<Corner> {
    // Response of an ideal X-junction of contrast c after a blur of sigma: (c / (pi sigma²))².
    let s2 = (params.sigma * params.sigma) as f64;
    let threshold = ((0.5 * MIN_CONTRAST as f64) / (PI * s2)).powi(2) as f32;
    let margin = params.ring_radius as usize + 2;
    let mut maxima = local_maxima(response, maps.w, maps.h, threshold, margin);
    maxima.sort_by(|a, b| b.2.total_cmp(&a.2));
    maxima.truncate(MAX_MAXIMA);

    let r = params.ring_radius;
    let mut corners: Vec<Corner> = Vec::new();
    for &(x, y, _) in &maxima {
        // The full ring test needs the refined centre (at r ~ 5 px, half a pixel
        // off bends the edge lines by ~10 degrees); four crossings alone is a
        // cheap first cut that true corners pass from the whole pixel already.
        let start = [x as f64, y as f64];
        if ring_crossings(maps, start, r).is_none() {
            continue;
        }
        let Some(p) = refine_corner(maps, start, r as i32) else { continue };
        if (p[0] - start[0]).hypot(p[1] - start[1]) > 0.5 * r {
            continue;
        }
        let Some(edges) = ring_edges(maps, p, r) else { continue };
        corners.push(Corner { p, edges });
    }
    // Neighbouring maxima often refine onto the same junction.
    dedup_corners(corners, 0.5 * r)
}

/// Removes corners closer than `min_dist` to a stronger (earlier) one.
fn dedup_corners(corners: Vec<Corner>, min_dist: f64) -> Vec<Corner> {
    let mut kept: Vec<Corner> = Vec::with_capacity(corners.len());
    let cell = min_dist.max(1.0);
    let mut buckets: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for c in corners {
        let key = ((c.p[0] / cell).floor() as i64, (c.p[1] / cell).floor() as i64);
        let close = (-1..=1).any(|dy| {
            (-1..=1).any(|dx| {
                buckets.get(&(key.0 + dx, key.1 + dy)).is_some_and(|ks| {
                    ks.iter().any(|&k| (kept[k].p[0] - c.p[0]).hypot(kept[k].p[1] - c.p[1]) < min_dist)
                })
            })
        });
        if !close {
            buckets.entry(key).or_default().push(kept.len());
            kept.push(c);
        }
    }
    kept
}

/// Pixels above `threshold` that are the maximum of their 5x5 neighbourhood.
fn local_maxima(response: &[f32], w: usize, h: usize, threshold: f32, margin: usize) -> Vec<(usize, usize, f32)> {
    const R: usize = 2;
    let margin = margin.max(R);
    let mut out = Vec::new();
    if w <= 2 * margin || h <= 2 * margin || response.len() < w * h {
        return out;
    }
    for y in margin..h - margin {
        for x in margin..w - margin {
            let i = y * w + x;
            let v = response[i];
            if v <= threshold {
                continue;
            }
            // Ties go to the earlier pixel so that a plateau yields one maximum.
            let is_max = (y - R..=y + R).all(|yy| {
                (x - R..=x + R).all(|xx| {
                    let j = yy * w + xx;
                    let u = response[j];
                    j == i || u < v || (u == v && j > i)
                })
            });
            if is_max {
                out.push((x, y, v));
            }
        }
    }
    out
}

/// Where a circle of radius `r` around `p` crosses between dark and bright:
/// `Some` only for enough contrast and exactly four crossings (angles, radians).
fn ring_crossings(maps: &Maps, p: [f64; 2], r: f64) -> Option<[f64; 4]> {
    let step = 2.0 * PI / RING_SAMPLES as f64;
    let mut v = [0f32; RING_SAMPLES];
    for (k, s) in v.iter_mut().enumerate() {
        let a = k as f64 * step;
        *s = maps.sample(p[0] + r * a.cos(), p[1] + r * a.sin())?;
    }
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi - lo < MIN_CONTRAST {
        return None;
    }
    let mid = 0.5 * (lo + hi);
    let mut cross = [0.0f64; 4];
    let mut n = 0;
    for k in 0..RING_SAMPLES {
        let (a, b) = (v[k], v[(k + 1) % RING_SAMPLES]);
        if (a > mid) != (b > mid) {
            if n == 4 {
                return None;
            }
            cross[n] = (k as f64 + ((mid - a) / (b - a)) as f64) * step;
            n += 1;
        }
    }
    (n == 4).then_some(cross)
}

/// The ring test: accepts `p` only when the ring around it crosses exactly two
/// dark and two bright sectors whose four borders pair up into two straight
/// lines through `p` (an X-junction). Returns those lines' angles (mod pi).
fn ring_edges(maps: &Maps, p: [f64; 2], r: f64) -> Option<[f64; 2]> {
    let cross = ring_crossings(maps, p, r)?;
    // Each sector must be at least ~1.5 samples wide, or it is noise.
    let min_sector = 1.5 * 2.0 * PI / RING_SAMPLES as f64;
    if (0..4).any(|q| (cross[(q + 1) % 4] - cross[q]).rem_euclid(2.0 * PI) < min_sector) {
        return None;
    }
    let mut edges = [0.0; 2];
    for q in 0..2 {
        // Both borders of one edge line lie opposite each other through p.
        let opposite = (cross[q + 2] - cross[q]).rem_euclid(2.0 * PI);
        if (opposite - PI).abs() > EDGE_TOLERANCE {
            return None;
        }
        // Mean of the two directions as lines (doubled angles average mod pi).
        let (a, b) = (2.0 * cross[q], 2.0 * cross[q + 2]);
        edges[q] = (0.5 * (a.sin() + b.sin()).atan2(a.cos() + b.cos())).rem_euclid(PI);
    }
    (line_angle_diff(edges[0], edges[1]) > 2.0 * EDGE_TOLERANCE).then_some(edges)
}

/// Sub-pixel corner position by the gradient-orthogonality condition (as in
/// OpenCV's cornerSubPix): every gradient near a corner is orthogonal to the
/// vector from the corner to its pixel; least squares over a window weighted by
/// a Gaussian centred on the current estimate (centring matters: blurred
/// oblique junctions are not exactly orthogonal near their centre), iterated.
fn refine_corner(maps: &Maps, start: [f64; 2], half: i32) -> Option<[f64; 2]> {
    let half = half as i64;
    let inv_2s2 = 1.0 / (2.0 * (0.6 * half as f64).powi(2));
    let mut q = start;
    for _ in 0..12 {
        let (cx, cy) = (q[0].round() as i64, q[1].round() as i64);
        let (mut a, mut b, mut c, mut bx, mut by) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for y in (cy - half).max(0)..=(cy + half).min(maps.h as i64 - 1) {
            for x in (cx - half).max(0)..=(cx + half).min(maps.w as i64 - 1) {
                let i = y as usize * maps.w + x as usize;
                let (gx, gy) = (maps.gx[i] as f64, maps.gy[i] as f64);
                let (dx, dy) = (x as f64 - q[0], y as f64 - q[1]);
                let wgt = (-(dx * dx + dy * dy) * inv_2s2).exp();
                let (gxx, gxy, gyy) = (gx * gx * wgt, gx * gy * wgt, gy * gy * wgt);
                a += gxx;
                b += gxy;
                c += gyy;
                bx += gxx * x as f64 + gxy * y as f64;
                by += gxy * x as f64 + gyy * y as f64;
            }
        }
        let det = a * c - b * b;
        // Gradients all parallel (an edge, not a corner): no unique solution.
        if det <= 1e-12 * (a + c) * (a + c) {
            return None;
        }
        let next = [(c * bx - b * by) / det, (a * by - b * bx) / det];
        if !(next[0].is_finite() && next[1].is_finite()) {
            return None;
        }
        let moved = (next[0] - q[0]).hypot(next[1] - q[1]);
        q = next;
        if moved < 1e-3 {
            break;
        }
    }
    Some(q)
}

/// Fixed-size buckets over the image for radius queries among corners.
struct BucketIndex {
    cell: f64,
    nx: usize,
    ny: usize,
    buckets: Vec<Vec<usize>>,
}

impl BucketIndex {
    fn new(corners: &[Corner], w: usize, h: usize, cell: f64) -> BucketIndex {
        let cell = cell.max(4.0);
        let nx = (w as f64 / cell).ceil() as usize + 1;
        let ny = (h as f64 / cell).ceil() as usize + 1;
        let mut buckets = vec![Vec::new(); nx * ny];
        for (k, c) in corners.iter().enumerate() {
            let (bx, by) = ((c.p[0] / cell).floor(), (c.p[1] / cell).floor());
            if bx >= 0.0 && by >= 0.0 && (bx as usize) < nx && (by as usize) < ny {
                buckets[by as usize * nx + bx as usize].push(k);
            }
        }
        BucketIndex { cell, nx, ny, buckets }
    }

    /// The corner nearest to `q` within `radius` that `accept`s, if any.
    fn nearest(&self, corners: &[Corner], q: [f64; 2], radius: f64, accept: impl Fn(usize) -> bool) -> Option<usize> {
        let lo = |v: f64| ((v - radius) / self.cell).floor().max(0.0) as usize;
        let hi = |v: f64, n: usize| (((v + radius) / self.cell).floor().max(0.0) as usize).min(n.saturating_sub(1));
        let mut best: Option<(f64, usize)> = None;
        for by in lo(q[1])..=hi(q[1], self.ny) {
            for bx in lo(q[0])..=hi(q[0], self.nx) {
                for &k in &self.buckets[by * self.nx + bx] {
                    let d = (corners[k].p[0] - q[0]).hypot(corners[k].p[1] - q[1]);
                    if d <= radius && best.is_none_or(|(bd, _)| d < bd) && accept(k) {
                        best = Some((d, k));
                    }
                }
            }
        }
        best.map(|(_, k)| k)
    }
}

/// Corners placed on integer grid cells (i, j).
struct Grid {
    cells: HashMap<(i32, i32), usize>,
}

impl Grid {
    fn min(&self) -> (i32, i32) {
        let i = self.cells.keys().map(|c| c.0).min().unwrap_or(0);
        let j = self.cells.keys().map(|c| c.1).min().unwrap_or(0);
        (i, j)
    }

    /// Bounding-box size (cells along i, cells along j).
    fn dims(&self) -> (usize, usize) {
        let (imin, jmin) = self.min();
        let imax = self.cells.keys().map(|c| c.0).max().unwrap_or(imin);
        let jmax = self.cells.keys().map(|c| c.1).max().unwrap_or(jmin);
        ((imax - imin + 1) as usize, (jmax - jmin + 1) as usize)
    }

    fn point(&self, corners: &[Corner], cell: (i32, i32)) -> Option<[f64; 2]> {
        self.cells.get(&cell).and_then(|&k| corners.get(k)).map(|c| c.p)
    }
}

const NEIGHBOURS: [(i32, i32); 4] = [(1, 0), (-1, 0), (0, 1), (0, -1)];

/// Grows a grid from `seed`: first its nearest neighbours along its own two
/// edges, then repeatedly every empty cell next to the grid whose predicted
/// position holds an unused corner whose edges line up with its neighbours.
fn grow_grid(seed: usize, corners: &[Corner], index: &BucketIndex, max_extent: i32) -> Option<Grid> {
    let s = corners.get(seed)?;
    let mut cells = HashMap::from([((0, 0), seed)]);
    for (axis, sign) in [(0usize, 1i32), (0, -1), (1, 1), (1, -1)] {
        let dir = s.edges[axis] + if sign < 0 { PI } else { 0.0 };
        if let Some(k) = seed_neighbour(corners, seed, dir) {
            cells.insert(if axis == 0 { (sign, 0) } else { (0, sign) }, k);
        }
    }
    let has = |c: (i32, i32)| cells.contains_key(&c);
    if !((has((1, 0)) || has((-1, 0))) && (has((0, 1)) || has((0, -1)))) {
        return None;
    }
    let mut grid = Grid { cells };
    let mut used: HashSet<usize> = grid.cells.values().copied().collect();
    let mut bounds = [-1, 1, -1, 1]; // imin, imax, jmin, jmax: the seed cross fits
    // Empty cells to (re)try: those near a corner added since their last try,
    // as only a new neighbour can change their prediction.
    let near = |(i, j): (i32, i32)| (-2..=2).flat_map(move |dj| (-2..=2).map(move |di| (i + di, j + dj)));
    let mut pending: BTreeSet<(i32, i32)> = grid.cells.keys().flat_map(|&c| near(c)).collect();
    while !pending.is_empty() {
        for cell in std::mem::take(&mut pending) {
            let grown = [bounds[0].min(cell.0), bounds[1].max(cell.0), bounds[2].min(cell.1), bounds[3].max(cell.1)];
            if grid.cells.contains_key(&cell) || grown[1] - grown[0] >= max_extent || grown[3] - grown[2] >= max_extent {
                continue;
            }
            let Some((pred, step)) = predict(&grid, corners, cell) else { continue };
            let accept = |k: usize| !used.contains(&k) && fits_neighbours(&grid, corners, cell, k);
            let Some(k) = index.nearest(corners, pred, 0.3 * step, accept) else { continue };
            grid.cells.insert(cell, k);
            used.insert(k);
            bounds = grown;
            pending.extend(near(cell).filter(|c| !grid.cells.contains_key(c)));
        }
    }
    Some(grid)
}

/// The nearest corner from `seed` along direction `dir` that shares that edge.
fn seed_neighbour(corners: &[Corner], seed: usize, dir: f64) -> Option<usize> {
    let s = corners.get(seed)?;
    let mut best: Option<(f64, usize)> = None;
    for (k, c) in corners.iter().enumerate() {
        let (dx, dy) = (c.p[0] - s.p[0], c.p[1] - s.p[1]);
        let d = dx.hypot(dy);
        if k == seed || d < 2.0 || best.is_some_and(|(bd, _)| d >= bd) {
            continue;
        }
        let off = (dy.atan2(dx) - dir + PI).rem_euclid(2.0 * PI) - PI;
        if off.abs() < 0.5 * EDGE_TOLERANCE && c.has_edge_along(dir) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Whether the grid would continue beyond the image: the position one step past
/// any outer corner (extrapolated by a homography over the grid) is off-image.
fn cut_by_frame(grid: &Grid, corners: &[Corner], maps: &Maps, margin: f64) -> bool {
    let pairs: Vec<([f64; 2], [f64; 2])> =
        grid.cells.iter().filter_map(|(&(i, j), &k)| Some(([i as f64, j as f64], corners.get(k)?.p))).collect();
    let Ok(grid_to_px) = Homography::fit(&pairs) else { return true };
    let inside = |p: [f64; 2]| p[0] >= margin && p[1] >= margin && p[0] < maps.w as f64 - margin && p[1] < maps.h as f64 - margin;
    grid.cells.keys().any(|&(i, j)| {
        NEIGHBOURS.iter().any(|&(di, dj)| {
            let next = (i + di, j + dj);
            !grid.cells.contains_key(&next) && !grid_to_px.to_floor([next.0 as f64, next.1 as f64]).is_some_and(inside)
        })
    })
}

/// Drops border rows and columns that are less than half filled: a stray
/// X-junction next to the board (e.g. where the outer squares touch a dark
/// background) adds a sparse extra line, while a board's own lines are full.
fn trim_sparse_borders(grid: &mut Grid) {
    loop {
        let (imin, jmin) = grid.min();
        let (a, b) = grid.dims();
        let (imax, jmax) = (imin + a as i32 - 1, jmin + b as i32 - 1);
        let lines: [(bool, i32, usize); 4] = [(true, imin, b), (true, imax, b), (false, jmin, a), (false, jmax, a)];
        let on = |&(along_i, v, _): &(bool, i32, usize), c: &(i32, i32)| if along_i { c.0 == v } else { c.1 == v };
        let sparse = lines.iter().find(|line| 2 * grid.cells.keys().filter(|c| on(line, c)).count() < line.2);
        let Some(line) = sparse.copied() else { return };
        grid.cells.retain(|c, _| !on(&line, c));
        if grid.cells.is_empty() {
            return;
        }
    }
}

/// Whether corner `k` at `cell` lies along a shared edge with each grid neighbour.
fn fits_neighbours(grid: &Grid, corners: &[Corner], cell: (i32, i32), k: usize) -> bool {
    let Some(c) = corners.get(k) else { return false };
    NEIGHBOURS.iter().all(|&(di, dj)| {
        let Some(&n) = grid.cells.get(&(cell.0 + di, cell.1 + dj)) else { return true };
        let Some(nc) = corners.get(n) else { return false };
        let angle = (c.p[1] - nc.p[1]).atan2(c.p[0] - nc.p[0]);
        c.has_edge_along(angle) && nc.has_edge_along(angle)
    })
}

/// Predicted position of `cell` and the local grid step there: a homography fit
/// to the filled cells around it when they allow one, else straight-line and
/// parallelogram extrapolation from its neighbours.
fn predict(grid: &Grid, corners: &[Corner], cell: (i32, i32)) -> Option<([f64; 2], f64)> {
    let (i, j) = cell;
    let beside: Vec<[f64; 2]> = NEIGHBOURS.iter().filter_map(|&(di, dj)| grid.point(corners, (i + di, j + dj))).collect();
    if beside.is_empty() {
        return None;
    }
    let mut pairs = Vec::new();
    for dj in -2..=2 {
        for di in -2..=2 {
            if let Some(p) = grid.point(corners, (i + di, j + dj)) {
                pairs.push(([(i + di) as f64, (j + dj) as f64], p));
            }
        }
    }
    let from_homography = || Homography::fit(&pairs).ok()?.to_floor([i as f64, j as f64]);
    let pred = if pairs.len() >= 5 { from_homography() } else { None };
    let pred = pred.or_else(|| extrapolate(grid, corners, cell))?;
    let step = beside.iter().map(|p| (p[0] - pred[0]).hypot(p[1] - pred[1])).fold(f64::INFINITY, f64::min);
    step.is_finite().then_some((pred, step))
}

/// Mean of the straight-line (2 behind) and parallelogram (3 around) predictions.
fn extrapolate(grid: &Grid, corners: &[Corner], (i, j): (i32, i32)) -> Option<[f64; 2]> {
    let at = |c: (i32, i32)| grid.point(corners, c);
    let mut preds = Vec::new();
    for (di, dj) in NEIGHBOURS {
        if let (Some(a), Some(b)) = (at((i - di, j - dj)), at((i - 2 * di, j - 2 * dj))) {
            preds.push([2.0 * a[0] - b[0], 2.0 * a[1] - b[1]]);
        }
    }
    for si in [-1, 1] {
        for sj in [-1, 1] {
            if let (Some(a), Some(b), Some(d)) = (at((i + si, j)), at((i, j + sj)), at((i + si, j + sj))) {
                preds.push([a[0] + b[0] - d[0], a[1] + b[1] - d[1]]);
            }
        }
    }
    if preds.is_empty() {
        return None;
    }
    let n = preds.len() as f64;
    Some([preds.iter().map(|p| p[0]).sum::<f64>() / n, preds.iter().map(|p| p[1]).sum::<f64>() / n])
}

/// A chessboard's squares alternate dark and bright: sample each square's
/// centre and require the two checker classes to separate (90% agreement
/// tolerates a glare spot). Rejects grids of X-shapes that are no board.
fn checker_colours_alternate(maps: &Maps, grid: &Grid, corners: &[Corner]) -> bool {
    let mut classes: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    for &(i, j) in grid.cells.keys() {
        let quad = [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)].map(|c| grid.point(corners, c));
        let [Some(a), Some(b), Some(c), Some(d)] = quad else { continue };
        let centre = [(a[0] + b[0] + c[0] + d[0]) / 4.0, (a[1] + b[1] + c[1] + d[1]) / 4.0];
        if let Some(v) = maps.sample(centre[0], centre[1]) {
            classes[((i + j) & 1) as usize].push(v);
        }
    }
    // A 2x2-corner board has a single square: nothing to compare.
    if classes[0].is_empty() || classes[1].is_empty() {
        return true;
    }
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let (m0, m1) = (median(&mut classes[0]), median(&mut classes[1]));
    if (m0 - m1).abs() < MIN_CONTRAST {
        return false;
    }
    let mid = 0.5 * (m0 + m1);
    let wrong = classes[0].iter().filter(|&&v| (v > mid) != (m0 > mid)).count()
        + classes[1].iter().filter(|&&v| (v > mid) != (m1 > mid)).count();
    let total = classes[0].len() + classes[1].len();
    wrong * 10 <= total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";
    const BOARD: Chessboard = Chessboard { cols: 9, rows: 6, square_mm: 30.0 };

    /// Loads a photo shipped by Debian's opencv-doc; fails (never skips) without it.
    fn photo(name: &str) -> GrayImage {
        let path = Path::new(DATA).join(name);
        match image::open(&path) {
            Ok(img) => img.to_luma8(),
            Err(e) => panic!("cannot read {}: {e}; the test photos come from Debian's opencv-doc: apt-get install opencv-doc", path.display()),
        }
    }

    fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
        (a[0] - b[0]).hypot(a[1] - b[1])
    }

    /// Neighbouring indices must be about one square apart, with smoothly varying
    /// steps along each row and column (perspective and lens distortion allowed).
    fn assert_grid_order(board: &Chessboard, corners: &[[f64; 2]], name: &str) {
        assert_eq!(corners.len(), board.cols * board.rows, "{name}");
        let at = |i: usize, j: usize| corners[j * board.cols + i];
        let mut steps = Vec::new();
        for j in 0..board.rows {
            for i in 0..board.cols {
                for (di, dj) in [(1, 0), (0, 1)] {
                    let (i2, j2, i3, j3) = (i + di, j + dj, i + 2 * di, j + 2 * dj);
                    if i2 >= board.cols || j2 >= board.rows {
                        continue;
                    }
                    let s1 = dist(at(i, j), at(i2, j2));
                    steps.push(s1);
                    if i3 < board.cols && j3 < board.rows {
                        let (a, b, c) = (at(i, j), at(i2, j2), at(i3, j3));
                        let s2 = dist(b, c);
                        let cos = ((b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1])) / (s1 * s2);
                        assert!(s2 / s1 > 0.4 && s2 / s1 < 2.5, "{name}: uneven steps {s1:.1} / {s2:.1} px at ({i},{j})");
                        assert!(cos > 0.95, "{name}: grid line bends at ({i},{j}), cos {cos:.3}");
                    }
                }
            }
        }
        assert!(steps.iter().all(|&s| s > 5.0), "{name}: corners too close");
        // A skipped or swapped corner sits a whole square off the projective grid.
        let grid_to_px: Vec<_> = (0..corners.len()).map(|k| ([(k % board.cols) as f64, (k / board.cols) as f64], corners[k])).collect();
        let fit = Homography::fit(&grid_to_px).expect("grid fit");
        for (k, (ij, p)) in grid_to_px.iter().enumerate() {
            let q = fit.to_floor(*ij).expect("in front");
            let square = dist(fit.to_floor([ij[0] + 1.0, ij[1]]).expect("x"), q).min(dist(fit.to_floor([ij[0], ij[1] + 1.0]).expect("y"), q));
            assert!(dist(q, *p) < 0.3 * square, "{name}: corner {k} is {:.1} px off the grid", dist(q, *p));
        }
        // i runs along +x and j along +y when the board is turned less than 45 degrees
        // (checked below 40: at 45 the top-left corner is a tie).
        let di = [at(board.cols - 1, 0)[0] - at(0, 0)[0], at(board.cols - 1, 0)[1] - at(0, 0)[1]];
        let dj = [at(0, board.rows - 1)[0] - at(0, 0)[0], at(0, board.rows - 1)[1] - at(0, 0)[1]];
        assert!(di[0] * dj[1] - di[1] * dj[0] > 0.0, "{name}: mirrored order");
        if di[1].abs() < 0.84 * di[0].abs() {
            let extremes = [at(0, 0), at(board.cols - 1, 0), at(0, board.rows - 1), at(board.cols - 1, board.rows - 1)];
            let first = extremes.iter().map(|p| p[0] + p[1]).fold(f64::INFINITY, f64::min);
            assert_eq!(first, at(0, 0)[0] + at(0, 0)[1], "{name}: corner 0 is not the top-left one");
        }
    }

    /// Removes the lens distortion that OpenCV calibrated for these photos
    /// (camera_matrix and distortion_coefficients of left_intrinsics.yml, same
    /// folder), inverting k1 k2 p1 p2 k3 by fixed-point iteration as OpenCV does.
    fn undistort(p: [f64; 2]) -> [f64; 2] {
        let (f, cx, cy) = (535.915733961632, 342.283154733084, 235.570829097882);
        let (k1, k2, p1, p2, k3) = (-0.266372609096607, -0.0385888989223047, 0.00178319470428530, -0.000281221004411155, 0.238391530808785);
        // OpenCV puts pixel centres on integers.
        let (xd, yd) = ((p[0] - 0.5 - cx) / f, (p[1] - 0.5 - cy) / f);
        let (mut x, mut y) = (xd, yd);
        for _ in 0..50 {
            let r2 = x * x + y * y;
            let radial = 1.0 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2;
            let dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
            let dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
            (x, y) = ((xd - dx) / radial, (yd - dy) / radial);
        }
        [f * x + cx + 0.5, f * y + cy + 0.5]
    }

    #[test]
    fn finds_all_corners_in_the_opencv_sample_photos() {
        let mut failed = Vec::new();
        for name in (1..=14).filter(|&k| k != 10).map(|k| format!("left{k:02}.jpg")) {
            let gray = photo(&name);
            let (h, rms) = match BOARD.calibrate(&gray) {
                Ok(found) => found,
                Err(e) => {
                    println!("{name}: FAILED: {e}");
                    failed.push(name);
                    continue;
                }
            };
            let corners = BOARD.find_corners(&gray).expect("found once");
            assert_grid_order(&BOARD, &corners, &name);
            // The raw RMS is dominated by the strong barrel distortion of this lens
            // (k1 = -0.27): even OpenCV's ideal corners give up to 1.84 px (left03).
            // Without the distortion the corners must fit a plane almost exactly.
            let flat: Vec<_> = corners.iter().enumerate().map(|(k, &p)| (undistort(p), BOARD.corner_mm(k))).collect();
            let flat_rms = Homography::fit(&flat).expect("fit").rms_error_px(&flat);
            println!("{name}: 54 corners, homography RMS {rms:.3} px, {flat_rms:.3} px after undistortion; corner 0 at {:?}", h.to_pixel([0.0, 0.0]).map(|p| p.map(f64::round)));
            assert!(flat_rms < 0.4, "{name}: undistorted corners off a plane by {flat_rms:.3} px RMS");
            assert!(rms < 2.0, "{name}: RMS reprojection {rms:.3} px");
        }
        assert!(failed.len() <= 1, "no full board in {failed:?}");
        // The right camera's photos are reported, not required.
        let right: Vec<String> = (1..=14).filter(|&k| k != 10).map(|k| format!("right{k:02}.jpg")).collect();
        let missed: Vec<&String> = right.iter().filter(|name| BOARD.find_corners(&photo(name)).is_err()).collect();
        println!("right*.jpg: {} of {} found; missed {missed:?}", right.len() - missed.len(), right.len());
    }

    /// Renders `board` (with a one-square white margin) seen through `px_to_mm`
    /// onto `background`, 4x4 supersampled, then blurs and adds seeded noise.
    fn render(background: &GrayImage, board: &Chessboard, px_to_mm: &Homography, seed: u64) -> GrayImage {
        let s = board.square_mm;
        let (x0, y0, x1, y1) = (-2.0 * s, -2.0 * s, (board.cols + 1) as f64 * s, (board.rows + 1) as f64 * s);
        let colour = |mm: [f64; 2]| -> Option<f32> {
            if mm[0] < x0 || mm[0] > x1 || mm[1] < y0 || mm[1] > y1 {
                return None;
            }
            let inside = mm[0] >= -s && mm[0] < board.cols as f64 * s && mm[1] >= -s && mm[1] < board.rows as f64 * s;
            let dark = inside && ((mm[0] / s).floor() as i64 + (mm[1] / s).floor() as i64).rem_euclid(2) == 1;
            Some(if dark { 35.0 } else { 215.0 })
        };
        let img = ImageBuffer::from_fn(background.width(), background.height(), |x, y| {
            let bg = background.get_pixel(x, y)[0] as f32;
            let mut sum = 0.0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let p = [x as f64 + (sx as f64 + 0.5) / 4.0, y as f64 + (sy as f64 + 0.5) / 4.0];
                    sum += px_to_mm.to_floor(p).and_then(colour).unwrap_or(bg);
                }
            }
            Luma([sum / 16.0])
        });
        let blurred = gaussian_blur_f32(&img, 0.8);
        let mut rng = fastrand::Rng::with_seed(seed);
        GrayImage::from_fn(img.width(), img.height(), |x, y| {
            let v = blurred.get_pixel(x, y)[0] + (rng.f32() - 0.5) * 10.0;
            Luma([v.round().clamp(0.0, 255.0) as u8])
        })
    }

    fn background(name: &str) -> GrayImage {
        image::imageops::resize(&photo(name), 1920, 1080, image::imageops::FilterType::Triangle)
    }

    /// The pixel -> mm map that puts the board's outer inner corners (0,0),
    /// (cols-1,0), (cols-1,rows-1), (0,rows-1) at the given pixels.
    fn placed(board: &Chessboard, px: [[f64; 2]; 4]) -> Homography {
        let (w, h) = ((board.cols - 1) as f64 * board.square_mm, (board.rows - 1) as f64 * board.square_mm);
        let mm = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        Homography::fit(&[(px[0], mm[0]), (px[1], mm[1]), (px[2], mm[2]), (px[3], mm[3])]).expect("placement")
    }

    /// Detects the rendered board and checks every corner against the truth:
    /// within 0.3 px, and the fitted homography within 1 mm on the floor. The
    /// detected labels may be a rotation of the rendered ones (board turned).
    fn check_synthetic(truth: &Homography, image: &GrayImage, name: &str) -> Vec<[f64; 2]> {
        let found = BOARD.find_corners(image).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_grid_order(&BOARD, &found, name);
        let true_px: Vec<[f64; 2]> = (0..54).map(|k| truth.to_pixel(BOARD.corner_mm(k)).expect("visible")).collect();
        let mut worst: f64 = 0.0;
        let mut label = Vec::new();
        for p in &found {
            let (k, d) = true_px.iter().enumerate().map(|(k, t)| (k, dist(*p, *t))).fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
            worst = worst.max(d);
            label.push(k);
        }
        println!("{name}: worst corner error {worst:.3} px");
        assert!(worst < 0.3, "{name}: corner off by {worst:.3} px");
        let (fit, rms) = BOARD.fit_corners(&found).expect("calibrates");
        assert!(rms < 0.3, "{name}: rms {rms}");
        // The detected floor frame is the rendered one up to a rotation of the board:
        // compare every corner's fitted floor position with its true one moved the same way.
        let moved = Homography::fit(&(0..54).map(|k| (BOARD.corner_mm(label[k]), BOARD.corner_mm(k))).collect::<Vec<_>>()).expect("relabelling");
        for k in 0..54 {
            let want = moved.to_floor(BOARD.corner_mm(label[k])).expect("floor");
            let got = fit.to_floor(true_px[label[k]]).expect("floor");
            assert!(dist(want, got) < 1.0, "{name}: corner {k} at {got:?} mm, true {want:?} mm");
            assert!(dist(fit.to_floor(found[k]).expect("floor"), BOARD.corner_mm(k)) < 1.0, "{name}: corner {k}");
        }
        // The relabelling is a rigid board symmetry: lengths kept, never mirrored.
        let r = moved.rows();
        assert!((r[0][0] * r[1][1] - r[0][1] * r[1][0] - 1.0).abs() < 1e-6, "{name}: relabelling {r:?}");
        found
    }

    #[test]
    fn finds_a_synthetic_board_to_a_third_of_a_pixel() {
        let truth = placed(&BOARD, [[610.0, 330.0], [1390.0, 395.0], [1345.0, 880.0], [575.0, 810.0]]);
        let image = render(&background("building.jpg"), &BOARD, &truth, 1);
        let found = check_synthetic(&truth, &image, "tilted");
        // Turned by ~5 degrees: the labels must be exactly the rendered ones.
        for (k, p) in found.iter().enumerate() {
            assert!(dist(*p, truth.to_pixel(BOARD.corner_mm(k)).expect("visible")) < 0.3, "corner {k} mislabelled");
        }
    }

    #[test]
    fn finds_a_board_turned_by_90_degrees() {
        // Corner (0,0) top right, i running down, j running left.
        let truth = placed(&BOARD, [[1250.0, 160.0], [1290.0, 930.0], [760.0, 950.0], [720.0, 190.0]]);
        let image = render(&background("home.jpg"), &BOARD, &truth, 2);
        let found = check_synthetic(&truth, &image, "turned");
        let di = [found[8][0] - found[0][0], found[8][1] - found[0][1]];
        assert!(di[1].abs() > 3.0 * di[0].abs(), "i should run vertically, got {di:?}");
    }

    #[test]
    fn finds_a_board_in_strong_perspective() {
        // Far edge about a quarter as wide as the near one.
        let truth = placed(&BOARD, [[820.0, 380.0], [1110.0, 380.0], [1500.0, 820.0], [430.0, 820.0]]);
        let image = render(&background("building.jpg"), &BOARD, &truth, 3);
        check_synthetic(&truth, &image, "perspective");
    }

    #[test]
    fn no_board_in_a_plain_photo() {
        for name in ["fruits.jpg", "building.jpg", "home.jpg", "baboon.jpg"] {
            match BOARD.find_corners(&photo(name)) {
                Err(ChessboardError::NoBoard { .. }) => {}
                other => panic!("{name}: expected no board, got {other:?}"),
            }
        }
        let msg = BOARD.find_corners(&photo("fruits.jpg")).expect_err("no board").to_string();
        assert!(msg.contains("no chessboard found"), "{msg}");
    }

    #[test]
    fn a_board_partly_outside_the_frame_is_reported_incomplete() {
        // Columns 5 to 8 (x >= 1975) fall beyond the right edge.
        let truth = placed(&BOARD, [[1300.0, 300.0], [2380.0, 300.0], [2380.0, 900.0], [1300.0, 900.0]]);
        let image = render(&background("building.jpg"), &BOARD, &truth, 4);
        let err = BOARD.find_corners(&image).expect_err("incomplete");
        assert!(matches!(err, ChessboardError::Incomplete { found: 30, expected: 54, .. }), "{err:?}");
        assert!(err.to_string().contains("of the 54 inner corners of a 9x6 board"), "{err}");
    }

    #[test]
    fn a_board_of_another_size_is_reported() {
        let other = Chessboard { cols: 7, rows: 5, square_mm: 30.0 };
        let truth = placed(&other, [[600.0, 300.0], [1300.0, 330.0], [1280.0, 820.0], [590.0, 800.0]]);
        let image = render(&background("home.jpg"), &other, &truth, 5);
        assert!(other.find_corners(&image).is_ok());
        // Smaller than described, but whole (not cut by the frame).
        let err = BOARD.find_corners(&image).expect_err("wrong size");
        assert!(matches!(err, ChessboardError::WrongSize { found_cols: 7, found_rows: 5, cols: 9, rows: 6 }), "{err:?}");
        assert!(err.to_string().contains("count inner corners"), "{err}");
        // Larger than described.
        let err = Chessboard { cols: 5, rows: 4, square_mm: 30.0 }.find_corners(&image).expect_err("too big");
        assert!(matches!(err, ChessboardError::WrongSize { found_cols: 7, found_rows: 5, .. }), "{err:?}");
    }

    #[test]
    fn x_shapes_that_are_no_board_give_no_grid() {
        let mut rng = fastrand::Rng::with_seed(6);
        let mut image = background("fruits.jpg");
        // Scattered 2x2 checker tiles: every tile centre is a perfect X-junction.
        for _ in 0..60 {
            let (cx, cy, half) = (rng.u32(60..1860), rng.u32(60..1020), rng.u32(15..40));
            for y in cy - half..cy + half {
                for x in cx - half..cx + half {
                    image.put_pixel(x, y, Luma([if (x < cx) == (y < cy) { 30 } else { 220 }]));
                }
            }
        }
        // Graph paper: a 9x6 lattice of crossing dark lines (crossings are not X-junctions).
        for y in 100..400 {
            for x in 100..550 {
                let on_line = (x - 75) % 50 < 3 || (y - 75) % 50 < 3;
                image.put_pixel(x, y, Luma([if on_line { 20 } else { 230 }]));
            }
        }
        let result = BOARD.find_corners(&image);
        assert!(matches!(result, Err(ChessboardError::NoBoard { .. })), "{result:?}");
        // A 9x6 lattice of separate 2x2 tiles: X-junctions exactly on a grid, but
        // the squares between them are all background, not a checker pattern.
        let mut lattice = background("home.jpg");
        for (ti, tj) in (0..9).flat_map(|i| (0..6).map(move |j| (i, j))) {
            let (cx, cy) = (500 + 90 * ti, 250 + 90 * tj);
            for y in cy - 25..cy + 25 {
                for x in cx - 25..cx + 25 {
                    lattice.put_pixel(x, y, Luma([if (x < cx) == (y < cy) { 30 } else { 220 }]));
                }
            }
        }
        let result = BOARD.find_corners(&lattice);
        assert!(matches!(result, Err(ChessboardError::NoBoard { .. })), "{result:?}");
    }

    #[test]
    fn degenerate_images_are_errors_not_panics() {
        let cases = [
            GrayImage::new(0, 0),
            GrayImage::new(1, 1),
            GrayImage::new(31, 400),
            GrayImage::new(640, 480),
            GrayImage::from_pixel(640, 480, Luma([255])),
            GrayImage::from_fn(64, 48, |x, y| Luma([((x * 7 + y * 13) % 256) as u8])),
        ];
        for image in &cases {
            assert!(BOARD.find_corners(image).is_err(), "{:?}", image.dimensions());
            assert!(BOARD.calibrate(image).is_err());
        }
        let mut rng = fastrand::Rng::with_seed(9);
        let noise = GrayImage::from_fn(640, 480, |_, _| Luma([rng.u8(..)]));
        assert!(BOARD.find_corners(&noise).is_err());
        let bad = Chessboard { cols: 0, rows: 6, square_mm: 25.0 };
        assert!(matches!(bad.find_corners(&noise), Err(ChessboardError::InvalidBoard { .. })));
        assert_eq!(bad.corner_mm(7), [0.0, 0.0]);
    }

    #[test]
    fn parses_board_descriptions() {
        assert_eq!(Chessboard::parse("9x6@25").expect("ok"), Chessboard { cols: 9, rows: 6, square_mm: 25.0 });
        assert_eq!(Chessboard::parse(" 7X5 @ 24.5 MM ").expect("ok"), Chessboard { cols: 7, rows: 5, square_mm: 24.5 });
        for bad in ["", "9x6", "9*6@25", "9x@25", "ax6@25", "9x6@", "9x6@-3", "9x6@0mm", "9x6@NaN", "1x6@25", "9x6@25cm", "101x6@25"] {
            let err = Chessboard::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("e.g. 9x6@25"), "{bad}: {err}");
        }
        let b = Chessboard::parse("9x6@25mm").expect("ok");
        assert_eq!(b.corner_mm(0), [0.0, 0.0]);
        assert_eq!(b.corner_mm(10), [25.0, 25.0]);
        assert_eq!(b.corner_mm(53), [200.0, 125.0]);
    }

    #[test]
    fn finds_boards_at_any_angle_size_and_contrast() {
        let bg = image::imageops::resize(&photo("home.jpg"), 960, 540, image::imageops::FilterType::Triangle);
        // Outer inner corners of a board centred at (cx, cy), half-size (w, h), turned by deg.
        let turned = |cx: f64, cy: f64, w: f64, h: f64, deg: f64| {
            let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
            [[-w, -h], [w, -h], [w, h], [-w, h]].map(|[x, y]| [cx + c * x - s * y, cy + s * x + c * y])
        };
        let cases = [
            ("turned 30", BOARD, turned(480.0, 270.0, 240.0, 150.0, 30.0)),
            ("turned 45", BOARD, turned(480.0, 270.0, 200.0, 125.0, 45.0)),
            ("turned 135", BOARD, turned(480.0, 270.0, 200.0, 125.0, 135.0)),
            ("upside down", BOARD, turned(480.0, 270.0, 240.0, 150.0, 180.0)),
            ("18 px squares", BOARD, turned(300.0, 200.0, 72.0, 45.0, 8.0)),
            ("30x18 board", Chessboard { cols: 30, rows: 18, square_mm: 10.0 }, turned(480.0, 270.0, 420.0, 230.0, 2.0)),
        ];
        for (k, (name, board, px)) in cases.into_iter().enumerate() {
            let truth = placed(&board, px);
            let mut image = render(&bg, &board, &truth, 20 + k as u64);
            if k == 0 {
                // Low contrast too: dark squares 95, light ones 135.
                image.pixels_mut().for_each(|p| p.0[0] = (80.0 + p.0[0] as f32 * 0.25) as u8);
            }
            let found = board.find_corners(&image).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_grid_order(&board, &found, name);
            let n = board.cols * board.rows;
            let worst = found.iter().map(|p| (0..n).map(|k| dist(*p, truth.to_pixel(board.corner_mm(k)).expect("visible"))).fold(f64::INFINITY, f64::min)).fold(0.0, f64::max);
            assert!(worst < 0.3, "{name}: corner off by {worst:.3} px");
        }
    }

    #[test]
    fn timing_of_find_corners() {
        let small = photo("left01.jpg");
        let truth = placed(&BOARD, [[610.0, 330.0], [1390.0, 395.0], [1345.0, 880.0], [575.0, 810.0]]);
        let large = render(&background("building.jpg"), &BOARD, &truth, 1);
        for (name, image) in [("640x480 left01.jpg", &small), ("1920x1080 synthetic", &large)] {
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let t = Instant::now();
                assert!(BOARD.find_corners(image).is_ok(), "{name}");
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!("find_corners on {name}: {:.1} ms", best * 1e3);
        }
    }
}
