use super::*;
use crate::event::evidence::EvidenceImage;
use crate::event::{EventDraft, Priority, Provenance, Stamper};

fn stamper() -> Stamper {
    Stamper {
        site: "site".into(),
        device_id: "dev".into(),
        evidence_topic_base: "p/site/dev/evidence/".into(),
        provenance: Provenance {
            agent_version: "0".into(),
            schema_version: "1.0".into(),
            config_sha256: "0".repeat(64),
            models: vec![],
            calibration: vec![],
        },
        models: None,
    }
}

fn event(priority: Priority, picture_bytes: usize) -> StampedEvent {
    stamper().stamp(EventDraft {
        id: None,
        kind: "test".into(),
        priority,
        camera: "cam".into(),
        task: "task".into(),
        captured_at: std::time::SystemTime::now(),
        verdict: "seen".into(),
        confidence: 0.5,
        message_zh: None,
        details: serde_json::json!({}),
        evidence: (picture_bytes > 0).then(|| EvidenceImage { jpeg: vec![0xab; picture_bytes], width: 1, height: 1 }),
    })
}

fn topic(kind: &str) -> String {
    format!("p/site/dev/events/{kind}")
}

fn commit(outbox: &Outbox, batch: Vec<StampedEvent>) -> Vec<RecordKey> {
    let mut batch = batch;
    outbox.commit(&mut batch, &topic).expect("commit")
}

fn all(outbox: &Outbox) -> Vec<(RecordKey, StoredRecord)> {
    outbox.next_batch(&HashSet::new(), usize::MAX).expect("read")
}

#[test]
fn commit_numbers_events_gaplessly_and_the_numbers_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path(), u64::MAX).unwrap();
    let keys = commit(&outbox, vec![event(Priority::Normal, 0), event(Priority::Normal, 0)]);
    assert_eq!(keys.iter().map(|k| k.seq).collect::<Vec<_>>(), vec![1, 2]);
    drop(outbox);
    let outbox = Outbox::open(dir.path(), u64::MAX).unwrap();
    let keys = commit(&outbox, vec![event(Priority::Normal, 0)]);
    assert_eq!(keys[0].seq, 3);
    let records = all(&outbox);
    assert_eq!(records.len(), 3, "nothing was lost across the reopen");
    let first: crate::event::Event = serde_json::from_slice(&records[0].1.payload).unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(records[0].1.topic, "p/site/dev/events/test");
}

#[test]
fn alerts_drain_first_and_each_picture_follows_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path(), u64::MAX).unwrap();
    commit(&outbox, vec![event(Priority::Telemetry, 10), event(Priority::Normal, 0), event(Priority::Alert, 10)]);
    let order: Vec<_> = all(&outbox).into_iter().map(|(k, _)| (k.rank, k.seq, k.part)).collect();
    assert_eq!(
        order,
        vec![(0, 3, Part::Event), (0, 3, Part::Evidence), (1, 2, Part::Event), (2, 1, Part::Event), (2, 1, Part::Evidence)]
    );
    let tally = outbox.tally();
    assert_eq!((tally.events, tally.evidence), ([1, 1, 1], [1, 0, 1]));
}

#[test]
fn removed_records_are_gone_and_in_flight_ones_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path(), u64::MAX).unwrap();
    let keys = commit(&outbox, (0..5).map(|_| event(Priority::Normal, 0)).collect());
    outbox.remove(&keys[..2]).unwrap();
    let skip: HashSet<_> = [keys[2]].into_iter().collect();
    let left: Vec<u64> = outbox.next_batch(&skip, 10).unwrap().iter().map(|(k, _)| k.seq).collect();
    assert_eq!(left, vec![4, 5]);
    assert_eq!(outbox.next_batch(&HashSet::new(), 1).unwrap().len(), 1, "limit is honoured");
    assert_eq!(outbox.tally().depth(), 3);
    assert_eq!(outbox.count_on_disk().unwrap(), 3);
    outbox.sync().unwrap();
}

