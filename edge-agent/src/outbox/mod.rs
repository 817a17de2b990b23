//! The durable outbox: every event and its evidence picture is committed to
//! disk (redb, fsync'd) before anything publishes it, and leaves only when the
//! broker has acknowledged it.
//!
//! Rules, in the spirit of Vector's disk buffer:
//! - `commit` is one fsync'd transaction per batch; it gives each event the
//!   device's next sequence number inside that transaction, so `seq` is
//!   gapless: a failed commit consumes no number.
//! - Records are keyed `(priority rank, seq)`: reading in key order drains
//!   alerts first, then normal events, then telemetry, each in `seq` order.
//!   An event's picture sits in a second table under the same key and is sent
//!   right after its event.
//! - `remove` (after PUBACK) commits without fsync: if the box dies before the
//!   next fsync, the event is sent again with the same id, never lost.
//! - The disk quota counts record bytes. Over it, the oldest telemetry goes
//!   first, then the oldest pictures, then (loudly) the oldest events; each is
//!   counted and the counts survive restarts.

mod record;

pub use record::{Part, RecordKey, StoredRecord};

use crate::event::{Priority, StampedEvent};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const EVENTS: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("events");
const EVIDENCE: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("evidence");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Records that failed to decode: kept, not published, not deleted.
const QUARANTINE: TableDefinition<(u8, u64, u8), &[u8]> = TableDefinition::new("quarantine");

pub const FILE_NAME: &str = "outbox.redb";

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open the outbox {path}: {message}. {hint}")]
    Open { path: PathBuf, message: String, hint: &'static str },
    #[error("outbox write failed ({0}); if the disk is full, free space on it or lower storage.outbox_quota_mb; events are kept in memory and retried")]
    Write(String),
    #[error("outbox read failed: {0}")]
    Read(String),
}

fn write_err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Write(e.to_string())
}
fn read_err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Read(e.to_string())
}

/// The outbox's counters, kept in the META table so they survive restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub next_seq: u64,
    pub bytes: u64,
    /// Waiting events per priority rank.
    pub events: [u64; 3],
    /// Waiting pictures per priority rank.
    pub evidence: [u64; 3],
    pub evicted_telemetry: u64,
    pub evicted_evidence: u64,
    pub evicted_events: u64,
    pub quarantined: u64,
}

const TALLY_KEYS: [&str; 12] = [
    "next_seq", "bytes", "events.0", "events.1", "events.2", "evidence.0", "evidence.1", "evidence.2", "evicted_telemetry",
    "evicted_evidence", "evicted_events", "quarantined",
];
const FORMAT_VERSION: u64 = 1;

impl Tally {
    fn fields(&mut self) -> [&mut u64; 12] {
        let [e0, e1, e2] = &mut self.events;
        let [v0, v1, v2] = &mut self.evidence;
        [
            &mut self.next_seq,
            &mut self.bytes,
            e0,
            e1,
            e2,
            v0,
            v1,
            v2,
            &mut self.evicted_telemetry,
            &mut self.evicted_evidence,
            &mut self.evicted_events,
            &mut self.quarantined,
        ]
    }

    pub fn depth(&self) -> u64 {
        self.events.iter().sum::<u64>() + self.evidence.iter().sum::<u64>()
    }
}

/// A snapshot for heartbeats.
#[derive(Debug, Clone, Default)]
pub struct OutboxStats {
    pub tally: Tally,
    pub quota_bytes: u64,
    pub oldest_created_ms: Option<u64>,
    pub write_errors: u64,
}

pub struct Outbox {
    /// `None` only between a disk error and the reopen that follows it: redb
    /// refuses further writes after an I/O error until the file is reopened.
    db: std::sync::RwLock<Option<Database>>,
    broken: std::sync::atomic::AtomicBool,
    path: PathBuf,
    quota_bytes: u64,
    /// Mirror of the committed tally (the writer is this process only).
    tally: Mutex<Tally>,
    write_errors: std::sync::atomic::AtomicU64,
}

