//! The console as a process against the real Mosquitto and PostgreSQL:
//! events published while it is down arrive after it restarts (durable
//! session), redeliveries make no duplicates, and hostile messages are
//! refused with their reason, logged, and never stored half-way.

mod common;

use std::time::Duration;

use common::{Console, Publisher, broker_toml, unique};
use review_console::store::Store;
use review_console::store::scratch::ScratchDatabase;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn events_survive_a_console_restart_and_hostile_messages_are_refused() {
    let rt = runtime();
    let broker = common::mosquitto();
    let scratch = rt.block_on(ScratchDatabase::create(&common::postgres())).unwrap();
    let store = rt.block_on(Store::open(&scratch.url, 2)).unwrap();
    let prefix = format!("{}/v1", unique("rc-test"));
    let brokers = format!("{}prefix = \"{prefix}\"\n", broker_toml("plant", broker, &unique("console")));
    let mut console = Console::start(&scratch.url, &brokers, "[ingest]\nmax_evidence_mb = 1.0");
    common::wait_until("the console's first subscription", Duration::from_secs(20), || console.log_text().contains("connected"));
    std::thread::sleep(Duration::from_millis(500));
    // Down: the broker keeps the session and queues what is published meanwhile.
    console.stop();

    let mut publisher = Publisher::connect(broker);
    let jpeg = review_console::bench::evidence_frame(3);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&jpeg));
    let mut events = Vec::new();
    for i in 0..20 {
        let (topic, payload, id) = review_console::bench::synthetic_event(i, chrono::Utc::now().timestamp_millis() - i as i64 * 60_000, Some((&sha, jpeg.len())));
        let topic = topic.replacen("zwaste/v1", &prefix, 1);
        let parts: Vec<&str> = topic.split('/').collect();
        let ev_topic = format!("{prefix}/{}/{}/evidence/{id}", parts[2], parts[3]);
        events.push((topic, payload, ev_topic, id));
    }
    for (topic, payload, ev_topic, _) in &events {
        publisher.publish(topic, payload.clone());
        publisher.publish(ev_topic, jpeg.clone());
    }
    let (good_topic, good, _, good_id) = &events[0];
    let mut e: serde_json::Value = serde_json::from_slice(good).unwrap();
    let hostile: Vec<(String, Vec<u8>, &str)> = vec![
        (good_topic.clone(), b"{\"event_id\": ".to_vec(), "not JSON"),
        (good_topic.clone(), { e["event_id"] = "x'); DELETE FROM events; --".into(); e.to_string().into_bytes() }, "event.schema.json"),
        (good_topic.replace("/site-00/", "/site-99/"), good.clone(), "the topic names"),
        (format!("{prefix}/site-00/edge-00/evidence/{}", uuid::Uuid::now_v7()), vec![0xFF, 0xD8, 0xFF, 0xE0].into_iter().chain(std::iter::repeat_n(0u8, 2 << 20)).collect(), "over the 1048576 byte limit"),
        (format!("{prefix}/site-00/edge-00/evidence/{}", uuid::Uuid::now_v7()), b"\x89PNG\r\n\x1a\n....".to_vec(), "not a JPEG"),
        (format!("{prefix}/bad site!/edge-00/events/sorting"), good.clone(), "topic is not"),
    ];
    for (topic, payload, _) in &hostile {
        publisher.publish(topic, payload.clone());
    }
    // A valid event after the hostile ones: the subscription survives them.
    let (late_topic, late, _) = review_console::bench::synthetic_event(99, chrono::Utc::now().timestamp_millis(), None);
    publisher.publish(&late_topic.replacen("zwaste/v1", &prefix, 1), late);
    publisher.flush();

    console.restart();
    let count = |table: &str| rt.block_on(store.count(table)).unwrap();
    common::wait_until("the queued events to be stored", Duration::from_secs(30), || count("events") == 21 && count("evidence") == 20 && count("rejects") == hostile.len() as i64);
    let rejects = rt.block_on(store.rejects(20)).unwrap();
    for (_, _, reason) in &hostile {
        assert!(rejects.iter().any(|r| r.reason.contains(reason)), "no reject for `{reason}`: {rejects:#?}");
    }
    assert!(rejects.iter().all(|r| r.broker == "plant" && r.sample.chars().count() <= 240));
    let log = console.log_text();
    assert!(log.contains("message rejected") && log.contains("not a JPEG"), "rejects are logged:\n{log}");
    let detail = rt.block_on(store.event(good_id)).unwrap().expect("the first event");
    assert_eq!(detail.evidence.as_ref().map(|e| e.3), Some(true), "its picture matches");

    // A redelivery of everything (an agent replaying its outbox) changes nothing.
    for (topic, payload, ev_topic, _) in &events {
        publisher.publish(topic, payload.clone());
        publisher.publish(ev_topic, jpeg.clone());
    }
    publisher.flush();
    common::wait_until("the redeliveries to be handled", Duration::from_secs(20), || console.log_text().matches("duplicates=").count() > 0 || count("events") != 21);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((count("events"), count("evidence")), (21, 20));

    drop(console);
    rt.block_on(store.pool.close());
    rt.block_on(scratch.drop_database()).unwrap();
}
