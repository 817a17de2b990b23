//! The OCR'd lines of a hazardous-waste label (危险废物标签, HJ 1276-2022)
//! turned into its fields.
//!
//! 1. Geometry: estimate the label's rotation from the boxes' top edges,
//!    de-rotate, and group boxes into rows (centre-y within half a line).
//! 2. Keys: each box is split into keys (matched by edit distance, so a key
//!    misread by a character still counts) and the text between them.
//! 3. Values: text right of a key on the same row is that key's value; text
//!    on the next row at the value's x continues a wrapping field; text with
//!    no key is left unused (noise never becomes a field).
//! 4. Canonical values per field (code, category, date, weight, ...), with a
//!    confidence lowered where the value needed repair or does not fit.

use crate::label::catalogue::Hazard;
use crate::label::fields::LabelField;
use crate::ocr::OcrLine;
use crate::ocr::normalize::normalize;
use chrono::{Datelike, NaiveDate};
use std::ops::Range;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParsedField {
    pub field: LabelField,
    /// Canonical value: waste_code "900-249-08", category "HW08", date "2026-11-02", weight "25.0 kg",
    /// id_code 37 uppercase chars, phone digits (with '-' for landlines), hazards "T,I" (letters in
    /// Hazard::ALL order), others the text with surrounding spaces trimmed.
    pub value: String,
    /// The text as read, for evidence.
    pub raw: String,
    /// 0..1: the OCR confidence of the lines used, lowered when the value needed repair (e.g. O->0)
    /// or does not fit the field's format.
    pub confidence: f32,
    /// x0, y0, x1, y1 in picture pixels of the value's text.
    pub bounds: [f32; 4],
    /// The value matches the field's format (a code that is ddd-ddd-dd, a valid date, ...).
    pub well_formed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ParsedLabel {
    /// "危险废物" seen.
    pub title_found: bool,
    /// At most one per field, in `LabelField` order.
    pub fields: Vec<ParsedField>,
    /// Lines used for nothing (noise, and keys whose value was not found).
    pub unused: Vec<String>,
}

impl ParsedLabel {
    pub fn get(&self, f: LabelField) -> Option<&ParsedField> {
        self.fields.iter().find(|p| p.field == f)
    }

    pub fn value(&self, f: LabelField) -> Option<&str> {
        self.get(f).map(|p| p.value.as_str())
    }

    /// "25kg", "25.0 KG", "0.5t", "0.5吨", "25千克", "25公斤" in kilograms.
    pub fn weight_kg(&self) -> Option<f64> {
        self.value(LabelField::Weight).and_then(parse_weight_kg)
    }

    pub fn date(&self) -> Option<NaiveDate> {
        self.value(LabelField::Date).and_then(canonical_date)
    }

    pub fn hazards(&self) -> Vec<Hazard> {
        self.value(LabelField::Hazards).map(parse_hazards).unwrap_or_default()
    }
}

/// The label's fields from its OCR lines, in any order.
pub fn parse_label(lines: &[OcrLine]) -> ParsedLabel {
    let boxes = layout_boxes(lines);
    let rows = group_rows(&boxes);
    let mut reader = Reader::new(&boxes, &rows);
    for (r, row) in rows.iter().enumerate() {
        reader.read_row(r, &row.members);
    }
    reader.finish()
}

// ---------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------

/// One OCR line with normalised text and its place in the de-rotated frame.
struct TextBox {
    chars: Vec<char>,
    confidence: f32,
    /// Picture pixels, non-finite coordinates replaced by 0.
    quad: [[f32; 2]; 4],
    /// The label's rotation (radians) removed: x extent, centre y, line height.
    x0: f32,
    x1: f32,
    cy: f32,
    height: f32,
}

struct Row {
    members: Vec<usize>,
    cy: f32,
}

/// Boxes with normalised text and de-rotated geometry.
fn layout_boxes(lines: &[OcrLine]) -> Vec<TextBox> {
    let quads: Vec<[[f32; 2]; 4]> = lines.iter().map(|l| l.quad.map(|p| p.map(|v| if v.is_finite() { v } else { 0.0 }))).collect();
    let angle = dominant_angle(&quads);
    let (sin, cos) = angle.sin_cos();
    let derotate = |p: [f32; 2]| [p[0] * cos + p[1] * sin, -p[0] * sin + p[1] * cos];
    lines
        .iter()
        .zip(quads)
        .map(|(line, quad)| {
            let r = quad.map(derotate);
            let xs = r.map(|p| p[0]);
            let cy = r.iter().map(|p| p[1]).sum::<f32>() / 4.0;
            TextBox {
                chars: normalize(&line.text).chars().collect(),
                confidence: if line.confidence.is_finite() { line.confidence.clamp(0.0, 1.0) } else { 0.0 },
                quad,
                x0: xs.into_iter().fold(f32::INFINITY, f32::min),
                x1: xs.into_iter().fold(f32::NEG_INFINITY, f32::max),
                cy,
                height: quad_height(&quad),
            }
        })
        .collect()
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn quad_height(q: &[[f32; 2]; 4]) -> f32 {
    (dist(q[0], q[3]) + dist(q[1], q[2])) / 2.0
}

/// The label's rotation: the median direction of the boxes' top and bottom
/// edges. Long boxes only where there are any: a one-glyph box has no clear direction.
fn dominant_angle(quads: &[[[f32; 2]; 4]]) -> f32 {
    let directions: Vec<(f32, f32, f32)> = quads
        .iter()
        .map(|q| {
            let dx = (q[1][0] - q[0][0]) + (q[2][0] - q[3][0]);
            let dy = (q[1][1] - q[0][1]) + (q[2][1] - q[3][1]);
            (dx, dy, dx.hypot(dy) / 2.0 / quad_height(q).max(1e-3))
        })
        .filter(|&(dx, dy, _)| dx.hypot(dy) > 0.0)
        .collect();
    let long: Vec<_> = directions.iter().filter(|d| d.2 >= 1.5).collect();
    let chosen: Vec<_> = if long.is_empty() { directions.iter().collect() } else { long };
    let mut angles: Vec<f32> = chosen
        .iter()
        .map(|&&(dx, dy, _)| {
            // Fold into (-90°, 90°]: an edge given right-to-left is the same direction.
            let a = dy.atan2(dx);
            if a > std::f32::consts::FRAC_PI_2 {
                a - std::f32::consts::PI
            } else if a <= -std::f32::consts::FRAC_PI_2 {
                a + std::f32::consts::PI
            } else {
                a
            }
        })
        .filter(|a| a.is_finite())
        .collect();
    if angles.is_empty() {
        return 0.0;
    }
    angles.sort_by(f32::total_cmp);
    angles[angles.len() / 2]
}

/// The typical line height: the median box height.
fn line_height(boxes: &[TextBox]) -> f32 {
    let mut h: Vec<f32> = boxes.iter().map(|b| b.height).filter(|h| h.is_finite() && *h > 0.0).collect();
    if h.is_empty() {
        return 1.0;
    }
    h.sort_by(f32::total_cmp);
    h[h.len() / 2]
}

/// Rows top to bottom, each left to right: a box joins the row whose centre
/// is within about half a line of its own.
fn group_rows(boxes: &[TextBox]) -> Vec<Row> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[a].cy.total_cmp(&boxes[b].cy));
    let mut rows: Vec<(Vec<usize>, f32, f32)> = Vec::new(); // members, sum cy, sum height
    for b in order {
        let bx = &boxes[b];
        let fits = |row: &(Vec<usize>, f32, f32)| {
            let n = row.0.len() as f32;
            let tolerance = 0.6 * bx.height.min(row.2 / n);
            let off = (bx.cy - row.1 / n).abs();
            (off <= tolerance).then_some(off)
        };
        let best = rows.iter().enumerate().filter_map(|(i, row)| fits(row).map(|off| (i, off))).min_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, _)) => {
                rows[i].0.push(b);
                rows[i].1 += bx.cy;
                rows[i].2 += bx.height;
            }
            None => rows.push((vec![b], bx.cy, bx.height)),
        }
    }
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|(mut members, sum_cy, _)| {
            let cy = sum_cy / members.len() as f32;
            members.sort_by(|&a, &b| boxes[a].x0.total_cmp(&boxes[b].x0));
            Row { members, cy }
        })
        .collect();
    rows.sort_by(|a, b| a.cy.total_cmp(&b.cy));
    rows
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key { field: LabelField, range: Range<usize> },
    Text(Range<usize>),
}

/// Where a key is looked for; the further from a box's start, the stronger the evidence needed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// At a box's start. `strict`: only with a colon after it or alone in the box.
    Start { strict: bool },
    /// After a space, punctuation or a non-Chinese character.
    AfterBreak,
    /// Right after a Chinese character (no visible break).
    InsideWord,
}

/// Fewest misreads, then a colon after it, then the longest spelling, then no dropped/extra character.
type KeyRank = (usize, bool, std::cmp::Reverse<usize>, usize);

struct KeyMatch {
    field: LabelField,
    end: usize,
    distance: usize,
}

const TITLE: [char; 4] = ['危', '险', '废', '物'];

/// Mid-line keys are looked for this far into a line only: real lines are short, and odd input stays cheap.
const SCAN_LIMIT: usize = 512;

/// Every printed spelling of every key, normalised, longest first.
fn key_spellings() -> &'static [(LabelField, Vec<char>)] {
    static SPELLINGS: OnceLock<Vec<(LabelField, Vec<char>)>> = OnceLock::new();
    SPELLINGS.get_or_init(|| {
        let mut all: Vec<(LabelField, Vec<char>)> = LabelField::ALL
            .into_iter()
            .flat_map(|f| std::iter::once(f.key_zh()).chain(f.aliases().iter().copied()).map(move |a| (f, normalize(a).chars().collect::<Vec<char>>())))
            .collect();
        all.sort_by_key(|k| std::cmp::Reverse(k.1.len()));
        all.dedup();
        all
    })
}