impl Outbox {
    /// Opens (or creates) `<dir>/outbox.redb`. A box that was killed mid-write
    /// reopens to its last committed state (redb repairs on open).
    pub fn open(dir: &Path, quota_bytes: u64) -> Result<Self, OutboxError> {
        let path = dir.join(FILE_NAME);
        let shown = path.clone();
        let open_err = |message: String, hint: &'static str| OutboxError::Open { path: shown.clone(), message, hint };
        std::fs::create_dir_all(dir).map_err(|e| {
            open_err(e.to_string(), "Check that storage.dir is on a writable disk and the agent's user may write there.")
        })?;
        let db = Database::create(&path).map_err(|e| {
            open_err(
                e.to_string(),
                "If another edge-agent is running with the same storage.dir, stop it; if the file is damaged, move it aside (its events are then not sent).",
            )
        })?;
        let tally = Self::init(&db).map_err(|e| open_err(e.to_string(), "The outbox file may be damaged: move it aside."))?;
        Ok(Self {
            db: std::sync::RwLock::new(Some(db)),
            broken: Default::default(),
            path,
            quota_bytes,
            tally: Mutex::new(tally),
            write_errors: Default::default(),
        })
    }

    /// The open database, reopened first if the last write hit a disk error
    /// (a full disk that has since been freed then works again).
    fn db(&self) -> Result<Db<'_>, OutboxError> {
        if self.broken.load(std::sync::atomic::Ordering::Relaxed) {
            self.reopen()?;
        }
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            return Err(OutboxError::Write("the outbox is closed after a disk error and could not be reopened yet".into()));
        }
        Ok(Db(guard))
    }

    fn reopen(&self) -> Result<(), OutboxError> {
        let mut guard = self.db.write().unwrap_or_else(|e| e.into_inner());
        // Drop the old handle first: it holds the file lock.
        *guard = None;
        let db = Database::create(&self.path).map_err(write_err)?;
        // Unsynced deletions may be undone by the reopen: recount from disk.
        let tally = Self::init(&db)?;
        *guard = Some(db);
        *self.tally.lock().unwrap_or_else(|e| e.into_inner()) = tally;
        self.broken.store(false, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(path = %self.path.display(), "outbox reopened after a disk error");
        Ok(())
    }

    fn failed<T>(&self, result: Result<T, OutboxError>) -> Result<T, OutboxError> {
        if result.is_err() {
            self.broken.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    fn init(db: &Database) -> Result<Tally, OutboxError> {
        let txn = db.begin_write().map_err(write_err)?;
        let tally = {
            txn.open_table(EVENTS).map_err(write_err)?;
            txn.open_table(EVIDENCE).map_err(write_err)?;
            txn.open_table(QUARANTINE).map_err(write_err)?;
            let mut meta = txn.open_table(META).map_err(write_err)?;
            let format = meta.get("format").map_err(read_err)?.map(|v| v.value());
            match format {
                None => {
                    meta.insert("format", FORMAT_VERSION).map_err(write_err)?;
                    meta.insert("next_seq", 1).map_err(write_err)?;
                }
                Some(FORMAT_VERSION) => {}
                Some(other) => {
                    return Err(OutboxError::Read(format!(
                        "written by a newer agent (format {other}, this agent reads {FORMAT_VERSION})"
                    )));
                }
            }
            load_tally(&meta)?
        };
        txn.commit().map_err(write_err)?;
        Ok(tally)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn quota_bytes(&self) -> u64 {
        self.quota_bytes
    }

    /// Commits a batch in one fsync'd transaction, giving each event its
    /// sequence number (written into `events[i].event.seq`). Returns the keys.
    pub fn commit(&self, events: &mut [StampedEvent], topic_for: &dyn Fn(&str) -> String) -> Result<Vec<RecordKey>, OutboxError> {
        let result = self.commit_inner(events, topic_for);
        let result = self.failed(result);
        if result.is_err() {
            self.write_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // The transaction was dropped: nothing of it is on disk, and no
            // sequence number was used. Undo the numbers given in memory.
            for e in events.iter_mut() {
                e.event.seq = 0;
            }
        }
        result
    }

    fn commit_inner(&self, events: &mut [StampedEvent], topic_for: &dyn Fn(&str) -> String) -> Result<Vec<RecordKey>, OutboxError> {
        let db = self.db()?;
        // The tally lock is held across the transaction: the counters must
        // change in the same order as the transactions commit.
        let mut guard = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let mut tally = guard.clone();
        let mut txn = db.begin_write().map_err(write_err)?;
        txn.set_durability(Durability::Immediate).map_err(write_err)?;
        let mut keys = Vec::with_capacity(events.len());
        {
            let mut table = txn.open_table(EVENTS).map_err(write_err)?;
            let mut pictures = txn.open_table(EVIDENCE).map_err(write_err)?;
            let now = crate::event::unix_millis(std::time::SystemTime::now());
            for stamped in events.iter_mut() {
                let seq = tally.next_seq;
                tally.next_seq += 1;
                stamped.event.seq = seq;
                let rank = stamped.event.priority.rank();
                let payload = serde_json::to_vec(&stamped.event).map_err(write_err)?;
                let record = StoredRecord { created_ms: now, topic: topic_for(&stamped.event.kind), payload };
                let bytes = record.encode();
                tally.bytes += bytes.len() as u64;
                tally.events[rank as usize] += 1;
                table.insert((rank, seq), bytes.as_slice()).map_err(write_err)?;
                if let (Some(jpeg), Some(evidence)) = (&stamped.evidence_jpeg, &stamped.event.evidence) {
                    let record = StoredRecord { created_ms: now, topic: evidence.topic.clone(), payload: jpeg.clone() };
                    let bytes = record.encode();
                    tally.bytes += bytes.len() as u64;
                    tally.evidence[rank as usize] += 1;
                    pictures.insert((rank, seq), bytes.as_slice()).map_err(write_err)?;
                }
                keys.push(RecordKey { rank, seq, part: Part::Event });
            }
            enforce_quota(&mut table, &mut pictures, &mut tally, self.quota_bytes)?;
            let mut meta = txn.open_table(META).map_err(write_err)?;
            save_tally(&mut meta, &mut tally)?;
        }
        txn.commit().map_err(write_err)?;
        *guard = tally;
        Ok(keys)
    }

    /// The first `limit` records in delivery order, skipping those in `skip`
    /// (already handed to the broker and waiting for their PUBACK). Delivery
    /// order is `(rank, seq, part)`: an event, then its picture.
    pub fn next_batch(&self, skip: &HashSet<RecordKey>, limit: usize) -> Result<Vec<(RecordKey, StoredRecord)>, OutboxError> {
        let (mut out, mut corrupt) = (Vec::new(), Vec::new());
        {
            let db = self.db()?;
            let txn = db.begin_read().map_err(read_err)?;
            let events = txn.open_table(EVENTS).map_err(read_err)?;
            let pictures = txn.open_table(EVIDENCE).map_err(read_err)?;
            let mut a = events.iter().map_err(read_err)?.map(|e| keyed(Part::Event, e)).peekable();
            let mut b = pictures.iter().map_err(read_err)?.map(|e| keyed(Part::Evidence, e)).peekable();
            while out.len() < limit {
                let take_a = match (a.peek(), b.peek()) {
                    (None, None) => break,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (Some(Err(_)), _) => true,
                    (_, Some(Err(_))) => false,
                    (Some(Ok((ka, _))), Some(Ok((kb, _)))) => ka < kb,
                };
                let (key, raw) = if take_a { a.next() } else { b.next() }.expect("peeked")?;
                if skip.contains(&key) {
                    continue;
                }
                match StoredRecord::decode(raw.value()) {
                    Ok(record) => out.push((key, record)),
                    Err(_) => corrupt.push((key, raw.value().to_vec())),
                }
            }
        }
        if !corrupt.is_empty() {
            let result = self.quarantine(&corrupt);
            self.failed(result)?;
        }
        Ok(out)
    }

    /// Deletes acknowledged records. Not fsync'd (see the module rules); call
    /// [`Outbox::sync`] now and then.
    pub fn remove(&self, keys: &[RecordKey]) -> Result<(), OutboxError> {
        if keys.is_empty() {
            return Ok(());
        }
        let result = self.remove_inner(keys);
        self.failed(result)
    }

    fn remove_inner(&self, keys: &[RecordKey]) -> Result<(), OutboxError> {
        let db = self.db()?;
        let mut guard = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let mut tally = guard.clone();
        let mut txn = db.begin_write().map_err(write_err)?;
        txn.set_durability(Durability::None).map_err(write_err)?;
        {
            let mut events = txn.open_table(EVENTS).map_err(write_err)?;
            let mut pictures = txn.open_table(EVIDENCE).map_err(write_err)?;
            for key in keys {
                let table = if key.part == Part::Event { &mut events } else { &mut pictures };
                let removed = table.remove((key.rank, key.seq)).map_err(write_err)?.map(|v| v.value().len() as u64);
                if let Some(bytes) = removed {
                    tally.bytes = tally.bytes.saturating_sub(bytes);
                    let counts = if key.part == Part::Event { &mut tally.events } else { &mut tally.evidence };
                    let slot = &mut counts[(key.rank as usize).min(2)];
                    *slot = slot.saturating_sub(1);
                }
            }
            let mut meta = txn.open_table(META).map_err(write_err)?;
            save_tally(&mut meta, &mut tally)?;
        }
        txn.commit().map_err(write_err)?;
        *guard = tally;
        Ok(())
    }

    /// Makes every earlier `remove` durable.
    pub fn sync(&self) -> Result<(), OutboxError> {
        let result = self.db().and_then(|db| {
            let mut txn = db.begin_write().map_err(write_err)?;
            txn.set_durability(Durability::Immediate).map_err(write_err)?;
            txn.commit().map_err(write_err)
        });
        self.failed(result)
    }

    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stats(&self) -> OutboxStats {
        OutboxStats {
            tally: self.tally(),
            quota_bytes: self.quota_bytes,
            oldest_created_ms: self.oldest_created_ms().ok().flatten(),
            write_errors: self.write_errors.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// When the oldest waiting event was committed.
    fn oldest_created_ms(&self) -> Result<Option<u64>, OutboxError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(read_err)?;
        let events = txn.open_table(EVENTS).map_err(read_err)?;
        let mut oldest: Option<u64> = None;
        // The oldest is the first of some rank (each rank is in seq order).
        for rank in 0..3u8 {
            if let Some(entry) = events.range((rank, 0)..=(rank, u64::MAX)).map_err(read_err)?.next() {
                let (_, v) = entry.map_err(read_err)?;
                if let Ok(r) = StoredRecord::decode(v.value()) {
                    oldest = Some(oldest.map_or(r.created_ms, |o: u64| o.min(r.created_ms)));
                }
            }
        }
        Ok(oldest)
    }

    /// Number of records waiting (events plus pictures), read from the tables.
    pub fn count_on_disk(&self) -> Result<u64, OutboxError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(read_err)?;
        let a = txn.open_table(EVENTS).map_err(read_err)?.len().map_err(read_err)?;
        let b = txn.open_table(EVIDENCE).map_err(read_err)?.len().map_err(read_err)?;
        Ok(a + b)
    }

    fn quarantine(&self, keys: &[(RecordKey, Vec<u8>)]) -> Result<(), OutboxError> {
        let db = self.db()?;
        let mut guard = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let mut tally = guard.clone();
        let txn = db.begin_write().map_err(write_err)?;
        {
            let mut q = txn.open_table(QUARANTINE).map_err(write_err)?;
            let mut events = txn.open_table(EVENTS).map_err(write_err)?;
            let mut pictures = txn.open_table(EVIDENCE).map_err(write_err)?;
            for (key, raw) in keys {
                tracing::error!(rank = key.rank, seq = key.seq, "outbox record cannot be decoded; moved to quarantine (kept, not sent)");
                q.insert((key.rank, key.seq, key.part as u8), raw.as_slice()).map_err(write_err)?;
                let table = if key.part == Part::Event { &mut events } else { &mut pictures };
                if remove_counted(table, &mut tally, key.rank, key.seq, key.part)? {
                    tally.quarantined += 1;
                }
            }
            let mut meta = txn.open_table(META).map_err(write_err)?;
            save_tally(&mut meta, &mut tally)?;
        }
        txn.commit().map_err(write_err)?;
        *guard = tally;
        Ok(())
    }
}

/// A read lock on the open database.
struct Db<'a>(std::sync::RwLockReadGuard<'a, Option<Database>>);

impl std::ops::Deref for Db<'_> {
    type Target = Database;
    fn deref(&self) -> &Database {
        self.0.as_ref().expect("Outbox::db checked it is open")
    }
}

type Entry<'a> = (redb::AccessGuard<'a, (u8, u64)>, redb::AccessGuard<'a, &'static [u8]>);

