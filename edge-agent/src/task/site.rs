//! What tasks of one agent tell each other: inspection requests from
//! `cmd/inspect-now` for the storage watch, and the leaks open now (the leak
//! task's) for the daily inspection report.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct SiteBoard {
    /// Generation of inspection requests, and the latest request's id.
    inspections: Mutex<(u64, Option<String>)>,
    /// `camera/leak_id` -> the leak's latest event details.
    leaks: Mutex<BTreeMap<String, serde_json::Value>>,
}

impl SiteBoard {
    /// Asks every storage watch for a report on its next frame; returns the request's generation.
    pub fn request_inspection(&self, request_id: &str) -> u64 {
        let mut g = self.inspections.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        g.1 = Some(request_id.to_string());
        g.0
    }

    pub fn inspection_requests(&self) -> (u64, Option<String>) {
        self.inspections.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A leak update: kept while open, dropped once cleared.
    pub fn leak(&self, camera: &str, leak_id: u64, cleared: bool, details: serde_json::Value) {
        let mut leaks = self.leaks.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{camera}/{leak_id}");
        if cleared {
            leaks.remove(&key);
        } else {
            let mut details = details;
            if let Some(o) = details.as_object_mut() {
                o.insert("camera".into(), camera.into());
            }
            leaks.insert(key, details);
        }
    }

    /// Forget a camera's leaks (its view was lost and its leak state reset).
    pub fn forget_leaks(&self, camera: &str) {
        let prefix = format!("{camera}/");
        self.leaks.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| !k.starts_with(&prefix));
    }

    pub fn open_leaks(&self) -> Vec<serde_json::Value> {
        self.leaks.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaks_stay_on_the_board_until_cleared_and_requests_count_up() {
        let b = SiteBoard::default();
        b.leak("floor", 1, false, serde_json::json!({"area_cm2": 40.0}));
        b.leak("floor", 1, false, serde_json::json!({"area_cm2": 90.0}));
        b.leak("tray", 1, false, serde_json::json!({"area_cm2": 10.0}));
        let open = b.open_leaks();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0]["area_cm2"], 90.0);
        assert_eq!(open[0]["camera"], "floor");
        b.leak("floor", 1, true, serde_json::Value::Null);
        b.forget_leaks("tray");
        assert!(b.open_leaks().is_empty());
        assert_eq!(b.request_inspection("r1"), 1);
        assert_eq!(b.request_inspection("r2"), 2);
        assert_eq!(b.inspection_requests(), (2, Some("r2".into())));
    }
}
