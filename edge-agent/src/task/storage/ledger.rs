//! The pod's local ledger (HJ 1259-2022 台账): containers that came in
//! through intake and those that left on a transfer manifest. The storage
//! watch compares what the camera sees against it; capacity is counted from
//! its declared weights. Kept on disk, written whole and atomically, so a
//! restart or a power cut loses no record.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Transferred records kept as history beyond this many are dropped, oldest first.
const MAX_HISTORY: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// 数字识别码 (37 characters), the container's identity.
    pub id_code: String,
    #[serde(default)]
    pub waste_code: Option<String>,
    /// HWdd.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub waste_name: Option<String>,
    /// Declared weight (the slip's, else the label's).
    #[serde(default)]
    pub weight_kg: Option<f64>,
    /// RFC 3339.
    pub intake_at: String,
    #[serde(default)]
    pub slip_id: Option<String>,
    /// The intake verdict it came in with (accept / review).
    #[serde(default)]
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// 联单编号, 14 digits.
    pub manifest_no: String,
    pub at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    records: Vec<LedgerRecord>,
}

/// Why a transfer was refused; nothing changes then.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransferError {
    #[error("manifest number `{0}` is not 14 digits (4 year + 2 province + 2 prefecture + 6 serial)")]
    BadManifest(String),
    #[error("not in this pod's stock: {}; nothing was transferred (check the codes against the intake records)", .0.join(", "))]
    NotInStock(Vec<String>),
    #[error("{0}")]
    Storage(String),
}

/// A 联单编号: 14 digits (危险废物转移管理办法 Art. 15).
pub fn is_manifest_no(s: &str) -> bool {
    s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit())
}