fn keyed<'a>(part: Part, entry: Result<Entry<'a>, redb::StorageError>) -> Result<(RecordKey, redb::AccessGuard<'a, &'static [u8]>), OutboxError> {
    let (k, v) = entry.map_err(read_err)?;
    let (rank, seq) = k.value();
    Ok((RecordKey { rank, seq, part }, v))
}

type Table<'t> = redb::Table<'t, (u8, u64), &'static [u8]>;

/// Evicts until the records fit the quota: telemetry, then pictures, then
/// events (normal before alerts), oldest first within each.
fn enforce_quota(events: &mut Table<'_>, pictures: &mut Table<'_>, tally: &mut Tally, quota: u64) -> Result<(), OutboxError> {
    let telemetry = Priority::Telemetry.rank();
    while tally.bytes > quota {
        // 1. the oldest telemetry event, with its picture
        if let Some(seq) = first_seq(events, telemetry)? {
            remove_counted(events, tally, telemetry, seq, Part::Event)?;
            if remove_counted(pictures, tally, telemetry, seq, Part::Evidence)? {
                tally.evicted_evidence += 1;
            }
            tally.evicted_telemetry += 1;
            continue;
        }
        // 2. the oldest picture, least urgent class first
        if let Some((rank, seq)) = [2u8, 1, 0].iter().find_map(|&r| first_seq(pictures, r).transpose().map(|s| s.map(|s| (r, s)))).transpose()? {
            remove_counted(pictures, tally, rank, seq, Part::Evidence)?;
            tally.evicted_evidence += 1;
            continue;
        }
        // 3. the oldest event: loud, it is lost for good.
        if let Some((rank, seq)) = [1u8, 0].iter().find_map(|&r| first_seq(events, r).transpose().map(|s| s.map(|s| (r, s)))).transpose()? {
            remove_counted(events, tally, rank, seq, Part::Event)?;
            tally.evicted_events += 1;
            tracing::error!(seq, priority = ?Priority::from_rank(rank), "outbox quota reached: the oldest event was dropped unsent; raise storage.outbox_quota_mb or restore the broker link");
            continue;
        }
        break;
    }
    Ok(())
}

