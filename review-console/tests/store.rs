//! The store on real PostgreSQL and on SQLite, through the same calls:
//! idempotent ingest, evidence checked against its event, filters and the
//! keyset cursor, verdicts with their audit entry and the box's reply,
//! the overview, and both exports.

mod common;

use review_console::export::{self, Period};
use review_console::ingest::{Accepted, Limits, Schemas};
use review_console::review::Review;
use review_console::store::Store;
use review_console::store::queue::QueueFilter;
use review_console::store::scratch::ScratchDatabase;
use serde_json::Value;

const LIMITS: Limits = Limits { max_evidence_bytes: 4 << 20, max_json_bytes: 256 << 10 };

fn accept(schemas: &Schemas, topic: &str, payload: &[u8]) -> Accepted {
    schemas.accept("zwaste/v1", topic, payload, &LIMITS).unwrap_or_else(|r| panic!("{topic}: {}", r.reason))
}

/// A sorting event of the example, as a new event at `time`, with a picture.
fn sorting_event(site: &str, device: &str, time: &str, jpeg: &[u8]) -> (String, Value) {
    let mut e = common::example("event.sorting.json");
    let id = uuid::Uuid::now_v7().to_string();
    e["event_id"] = id.clone().into();
    e["site"] = site.into();
    e["device_id"] = device.into();
    e["time"] = time.into();
    e["captured_at"] = time.into();
    e["evidence"]["sha256"] = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(jpeg)).into();
    e["evidence"]["bytes"] = jpeg.len().into();
    (id, e)
}