/// Misread characters a key of this length may have: none for two-character
/// keys (they would match half the label), one up to four, two beyond.
fn allowed_distance(key_len: usize) -> usize {
    match key_len {
        0..=2 => 0,
        3..=4 => 1,
        _ => 2,
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The best key starting at `at`, if any. Spaces inside a key are skipped ("废物 名称").
fn match_key(chars: &[char], at: usize, place: Place) -> Option<KeyMatch> {
    if !chars.get(at).is_some_and(|&c| is_han(c)) {
        return None;
    }
    let longest = key_spellings().first().map_or(0, |k| k.1.len()) + 1;
    let positions: Vec<usize> = (at..chars.len()).filter(|&i| chars[i] != ' ').take(longest).collect();
    let mut best: Option<(KeyRank, KeyMatch)> = None;
    for (field, key) in key_spellings() {
        let n = key.len();
        let allowed = allowed_distance(n);
        for len in n.saturating_sub(allowed.min(1))..=n + allowed.min(1) {
            // A fuzzy match must keep three characters: two-character windows match too much.
            if len == 0 || len > positions.len() || (len != n && len < 3) {
                continue;
            }
            let window: Vec<char> = positions[..len].iter().map(|&i| chars[i]).collect();
            if window.contains(&':') {
                continue;
            }
            let distance = levenshtein(&window, key);
            if distance > allowed || (distance > 0 && len < 3) {
                continue;
            }
            let end = positions[len - 1] + 1;
            let next = chars[end..].iter().find(|&&c| c != ' ');
            let colon = next == Some(&':');
            let closed = colon || next.is_none();
            let spaced = chars.get(end) == Some(&' ');
            let accepted = match place {
                Place::Start { strict } => closed || (!strict && (n > 2 || spaced)),
                Place::AfterBreak => colon || (distance == 0 && n >= 4),
                Place::InsideWord => colon && distance == 0 && n >= 4,
            };
            if !accepted {
                continue;
            }
            let rank: KeyRank = (distance, !closed, std::cmp::Reverse(n), len.abs_diff(n));
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, KeyMatch { field: *field, end, distance }));
            }
        }
    }
    if best.is_none() && matches!(place, Place::Start { .. }) {
        best = match_key_tail(chars, &positions).map(|m| ((m.distance, false, std::cmp::Reverse(0), 0), m));
    }
    best.map(|(_, m)| m)
}

/// A key whose first characters are cut off (a label edge under tape or out of
/// the picture): at a box's start, the key's tail followed by a colon, e.g.
/// "物名称:" or, with one misread, "勿名称:". At least half the key must remain.
fn match_key_tail(chars: &[char], positions: &[usize]) -> Option<KeyMatch> {
    let mut best: Option<(usize, usize, KeyMatch)> = None;
    for (field, key) in key_spellings() {
        let n = key.len();
        for drop in 1..=n / 2 {
            let tail = &key[drop..];
            let m = tail.len();
            if m < 2 || m > positions.len() {
                continue;
            }
            let end = positions[m - 1] + 1;
            if chars[end..].iter().find(|&&c| c != ' ') != Some(&':') {
                continue;
            }
            let window: Vec<char> = positions[..m].iter().map(|&i| chars[i]).collect();
            let distance = levenshtein(&window, tail);
            if distance > usize::from(m >= 3) {
                continue;
            }
            // Fewest misreads, then the most of the key kept.
            if best.as_ref().is_none_or(|(d, dropped, _)| (distance, drop) < (*d, *dropped)) {
                best = Some((distance, drop, KeyMatch { field: *field, end, distance: distance + 1 }));
            }
        }
    }
    best.map(|(_, _, m)| m)
}

/// How strongly the text at `i` is separated from what precedes it.
fn place_at(chars: &[char], i: usize) -> Place {
    match i.checked_sub(1).map(|p| chars[p]) {
        None => Place::Start { strict: false },
        Some(p) if is_han(p) => Place::InsideWord,
        Some(_) => Place::AfterBreak,
    }
}

/// Index of the first character after a key's colon and spaces.
fn skip_separator(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && matches!(chars[i], ' ' | ':' | '|') {
        i += 1;
    }
    i
}

/// A box's text cut into keys and the text between them.
/// `strict_start`: a key at the start needs a colon or the box to itself.
fn split_keys(chars: &[char], strict_start: bool) -> Vec<Segment> {
    let mut segments = Vec::new();
    // Bullets and frame lines before a key ("■废物名称", "|废物代码") are not part of it.
    let start = chars.iter().position(|&c| c.is_alphanumeric()).unwrap_or(chars.len());
    let mut text_from = 0;
    if let Some(m) = match_key(chars, start, Place::Start { strict: strict_start }) {
        segments.push(Segment::Key { field: m.field, range: start..m.end });
        text_from = skip_separator(chars, m.end);
    }
    // A value's first character never starts a key: "注意事项:废物名称须与..." stays one value.
    let mut i = text_from + 1;
    while i < chars.len().min(SCAN_LIMIT) {
        if let Some(m) = match_key(chars, i, place_at(chars, i)) {
            if text_from < i {
                segments.push(Segment::Text(text_from..i));
            }
            segments.push(Segment::Key { field: m.field, range: i..m.end });
            text_from = skip_separator(chars, m.end);
            i = text_from + 1;
        } else {
            i += 1;
        }
    }
    if text_from < chars.len() {
        segments.push(Segment::Text(text_from..chars.len()));
    }
    segments
}

/// The title "危险废物" (one character may be misread), alone or with an English line or "标签".
fn is_title(chars: &[char]) -> bool {
    let compact: Vec<char> = chars.iter().copied().filter(|c| c.is_alphanumeric()).collect();
    if match_key(chars, 0, Place::Start { strict: false }).is_some_and(|m| m.distance == 0) {
        return false;
    }
    (3..=5).any(|len| {
        len <= compact.len() && levenshtein(&compact[..len], &TITLE) <= 1 && {
            let rest: String = compact[len..].iter().filter(|c| is_han(**c)).collect();
            matches!(rest.as_str(), "" | "标签" | "标识" | "标志")
        }
    })
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// Part of one box: a key or some value text.
#[derive(Debug, Clone)]
struct Piece {
    row: usize,
    text: String,
    confidence: f32,
    /// De-rotated x extent, centre y and height.
    x0: f32,
    x1: f32,
    cy: f32,
    height: f32,
    /// Picture pixels.
    bounds: [f32; 4],
}

/// A key and the value pieces found for it so far.
struct Draft {
    field: LabelField,
    key: Piece,
    values: Vec<Piece>,
    last_row: usize,
}

/// Fields whose values wrap onto the next rows.
fn wraps(field: LabelField) -> bool {
    matches!(field, LabelField::MainComponents | LabelField::HarmfulComponents | LabelField::Precautions | LabelField::Company)
}

/// Walks the rows, turning boxes into keys and values.
struct Reader<'a> {
    boxes: &'a [TextBox],
    rows_cy: Vec<f32>,
    line_height: f32,
    drafts: Vec<Draft>,
    unused: Vec<String>,
    /// Text pieces no key took, with their index in `unused`: a wrapped value
    /// whose first line sits above its vertically centred key is among them.
    orphans: Vec<(Piece, usize)>,
    title_found: bool,
}

impl<'a> Reader<'a> {
    fn new(boxes: &'a [TextBox], rows: &[Row]) -> Self {
        Self {
            boxes,
            rows_cy: rows.iter().map(|r| r.cy).collect(),
            line_height: line_height(boxes),
            drafts: Vec::new(),
            unused: Vec::new(),
            orphans: Vec::new(),
            title_found: false,
        }
    }