fn first_seq(table: &Table<'_>, rank: u8) -> Result<Option<u64>, OutboxError> {
    match table.range((rank, 0)..=(rank, u64::MAX)).map_err(read_err)?.next() {
        Some(entry) => Ok(Some(entry.map_err(read_err)?.0.value().1)),
        None => Ok(None),
    }
}

fn remove_counted(table: &mut Table<'_>, tally: &mut Tally, rank: u8, seq: u64, part: Part) -> Result<bool, OutboxError> {
    let removed = table.remove((rank, seq)).map_err(write_err)?.map(|v| v.value().len() as u64);
    if let Some(bytes) = removed {
        tally.bytes = tally.bytes.saturating_sub(bytes);
        let counts = if part == Part::Event { &mut tally.events } else { &mut tally.evidence };
        let slot = &mut counts[(rank as usize).min(2)];
        *slot = slot.saturating_sub(1);
    }
    Ok(removed.is_some())
}

fn load_tally(meta: &impl ReadableTable<&'static str, u64>) -> Result<Tally, OutboxError> {
    let mut tally = Tally::default();
    for (key, field) in TALLY_KEYS.iter().zip(tally.fields()) {
        *field = meta.get(*key).map_err(read_err)?.map(|v| v.value()).unwrap_or(0);
    }
    tally.next_seq = tally.next_seq.max(1);
    Ok(tally)
}

fn save_tally(meta: &mut redb::Table<'_, &'static str, u64>, tally: &mut Tally) -> Result<(), OutboxError> {
    for (key, field) in TALLY_KEYS.iter().zip(tally.fields()) {
        meta.insert(*key, *field).map_err(write_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