#[test]
fn over_quota_telemetry_goes_first_then_pictures_then_the_oldest_events() {
    let dir = tempfile::tempdir().unwrap();
    let first = Outbox::open(dir.path(), u64::MAX).unwrap();
    commit(&first, vec![event(Priority::Telemetry, 0), event(Priority::Normal, 1000), event(Priority::Alert, 1000)]);
    let used = first.tally().bytes;
    drop(first);
    // The quota is a setting, not stored: reopen with room for 1.5 KB more.
    let quota = used + 1_500;
    let outbox = Outbox::open(dir.path(), quota).unwrap();
    // Two more pictures overflow: the telemetry event goes, then the oldest picture.
    commit(&outbox, vec![event(Priority::Normal, 1000), event(Priority::Normal, 1000)]);
    let t = outbox.tally();
    assert_eq!(t.evicted_telemetry, 1);
    assert!(t.evicted_evidence >= 1, "{t:?}");
    assert_eq!(t.evicted_events, 0, "events stay while pictures can go");
    assert!(t.bytes <= quota, "{t:?}");
    let left = all(&outbox);
    assert!(left.iter().all(|(k, _)| k.rank != 2), "telemetry evicted");
    assert!(left.iter().any(|(k, _)| k.rank == 0 && k.part == Part::Evidence), "the alert's picture is the last to go");

    // Events alone over the quota: the oldest normal events go, loudly counted.
    let tiny = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(tiny.path(), 1_500).unwrap();
    commit(&outbox, (0..10).map(|_| event(Priority::Normal, 0)).collect());
    commit(&outbox, vec![event(Priority::Alert, 0)]);
    let t = outbox.tally();
    assert!(t.evicted_events > 0 && t.bytes <= 1_500, "{t:?}");
    let left = all(&outbox);
    assert_eq!(left[0].0.rank, 0, "the alert is kept");
    let seqs: Vec<u64> = left.iter().filter(|(k, _)| k.rank == 1).map(|(k, _)| k.seq).collect();
    assert_eq!(*seqs.last().unwrap(), 10, "the newest normal events are kept");
    drop(outbox);
    let reopened = Outbox::open(tiny.path(), 1_500).unwrap();
    assert_eq!(reopened.tally().evicted_events, t.evicted_events, "eviction counts survive a restart");
}

#[test]
fn a_damaged_record_is_quarantined_not_sent_and_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path(), u64::MAX).unwrap();
    commit(&outbox, vec![event(Priority::Normal, 0), event(Priority::Normal, 0)]);
    {
        let txn = outbox.db().unwrap().begin_write().unwrap();
        txn.open_table(EVENTS).unwrap().insert((1, 2), &[7u8, 1, 2][..]).unwrap();
        txn.commit().unwrap();
    }
    let batch = all(&outbox);
    assert_eq!(batch.len(), 1, "the good record is still sent");
    assert_eq!(outbox.tally().quarantined, 1);
    assert_eq!(outbox.tally().depth(), outbox.count_on_disk().unwrap(), "the counters follow the tables");
    let txn = outbox.db().unwrap().begin_read().unwrap();
    let q = txn.open_table(QUARANTINE).unwrap();
    assert_eq!(q.get((1, 2, 0)).unwrap().map(|v| v.value().to_vec()), Some(vec![7, 1, 2]));
}

#[test]
fn an_outbox_from_a_newer_agent_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    {
        let outbox = Outbox::open(dir.path(), u64::MAX).unwrap();
        let txn = outbox.db().unwrap().begin_write().unwrap();
        txn.open_table(META).unwrap().insert("format", 99).unwrap();
        txn.commit().unwrap();
    }
    let err = Outbox::open(dir.path(), u64::MAX).err().expect("refused").to_string();
    assert!(err.contains("newer agent") && err.contains("move it aside"), "{err}");
}

#[test]
fn counters_stay_exact_when_commits_and_removals_race() {
    // Regression: the tally was once updated after the transaction released
    // redb's writer lock, and a racing writer overwrote it.
    let dir = tempfile::tempdir().unwrap();
    let outbox = std::sync::Arc::new(Outbox::open(dir.path(), u64::MAX).unwrap());
    let writer = {
        let outbox = outbox.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                commit(&outbox, vec![event(Priority::Normal, 10), event(Priority::Alert, 0)]);
            }
        })
    };
    let mut removed = 0;
    while removed < 400 {
        let batch = outbox.next_batch(&HashSet::new(), 50).unwrap();
        let keys: Vec<_> = batch.iter().map(|(k, _)| *k).collect();
        outbox.remove(&keys).unwrap();
        removed += keys.iter().filter(|k| k.part == Part::Event).count();
    }
    writer.join().unwrap();
    let rest: Vec<_> = all(&outbox).into_iter().map(|(k, _)| k).collect();
    outbox.remove(&rest).unwrap();
    assert_eq!(outbox.count_on_disk().unwrap(), 0);
    assert_eq!(outbox.tally().depth(), 0, "{:?}", outbox.tally());
    assert_eq!(outbox.tally().bytes, 0);
}
