//! A reviewer's verdict and what it becomes for the box: the
//! `cmd/label-feedback` command (pure; the web handler stores and sends it).

use serde_json::{Value, json};

pub const CATEGORIES: [&str; 4] = ["kitchen", "recyclable", "hazardous", "other"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Confirmed,
    FalseAlarm,
    Corrected,
}

impl Verdict {
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "confirmed" => Some(Verdict::Confirmed),
            "false_alarm" => Some(Verdict::FalseAlarm),
            "corrected" => Some(Verdict::Corrected),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::FalseAlarm => "false_alarm",
            Verdict::Corrected => "corrected",
        }
    }
}

/// A verdict as the reviewer submitted it, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub verdict: Verdict,
    pub category: Option<String>,
    pub label: Option<String>,
    pub comment: Option<String>,
}

impl Review {
    /// Checks the form's fields; the error names the field and the fix.
    pub fn from_form(verdict: &str, category: &str, label: &str, comment: &str) -> Result<Review, String> {
        let verdict = Verdict::parse(verdict).ok_or("verdict: choose confirmed, false alarm or corrected")?;
        let category = Some(category.trim()).filter(|c| !c.is_empty()).map(str::to_string);
        if let Some(c) = &category {
            if !CATEGORIES.contains(&c.as_str()) {
                return Err(format!("category `{}`: one of kitchen, recyclable, hazardous, other", c.chars().take(40).collect::<String>()));
            }
        }
        if verdict == Verdict::Corrected && category.is_none() {
            return Err("a corrected verdict needs the right category".into());
        }
        let label = Some(label.trim()).filter(|l| !l.is_empty()).map(str::to_string);
        if let Some(l) = &label {
            if l.chars().count() > 32 || l.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
                return Err("label: at most 32 characters, no / \\ or control characters".into());
            }
        }
        let comment = Some(comment.trim()).filter(|c| !c.is_empty()).map(str::to_string);
        if comment.as_ref().is_some_and(|c| c.chars().count() > 500) {
            return Err("comment: at most 500 characters".into());
        }
        Ok(Review { verdict, category: if verdict == Verdict::Corrected { category } else { None }, label, comment })
    }
}

/// The `cmd/label-feedback` payload for a reviewed event, or why none is sent.
/// Only household-waste events (sorting, classification) teach the box: a
/// confirmed item is enrolled as decided; a false alarm at a bin means the
/// item belonged in the bin it went into; a correction names the category.
pub fn label_feedback(event: &Value, review: &Review, request_id: &str, reviewer: &str, now: &str) -> Result<Value, &'static str> {
    let kind = event["kind"].as_str().unwrap_or_default();
    if kind != "sorting" && kind != "classification" {
        return Err("not_applicable");
    }
    let mut cmd = json!({
        "request_id": request_id,
        "event_id": event["event_id"],
        "reviewer": reviewer.chars().take(64).collect::<String>(),
        "sent_at": now,
    });
    match review.verdict {
        Verdict::Confirmed => {
            cmd["verdict"] = "correct".into();
        }
        Verdict::FalseAlarm => {
            let in_bin = event.pointer("/details/bin/category").and_then(Value::as_str).filter(|c| CATEGORIES.contains(c));
            let Some(category) = in_bin else { return Err("not_applicable") };
            cmd["verdict"] = "wrong".into();
            cmd["category"] = category.into();
        }
        Verdict::Corrected => {
            cmd["verdict"] = "wrong".into();
            cmd["category"] = review.category.clone().into();
        }
    }
    if let Some(l) = &review.label {
        cmd["label"] = l.clone().into();
    }
    if let Some(c) = &review.comment {
        cmd["comment"] = c.clone().into();
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorting() -> Value {
        serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../mqtt-schemas/examples/event.sorting.json")).unwrap()).unwrap()
    }

    #[test]
    fn verdicts_become_schema_valid_feedback() {
        let schemas = crate::ingest::Schemas::load().unwrap();
        let e = sorting();
        let now = "2026-11-29T06:00:00.000Z";
        let confirmed = label_feedback(&e, &Review::from_form("confirmed", "", "", "对").unwrap(), "r-1", "zhang", now).unwrap();
        assert_eq!((confirmed["verdict"].as_str(), confirmed.get("category")), (Some("correct"), None));
        // A false alarm at the green bin: the item was kitchen waste after all.
        let false_alarm = label_feedback(&e, &Review::from_form("false_alarm", "", "", "").unwrap(), "r-2", "zhang", now).unwrap();
        assert_eq!((false_alarm["verdict"].as_str(), false_alarm["category"].as_str()), (Some("wrong"), Some("kitchen")));
        let corrected = label_feedback(&e, &Review::from_form("corrected", "other", "大棒骨", "骨头").unwrap(), "r-3", "zhang", now).unwrap();
        assert_eq!((corrected["category"].as_str(), corrected["label"].as_str()), (Some("other"), Some("大棒骨")));
        for cmd in [confirmed, false_alarm, corrected] {
            schemas.check("cmd-label-feedback", &cmd).unwrap();
        }
        let leak: Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../mqtt-schemas/examples/event.leak.json")).unwrap()).unwrap();
        assert_eq!(label_feedback(&leak, &Review::from_form("confirmed", "", "", "").unwrap(), "r", "z", now), Err("not_applicable"));
    }

    #[test]
    fn bad_forms_are_refused_with_the_field() {
        assert!(Review::from_form("approve", "", "", "").unwrap_err().starts_with("verdict"));
        assert!(Review::from_form("corrected", "", "", "").unwrap_err().contains("category"));
        assert!(Review::from_form("corrected", "'; DROP TABLE events; --", "", "").unwrap_err().starts_with("category"));
        assert!(Review::from_form("confirmed", "", "a/b", "").unwrap_err().starts_with("label"));
        assert!(Review::from_form("confirmed", "", "", &"长".repeat(501)).unwrap_err().starts_with("comment"));
        // A category given with a plain confirmation is dropped, not sent.
        assert_eq!(Review::from_form("confirmed", "other", "", "").unwrap().category, None);
    }
}
