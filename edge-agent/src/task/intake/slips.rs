//! Declared intake slips waiting for their container. They arrive on
//! `cmd/intake-slip` and are taken by the intake task; kept on disk so a
//! restart between the declaration and the container loses none.

use crate::mqtt::commands::IntakeSlip;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Slips waiting; the oldest goes when full.
pub const MAX_PENDING_SLIPS: usize = 64;

pub struct SlipBook {
    file: Option<PathBuf>,
    slips: Mutex<VecDeque<IntakeSlip>>,
}

impl SlipBook {
    /// Slips in memory only (tests, `inspect`).
    pub fn in_memory() -> Self {
        Self { file: None, slips: Mutex::new(VecDeque::new()) }
    }

    /// Opens (or starts) `dir/intake-slips.json`. A file that cannot be read
    /// is kept aside as `.corrupt` and reported, not overwritten.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let file = dir.join("intake-slips.json");
        let slips = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<VecDeque<IntakeSlip>>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    let aside = file.with_extension("json.corrupt");
                    std::fs::rename(&file, &aside).map_err(|re| format!("{} is not readable ({e}) and cannot be moved aside ({re})", file.display()))?;
                    tracing::error!(file = %aside.display(), error = %e, "the waiting intake slips could not be read; kept the file aside, starting with none");
                    VecDeque::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => VecDeque::new(),
            Err(e) => return Err(format!("cannot read {} ({e})", file.display())),
        };
        Ok(Self { file: Some(file), slips: Mutex::new(slips) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<IntakeSlip>> {
        self.slips.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a slip; Err if its id is already waiting or it cannot be stored.
    /// Returns how many wait now.
    pub fn add(&self, slip: IntakeSlip) -> Result<usize, String> {
        let mut slips = self.lock();
        if slips.iter().any(|s| s.slip_id == slip.slip_id) {
            return Err(format!("slip `{}` is already waiting for its container", slip.slip_id));
        }
        let mut next = slips.clone();
        if next.len() == MAX_PENDING_SLIPS
            && let Some(old) = next.pop_front()
        {
            tracing::warn!(slip = %old.slip_id, "too many declared slips waiting; the oldest was dropped");
        }
        next.push_back(slip);
        // On disk first: a slip acknowledged to the platform must survive a restart.
        self.save(&next)?;
        *slips = next;
        Ok(slips.len())
    }

    /// Takes the newest slip for `camera` (or for any camera) declared within
    /// `max_age` of `now`; older ones for that camera are dropped as stale.
    pub fn take_for(&self, camera: &str, now: chrono::DateTime<chrono::Utc>, max_age: chrono::Duration) -> Option<IntakeSlip> {
        let mut slips = self.lock();
        let mine = |s: &IntakeSlip| s.camera.as_deref().is_none_or(|c| c == camera);
        let fresh = |s: &IntakeSlip| {
            chrono::DateTime::parse_from_rfc3339(&s.declared_at).is_ok_and(|d| now.signed_duration_since(d.with_timezone(&chrono::Utc)) <= max_age)
        };
        let mut next = slips.clone();
        let stale = next.len();
        next.retain(|s| !(mine(s) && !fresh(s)));
        let stale = stale - next.len();
        if stale > 0 {
            tracing::warn!(camera, stale, "dropped intake slips older than the pairing window");
        }
        let slip = next.iter().rposition(mine).and_then(|i| next.remove(i));
        if (slip.is_some() || stale > 0)
            && let Err(e) = self.save(&next)
        {
            // The slip is used either way; a failed save only risks using it twice after a restart.
            tracing::error!(error = %e, "cannot store the waiting intake slips");
        }
        *slips = next;
        slip
    }

    pub fn waiting(&self) -> Vec<IntakeSlip> {
        self.lock().iter().cloned().collect()
    }

    fn save(&self, slips: &VecDeque<IntakeSlip>) -> Result<(), String> {
        let Some(file) = &self.file else { return Ok(()) };
        crate::fsutil::write_atomic(file, &serde_json::to_vec_pretty(slips).unwrap_or_default()).map_err(|e| format!("cannot store the waiting intake slips in {} ({e}); free disk space", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::commands::Company;

    fn slip(id: &str, camera: Option<&str>, declared_at: &str) -> IntakeSlip {
        IntakeSlip {
            request_id: format!("r-{id}"),
            slip_id: id.into(),
            camera: camera.map(str::to_string),
            waste_name: "废矿物油".into(),
            category: "HW08".into(),
            waste_code: "900-249-08".into(),
            weight_kg: 25.0,
            company: Company { name: "北京亦庄精密机械有限公司".into(), credit_code: None },
            declared_at: declared_at.into(),
            container_code: None,
            container_type: None,
            batch_code: None,
        }
    }

    #[test]
    fn slips_survive_a_restart_and_are_taken_newest_first_per_camera() {
        let dir = tempfile::tempdir().unwrap();
        let book = SlipBook::open(dir.path()).unwrap();
        book.add(slip("A", Some("dock-1"), "2026-11-29T10:00:00+08:00")).unwrap();
        book.add(slip("B", Some("dock-2"), "2026-11-29T10:01:00+08:00")).unwrap();
        book.add(slip("C", None, "2026-11-29T10:02:00+08:00")).unwrap();
        assert!(book.add(slip("A", None, "2026-11-29T10:03:00+08:00")).unwrap_err().contains("already waiting"));
        drop(book);
        let book = SlipBook::open(dir.path()).unwrap();
        assert_eq!(book.waiting().len(), 3);
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:05:00+08:00").unwrap().to_utc();
        let hour = chrono::Duration::hours(1);
        assert_eq!(book.take_for("dock-1", now, hour).unwrap().slip_id, "C");
        assert_eq!(book.take_for("dock-1", now, hour).unwrap().slip_id, "A");
        assert!(book.take_for("dock-1", now, hour).is_none());
        let later = now + chrono::Duration::hours(2);
        assert!(book.take_for("dock-2", later, hour).is_none(), "a stale slip is not paired");
        assert!(book.waiting().is_empty(), "and it is dropped");
    }

    #[test]
    fn an_unreadable_file_is_kept_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("intake-slips.json"), b"{not json").unwrap();
        let book = SlipBook::open(dir.path()).unwrap();
        assert!(book.waiting().is_empty());
        assert_eq!(std::fs::read(dir.path().join("intake-slips.json.corrupt")).unwrap(), b"{not json");
    }
}