    fn read_row(&mut self, row: usize, members: &[usize]) {
        // The key that text further right on this row belongs to.
        let mut open: Option<usize> = None;
        for &b in members {
            let chars = &self.boxes[b].chars;
            if chars.iter().all(|c| !c.is_alphanumeric()) {
                // Symbols only: a pictogram read as glyphs, or a stray colon cell.
                if !chars.is_empty() {
                    self.unused.push(chars.iter().collect());
                }
                continue;
            }
            if is_title(chars) {
                self.title_found = true;
                open = None;
                continue;
            }
            // A box right after a bare key cell is its value, even if it starts with a key-like word.
            let waiting = open.is_some_and(|d| self.drafts[d].values.is_empty() && self.near_right(d, self.boxes[b].x0));
            for segment in split_keys(chars, waiting) {
                match segment {
                    Segment::Key { field, range } => {
                        let key = self.piece(b, row, range);
                        let values = if wraps(field) { self.lines_above(&key) } else { Vec::new() };
                        self.drafts.push(Draft { field, key, values, last_row: row });
                        open = Some(self.drafts.len() - 1);
                    }
                    Segment::Text(range) => {
                        let Some(piece) = self.piece_trimmed(b, row, range) else { continue };
                        let target = open
                            .filter(|&d| self.near_right(d, piece.x0) || self.stacked_on(d, &piece))
                            .or_else(|| self.continuation(&piece));
                        match target {
                            Some(d) => {
                                self.add_value(d, piece);
                                self.drafts[d].last_row = row;
                                // The rest of a wrapped row continues the same value.
                                open = Some(d);
                            }
                            None => {
                                self.unused.push(piece.text.clone());
                                self.orphans.push((piece, self.unused.len() - 1));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Text starting at `x0` is close enough right of draft `d`'s key (or its value so far)
    /// to be read with it: table cells leave a gap after the key, words in a value do not.
    /// Text overlapping what it would follow is another line (noise on top of a value).
    /// Adds a value piece; a line stacked above the last one (two lines of a
    /// wrapped value that fell into one row) goes before it.
    fn add_value(&mut self, d: usize, piece: Piece) {
        let values = &mut self.drafts[d].values;
        let above_last = values.last().is_some_and(|last| stacked(last, &piece, self.line_height) && piece.cy < last.cy);
        if above_last {
            values.insert(values.len() - 1, piece);
        } else {
            values.push(piece);
        }
    }

    fn near_right(&self, d: usize, x0: f32) -> bool {
        let draft = &self.drafts[d];
        if let Some(first) = draft.values.first()
            && draft.values.iter().all(|v| v.row < draft.key.row)
        {
            // Only lines from above the key so far: text on the key's row continues
            // them if it starts where they start.
            return (x0 - first.x0).abs() <= 1.5 * self.line_height;
        }
        let (edge, max_gap) = match draft.values.last() {
            Some(v) => (v.x1, 3.0),
            None => (draft.key.x1, 8.0),
        };
        let gap = (x0 - edge) / self.line_height;
        // Detector boxes are grown by about 0.4 line heights on each side, so
        // neighbouring boxes overlap by up to ~0.8 of one.
        (-1.0..=max_gap).contains(&gap)
    }

    /// The draft that `piece`, with no key to its left, continues from the row above
    /// (or, for hazard pictogram captions, from further left on the same row).
    fn continuation(&self, piece: &Piece) -> Option<usize> {
        let h = self.line_height;
        let similar_height = piece.height >= 0.5 * h && piece.height <= 2.0 * h;
        let candidates = self.drafts.iter().enumerate().filter(|(_, d)| {
            let gap = self.rows_cy[piece.row] - self.rows_cy[d.last_row];
            let above = d.last_row < piece.row && gap <= 2.0 * h;
            let beside = d.last_row == piece.row && d.field == LabelField::Hazards && !d.values.is_empty();
            (above || beside) && similar_height && continues(d, piece, h)
        });
        let anchor = |d: &Draft| d.values.first().map_or(d.key.x0, |v| v.x0);
        candidates.min_by(|a, b| (piece.x0 - anchor(a.1)).abs().total_cmp(&(piece.x0 - anchor(b.1)).abs())).map(|(i, _)| i)
    }

    /// `piece` is another line of draft `d`'s wrapping value in the same row:
    /// it starts where the value does, one line above or below it.
    fn stacked_on(&self, d: usize, piece: &Piece) -> bool {
        let draft = &self.drafts[d];
        let Some(last) = draft.values.last() else { return false };
        // A line above the last one comes before it: "the value so far is complete" does not apply.
        let excluded = if piece.cy < last.cy { looks_like_other_row(&piece.text) } else { starts_another_field(draft, &piece.text) };
        wraps(draft.field) && stacked(last, piece, self.line_height) && looks_like_text(&piece.text) && !excluded
    }

    /// Unclaimed text on the row just above `key`, right of it: the first line of a
    /// wrapped value whose key is centred on the value's lines. Taken out of `unused`.
    fn lines_above(&mut self, key: &Piece) -> Vec<Piece> {
        let h = self.line_height;
        let key_cy = self.rows_cy[key.row];
        let mut taken = Vec::new();
        self.orphans.retain(|(piece, unused_at)| {
            let gap = key_cy - self.rows_cy[piece.row];
            let fits = piece.row < key.row
                && gap > 0.0
                && gap <= 1.2 * h
                && piece.x0 >= key.x1 - 0.5 * h
                && piece.x0 - key.x1 <= 8.0 * h
                && looks_like_text(&piece.text)
                && !piece.text.contains(':');
            if fits {
                taken.push((piece.clone(), *unused_at));
            }
            !fits
        });
        for (_, at) in taken.iter().rev() {
            self.unused[*at].clear();
        }
        taken.into_iter().map(|(p, _)| p).collect()
    }

    /// Box `b`'s characters `range` as a piece, with geometry interpolated along the box.
    fn piece(&self, b: usize, row: usize, range: Range<usize>) -> Piece {
        let bx = &self.boxes[b];
        let quad = sub_quad(&bx.quad, &bx.chars, range.clone());
        let xs: Vec<f32> = quad.iter().map(|p| p[0]).collect();
        let ys: Vec<f32> = quad.iter().map(|p| p[1]).collect();
        let min = |v: &[f32]| v.iter().copied().fold(f32::INFINITY, f32::min);
        let max = |v: &[f32]| v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // The sub-range's share of the de-rotated extent.
        let (f0, f1) = char_fractions(&bx.chars, range.clone());
        let width = bx.x1 - bx.x0;
        Piece {
            row,
            text: bx.chars[range].iter().collect(),
            confidence: bx.confidence,
            x0: bx.x0 + f0 * width,
            x1: bx.x0 + f1 * width,
            cy: bx.cy,
            height: bx.height,
            bounds: [min(&xs), min(&ys), max(&xs), max(&ys)],
        }
    }

    /// The piece without surrounding spaces and frame lines; None if nothing is left.
    fn piece_trimmed(&self, b: usize, row: usize, range: Range<usize>) -> Option<Piece> {
        let chars = &self.boxes[b].chars;
        let junk = |c: char| c == ' ' || c == '|';
        let start = (range.start..range.end).find(|&i| !junk(chars[i]))?;
        let end = (start..range.end).rev().find(|&i| !junk(chars[i]))? + 1;
        Some(self.piece(b, row, start..end))
    }

    fn finish(mut self) -> ParsedLabel {
        let mut fields: Vec<ParsedField> = Vec::new();
        for draft in std::mem::take(&mut self.drafts) {
            let Some(parsed) = build_field(&draft) else {
                self.unused.push(draft.key.text);
                continue;
            };
            match fields.iter_mut().find(|f| f.field == parsed.field) {
                None => fields.push(parsed),
                // A second copy of a field replaces the first only if it reads better.
                Some(existing) if !existing.well_formed && parsed.well_formed => {
                    let old = std::mem::replace(existing, parsed);
                    self.unused.push(old.raw);
                }
                Some(_) => self.unused.push(parsed.raw),
            }
        }
        split_contact(&mut fields);
        fields.sort_by_key(|f| f.field);
        self.unused.retain(|u| !u.is_empty());
        ParsedLabel { title_found: self.title_found, fields, unused: self.unused }
    }
}

/// Two pieces that start at about the same x on different text lines.
fn stacked(a: &Piece, b: &Piece, h: f32) -> bool {
    (a.x0 - b.x0).abs() <= 1.5 * h && (a.cy - b.cy).abs() >= 0.5 * h.min(a.height).min(b.height)
}

/// Whether `piece` on a later row can continue draft `d`.
fn continues(d: &Draft, piece: &Piece, h: f32) -> bool {
    let Some(first) = d.values.first() else {
        // Stacked layout: the key above, its value on the next row under it.
        return (piece.x0 - d.key.x0).abs() <= 2.0 * h && looks_like_text(&piece.text);
    };
    let right_edge = d.values.iter().map(|v| v.x1).fold(first.x1, f32::max);
    // Wrapped text restarts at the value's x, or at the key's x in one-line layouts.
    let under_value = piece.x0 >= d.key.x0 - h && piece.x0 <= right_edge + h;
    match d.field {
        f if wraps(f) => under_value && looks_like_text(&piece.text) && !starts_another_field(d, &piece.text),
        LabelField::IdCode => {
            let so_far: usize = d.values.iter().map(|v| v.text.chars().filter(|c| c.is_ascii_alphanumeric()).count()).sum();
            under_value && so_far < 37 && piece.text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        }
        // Pictogram captions under the key: taken only if they name a hazard.
        LabelField::Hazards => !parse_hazards(&piece.text).is_empty(),
        _ => false,
    }
}

/// Text on the next row that belongs to the next field, not to this one: a
/// misread key leaves its colon, a phone number is a long digit run, and a
/// company name that already ends like one is complete.
fn starts_another_field(d: &Draft, text: &str) -> bool {
    let so_far: String = d.values.iter().map(|v| v.text.as_str()).collect();
    let complete_company =
        d.field == LabelField::Company && ["公司", "厂", "中心", "研究院", "研究所", "医院", "学校", "大学"].iter().any(|e| so_far.trim_end().ends_with(e));
    looks_like_other_row(text) || complete_company
}

/// A misread key's colon, or a phone number's long digit run.
fn looks_like_other_row(text: &str) -> bool {
    let longest_digits = text.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    text.contains(':') || longest_digits >= 5
}

/// Enough real text to be a wrapped line rather than a pictogram read as a glyph or two.
fn looks_like_text(s: &str) -> bool {
    let han = s.chars().filter(|c| is_han(*c)).count();
    let alnum = s.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    (han >= 1 && han + alnum >= 2) || alnum >= 4
}

/// Display width of a character relative to a Chinese one, to place sub-ranges in a box.
fn char_weight(c: char) -> f32 {
    if c == ' ' {
        0.35
    } else if c.is_ascii() {
        0.55
    } else {
        1.0
    }
}

/// Where `range` starts and ends along the box, as fractions of its length.
fn char_fractions(chars: &[char], range: Range<usize>) -> (f32, f32) {
    let total: f32 = chars.iter().map(|&c| char_weight(c)).sum();
    if total <= 0.0 {
        return (0.0, 1.0);
    }
    let before: f32 = chars[..range.start].iter().map(|&c| char_weight(c)).sum();
    let within: f32 = chars[range].iter().map(|&c| char_weight(c)).sum();
    (before / total, (before + within) / total)
}

/// The part of a text box's quad that holds characters `range`.
fn sub_quad(quad: &[[f32; 2]; 4], chars: &[char], range: Range<usize>) -> [[f32; 2]; 4] {
    let (f0, f1) = char_fractions(chars, range);
    let lerp = |a: [f32; 2], b: [f32; 2], t: f32| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
    [lerp(quad[0], quad[1], f0), lerp(quad[0], quad[1], f1), lerp(quad[3], quad[2], f1), lerp(quad[3], quad[2], f0)]
}

/// Pieces of one value joined: a space between Latin text ("Co.," "Ltd"), none next to Chinese.
fn join_pieces(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for p in pieces {
        let glue = match (out.chars().last(), p.text.chars().next()) {
            (Some(a), Some(b)) => !a.is_ascii() || !b.is_ascii(),
            _ => true,
        };
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(&p.text);
    }
    out
}

/// The field a draft gives, or None when its key had no value.
fn build_field(draft: &Draft) -> Option<ParsedField> {
    let raw = join_pieces(&draft.values);
    let raw = raw.trim_start_matches([':', ' ']).trim().to_string();
    if raw.is_empty() {
        return None;
    }
    let (value, well_formed, repaired) = canonical_value(draft.field, &raw);
    let read = draft.values.iter().map(|v| v.confidence).fold(draft.key.confidence, f32::min);
    let confidence = read * if repaired { 0.9 } else { 1.0 } * if well_formed { 1.0 } else { 0.5 };
    let bounds = draft
        .values
        .iter()
        .skip(1)
        .fold(draft.values[0].bounds, |a, v| [a[0].min(v.bounds[0]), a[1].min(v.bounds[1]), a[2].max(v.bounds[2]), a[3].max(v.bounds[3])]);
    Some(ParsedField { field: draft.field, value, raw, confidence, bounds, well_formed })
}

/// (value, well formed, repaired) for a field's text.
fn canonical_value(field: LabelField, raw: &str) -> (String, bool, bool) {
    let as_read = || (raw.to_string(), false, false);
    match field {
        LabelField::WasteCode => canonical_waste_code(raw).map_or_else(as_read, |(v, r)| (v, true, r)),
        LabelField::Category => canonical_category(raw).map_or_else(as_read, |(v, r)| (v, true, r)),
        LabelField::Date => date_with_repair(raw).map_or_else(as_read, |(d, r)| (d.format("%Y-%m-%d").to_string(), true, r)),
        LabelField::IdCode => canonical_id_code(raw).map_or_else(as_read, |(v, r)| {
            let date_ok = NaiveDate::parse_from_str(&v[26..34], "%Y%m%d").is_ok();
            (v, date_ok, r)
        }),
        LabelField::Weight => weight_parts(raw).map_or_else(as_read, |(kg, unit)| (format_kg(kg), unit, false)),
        LabelField::ContactPhone => find_phone(raw).map_or_else(as_read, |p| (p.value, p.well_formed, false)),
        LabelField::Hazards => {
            let found = parse_hazards(raw);
            if found.is_empty() { as_read() } else { (found.iter().map(|h| h.letter()).collect::<Vec<_>>().join(","), true, false) }
        }
        LabelField::Form => canonical_form(raw).map_or_else(as_read, |f| (f.to_string(), true, false)),
        _ => (raw.to_string(), true, false),
    }
}

/// "联系人:张三 13812345678" gives a phone field too; "联系方式:张三 138..." a person.
fn split_contact(fields: &mut Vec<ParsedField>) {
    let has = |fields: &[ParsedField], f: LabelField| fields.iter().any(|p| p.field == f);
    if !has(fields, LabelField::ContactPhone)
        && let Some(i) = fields.iter().position(|p| p.field == LabelField::ContactPerson)
        && let Some(phone) = find_phone(&fields[i].raw).filter(|p| p.well_formed)
    {
        let person = fields[i].clone();
        fields.push(ParsedField { field: LabelField::ContactPhone, value: phone.value, well_formed: true, ..person.clone() });
        let name = without_span(&person.raw, phone.span);
        if name.is_empty() {
            fields.remove(i);
        } else {
            fields[i].value = name;
        }
    }
    if !has(fields, LabelField::ContactPerson)
        && let Some(p) = fields.iter().find(|p| p.field == LabelField::ContactPhone)
        && let Some(phone) = find_phone(&p.raw)
    {
        let name = without_span(&p.raw, phone.span);
        if name.chars().any(is_han) {
            let person = ParsedField { field: LabelField::ContactPerson, value: name, well_formed: true, ..p.clone() };
            fields.push(person);
        }
    }
}

/// `s` without characters `span`, trimmed of spaces and list punctuation.
fn without_span(s: &str, span: Range<usize>) -> String {
    let kept: String = s.chars().enumerate().filter(|(i, _)| !span.contains(i)).map(|(_, c)| c).collect();
    kept.trim_matches(|c: char| c.is_whitespace() || ",;:/、，；()".contains(c)).to_string()
}

// ---------------------------------------------------------------------------
// Field canonicalisers
// ---------------------------------------------------------------------------

/// A digit as printed, or a letter OCR commonly reads for one (repaired = true).
fn digit_like(c: char) -> Option<(char, bool)> {
    let d = match c {
        '0'..='9' => return Some((c, false)),
        'O' | 'o' | 'D' | 'Q' => '0',
        'I' | 'l' | '|' | 'i' => '1',
        'Z' => '2',
        'S' | 's' => '5',
        'B' => '8',
        'G' => '6',
        _ => return None,
    };
    Some((d, true))
}

/// A run of digits (letters read for digits folded).
#[derive(Debug, Clone)]
struct DigitGroup {
    digits: String,
    /// Letters read as digits.
    repairs: usize,
}

/// Runs of digits joined by short separators, e.g. "9O0 - 249一08" is one chain of three groups.
/// A run touching other Latin letters is part of a word ("Oil", "HW08") and breaks the chain.
fn digit_chains(s: &str, is_separator: impl Fn(char) -> bool) -> Vec<Vec<DigitGroup>> {
    let chars: Vec<char> = s.chars().collect();
    let mut chains = Vec::new();
    let mut current: Vec<DigitGroup> = Vec::new();
    // Whether the text since the last group is a separator, and how long it is.
    let (mut joinable, mut gap) = (false, 0);
    let mut i = 0;
    while i < chars.len() {
        if digit_like(chars[i]).is_none() {
            joinable &= is_separator(chars[i]);
            gap += 1;
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && digit_like(chars[end]).is_some() {
            end += 1;
        }
        // A frame line '|' at the edge of a run is not a 1.
        let (mut a, mut b) = (i, end);
        while a < b && chars[a] == '|' {
            a += 1;
        }
        while b > a && chars[b - 1] == '|' {
            b -= 1;
        }
        let run = &chars[a..b];
        let in_word = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|c| c.is_ascii_alphabetic());
        let valid = run.iter().any(|c| c.is_ascii_digit()) && !in_word(i.checked_sub(1)) && !in_word(Some(end));
        let joins_chain = valid && joinable && gap <= 3;
        if !joins_chain && !current.is_empty() {
            chains.push(std::mem::take(&mut current));
        }
        if valid {
            let mapped: Vec<(char, bool)> = run.iter().filter_map(|&c| digit_like(c)).collect();
            current.push(DigitGroup { digits: mapped.iter().map(|m| m.0).collect(), repairs: mapped.iter().filter(|m| m.1).count() });
        }
        (joinable, gap) = (valid, 0);
        i = end;
    }
    if !current.is_empty() {
        chains.push(current);
    }
    chains
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '一' | '_' | '~' | '—' | '–' | '－')
}

/// "9O0-249-O8", "900 249 08", "900一249一08", "90024908" -> "900-249-08"; repaired when a letter was read as a digit.
pub fn canonical_waste_code(s: &str) -> Option<(String, bool)> {
    for chain in digit_chains(s, |c| is_dash(c) || c == ' ' || c == '.') {
        for start in 0..chain.len() {
            let mut digits = String::new();
            let mut cuts = Vec::new();
            for group in &chain[start..] {
                if !digits.is_empty() {
                    cuts.push(digits.len());
                }
                digits.push_str(&group.digits);
                if digits.len() > 8 {
                    break;
                }
                // The printed groups must fall on the code's own cuts: 3-3-2.
                if digits.len() == 8 && cuts.iter().all(|c| *c == 3 || *c == 6) {
                    let repairs: usize = chain[start..].iter().take(cuts.len() + 1).map(|g| g.repairs).sum();
                    // Mostly letters is a word, not a misread code.
                    if repairs <= 4 {
                        return Some((format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]), repairs > 0));
                    }
                }
            }
        }
    }
    None
}

/// "HW08", "Hw08", "HWO8", "HVV08", "HW 08", "H W08" -> "HW08" (HW01..HW50).
pub fn canonical_category(s: &str) -> Option<(String, bool)> {
    let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    for i in 0..chars.len() {
        if !matches!(chars[i], 'H' | 'h') || (i > 0 && chars[i - 1].is_ascii_alphabetic()) {
            continue;
        }
        // W, or the VV that OCR makes of it.
        let (digits_at, mut repaired) = match chars.get(i + 1..i + 3) {
            Some(['V' | 'v', 'V' | 'v']) => (i + 3, true),
            _ if matches!(chars.get(i + 1), Some('W' | 'w')) => (i + 2, false),
            _ => continue,
        };
        let Some(pair) = chars.get(digits_at..digits_at + 2) else { continue };
        let Some(digits) = pair.iter().map(|&c| digit_like(c)).collect::<Option<Vec<_>>>() else { continue };
        if chars.get(digits_at + 2).is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        repaired |= digits.iter().any(|d| d.1);
        let number: u32 = digits.iter().map(|d| d.0).collect::<String>().parse().ok()?;
        if (1..=50).contains(&number) {
            return Some((format!("HW{number:02}"), repaired));
        }
    }
    None
}

/// 2026-11-02, 2026/11/2, 2026.11.02, 2026年11月2日, 20261102.
pub fn canonical_date(s: &str) -> Option<NaiveDate> {
    date_with_repair(s).map(|d| d.0)
}

/// The date in `s` and whether a letter had to be read as a digit.
fn date_with_repair(s: &str) -> Option<(NaiveDate, bool)> {
    let separator = |c: char| is_dash(c) || matches!(c, '/' | '.' | ' ' | '年' | '月');
    for chain in digit_chains(s, separator) {
        for (i, g) in chain.iter().enumerate() {
            let date = match (g.digits.len(), chain.get(i + 1), chain.get(i + 2)) {
                (4, Some(m), Some(d)) if (1..=2).contains(&m.digits.len()) && (1..=2).contains(&d.digits.len()) => {
                    ymd(&g.digits, &m.digits, &d.digits).map(|date| (date, g.repairs + m.repairs + d.repairs > 0))
                }
                (8, _, _) => ymd(&g.digits[..4], &g.digits[4..6], &g.digits[6..]).map(|date| (date, g.repairs > 0)),
                _ => None,
            };
            if date.is_some() {
                return date;
            }
        }
    }
    None
}

/// A real calendar date in a plausible range for a label.
fn ymd(y: &str, m: &str, d: &str) -> Option<NaiveDate> {
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    (1990..=2100).contains(&date.year()).then_some(date)
}

/// 37 characters of [0-9A-Z] once spaces and dashes are removed, lowercase folded.
/// The segments that must be digits (characters 19..37: code, date, sequence)
/// have letters OCR reads for digits repaired; the unit code (1..18) is taken as read.
pub fn canonical_id_code(s: &str) -> Option<(String, bool)> {
    let compact: Vec<char> = s.chars().filter(|&c| !c.is_whitespace() && !is_dash(c)).collect();
    if compact.len() != 37 {
        return None;
    }
    let mut out = String::with_capacity(37);
    let mut repaired = false;
    for (i, &c) in compact.iter().enumerate() {
        if i < 18 {
            if !c.is_ascii_alphanumeric() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
        } else {
            let (d, r) = digit_like(c)?;
            repaired |= r;
            out.push(d);
        }
    }
    Some((out, repaired))
}

/// Hazards named in `s`, in `Hazard::ALL` order: "毒性(T) 易燃性(I)", "毒性、易燃性", "T,I", "T/C",
/// "感染性(In)". A Chinese name may miss or misread one character. With tick
/// boxes ("☑毒性 □腐蚀性") only the ticked names count.
pub fn parse_hazards(s: &str) -> Vec<Hazard> {
    let mut found = Vec::new();
    for part in ticked_parts(s) {
        for h in Hazard::ALL {
            if names_hazard(&part, h) {
                found.push(h);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Whether `text` names hazard `h` by its Chinese name (one character may be off), letter or English word.
fn names_hazard(text: &str, h: Hazard) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let name: Vec<char> = h.name_zh().chars().collect();
    if contains_fuzzy(&chars, &name) {
        return true;
    }
    let english: &[&str] = match h {
        Hazard::Toxic => &["toxic", "toxicity"],
        Hazard::Corrosive => &["corrosive", "corrosivity"],
        Hazard::Ignitable => &["ignitable", "ignitability", "flammable"],
        Hazard::Reactive => &["reactive", "reactivity"],
        Hazard::Infectious => &["infectious", "infectivity"],
    };
    text.split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| word == h.letter() || (h == Hazard::Infectious && word == "IN") || english.contains(&word.to_ascii_lowercase().as_str()))
}

/// `name` in `text`, exactly or with one character missing or misread. The
/// shared "性" alone never counts: it would make every hazard match every other.
fn contains_fuzzy(text: &[char], name: &[char]) -> bool {
    let found = |pattern: &[Option<char>]| {
        pattern.iter().any(|p| p.is_some_and(|c| c != '性'))
            && text.windows(pattern.len()).any(|w| w.iter().zip(pattern).all(|(c, p)| p.is_none_or(|p| p == *c)))
    };
    let exact: Vec<Option<char>> = name.iter().map(|&c| Some(c)).collect();
    if found(&exact) {
        return true;
    }
    (0..name.len()).any(|skip| {
        let missing: Vec<Option<char>> = exact.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, c)| *c).collect();
        let mut misread = exact.clone();
        misread[skip] = None;
        (!missing.is_empty() && found(&missing)) || (name.len() > 2 && found(&misread))
    })
}

const TICKS: &[char] = &['√', '✓', '✔', '☑', '☒', '■', '●', '✗', '✘'];
const EMPTY_BOXES: &[char] = &['□', '☐', '○', '◻', '〇'];

/// The parts of a tick-box list that are ticked; the whole text when it has no boxes.
fn ticked_parts(s: &str) -> Vec<String> {
    if !s.chars().any(|c| EMPTY_BOXES.contains(&c)) {
        return vec![s.to_string()];
    }
    let mut parts = vec![(true, String::new())];
    for c in s.chars() {
        if TICKS.contains(&c) || EMPTY_BOXES.contains(&c) {
            parts.push((TICKS.contains(&c), String::new()));
        } else if let Some(last) = parts.last_mut() {
            last.1.push(c);
        }
    }
    parts.into_iter().filter(|p| p.0).map(|p| p.1).collect()
}

/// 固态 / 半固态 / 液态 / 气态 (or HJ 1259's S, SS, L, G), ticked if the label uses tick boxes.
fn canonical_form(s: &str) -> Option<&'static str> {
    ticked_parts(s).iter().find_map(|part| {
        let words: Vec<&str> = part.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).collect();
        if part.contains("半固") || words.contains(&"SS") {
            Some("半固态")
        } else if part.contains('固') || words.contains(&"S") {
            Some("固态")
        } else if part.contains('液') || words.contains(&"L") {
            Some("液态")
        } else if part.contains('气') || words.contains(&"G") {
            Some("气态")
        } else {
            None
        }
    })
}

/// The weight in kilograms and whether a unit was printed (none: kg assumed).
/// None when the number is followed by a unit that is not a weight ("200L").
fn weight_parts(s: &str) -> Option<(f64, bool)> {
    let chars: Vec<char> = s.chars().collect();
    let start = chars.iter().position(|c| c.is_ascii_digit())?;
    let mut end = start;
    let mut dot = false;
    while end < chars.len() && (chars[end].is_ascii_digit() || (chars[end] == '.' && !dot && chars.get(end + 1).is_some_and(|c| c.is_ascii_digit()))) {
        dot |= chars[end] == '.';
        end += 1;
    }
    let number: f64 = chars[start..end].iter().collect::<String>().parse().ok()?;
    let rest: String = chars[end..].iter().collect::<String>().trim_start().to_lowercase();
    let after = |unit: &str| rest.strip_prefix(unit).map(|r| !r.starts_with(|c: char| c.is_ascii_alphabetic()));
    let factor = if after("kg") == Some(true) || after("kgs") == Some(true) || rest.starts_with("公斤") || rest.starts_with("千克") {
        Some(1.0)
    } else if after("t") == Some(true) || rest.starts_with("吨") {
        Some(1000.0)
    } else {
        None
    };
    match factor {
        Some(f) => Some((number * f, true)),
        None if rest.starts_with(|c: char| c.is_alphabetic()) => None,
        None => Some((number, false)),
    }
}

/// The weight in kilograms: "25kg", "25.0 KG", "0.5t", "0.5吨", "25千克", "25公斤", "25.0 kg".
pub fn parse_weight_kg(s: &str) -> Option<f64> {
    weight_parts(&normalize(s)).map(|w| w.0)
}

/// "25.0 kg", "0.125 kg": grams kept, float noise dropped.
fn format_kg(kg: f64) -> String {
    let kg = (kg * 1000.0).round() / 1000.0;
    if kg.fract() == 0.0 { format!("{kg:.1} kg") } else { format!("{kg} kg") }
}

/// A telephone number found in text.
struct Phone {
    /// Mobile: 11 digits; landline: area code '-' number.
    value: String,
    well_formed: bool,
    /// Character positions in the text.
    span: Range<usize>,
}

/// The first well-formed phone number in `s`, else the longest run of digits (at least 5).
fn find_phone(s: &str) -> Option<Phone> {
    let chars: Vec<char> = s.chars().collect();
    let mut candidates = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_digit() || chars[i] == '+' || chars[i] == '(') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '-' | ' ' | '(' | ')' | '+')) {
            i += 1;
        }
        // Trailing separators belong to the text around the number.
        let mut end = i;
        while end > start && !chars[end - 1].is_ascii_digit() {
            end -= 1;
        }
        if let Some(p) = classify_phone(&chars[start..end], start..end) {
            candidates.push(p);
        }
    }
    let best_len = |p: &Phone| p.value.chars().filter(|c| c.is_ascii_digit()).count();
    let longest = candidates.iter().map(best_len).max()?;
    let pick = candidates.iter().position(|p| p.well_formed).or_else(|| candidates.iter().position(|p| best_len(p) == longest))?;
    Some(candidates.swap_remove(pick))
}