async fn exercise(server: &str) {
    let scratch = ScratchDatabase::create(server).await.unwrap();
    let store = Store::open(&scratch.url, 4).await.unwrap();
    let schemas = Schemas::load().unwrap();
    let jpeg = review_console::bench::evidence_frame(1);

    // An event, its picture, and both again (a redelivery): stored once.
    let (id, e) = sorting_event("bda-station-12", "edge-station12-01", "2026-11-20T02:00:00.000Z", &jpeg);
    let topic = "zwaste/v1/bda-station-12/edge-station12-01/events/sorting";
    let ev_topic = format!("zwaste/v1/bda-station-12/edge-station12-01/evidence/{id}");
    let batch = vec![accept(&schemas, topic, e.to_string().as_bytes()), accept(&schemas, &ev_topic, &jpeg)];
    let first = store.ingest("local", &batch, &[]).await.unwrap();
    assert_eq!((first.events, first.evidence, first.duplicates), (1, 1, 0));
    let again = store.ingest("local", &batch, &[]).await.unwrap();
    assert_eq!((again.events, again.evidence, again.duplicates), (0, 0, 2));
    assert_eq!(store.count("events").await.unwrap(), 1);
    assert_eq!(store.evidence_jpeg(&id).await.unwrap().unwrap(), jpeg);

    // A picture that is not the one the event names is refused and recorded, not stored.
    let (id2, e2) = sorting_event("bda-station-12", "edge-station12-01", "2026-11-20T03:00:00.000Z", &jpeg);
    let other = review_console::bench::evidence_frame(2);
    let c = store
        .ingest("local", &[accept(&schemas, topic, e2.to_string().as_bytes()), accept(&schemas, &format!("zwaste/v1/bda-station-12/edge-station12-01/evidence/{id2}"), &other)], &[])
        .await
        .unwrap();
    assert_eq!((c.events, c.evidence, c.rejected), (1, 0, 1));
    assert!(store.rejects(10).await.unwrap()[0].reason.contains("does not match its event"));
    assert_eq!(store.evidence_jpeg(&id2).await.unwrap(), None);

    // A picture before its event is kept, unverified; the event's own picture replaces an impostor.
    let (id3, e3) = sorting_event("bda-station-12", "edge-station12-01", "2026-11-20T04:00:00.000Z", &jpeg);
    let ev3 = format!("zwaste/v1/bda-station-12/edge-station12-01/evidence/{id3}");
    store.ingest("local", &[accept(&schemas, &ev3, &other)], &[]).await.unwrap();
    assert_eq!(store.evidence_jpeg(&id3).await.unwrap(), None, "no event yet: nothing shown");
    let c = store.ingest("local", &[accept(&schemas, topic, e3.to_string().as_bytes()), accept(&schemas, &ev3, &jpeg)], &[]).await.unwrap();
    assert_eq!((c.events, c.evidence), (1, 1));
    assert_eq!(store.evidence_jpeg(&id3).await.unwrap().unwrap(), jpeg);

    // More events over sites, kinds and days, for the filters and the cursor.
    let mut items = Vec::new();
    for i in 0..120 {
        let (topic, payload, _) = review_console::bench::synthetic_event(i, chrono::Utc::now().timestamp_millis() - i as i64 * 3_600_000, None);
        items.push(accept(&schemas, &topic, &payload));
    }
    store.ingest("local", &items, &[]).await.unwrap();
    let all = store.queue(&QueueFilter::default()).await.unwrap();
    // Sorting (3/5), leaks (1/5) and the two sorting events above are flagged; accepted intakes are not.
    assert_eq!(all.total, 3 + 72 + 24, "flagged: sorting + leak events");
    assert_eq!(all.rows.len(), 50);
    assert!(all.rows.windows(2).all(|w| (w[0].time_ms, &w[0].event_id) >= (w[1].time_ms, &w[1].event_id)), "newest first");
    let mut seen: Vec<String> = all.rows.iter().map(|r| r.event_id.clone()).collect();
    let mut next = all.next.clone();
    while let Some((ms, id)) = next {
        let page = store.queue(&QueueFilter { before_ms: Some(ms), before_id: Some(id), ..Default::default() }).await.unwrap();
        seen.extend(page.rows.iter().map(|r| r.event_id.clone()));
        next = page.next;
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (99, 99), "the cursor walks every flagged event once");
    let site = store.queue(&QueueFilter { site: Some("site-03".into()), kind: Some("leak".into()), ..Default::default() }).await.unwrap();
    assert!(site.total > 0 && site.rows.iter().all(|r| r.site == "site-03" && r.kind == "leak"));
    let with_routine = store.queue(&QueueFilter { all: true, ..Default::default() }).await.unwrap();
    assert_eq!(with_routine.total, 123);
    let hostile = store.queue(&QueueFilter { site: Some("x' OR '1'='1".into()), ..Default::default() }).await.unwrap();
    assert_eq!(hostile.total, 0, "filter values are bound, never spliced into SQL");

    // A verdict, with the feedback command kept until the reply; the audit records it.
    let review = Review::from_form("corrected", "other", "大棒骨", "'; DROP TABLE events; --").unwrap();
    assert!(store.record_review(&id, &review, "zhang", Some(("review-1", "{\"cmd\":1}")), "127.0.0.1").await.unwrap());
    assert!(!store.record_review("019ad0f2-0000-7000-8000-000000000000", &review, "zhang", None, "127.0.0.1").await.unwrap());
    assert!(store.feedback_due(60_000, 10).await.unwrap().is_empty(), "the verdict's own send goes first");
    sqlx::query("UPDATE events SET reviewed_ms = reviewed_ms - 10000").execute(&store.pool).await.unwrap();
    let due = store.feedback_due(60_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(), [id.as_str()], "a verdict whose command never went out is due");
    store.feedback_sent(&id).await.unwrap();
    assert!(store.feedback_due(60_000, 10).await.unwrap().is_empty(), "sent a moment ago: not due");
    let mut reply = common::example("reply.ok.json");
    reply["command"] = "label-feedback".into();
    reply["request_id"] = "review-1".into();
    reply["site"] = "bda-station-12".into();
    reply["device_id"] = "edge-station12-01".into();
    reply["result"] = serde_json::json!({"event_id": id, "enrolled": true, "label": "大棒骨", "category": "other"});
    store.ingest("local", &[accept(&schemas, "zwaste/v1/bda-station-12/edge-station12-01/reply/label-feedback", reply.to_string().as_bytes())], &[]).await.unwrap();
    let detail = store.event(&id).await.unwrap().unwrap();
    assert_eq!((detail.row.review.as_deref(), detail.corrected_category.as_deref()), (Some("corrected"), Some("other")));
    assert_eq!(detail.review_comment.as_deref(), Some("'; DROP TABLE events; --"), "stored as text");
    assert_eq!(detail.feedback_state.as_deref(), Some("applied"));
    assert_eq!(detail.feedback_reply.unwrap()["result"]["enrolled"], true);
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].target.as_deref(), audit[0].username.as_str()), ("verdict", Some(id.as_str()), "zhang"));
    assert_eq!(store.queue(&QueueFilter { review: Some("unreviewed".into()), ..Default::default() }).await.unwrap().total, 98);

    // Status and heartbeat: the overview's devices, backlog and bins.
    let mut hb = common::example("heartbeat.json");
    hb["site"] = "bda-station-12".into();
    hb["device_id"] = "edge-station12-01".into();
    hb["time"] = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into();
    let mut will = common::example("status.offline.json");
    will["site"] = "bda-station-12".into();
    will["device_id"] = "edge-station12-01".into();
    store
        .ingest(
            "local",
            &[
                accept(&schemas, "zwaste/v1/bda-station-12/edge-station12-01/heartbeat", hb.to_string().as_bytes()),
                accept(&schemas, "zwaste/v1/bda-station-12/edge-station12-01/status", will.to_string().as_bytes()),
            ],
            &[],
        )
        .await
        .unwrap();
    let o = store.overview(3650).await.unwrap();
    let d = o.devices.iter().find(|d| d.device_id == "edge-station12-01").unwrap();
    assert_eq!((d.state.as_str(), d.graceful, d.outbox_depth), ("offline", Some(false), Some(3)));
    assert_eq!(d.bins[0].contamination_rate, Some(0.129));
    assert!(o.per_day.contains_key("site-03") && o.per_day["site-03"].iter().all(|(day, n)| day.len() == 10 && *n > 0));
    assert!(!o.open_leaks.is_empty(), "the synthetic leaks were never cleared");

    // A leak is open until its latest event says cleared; one row per leak, its latest.
    let mut leaks = Vec::new();
    for (n, (leak_id, verdict)) in [(1, "suspected"), (2, "suspected"), (1, "growing"), (2, "cleared")].into_iter().enumerate() {
        let mut e = common::example("event.leak.json");
        let time = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis() - 600_000 + n as i64 * 60_000).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        e["event_id"] = uuid::Uuid::now_v7().to_string().into();
        e["device_id"] = "edge-pod-leaks".into();
        e["time"] = time.clone().into();
        e["captured_at"] = time.into();
        e["verdict"] = verdict.into();
        e["details"]["leak_id"] = leak_id.into();
        e["details"]["area_cm2"] = (10.0 * (n + 1) as f64).into();
        leaks.push(accept(&schemas, "zwaste/v1/bda-pod-07/edge-pod-leaks/events/leak", e.to_string().as_bytes()));
    }
    store.ingest("local", &leaks, &[]).await.unwrap();
    let o = store.overview(3650).await.unwrap();
    let open: Vec<_> = o.open_leaks.iter().filter(|l| l.device_id == "edge-pod-leaks").collect();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0].verdict.as_str(), open[0].area_cm2), ("growing", Some(30.0)));

    // Exports: the CSV has the verdict; the training set the corrected item, cut out by its box.
    let period = Period::parse("2026-11-20", "2026-11-20").unwrap();
    let csv = String::from_utf8(export::events_csv(&store, period, false).await.unwrap()).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with("review_comment,feedback"));
    let row = lines.find(|l| l.starts_with(&id)).expect("the reviewed event is exported");
    assert!(row.contains(",corrected,other,大棒骨,zhang,") && row.contains("'; DROP TABLE events; --"), "{row}");
    let out = tempfile::tempdir().unwrap();
    let n = export::training_folder(&store, period, &out.path().join("set")).await.unwrap();
    assert_eq!(n, 1);
    let picture = image::open(out.path().join(format!("set/other/{id}.jpg"))).unwrap();
    assert_eq!((picture.width(), picture.height()), (164 + 2 * 16, 301 + 2 * 30), "the item's box plus 10 %");
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.path().join("set/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["items"][0]["label"], "大棒骨");
    assert_eq!(manifest["items"][0]["review"], "corrected");
    let (zip, zipped) = export::training_zip(&store, period).await.unwrap();
    assert_eq!(zipped, 1);
    assert!(zip.starts_with(b"PK"));

    store.pool.close().await;
    scratch.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_round_trip() {
    exercise(&common::postgres()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_round_trip() {
    exercise("sqlite").await;
}
