//! Nearest enrolled examples, and how they are weighed against the generic
//! ImageNet mapping: the closer the nearest site example, the more it counts.

use super::{Enrollment, Example};
use crate::waste::WasteCategory;
use serde::{Deserialize, Serialize};

/// The enrolled embeddings in one flat block, for a brute-force cosine search
/// (embeddings are L2-normalised, so cosine is a dot product).
#[derive(Debug, Clone, Default)]
pub struct EnrolledIndex {
    pub version: u64,
    dim: usize,
    vectors: Vec<f32>,
    entries: Vec<(String, String, WasteCategory)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    pub id: String,
    pub label: String,
    pub category: WasteCategory,
    pub similarity: f32,
}

impl EnrolledIndex {
    pub fn new(enrollment: &Enrollment) -> Self {
        Self::from_examples(enrollment.examples(), enrollment.version())
    }

    pub fn from_examples(examples: &[Example], version: u64) -> Self {
        let dim = examples.first().map_or(0, |e| e.embedding.len());
        let mut index = Self { version, dim, ..Default::default() };
        for e in examples.iter().filter(|e| e.embedding.len() == dim) {
            index.vectors.extend(crate::inference::classifier::l2_normalised(e.embedding.iter().copied()));
            index.entries.push((e.id.clone(), e.label.clone(), e.category));
        }
        index
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `k` most similar examples, best first; `skip` leaves some out (leave-one-out).
    pub fn nearest(&self, query: &[f32], k: usize, skip: &dyn Fn(&str) -> bool) -> Vec<Neighbour> {
        if query.len() != self.dim || self.dim == 0 {
            return vec![];
        }
        let mut scored: Vec<(usize, f32)> = self
            .vectors
            .chunks_exact(self.dim)
            .enumerate()
            .filter(|(i, _)| !skip(&self.entries[*i].0))
            .map(|(i, v)| (i, v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>()))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
            .into_iter()
            .take(k)
            .map(|(i, similarity)| {
                let (id, label, category) = &self.entries[i];
                Neighbour { id: id.clone(), label: label.clone(), category: *category, similarity }
            })
            .collect()
    }
}

/// How enrolled examples are weighed. Cosine similarities of this model's
/// pooled features: the same kind of item ~0.75-0.9, unrelated ones ~0.3-0.55.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FusionSettings {
    /// Neighbours that vote.
    #[serde(default = "default_k")]
    pub k: usize,
    /// At or above this similarity the nearest examples decide alone.
    #[serde(default = "default_near")]
    pub near: f32,
    /// At or below it they count for nothing.
    #[serde(default = "default_far")]
    pub far: f32,
}

fn default_k() -> usize {
    5
}
fn default_near() -> f32 {
    0.75
}
fn default_far() -> f32 {
    0.5
}

impl Default for FusionSettings {
    fn default() -> Self {
        Self { k: default_k(), near: default_near(), far: default_far() }
    }
}

/// Similarity gap at which a category's vote falls to 1/e of the nearest one's.
const VOTE_SPREAD: f32 = 0.04;

/// What generic classification and enrolled examples say together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fused {
    /// Per category, in `WasteCategory::ALL` order.
    pub scores: [f32; 4],
    pub category: Option<WasteCategory>,
    pub confidence: f32,
    /// The fine class: the nearest example's label when it decides, else the generic item.
    pub item: Option<String>,
    /// 0 = generic mapping only .. 1 = enrolled examples only.
    pub enrolled_weight: f32,
    pub nearest: Option<Neighbour>,
}