/// How many digits come before the first break printed after a digit ("0531-", "(010)").
fn printed_break(run: &[char]) -> Option<usize> {
    let mut digits = 0;
    for c in run {
        if c.is_ascii_digit() {
            digits += 1;
        } else if digits > 0 {
            return Some(digits);
        }
    }
    None
}

/// A run of digits and separators as a mobile or landline number.
fn classify_phone(run: &[char], span: Range<usize>) -> Option<Phone> {
    let mut digits: String = run.iter().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 5 {
        return None;
    }
    // The country code is not part of the number as dialled at home.
    if digits.len() == 13 && digits.starts_with("861") {
        digits.drain(..2);
    }
    let is_mobile = digits.len() == 11 && digits.starts_with('1') && digits.as_bytes()[1] >= b'3';
    if is_mobile {
        return Some(Phone { value: digits, well_formed: true, span });
    }
    if digits.len() == 10 && (digits.starts_with("400") || digits.starts_with("800")) {
        return Some(Phone { value: format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]), well_formed: true, span });
    }
    if digits.starts_with('0') && (10..=12).contains(&digits.len()) {
        // The printed break wins; else 010 and 02x are three-digit area codes, the rest four.
        let first_break = printed_break(run);
        let area = match first_break {
            Some(n @ 3..=4) => n,
            _ if digits.starts_with("01") || digits.starts_with("02") => 3,
            _ => 4,
        };
        let local = digits.len() - area;
        return Some(Phone { value: format!("{}-{}", &digits[..area], &digits[area..]), well_formed: (7..=8).contains(&local), span });
    }
    Some(Phone { value: digits, well_formed: false, span })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: f32 = 30.0;

    /// A horizontal OCR line starting at (x, y), as wide as its text.
    fn at(text: &str, x: f32, y: f32) -> OcrLine {
        at_conf(text, x, y, 0.95)
    }

    fn at_conf(text: &str, x: f32, y: f32, confidence: f32) -> OcrLine {
        let w: f32 = text.chars().map(char_weight).sum::<f32>() * H;
        OcrLine { text: text.to_string(), confidence, quad: [[x, y], [x + w, y], [x + w, y + H], [x, y + H]] }
    }

    /// Every quad turned `degrees` about `centre`, as a camera would see a tilted label.
    fn rotate(lines: &[OcrLine], degrees: f32, centre: [f32; 2]) -> Vec<OcrLine> {
        let (s, c) = degrees.to_radians().sin_cos();
        let turn = |p: [f32; 2]| {
            let (x, y) = (p[0] - centre[0], p[1] - centre[1]);
            [centre[0] + x * c - y * s, centre[1] + x * s + y * c]
        };
        lines.iter().map(|l| OcrLine { quad: l.quad.map(turn), ..l.clone() }).collect()
    }

    fn values(label: &ParsedLabel) -> Vec<(LabelField, String)> {
        label.fields.iter().map(|f| (f.field, f.value.clone())).collect()
    }

    const ID: &str = "91350100M000100Y439002490820261102001";

    #[test]
    fn two_lines_of_a_value_that_fall_into_the_key_s_row_are_read_top_to_bottom() {
        // The key is centred on its two value lines, so all three make one row; the
        // lower line starts a pixel further left, so it comes first in x order.
        let lines = vec![
            at("产生/收集单位", 40.0, 160.0),
            at("北京天宇智能装", 301.0, 150.0),
            at("备制造有限公司", 300.0, 170.0),
            at("联系人:刘海燕", 40.0, 220.0),
        ];
        for order in [lines.clone(), lines.iter().rev().cloned().collect()] {
            let label = parse_label(&order);
            assert_eq!(label.value(LabelField::Company), Some("北京天宇智能装备制造有限公司"), "{:?}", values(&label));
            assert_eq!(label.value(LabelField::ContactPerson), Some("刘海燕"));
        }
    }

    #[test]
    fn keys_whose_first_characters_are_cut_off_are_still_keys() {
        let lines = vec![
            at("勿名称:废润滑油", 40.0, 100.0),
            at("勿类别:HW08", 40.0, 140.0),
            at("俭特性:毒性(T)", 40.0, 180.0),
            at("生日期:2026-06-03", 40.0, 220.0),
            at("注:委托处置", 40.0, 260.0),
        ];
        let label = parse_label(&lines);
        assert_eq!(label.value(LabelField::WasteName), Some("废润滑油"), "{:?}", values(&label));
        assert_eq!(label.value(LabelField::Category), Some("HW08"));
        assert_eq!(label.value(LabelField::Hazards), Some("T"));
        assert_eq!(label.value(LabelField::Date), Some("2026-06-03"));
        // One character left of 备注 is too little to call it a key.
        assert_eq!(label.value(LabelField::Remarks), None);
    }

    #[test]
    fn a_key_centred_on_a_two_line_value_takes_the_line_above_it_and_the_row_below_is_not_swallowed() {
        let lines = vec![
            at("数字识别码:91110106MA035L8EX29002140820260827105", 40.0, 100.0),
            at("北京同创汽车零部", 300.0, 140.0),
            at("产生/收集单位:", 40.0, 160.0),
            at("件股份有限公司", 300.0, 180.0),
            at("系人:刘敏", 40.0, 220.0),
            at("联系方式:19127368465", 300.0, 220.0),
        ];
        let label = parse_label(&lines);
        assert_eq!(label.value(LabelField::Company), Some("北京同创汽车零部件股份有限公司"), "{:?}", values(&label));
        assert!(!label.unused.iter().any(|u| u.contains("北京同创")), "{:?}", label.unused);
    }

    /// The whole template, one "key：value" per line, full-width colons as printed.
    fn single_line_label() -> Vec<OcrLine> {
        let texts = [
            "危险废物",
            "废物名称：废矿物油",
            "废物类别：HW08",
            "废物代码：900-249-08",
            "废物形态：液态",
            "危险特性：毒性(T) 易燃性(I)",
            "主要成分：矿物油、水",
            "有害成分：苯系物",
            "注意事项：远离火源，密封保存",
            "数字识别码：91350100M000100Y43 90024908 20261102 001",
            "产生/收集单位：某某化工有限公司",
            "联系人：张三",
            "联系方式：0531-88776655",
            "产生日期：2026年11月2日",
            "废物重量：25kg",
            "备注：无",
        ];
        texts.iter().enumerate().map(|(i, t)| at(t, 20.0, 20.0 + i as f32 * 45.0)).collect()
    }

    fn expected_full() -> Vec<(LabelField, String)> {
        use LabelField::*;
        vec![
            (WasteName, "废矿物油".into()),
            (Category, "HW08".into()),
            (WasteCode, "900-249-08".into()),
            (Form, "液态".into()),
            (Hazards, "T,I".into()),
            (MainComponents, "矿物油、水".into()),
            (HarmfulComponents, "苯系物".into()),
            (Precautions, "远离火源,密封保存".into()),
            (IdCode, ID.into()),
            (Company, "某某化工有限公司".into()),
            (ContactPerson, "张三".into()),
            (ContactPhone, "0531-88776655".into()),
            (Date, "2026-11-02".into()),
            (Weight, "25.0 kg".into()),
            (Remarks, "无".into()),
        ]
    }

    #[test]
    fn the_single_line_layout_gives_every_field() {
        let label = parse_label(&single_line_label());
        assert!(label.title_found);
        assert_eq!(values(&label), expected_full());
        assert!(label.unused.is_empty(), "{:?}", label.unused);
        assert!(label.fields.iter().all(|f| f.well_formed && (f.confidence - 0.95).abs() < 1e-6), "{:#?}", label.fields);
        assert_eq!(label.weight_kg(), Some(25.0));
        assert_eq!(label.date(), NaiveDate::from_ymd_opt(2026, 11, 2));
        assert_eq!(label.hazards(), vec![Hazard::Toxic, Hazard::Ignitable]);
        assert_eq!(label.get(LabelField::Date).unwrap().raw, "2026年11月2日");
    }

    #[test]
    fn a_value_in_the_same_box_is_bounded_by_its_own_characters() {
        let label = parse_label(&[at("废物代码:900-249-08", 100.0, 50.0)]);
        let f = label.get(LabelField::WasteCode).unwrap();
        // "废物代码:" is 4 Chinese + 1 ASCII wide; the value starts after it.
        let key_width = (4.0 + 0.55) * H;
        assert!((f.bounds[0] - (100.0 + key_width)).abs() < 0.5, "{:?}", f.bounds);
        assert!((f.bounds[2] - (100.0 + key_width + 10.0 * 0.55 * H)).abs() < 0.5, "{:?}", f.bounds);
        assert_eq!((f.bounds[1], f.bounds[3]), (50.0, 80.0));
    }

    /// Key cells at x=20, value cells at x=200, a second pair further right on the date row.
    fn table_label() -> Vec<OcrLine> {
        vec![
            at("危险废物", 200.0, 10.0),
            at("废物名称", 20.0, 60.0),
            at("废矿物油", 200.0, 62.0),
            at("废物类别", 20.0, 110.0),
            at("HW08", 200.0, 108.0),
            at("废物代码", 400.0, 110.0),
            at("900-249-08", 580.0, 111.0),
            at("危险特性", 20.0, 160.0),
            at("毒性、易燃性", 200.0, 160.0),
            at("产生/收集单位", 20.0, 210.0),
            at("某某化工有限公司", 240.0, 212.0),
            at("产生日期", 20.0, 260.0),
            at("2026-11-02", 200.0, 260.0),
            at("废物重量", 400.0, 260.0),
            at("25.0kg", 580.0, 262.0),
            at("数字识别码", 20.0, 310.0),
            at(ID, 200.0, 310.0),
        ]
    }

    fn expected_table() -> Vec<(LabelField, String)> {
        use LabelField::*;
        vec![
            (WasteName, "废矿物油".into()),
            (Category, "HW08".into()),
            (WasteCode, "900-249-08".into()),
            (Hazards, "T,I".into()),
            (IdCode, ID.into()),
            (Company, "某某化工有限公司".into()),
            (Date, "2026-11-02".into()),
            (Weight, "25.0 kg".into()),
        ]
    }

    #[test]
    fn the_table_layout_pairs_key_cells_with_value_cells() {
        let label = parse_label(&table_label());
        assert!(label.title_found);
        assert_eq!(values(&label), expected_table());
        assert!(label.unused.is_empty(), "{:?}", label.unused);
        let name = label.get(LabelField::WasteName).unwrap();
        assert_eq!(name.bounds, [200.0, 62.0, 320.0, 92.0]);
    }

    #[test]
    fn a_label_rotated_20_degrees_reads_the_same() {
        for degrees in [20.0, -20.0, 25.0] {
            let turned = rotate(&table_label(), degrees, [300.0, 200.0]);
            let label = parse_label(&turned);
            assert!(label.title_found);
            assert_eq!(values(&label), expected_table(), "rotated {degrees}°");
            let turned = rotate(&single_line_label(), degrees, [0.0, 0.0]);
            assert_eq!(values(&parse_label(&turned)), expected_full(), "rotated {degrees}°");
        }
        // Unrotated, the same rows would mix: the test does depend on de-rotation.
        let turned = rotate(&table_label(), 20.0, [300.0, 200.0]);
        let boxes = layout_boxes(&turned);
        assert!((dominant_angle(&boxes.iter().map(|b| b.quad).collect::<Vec<_>>()) - 20f32.to_radians()).abs() < 1e-3);
    }

    #[test]
    fn wrapped_values_continue_on_the_rows_below() {
        let lines = vec![
            at("主要成分：矿物油、", 20.0, 20.0),
            // Wrapped at the value's x.
            at("水、杂质", 20.0 + 5.55 * H, 58.0),
            at("注意事项：远离火源，", 20.0, 100.0),
            // Wrapped back to the left margin.
            at("密封保存", 20.0, 140.0),
            at("防止泄漏", 20.0, 180.0),
            at("废物名称：废矿物油", 20.0, 230.0),
            at("有害成分：苯、甲苯、", 20.0, 420.0),
            at("二甲苯", 20.0 + 5.55 * H, 456.0),
            // A 37-character code broken over two rows.
            at("数字识别码：91350100M000100Y43 9002", 20.0, 500.0),
            at("4908 20261102 001", 20.0 + 6.55 * H, 538.0),
            // Table cells: a two-line company name, the next key below.
            at("产生单位", 20.0, 300.0),
            at("某某化工", 200.0, 300.0),
            at("有限公司", 200.0, 338.0),
            at("废物重量", 20.0, 380.0),
            at("25kg", 200.0, 380.0),
        ];
        let label = parse_label(&lines);
        assert_eq!(label.value(LabelField::MainComponents), Some("矿物油、水、杂质"));
        assert_eq!(label.value(LabelField::Precautions), Some("远离火源,密封保存防止泄漏"));
        assert_eq!(label.value(LabelField::WasteName), Some("废矿物油"));
        assert_eq!(label.value(LabelField::HarmfulComponents), Some("苯、甲苯、二甲苯"));
        assert_eq!(label.value(LabelField::Company), Some("某某化工有限公司"));
        assert_eq!(label.value(LabelField::IdCode), Some(ID));
        assert_eq!(label.value(LabelField::Weight), Some("25.0 kg"));
        let company = label.get(LabelField::Company).unwrap();
        assert_eq!(company.bounds, [200.0, 300.0, 320.0, 368.0]);
        assert!(label.unused.is_empty(), "{:?}", label.unused);
    }

    #[test]
    fn hazard_pictogram_captions_below_the_key_are_its_value() {
        let lines = vec![
            at("危险特性", 20.0, 20.0),
            at("毒性", 20.0, 58.0),
            at("凸凹", 200.0, 58.0), // a pictogram read as glyphs between the captions
            at("易燃性", 400.0, 58.0),
            at("备注：无", 20.0, 100.0),
        ];
        let label = parse_label(&lines);
        assert_eq!(label.value(LabelField::Hazards), Some("T,I"));
        assert_eq!(label.get(LabelField::Hazards).unwrap().raw, "毒性易燃性");
        assert_eq!(label.value(LabelField::Remarks), Some("无"));
        assert_eq!(label.unused, vec!["凸凹".to_string()]);
    }

    #[test]
    fn a_wrapped_line_of_a_one_line_field_is_not_taken() {
        // 废物代码 does not wrap: text below it is not its value.
        let label = parse_label(&[at("废物代码：900-249-08", 20.0, 20.0), at("某某化工", 20.0 + 5.55 * H, 58.0)]);
        assert_eq!(label.value(LabelField::WasteCode), Some("900-249-08"));
        assert_eq!(label.unused, vec!["某某化工".to_string()]);
    }

    #[test]
    fn ocr_confusions_are_repaired_with_lower_confidence() {
        let lines = vec![
            at_conf("废物代码：9O0-249-O8", 20.0, 20.0, 0.9),
            at_conf("废物类别：HVV08", 20.0, 60.0, 0.9),
            at_conf("产生日期：2O26-11-O2", 20.0, 100.0, 0.9),
            at_conf("数字识别码：91350100M000100Y43 9OO249O8 2026llO2 OO1", 20.0, 140.0, 0.9),
            at_conf("废物重量：25", 20.0, 180.0, 0.9),
        ];
        let label = parse_label(&lines);
        let code = label.get(LabelField::WasteCode).unwrap();
        assert_eq!((code.value.as_str(), code.raw.as_str(), code.well_formed), ("900-249-08", "9O0-249-O8", true));
        assert!((code.confidence - 0.81).abs() < 1e-5, "{}", code.confidence);
        assert_eq!(label.value(LabelField::Category), Some("HW08"));
        assert_eq!(label.value(LabelField::Date), Some("2026-11-02"));
        assert!((label.get(LabelField::Date).unwrap().confidence - 0.81).abs() < 1e-5);
        let id = label.get(LabelField::IdCode).unwrap();
        assert_eq!(id.value, ID);
        assert!(id.well_formed && (id.confidence - 0.81).abs() < 1e-5);
        // No unit: kg assumed, but not well formed.
        let w = label.get(LabelField::Weight).unwrap();
        assert_eq!((w.value.as_str(), w.well_formed), ("25.0 kg", false));
        assert!((w.confidence - 0.45).abs() < 1e-5);
    }

    #[test]
    fn a_value_that_does_not_fit_is_kept_as_read_at_half_confidence() {
        let label = parse_label(&[at_conf("废物代码：900-249-0", 20.0, 20.0, 0.8), at_conf("产生日期:2026-13-40", 20.0, 60.0, 0.8)]);
        for f in [LabelField::WasteCode, LabelField::Date] {
            let p = label.get(f).unwrap();
            assert!(!p.well_formed);
            assert_eq!(p.value, p.raw);
            assert!((p.confidence - 0.4).abs() < 1e-6);
        }
        assert_eq!(label.date(), None);
    }

    #[test]
    fn a_key_misread_by_one_character_still_counts() {
        let lines = vec![
            at("废物名陈：废矿物油", 20.0, 20.0),
            at("废物代玛 900-249-08", 20.0, 60.0),
            at("危险特姓：毒性", 20.0, 100.0),
            at("数宇识别码：91350100M000100Y439002490820261102001", 20.0, 140.0),
            at("废物类：HW08", 20.0, 180.0),
            at("产生收集单位 某某化工有限公司", 20.0, 220.0),
            at("废物 形态：固态", 20.0, 260.0),
            at("注意事：远离火源", 20.0, 300.0),
        ];
        let label = parse_label(&lines);
        use LabelField::*;
        assert_eq!(
            values(&label),
            vec![
                (WasteName, "废矿物油".into()),
                (Category, "HW08".into()),
                (WasteCode, "900-249-08".into()),
                (Form, "固态".into()),
                (Hazards, "T".into()),
                (Precautions, "远离火源".into()),
                (IdCode, ID.into()),
                (Company, "某某化工有限公司".into()),
            ]
        );
        assert!(label.unused.is_empty(), "{:?}", label.unused);
        // Keys of five characters or more may have two misread.
        let label = parse_label(&[at("数宇识别吗", 20.0, 20.0), at(ID, 200.0, 20.0)]);
        assert_eq!(label.value(LabelField::IdCode), Some(ID));
        // Three misread is too many: the text is left unused.
        let label = parse_label(&[at("数宇识列吗", 20.0, 20.0), at(ID, 200.0, 20.0)]);
        assert!(label.fields.is_empty());
    }

    #[test]
    fn values_with_key_like_words_stay_whole() {
        let lines = vec![
            at("注意事项：废物名称须与本标签一致", 20.0, 20.0),
            at("主要成分", 20.0, 60.0),
            at("废物重量较大的油泥", 200.0, 60.0),
            at("备注 日期待定", 20.0, 100.0),
        ];
        let label = parse_label(&lines);
        assert_eq!(label.value(LabelField::Precautions), Some("废物名称须与本标签一致"));
        assert_eq!(label.value(LabelField::MainComponents), Some("废物重量较大的油泥"));
        assert_eq!(label.value(LabelField::Remarks), Some("日期待定"));
        assert_eq!(label.get(LabelField::WasteName), None);
        assert_eq!(label.get(LabelField::Weight), None);
        assert_eq!(label.get(LabelField::Date), None);
    }

    #[test]
    fn two_pairs_on_one_line_are_split_at_the_second_key() {
        let lines = vec![
            at("废物类别：HW08 废物代码：900-249-08", 20.0, 20.0),
            at("废物形态:液态危险特性:毒性", 20.0, 60.0),
            at("联系人:张三 联系电话:13812345678", 20.0, 100.0),
            at("产生日期2026-11-02废物重量0.5t", 20.0, 140.0),
        ];
        let label = parse_label(&lines);
        use LabelField::*;
        assert_eq!(
            values(&label),
            vec![
                (Category, "HW08".into()),
                (WasteCode, "900-249-08".into()),
                (Form, "液态".into()),
                (Hazards, "T".into()),
                (ContactPerson, "张三".into()),
                (ContactPhone, "13812345678".into()),
                (Date, "2026-11-02".into()),
                (Weight, "500.0 kg".into()),
            ]
        );
        // Each value's box is its own part of the line.
        let (cat, code) = (label.get(Category).unwrap().bounds, label.get(WasteCode).unwrap().bounds);
        assert!(cat[2] <= code[0], "{cat:?} {code:?}");
    }

    #[test]
    fn shuffled_input_gives_the_same_label() {
        for lines in [single_line_label(), table_label()] {
            let want = parse_label(&lines);
            let mut shuffled = lines.clone();
            shuffled.reverse();
            assert_eq!(parse_label(&shuffled), want);
            // A fixed interleaving.
            let mut mixed: Vec<OcrLine> = shuffled.iter().step_by(2).cloned().collect();
            mixed.extend(shuffled.iter().skip(1).step_by(2).cloned());
            assert_eq!(parse_label(&mixed), want);
        }
    }

    #[test]
    fn missing_fields_are_absent_not_invented() {
        let label = parse_label(&[at("废物名称：废矿物油", 20.0, 20.0), at("废物代码：900-249-08", 20.0, 60.0), at("废物重量：", 20.0, 100.0)]);
        assert!(!label.title_found);
        assert_eq!(label.fields.len(), 2);
        for f in LabelField::ALL.into_iter().filter(|f| !matches!(f, LabelField::WasteName | LabelField::WasteCode)) {
            assert_eq!(label.get(f), None, "{f:?}");
        }
        assert_eq!(label.weight_kg(), None);
        assert_eq!(label.date(), None);
        assert!(label.hazards().is_empty());
        // The bare key is reported as unused.
        assert_eq!(label.unused, vec!["废物重量".to_string()]);
    }

    #[test]
    fn garbage_lines_do_not_become_values() {
        let mut lines = single_line_label();
        let noise = [
            at_conf("凸", 600.0, 20.0, 0.6),
            at_conf("A", 620.0, 66.0, 0.55),
            // On the 数字识别码 row, on top of its value.
            at_conf("x7@", 20.0 + 5.55 * H, 20.0 + 9.0 * 45.0 - 7.0, 0.6),
            // Under 备注's value: 备注 does not wrap.
            at_conf("凸凹", 20.0 + 3.55 * H, 20.0 + 15.0 * 45.0 + 40.0, 0.6),
            at_conf("☠▲", 800.0, 300.0, 0.5),
            at_conf("HW99 9OO", 900.0, 500.0, 0.6),
            at_conf("!!!", 20.0, 900.0, 0.5),
        ];
        lines.extend(noise.iter().cloned());
        let label = parse_label(&lines);
        assert_eq!(values(&label), expected_full());
        for n in ["凸", "A", "x7@", "凸凹", "☠▲", "HW99 9OO"] {
            assert!(label.unused.contains(&n.to_string()), "{n} in {:?}", label.unused);
        }
        // Under a wrapping field: a pictogram read as glyphs (too tall, or a lone glyph) is not a wrapped line.
        let pictogram = OcrLine { text: "凸凹".into(), confidence: 0.6, quad: [[186.0, 60.0], [276.0, 60.0], [276.0, 150.0], [186.0, 150.0]] };
        let label = parse_label(&[at("注意事项：远离火源", 20.0, 20.0), pictogram, at_conf("凸", 400.0, 58.0, 0.6)]);
        assert_eq!(label.value(LabelField::Precautions), Some("远离火源"));
        assert_eq!(label.unused, vec!["凸".to_string(), "凸凹".to_string()]);
        // Noise alone gives no fields and no title.
        let only_noise = parse_label(&noise);
        assert!(only_noise.fields.is_empty() && !only_noise.title_found);
    }

    #[test]
    fn odd_input_never_panics() {
        let huge = "废物名称:".to_string() + &"油".repeat(20_000) + " 废物代码:900-249-08";
        let mixed = "废物名称：ОИЛ Öl 🛢️ 油 ١٢٣ 900一249一08";
        let cases: Vec<Vec<OcrLine>> = vec![
            vec![],
            vec![at("", 0.0, 0.0)],
            vec![at("：：：：", 0.0, 0.0), at("——", 0.0, 40.0), at(" ", 0.0, 80.0)],
            vec![at(&huge, 0.0, 0.0)],
            vec![at(mixed, 0.0, 0.0)],
            vec![OcrLine { text: "废物代码:900-249-08".into(), confidence: f32::NAN, quad: [[f32::NAN, f32::INFINITY]; 4] }],
            vec![OcrLine { text: "废物名称".into(), confidence: 2.0, quad: [[5.0, 5.0]; 4] }, at("废油", 5.0, 5.0)],
            vec![at("危", 0.0, 0.0), at("性", 0.0, 0.0), at("码:", 0.0, 0.0)],
        ];
        for lines in cases {
            let label = parse_label(&lines);
            for f in &label.fields {
                assert!((0.0..=1.0).contains(&f.confidence), "{f:?}");
            }
            serde_json::to_string(&label).expect("serialises");
        }
        let huge_label = parse_label(&[at(&huge, 0.0, 0.0)]);
        // Keys are looked for in a line's first SCAN_LIMIT characters only: the rest stays in the value.
        let tail = " 废物代码:900-249-08".chars().count();
        assert_eq!(huge_label.get(LabelField::WasteName).map(|f| f.value.chars().count()), Some(20_000 + tail));
        for s in ["", "-", "一一一", "年月日", "HW", "HWHW", "：", "\u{0}", &"9".repeat(10_000)] {
            canonical_waste_code(s);
            canonical_category(s);
            canonical_date(s);
            canonical_id_code(s);
            parse_hazards(s);
            parse_weight_kg(s);
            find_phone(s);
        }
    }

    #[test]
    fn waste_codes_canonicalise() {
        let good = [
            ("900-249-08", "900-249-08", false),
            ("9O0-249-O8", "900-249-08", true),
            ("900 249 08", "900-249-08", false),
            ("900—249—08", "900-249-08", false),
            ("900一249一08", "900-249-08", false),
            ("90024908", "900-249-08", false),
            ("900249-08", "900-249-08", false),
            ("90O-Z49-I8", "900-249-18", true),
            ("代码:772-OO6-49 (HW49)", "772-006-49", true),
            ("HW08 900-249-08", "900-249-08", false),
        ];
        for (input, want, repaired) in good {
            assert_eq!(canonical_waste_code(input), Some((want.to_string(), repaired)), "{input}");
        }
        let bad = ["900-249-0", "90O-Z4G-IB", "9000-249-08", "900-2490-8", "90-0249-08", "ABC-DEF-GH", "OOO-OOO-OO", "Oil", "2026-11-02", "", "900-249"];
        for input in bad {
            assert_eq!(canonical_waste_code(input), None, "{input}");
        }
    }

    #[test]
    fn categories_canonicalise() {
        let good = [
            ("HW08", "HW08", false),
            ("Hw08", "HW08", false),
            ("HWO8", "HW08", true),
            ("HVV08", "HW08", true),
            ("HW 08", "HW08", false),
            ("H W08", "HW08", false),
            ("类别 HW49 其他废物", "HW49", false),
            ("HW01", "HW01", false),
            ("HW50", "HW50", false),
        ];
        for (input, want, repaired) in good {
            assert_eq!(canonical_category(input), Some((want.to_string(), repaired)), "{input}");
        }
        for input in ["HW99", "HW00", "HW51", "HW8", "HW081", "HWAB", "W08", "XHW08", "08", ""] {
            assert_eq!(canonical_category(input), None, "{input}");
        }
    }

    #[test]
    fn dates_canonicalise() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        let good = [
            ("2026-11-02", d(2026, 11, 2)),
            ("2026/11/2", d(2026, 11, 2)),
            ("2026.11.02", d(2026, 11, 2)),
            ("2026年11月2日", d(2026, 11, 2)),
            ("2026 年 1 月 9 日", d(2026, 1, 9)),
            ("20261102", d(2026, 11, 2)),
            ("2O26-1l-O2", d(2026, 11, 2)),
            ("2026一11一02", d(2026, 11, 2)),
            ("2026-11-02 10:30", d(2026, 11, 2)),
            ("2024-02-29", d(2024, 2, 29)),
        ];
        for (input, want) in good {
            assert_eq!(canonical_date(input), want, "{input}");
        }
        assert_eq!(date_with_repair("2O26-11-02").map(|x| x.1), Some(true));
        for input in ["2026-13-40", "2026-02-30", "2025-02-29", "20261340", "26-11-02", "1800-01-01", "2026-11", "", "年月日"] {
            assert_eq!(canonical_date(input), None, "{input}");
        }
    }

    #[test]
    fn id_codes_canonicalise() {
        let good = [
            (ID, ID, false),
            ("91350100m000100y43-90024908-20261102-001", ID, false),
            ("91350100M000100Y43 9OO249O8 2026llO2 OO1", ID, true),
            ("91350100M000100Y43 900 249 08 2026 11 02 001", ID, false),
        ];
        for (input, want, repaired) in good {
            assert_eq!(canonical_id_code(input), Some((want.to_string(), repaired)), "{input}");
        }
        let bad = [
            &ID[..36],
            &format!("{ID}1"),
            "91350100M000100Y439002490820261102XYZ",
            "9135010@M000100Y439002490820261102001",
            "https://example.org/x?id=91350100M000100Y439002490820261102001",
            "",
        ];
        for input in bad {
            assert_eq!(canonical_id_code(input), None, "{input}");
        }
    }

    #[test]
    fn hazards_parse() {
        use Hazard::*;
        let cases: [(&str, &[Hazard]); 14] = [
            ("毒性(T) 易燃性(I)", &[Toxic, Ignitable]),
            ("毒性、易燃性", &[Toxic, Ignitable]),
            ("T,I", &[Toxic, Ignitable]),
            ("I,T", &[Toxic, Ignitable]),
            ("T/C", &[Toxic, Corrosive]),
            ("感染性(In)", &[Infectious]),
            ("In", &[Infectious]),
            ("腐蚀 反应性", &[Corrosive, Reactive]),
            ("易性", &[Ignitable]),
            ("腐浊性", &[Corrosive]),
            ("☑毒性 □腐蚀性 √易燃性 □反应性 □感染性", &[Toxic, Ignitable]),
            ("Toxic, Flammable", &[Toxic, Ignitable]),
            ("无", &[]),
            ("性性性 X", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_hazards(input), want, "{input}");
        }
    }

    #[test]
    fn weights_and_forms_and_phones_canonicalise() {
        let weights = [
            ("25kg", Some(25.0)),
            ("25.0 KG", Some(25.0)),
            ("0.5t", Some(500.0)),
            ("0.5吨", Some(500.0)),
            ("25千克", Some(25.0)),
            ("25公斤", Some(25.0)),
            ("25.0 kg", Some(25.0)),
            ("200L", None),
            ("kg", None),
            ("", None),
        ];
        for (input, want) in weights {
            assert_eq!(parse_weight_kg(input), want, "{input}");
        }
        assert_eq!(format_kg(1.234 * 1000.0), "1234.0 kg");
        assert_eq!(format_kg(0.125), "0.125 kg");

        assert_eq!(canonical_form("液态"), Some("液态"));
        assert_eq!(canonical_form("半固态"), Some("半固态"));
        assert_eq!(canonical_form("□固态 ☑液态"), Some("液态"));
        assert_eq!(canonical_form("SS"), Some("半固态"));
        assert_eq!(canonical_form("桶装"), None);

        let phones = [
            ("13812345678", "13812345678", true),
            ("138 1234 5678", "13812345678", true),
            ("+86 138-1234-5678", "13812345678", true),
            ("0531-88776655", "0531-88776655", true),
            ("053188776655", "0531-88776655", true),
            ("(010)12345678", "010-12345678", true),
            ("张三 021 87654321", "021-87654321", true),
            ("400-123-4567", "400-123-4567", true),
            ("12345", "12345", false),
        ];
        for (input, want, ok) in phones {
            let p = find_phone(input).unwrap_or_else(|| panic!("{input}"));
            assert_eq!((p.value.as_str(), p.well_formed), (want, ok), "{input}");
        }
        assert!(find_phone("电话 1234").is_none());
    }

    #[test]
    fn a_contact_line_with_name_and_number_gives_both_fields() {
        let label = parse_label(&[at("联系人：张三 13812345678", 20.0, 20.0)]);
        assert_eq!(label.value(LabelField::ContactPerson), Some("张三"));
        assert_eq!(label.value(LabelField::ContactPhone), Some("13812345678"));
        let label = parse_label(&[at("联系方式：李四/0531-88776655", 20.0, 20.0)]);
        assert_eq!(label.value(LabelField::ContactPerson), Some("李四"));
        assert_eq!(label.value(LabelField::ContactPhone), Some("0531-88776655"));
    }

    #[test]
    fn title_variants() {
        for t in ["危险废物", "危险废务", "危险废物 HAZARDOUS WASTE", "危险废物标签"] {
            assert!(parse_label(&[at(t, 0.0, 0.0)]).title_found, "{t}");
        }
        for t in ["危险特性", "危险废物产生单位须知", "废物"] {
            assert!(!parse_label(&[at(t, 0.0, 0.0)]).title_found, "{t}");
        }
    }

    #[test]
    fn key_splitting() {
        let chars = |s: &str| s.chars().collect::<Vec<char>>();
        let split = |s: &str| {
            let c = chars(s);
            split_keys(&c, false)
                .into_iter()
                .map(|seg| match seg {
                    Segment::Key { field, .. } => format!("<{}>", field.code()),
                    Segment::Text(r) => c[r].iter().collect(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(split("废物名称废矿物油"), ["<waste_name>", "废矿物油"]);
        assert_eq!(split("废物名称 : 废矿物油"), ["<waste_name>", "废矿物油"]);
        assert_eq!(split("废物名:废矿物油"), ["<waste_name>", "废矿物油"]);
        assert_eq!(split("■废物代码"), ["<waste_code>"]);
        assert_eq!(split("名称废矿物油"), ["名称废矿物油"]);
        assert_eq!(split("名称:废矿物油"), ["<waste_name>", "废矿物油"]);
        assert_eq!(split("联系方式:138"), ["<contact_phone>", "138"]);
        assert_eq!(split("产生(收集)单位:某厂"), ["<company>", "某厂"]);
        assert_eq!(split("废矿物油"), ["废矿物油"]);
    }
}
