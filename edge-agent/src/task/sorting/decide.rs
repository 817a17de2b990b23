//! One item, one decision: the looks at an item while it is visible are
//! combined (median score per category, a minimum of agreeing frames), then
//! judged against the bin it went into. Pure logic, tested without models.

use crate::waste::WasteCategory;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSettings {
    /// Frames that must agree on the category before a firm prompt.
    #[serde(default = "default_min_agreeing")]
    pub min_agreeing_frames: usize,
    /// Looks at one item at most; then it is decided on what was seen.
    #[serde(default = "default_max_looks")]
    pub max_looks: usize,
    /// At or above this (median) confidence a wrong item gets a prompt.
    #[serde(default = "default_prompt")]
    pub prompt_confidence: f32,
    /// Between this and `prompt_confidence`: an "unsure" hint, not an accusation.
    #[serde(default = "default_unsure")]
    pub unsure_confidence: f32,
}

fn default_min_agreeing() -> usize {
    2
}
fn default_max_looks() -> usize {
    5
}
fn default_prompt() -> f32 {
    0.5
}
fn default_unsure() -> f32 {
    0.25
}

impl Default for DecisionSettings {
    fn default() -> Self {
        Self {
            min_agreeing_frames: default_min_agreeing(),
            max_looks: default_max_looks(),
            prompt_confidence: default_prompt(),
            unsure_confidence: default_unsure(),
        }
    }
}

/// What one look said, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// Per category, in `WasteCategory::ALL` order.
    pub scores: [f32; 4],
    pub item: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub category: WasteCategory,
    /// The most named item among the agreeing looks.
    pub item: Option<String>,
    /// Median score of the category over all looks (scaled down when too few agree).
    pub confidence: f32,
    pub agreeing: usize,
    pub looks: usize,
    /// The look that shows the decision best (its picture and embedding are kept).
    pub best_look: usize,
}