pub struct Ledger {
    file: Option<PathBuf>,
    records: Mutex<Vec<LedgerRecord>>,
    /// Bumped on every change, so watchers see a new stock without comparing it.
    version: AtomicU64,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl Ledger {
    pub fn in_memory() -> Self {
        Self { file: None, records: Mutex::new(Vec::new()), version: AtomicU64::new(0) }
    }

    /// Opens (or starts) `dir/storage-ledger.json`. An unreadable file is
    /// refused, not replaced: the ledger is a legal record.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let file = dir.join("storage-ledger.json");
        let records = match std::fs::read(&file) {
            Ok(bytes) => {
                serde_json::from_slice::<LedgerFile>(&bytes)
                    .map_err(|e| format!("the ledger {} cannot be read ({e}); restore it from a backup or move it aside to start an empty one", file.display()))?
                    .records
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read the ledger {} ({e})", file.display())),
        };
        Ok(Self { file: Some(file), records: Mutex::new(records), version: AtomicU64::new(1) })
    }

    /// A ledger file read for an offline run: changes stay in memory.
    pub fn read_only(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read the ledger {} ({e})", path.display()))?;
        let file: LedgerFile = serde_json::from_slice(&bytes).map_err(|e| {
            format!("{} is not a ledger ({e}); give the agent's storage-ledger.json: {{\"records\": [{{\"id_code\": ..., \"intake_at\": ...}}]}}", path.display())
        })?;
        Ok(Self { file: None, records: Mutex::new(file.records), version: AtomicU64::new(1) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LedgerRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    fn commit(&self, guard: &mut Vec<LedgerRecord>, next: Vec<LedgerRecord>) -> Result<(), String> {
        if let Some(file) = &self.file {
            let text = serde_json::to_vec_pretty(&LedgerFile { records: next.clone() }).map_err(|e| e.to_string())?;
            crate::fsutil::write_atomic(file, &text).map_err(|e| format!("cannot write the ledger {} ({e}); free disk space, nothing was changed", file.display()))?;
        }
        *guard = next;
        self.version.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Records a container taken in. Ok(false): it is already in stock (the
    /// same intake seen again), nothing changes.
    pub fn record_intake(&self, record: LedgerRecord) -> Result<bool, String> {
        let mut records = self.lock();
        if records.iter().any(|r| r.id_code == record.id_code && r.transfer.is_none()) {
            return Ok(false);
        }
        let mut next = records.clone();
        next.push(record);
        let history = next.iter().filter(|r| r.transfer.is_some()).count();
        if history > MAX_HISTORY {
            let mut drop = history - MAX_HISTORY;
            next.retain(|r| {
                let old = r.transfer.is_some() && drop > 0;
                drop -= usize::from(old);
                !old
            });
        }
        self.commit(&mut records, next)?;
        Ok(true)
    }

    /// Marks containers as gone on manifest `manifest_no`. All or nothing:
    /// one unknown code refuses the whole transfer. A repeat of a transfer
    /// already recorded is accepted and changes nothing.
    pub fn transfer_out(&self, manifest_no: &str, ids: &[String], at: &str) -> Result<Vec<String>, TransferError> {
        if !is_manifest_no(manifest_no) {
            return Err(TransferError::BadManifest(manifest_no.chars().take(40).collect()));
        }
        let mut records = self.lock();
        let done = |id: &String| records.iter().any(|r| &r.id_code == id && r.transfer.as_ref().is_some_and(|t| t.manifest_no == manifest_no));
        let missing: Vec<String> = ids.iter().filter(|id| !done(id) && !records.iter().any(|r| &r.id_code == *id && r.transfer.is_none())).cloned().collect();
        if !missing.is_empty() {
            return Err(TransferError::NotInStock(missing));
        }
        let mut next = records.clone();
        let mut moved = Vec::new();
        for r in next.iter_mut().filter(|r| r.transfer.is_none() && ids.contains(&r.id_code)) {
            r.transfer = Some(Transfer { manifest_no: manifest_no.into(), at: at.into() });
            moved.push(r.id_code.clone());
        }
        if !moved.is_empty() {
            self.commit(&mut records, next).map_err(TransferError::Storage)?;
        }
        Ok(moved)
    }

    /// The record of a container in stock.
    pub fn in_stock(&self, id_code: &str) -> Option<LedgerRecord> {
        self.lock().iter().find(|r| r.id_code == id_code && r.transfer.is_none()).cloned()
    }

    /// The transfer that took a container out, if it left.
    pub fn transferred(&self, id_code: &str) -> Option<Transfer> {
        self.lock().iter().rev().find(|r| r.id_code == id_code).and_then(|r| r.transfer.clone())
    }

    pub fn stock(&self) -> Vec<LedgerRecord> {
        self.lock().iter().filter(|r| r.transfer.is_none()).cloned().collect()
    }

    /// Declared weight in stock (kg), and how many containers in stock declared none.
    pub fn stock_kg(&self) -> (f64, usize) {
        let records = self.lock();
        let stock = records.iter().filter(|r| r.transfer.is_none());
        let kg = stock.clone().filter_map(|r| r.weight_kg).filter(|w| w.is_finite() && *w > 0.0).sum();
        (kg, stock.filter(|r| r.weight_kg.is_none_or(|w| !(w.is_finite() && w > 0.0))).count())
    }
}

/// Capacity warnings at levels of the limit (0.8, 1.0): each level is raised
/// once when the stock reaches it, and armed again once the stock falls 5 %
/// of the limit below it.
#[derive(Debug, Clone)]
pub struct CapacityWatch {
    levels: Vec<f64>,
    raised: Vec<bool>,
}

impl CapacityWatch {
    pub fn new(levels: &[f64]) -> Self {
        let mut levels = levels.to_vec();
        levels.sort_by(f64::total_cmp);
        Self { raised: vec![false; levels.len()], levels }
    }

    /// The levels newly reached by `stock_kg` against `limit_kg` (highest last).
    pub fn update(&mut self, stock_kg: f64, limit_kg: f64) -> Vec<f64> {
        let share = if limit_kg > 0.0 { stock_kg / limit_kg } else { 0.0 };
        let mut reached = Vec::new();
        for (level, raised) in self.levels.iter().zip(self.raised.iter_mut()) {
            if share >= *level && !*raised {
                *raised = true;
                reached.push(*level);
            } else if share < level - 0.05 {
                *raised = false;
            }
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn record(id: &str, category: &str, kg: f64) -> LedgerRecord {
        LedgerRecord {
            id_code: id.into(),
            waste_code: None,
            category: Some(category.into()),
            waste_name: None,
            weight_kg: Some(kg),
            intake_at: "2026-12-01T09:00:00+08:00".into(),
            slip_id: None,
            verdict: "accept".into(),
            transfer: None,
        }
    }

    #[test]
    fn intake_then_transfer_out_moves_containers_out_of_stock_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(ledger.record_intake(record("A", "HW08", 180.0)).unwrap());
        assert!(!ledger.record_intake(record("A", "HW08", 180.0)).unwrap(), "the same intake twice is one record");
        assert!(ledger.record_intake(record("B", "HW34", 20.0)).unwrap());
        let v = ledger.version();
        assert_eq!(ledger.stock_kg(), (200.0, 0));
        // A bad manifest number or an unknown code changes nothing.
        assert!(matches!(ledger.transfer_out("2026110001", &["A".into()], "t"), Err(TransferError::BadManifest(_))));
        let err = ledger.transfer_out("20261101000001", &["A".into(), "Z".into()], "t").unwrap_err();
        assert_eq!(err, TransferError::NotInStock(vec!["Z".into()]));
        assert!(ledger.in_stock("A").is_some());
        assert_eq!(ledger.version(), v);
        assert_eq!(ledger.transfer_out("20261101000001", &["A".into()], "t").unwrap(), vec!["A".to_string()]);
        // The platform resending the same transfer is answered, not refused.
        assert!(ledger.transfer_out("20261101000001", &["A".into()], "t").unwrap().is_empty());
        assert!(ledger.in_stock("A").is_none());
        assert_eq!(ledger.transferred("A").unwrap().manifest_no, "20261101000001");
        let reopened = Ledger::open(dir.path()).unwrap();
        assert_eq!(reopened.stock().len(), 1);
        assert_eq!(reopened.stock_kg(), (20.0, 0));
        // A container can come back in later under the same code.
        assert!(reopened.record_intake(record("A", "HW08", 50.0)).unwrap());
        assert_eq!(reopened.stock_kg(), (70.0, 0));
    }

    #[test]
    fn an_unreadable_ledger_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("storage-ledger.json"), b"{not json").unwrap();
        let err = Ledger::open(dir.path()).err().unwrap();
        assert!(err.contains("cannot be read") && err.contains("backup"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("storage-ledger.json")).unwrap(), b"{not json");
    }

    #[test]
    fn capacity_levels_are_raised_once_and_armed_again_below() {
        let mut w = CapacityWatch::new(&[1.0, 0.8]);
        assert!(w.update(2000.0, 3000.0).is_empty());
        assert_eq!(w.update(2500.0, 3000.0), vec![0.8]);
        assert!(w.update(2600.0, 3000.0).is_empty());
        assert_eq!(w.update(3100.0, 3000.0), vec![1.0]);
        assert!(w.update(2350.0, 3000.0).is_empty(), "78 % is within the 5 % band");
        assert!(w.update(2000.0, 3000.0).is_empty());
        assert_eq!(w.update(2450.0, 3000.0), vec![0.8]);
        assert_eq!(CapacityWatch::new(&[0.8]).update(5.0, 0.0), Vec::<f64>::new());
    }
}