/// Weighs the generic category scores (probability mass per category) and
/// generic item against the nearest enrolled examples.
pub fn fuse(generic: [f32; 4], generic_item: Option<(&str, WasteCategory)>, neighbours: &[Neighbour], s: &FusionSettings) -> Fused {
    let span = (s.near - s.far).max(1e-3);
    let best = neighbours.first();
    let weight = best.map_or(0.0, |n| ((n.similarity - s.far) / span).clamp(0.0, 1.0));
    // Each category is as close as its nearest example; categories clearly
    // farther than the best one count for little, however many examples they have.
    let mut nearest = [f32::NEG_INFINITY; 4];
    for n in neighbours.iter().filter(|n| n.similarity > s.far) {
        let c = &mut nearest[n.category.index()];
        *c = c.max(n.similarity);
    }
    let top = nearest.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut votes = nearest.map(|v| if v.is_finite() { ((v - top) / VOTE_SPREAD).exp() } else { 0.0 });
    let total: f32 = votes.iter().sum();
    if total > 0.0 {
        votes.iter_mut().for_each(|v| *v /= total);
    }
    let mut scores = [0f32; 4];
    for i in 0..4 {
        scores[i] = weight * votes[i] + (1.0 - weight) * generic[i];
    }
    let winner = WasteCategory::ALL.into_iter().max_by(|a, b| scores[a.index()].total_cmp(&scores[b.index()]));
    let confidence = winner.map_or(0.0, |c| scores[c.index()]);
    let category = winner.filter(|_| confidence > 0.0);
    let item = category.and_then(|c| {
        let enrolled = neighbours.iter().find(|n| n.category == c && n.similarity > s.far).map(|n| n.label.clone());
        let generic = generic_item.filter(|(_, gc)| *gc == c).map(|(name, _)| name.to_string());
        if weight >= 0.5 { enrolled.or(generic) } else { generic.or(enrolled) }
    });
    Fused { scores, category, confidence, item, enrolled_weight: weight, nearest: best.cloned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WasteCategory::*;

    fn n(label: &str, category: WasteCategory, similarity: f32) -> Neighbour {
        Neighbour { id: label.into(), label: label.into(), category, similarity }
    }

    #[test]
    fn without_close_examples_the_generic_mapping_decides() {
        let generic = [0.1, 0.6, 0.0, 0.1];
        let f = fuse(generic, Some(("塑料瓶", Recyclable)), &[n("大棒骨", Other, 0.4)], &FusionSettings::default());
        assert_eq!((f.category, f.item.as_deref(), f.enrolled_weight), (Some(Recyclable), Some("塑料瓶"), 0.0));
        assert!((f.confidence - 0.6).abs() < 1e-6);
    }

    #[test]
    fn a_close_enrolled_example_outweighs_the_generic_mapping() {
        // ImageNet sees a plate of food; the site enrolled this large bone as 其他垃圾.
        let generic = [0.7, 0.0, 0.0, 0.05];
        let near = [n("大棒骨", Other, 0.86), n("大棒骨", Other, 0.8), n("剩饭剩菜", Kitchen, 0.52)];
        let f = fuse(generic, Some(("剩饭剩菜", Kitchen)), &near, &FusionSettings::default());
        assert_eq!((f.category, f.item.as_deref()), (Some(Other), Some("大棒骨")));
        assert_eq!(f.enrolled_weight, 1.0);
        // Half-way close: both count.
        let mid = [n("大棒骨", Other, 0.62)];
        let f = fuse(generic, Some(("剩饭剩菜", Kitchen)), &mid, &FusionSettings::default());
        assert!(f.enrolled_weight > 0.4 && f.enrolled_weight < 0.6, "{}", f.enrolled_weight);
    }

    #[test]
    fn many_farther_examples_do_not_outvote_a_clearly_nearer_one() {
        let near = [n("水果", Kitchen, 0.7), n("纸盒", Recyclable, 0.6), n("纸盒", Recyclable, 0.59), n("纸牌", Recyclable, 0.58), n("纸牌", Recyclable, 0.57)];
        let f = fuse([0.05, 0.02, 0.0, 0.0], None, &near, &FusionSettings::default());
        assert_eq!(f.category, Some(Kitchen), "{f:?}");
        assert!(f.scores[0] > 0.5, "{:?}", f.scores);
    }

    #[test]
    fn the_index_finds_the_nearest_and_can_leave_one_out() {
        let ex = |id: &str, v: Vec<f32>| Example {
            id: id.into(),
            label: id.into(),
            category: Other,
            added_at: String::new(),
            source: String::new(),
            picture: String::new(),
            embedding: v,
        };
        let index = EnrolledIndex::from_examples(&[ex("a", vec![1.0, 0.0]), ex("b", vec![0.6, 0.8]), ex("c", vec![0.0, 1.0])], 7);
        let got = index.nearest(&[1.0, 0.0], 2, &|_| false);
        assert_eq!(got.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        let got = index.nearest(&[1.0, 0.0], 1, &|id| id == "a");
        assert_eq!(got[0].id, "b");
        assert!(index.nearest(&[1.0, 0.0, 0.0], 1, &|_| false).is_empty(), "another model's embedding finds nothing");
    }
}