/// `finished`: the item is gone (or looked at enough), decide on what there is.
/// None while more looks are wanted, or when there was nothing to decide on.
pub fn decide(votes: &[Vote], s: &DecisionSettings, finished: bool) -> Option<Decision> {
    if votes.is_empty() {
        return None;
    }
    // Looks that recognise nothing (a hand over the item, motion blur) abstain
    // rather than drag the median down; if all abstain, all count.
    let opinion = |v: &Vote| v.scores.iter().copied().fold(0.0, f32::max) >= s.unsure_confidence;
    let counted: Vec<&Vote> = if votes.iter().any(opinion) { votes.iter().filter(|v| opinion(v)).collect() } else { votes.iter().collect() };
    let median = |c: WasteCategory| {
        let mut v: Vec<f32> = counted.iter().map(|x| x.scores[c.index()]).collect();
        v.sort_by(f32::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
    };
    let category = WasteCategory::ALL.into_iter().max_by(|a, b| median(*a).total_cmp(&median(*b)))?;
    let argmax = |v: &Vote| WasteCategory::ALL.into_iter().max_by(|a, b| v.scores[a.index()].total_cmp(&v.scores[b.index()]));
    let agreeing: Vec<usize> = (0..votes.len())
        .filter(|&i| argmax(&votes[i]) == Some(category) && votes[i].scores[category.index()] >= s.unsure_confidence)
        .collect();
    let ready = agreeing.len() >= s.min_agreeing_frames || votes.len() >= s.max_looks || finished;
    if !ready {
        return None;
    }
    let mut confidence = median(category);
    if agreeing.len() < s.min_agreeing_frames {
        // A single frame's guess is never a firm prompt.
        confidence *= agreeing.len() as f32 / s.min_agreeing_frames.max(1) as f32;
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for i in &agreeing {
        if let Some(item) = votes[*i].item.as_deref() {
            match counts.iter_mut().find(|(n, _)| *n == item) {
                Some((_, c)) => *c += 1,
                None => counts.push((item, 1)),
            }
        }
    }
    let item = counts.iter().max_by_key(|(_, c)| *c).map(|(n, _)| n.to_string());
    let best_look = agreeing
        .iter()
        .copied()
        .max_by(|a, b| votes[*a].scores[category.index()].total_cmp(&votes[*b].scores[category.index()]))
        .unwrap_or(0);
    Some(Decision { category, item, confidence, agreeing: agreeing.len(), looks: votes.len(), best_look })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// In the right bin.
    Correct,
    /// In a wrong bin, and sure of it: the attendant is prompted.
    Misclassification,
    /// Probably in a wrong bin, not sure: a gentle hint.
    Unsure,
    /// Not recognised well enough to say anything.
    Unknown,
}

pub fn judge(d: &Decision, bin: WasteCategory, s: &DecisionSettings) -> Verdict {
    if d.confidence < s.unsure_confidence {
        Verdict::Unknown
    } else if d.category == bin {
        Verdict::Correct
    } else if d.confidence >= s.prompt_confidence && d.agreeing >= s.min_agreeing_frames {
        Verdict::Misclassification
    } else {
        Verdict::Unsure
    }
}

/// One prompt per zone and expected category within `cooldown_ms`, so one bag
/// seen as several items does not produce ten prompts.
#[derive(Debug, Default)]
pub struct Cooldown {
    last: std::collections::HashMap<(String, WasteCategory), u64>,
}

impl Cooldown {
    pub fn allow(&mut self, zone: &str, category: WasteCategory, at_ms: u64, cooldown_ms: u64) -> bool {
        let key = (zone.to_string(), category);
        match self.last.get(&key) {
            Some(&t) if at_ms.saturating_sub(t) < cooldown_ms && at_ms >= t => false,
            _ => {
                self.last.insert(key, at_ms);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WasteCategory::*;

    fn vote(scores: [f32; 4], item: &str) -> Vote {
        Vote { scores, item: Some(item.into()) }
    }

    #[test]
    fn two_agreeing_frames_decide_and_one_frame_does_not() {
        let s = DecisionSettings::default();
        let bottle = vote([0.05, 0.8, 0.0, 0.1], "塑料瓶");
        assert_eq!(decide(&[bottle.clone()], &s, false), None, "one look: wait for another");
        let d = decide(&[bottle.clone(), vote([0.1, 0.7, 0.0, 0.1], "塑料瓶")], &s, false).expect("decided");
        assert_eq!((d.category, d.item.as_deref(), d.agreeing, d.looks), (Recyclable, Some("塑料瓶"), 2, 2));
        assert!((d.confidence - 0.75).abs() < 1e-6, "median of 0.8 and 0.7");
        assert_eq!(d.best_look, 0);
        // The item left after one look: decided, but too weakly for a prompt.
        let once = decide(&[bottle], &s, true).unwrap();
        assert!((once.confidence - 0.4).abs() < 1e-6);
        assert_eq!(judge(&once, Kitchen, &s), Verdict::Unsure);
    }

    #[test]
    fn one_odd_frame_does_not_flip_the_decision() {
        let s = DecisionSettings { min_agreeing_frames: 3, ..Default::default() };
        let votes = [
            vote([0.1, 0.7, 0.0, 0.1], "塑料瓶"),
            vote([0.9, 0.05, 0.0, 0.0], "水果"), // a hand's shadow, say
            vote([0.1, 0.6, 0.0, 0.2], "塑料瓶"),
            vote([0.2, 0.65, 0.0, 0.1], "塑料瓶"),
        ];
        let d = decide(&votes, &s, false).unwrap();
        assert_eq!((d.category, d.agreeing), (Recyclable, 3));
        assert_eq!(judge(&d, Kitchen, &s), Verdict::Misclassification);
        assert_eq!(judge(&d, Recyclable, &s), Verdict::Correct);
    }

    #[test]
    fn looks_that_recognise_nothing_abstain() {
        let s = DecisionSettings::default();
        let blank = vote([0.02, 0.05, 0.0, 0.01], "x");
        let apple = vote([0.7, 0.02, 0.0, 0.01], "水果");
        let d = decide(&[apple.clone(), blank.clone(), blank.clone(), blank.clone(), blank.clone()], &s, false).unwrap();
        assert_eq!(d.category, Kitchen, "four blank looks do not outvote one clear one");
        assert_eq!(judge(&d, Recyclable, &s), Verdict::Unsure, "but one clear look is only a hint");
        let d = decide(&[apple.clone(), blank.clone(), apple, blank], &s, false).unwrap();
        assert_eq!((d.category, d.agreeing), (Kitchen, 2));
        assert_eq!(judge(&d, Recyclable, &s), Verdict::Misclassification);
    }

    #[test]
    fn low_confidence_is_a_hint_or_nothing_never_an_accusation() {
        let s = DecisionSettings::default();
        let weak = decide(&[vote([0.0, 0.0, 0.3, 0.0], "过期药品"), vote([0.0, 0.0, 0.35, 0.0], "过期药品")], &s, false).unwrap();
        assert_eq!(judge(&weak, Other, &s), Verdict::Unsure);
        let none = decide(&[vote([0.05, 0.1, 0.0, 0.0], "x"), vote([0.05, 0.1, 0.0, 0.0], "x")], &s, true).unwrap();
        assert_eq!(judge(&none, Other, &s), Verdict::Unknown);
        assert_eq!(decide(&[], &s, true), None);
        // Five looks that never agree are decided anyway.
        let flip = [vote([0.6, 0.4, 0.0, 0.0], "a"), vote([0.4, 0.6, 0.0, 0.0], "b")];
        let many: Vec<Vote> = flip.iter().cycle().take(5).cloned().collect();
        assert!(decide(&many[..4], &DecisionSettings { min_agreeing_frames: 4, ..s }, false).is_none());
        assert!(decide(&many, &DecisionSettings { min_agreeing_frames: 4, ..s }, false).is_some());
    }

    #[test]
    fn the_cooldown_holds_per_zone_and_category() {
        let mut c = Cooldown::default();
        assert!(c.allow("bin-kitchen", Recyclable, 1_000, 10_000));
        assert!(!c.allow("bin-kitchen", Recyclable, 5_000, 10_000), "same bag, same prompt");
        assert!(c.allow("bin-kitchen", Hazardous, 5_000, 10_000), "another kind of item");
        assert!(c.allow("bin-other", Recyclable, 5_000, 10_000), "another bin");
        assert!(c.allow("bin-kitchen", Recyclable, 11_000, 10_000), "after the cooldown");
    }
}
