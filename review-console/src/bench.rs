//! `review-console bench`: events ingested per second with their pictures
//! (through the same checks and store path as the MQTT subscriber), and the
//! queue page's server time with 100,000 events stored, each reported as a
//! ratio to a baseline measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::auth::{Role, SignInLimiter};
use crate::config::WebConfig;
use crate::ingest::subscriber::{Brokers, IngestStats};
use crate::ingest::{Limits, Schemas};
use crate::store::Store;
use crate::store::scratch::ScratchDatabase;
use crate::web::{self, AppState};

pub struct BenchOptions {
    pub server: String,
    /// A broker to measure the whole path through (publisher -> broker -> subscriber -> store).
    pub mqtt: Option<String>,
    pub events: usize,
    pub queue_events: usize,
    pub batch: usize,
}

const PREFIX: &str = "zwaste/v1";
const LIMITS: Limits = Limits { max_evidence_bytes: 4 << 20, max_json_bytes: 256 << 10 };

fn template(name: &str) -> Value {
    let text = match name {
        "sorting" => include_str!("../../mqtt-schemas/examples/event.sorting.json"),
        "intake" => include_str!("../../mqtt-schemas/examples/event.intake.json"),
        _ => include_str!("../../mqtt-schemas/examples/event.leak.json"),
    };
    serde_json::from_str(text).expect("the bundled examples are JSON")
}

/// A camera-like 1280x720 evidence frame: smooth light and some sensor noise (~100-150 KB as JPEG).
pub fn evidence_frame(seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let img = image::RgbImage::from_fn(1280, 720, |x, y| {
        let base = ((x / 5 + y / 3) % 200) as i32 + 30;
        let n = rng.i32(-6..=6);
        image::Rgb([(base + n).clamp(0, 255) as u8, (base / 2 + 60 + n).clamp(0, 255) as u8, (220 - base / 2 + n).clamp(0, 255) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img).expect("encodes");
    out
}

/// One synthetic event (valid against the schema) and its topic.
pub fn synthetic_event(i: usize, time_ms: i64, jpeg: Option<(&str, usize)>) -> (String, Vec<u8>, String) {
    let kind = ["sorting", "sorting", "sorting", "intake", "leak"][i % 5];
    let mut e = template(kind);
    let id = uuid::Uuid::now_v7().to_string();
    let (site, device) = (format!("site-{:02}", i % 7), format!("edge-{:02}", i % 23));
    let time = chrono::DateTime::from_timestamp_millis(time_ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    e["event_id"] = id.clone().into();
    e["seq"] = (i as u64 + 1).into();
    e["site"] = site.clone().into();
    e["device_id"] = device.clone().into();
    e["time"] = time.clone().into();
    e["captured_at"] = time.into();
    match jpeg {
        Some((sha, size)) => {
            e["evidence"]["sha256"] = sha.into();
            e["evidence"]["bytes"] = size.into();
            e["evidence"]["topic"] = format!("{PREFIX}/{site}/{device}/evidence/{id}").into();
        }
        None => e["evidence"] = Value::Null,
    }
    (format!("{PREFIX}/{site}/{device}/events/{kind}"), e.to_string().into_bytes(), id)
}

/// `n` events with their pictures, as (topic, payload) messages.
fn messages(n: usize, jpeg: &[u8], start_ms: i64, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(jpeg));
    let mut messages = Vec::with_capacity(n * 2);
    for i in 0..n {
        let (topic, payload, id) = synthetic_event(i, start_ms + i as i64 * 1000, Some((&sha, jpeg.len())));
        let topic = topic.replacen(PREFIX, prefix, 1);
        let parts: Vec<&str> = topic.split('/').collect();
        let evidence = format!("{prefix}/{}/{}/evidence/{id}", parts[parts.len() - 4], parts[parts.len() - 3]);
        messages.push((topic, payload));
        messages.push((evidence, jpeg.to_vec()));
    }
    messages
}

/// The whole path: a publisher sends through the broker, the console's subscriber
/// checks, stores and acks; timed from the first publish to the last picture stored.
async fn ingest_over_mqtt(store: &Store, address: &str, n: usize, batch: usize, jpeg: &[u8], start_ms: i64) -> Result<f64> {
    use std::sync::atomic::Ordering;
    let prefix = format!("bench-{}/v1", uuid::Uuid::now_v7().simple());
    let stats = Arc::new(IngestStats::default());
    let broker = crate::config::BrokerConfig {
        name: "bench".into(),
        address: address.into(),
        client_id: format!("review-bench-{}", uuid::Uuid::now_v7().simple()),
        prefix: prefix.clone(),
        shared_group: None,
        username: None,
        password: None,
        tls: false,
        ca_file: None,
    };
    let link = crate::ingest::subscriber::start(&broker, store.clone(), Arc::new(Schemas::load()?), LIMITS, batch, stats.clone())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !link.connected.load(Ordering::Relaxed) {
        anyhow::ensure!(Instant::now() < deadline, "cannot connect to the broker at {address}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (host, port) = crate::config::split_address(address).context("broker address")?;
    let mut o = rumqttc::MqttOptions::new(format!("review-bench-pub-{}", uuid::Uuid::now_v7().simple()), host, port);
    o.set_max_packet_size(16 << 20, 16 << 20).set_inflight(100);
    let (publisher, mut eventloop) = rumqttc::AsyncClient::new(o, 200);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let messages = messages(n, jpeg, start_ms, &prefix);
    let t = Instant::now();
    // At most MAX_BACKLOG messages published and not yet stored: a broker queues only
    // so much per subscriber (Mosquitto: max_queued_messages, 1000 by default) and drops the rest.
    const MAX_BACKLOG: u64 = 400;
    let stuck = |what: &str| anyhow::anyhow!("{what}: {} of {} messages stored; the broker dropped some (raise its max_queued_messages)", stats.stored.load(Ordering::Relaxed), 2 * n);
    for (sent, (topic, payload)) in messages.into_iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while sent as u64 > stats.stored.load(Ordering::Relaxed) + MAX_BACKLOG {
            if Instant::now() > deadline {
                return Err(stuck("no progress for 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        publisher.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.stored.load(Ordering::Relaxed) < 2 * n as u64 {
        if Instant::now() > deadline {
            return Err(stuck("after the last publish"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let _ = publisher.disconnect().await;
    let _ = link.client.disconnect().await;
    Ok(rate)
}

/// Ingests `n` events with pictures in batches; returns (events per second, share of the time in the checks).
async fn ingest(store: &Store, schemas: &Schemas, n: usize, batch: usize, jpeg: &[u8], start_ms: i64) -> Result<(f64, f64)> {
    let messages = messages(n, jpeg, start_ms, PREFIX);
    let (t, mut checking) = (Instant::now(), Duration::ZERO);
    for chunk in messages.chunks(batch) {
        let c = Instant::now();
        let accepted: Vec<_> = chunk.iter().map(|(t, p)| schemas.accept(PREFIX, t, p, &LIMITS).map_err(|r| anyhow::anyhow!("{}", r.reason))).collect::<Result<_>>()?;
        checking += c.elapsed();
        store.ingest("bench", &accepted, &[]).await?;
    }
    Ok((n as f64 / t.elapsed().as_secs_f64(), checking.as_secs_f64() / t.elapsed().as_secs_f64()))
}

/// Fills the store with events without pictures, fast (the queue does not read pictures).
async fn fill(store: &Store, schemas: &Schemas, from: usize, to: usize, start_ms: i64) -> Result<()> {
    let mut i = from;
    while i < to {
        let end = (i + 2000).min(to);
        let accepted: Vec<_> = (i..end)
            .map(|k| {
                let (topic, payload, _) = synthetic_event(k, start_ms + k as i64 * 1000, None);
                schemas.accept(PREFIX, &topic, &payload, &LIMITS).map_err(|r| anyhow::anyhow!("{}", r.reason))
            })
            .collect::<Result<_>>()?;
        store.ingest("bench", &accepted, &[]).await?;
        i = end;
    }
    Ok(())
}

/// Median and p95 server time of GET `path` through the whole router (session check, query, rendering).
async fn page_time(app: &axum::Router, cookie: &str, path: &str, runs: usize) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let req = Request::get(path).header(header::COOKIE, cookie).body(Body::empty())?;
        let t = Instant::now();
        let res = app.clone().oneshot(req).await?;
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 16 << 20).await?;
        times.push(t.elapsed());
        anyhow::ensure!(status.is_success() && body.len() > 1000, "{path}: HTTP {status}");
    }
    times.sort();
    Ok((times[runs / 2], times[runs * 95 / 100]))
}

pub async fn run(o: BenchOptions) -> Result<()> {
    let scratch = ScratchDatabase::create(&o.server).await?;
    let result = run_on(&o, &scratch.url).await;
    scratch.drop_database().await?;
    result
}

async fn run_on(o: &BenchOptions, url: &str) -> Result<()> {
    let store = Store::open(url, 8).await?;
    let schemas = Schemas::load()?;
    let jpeg = evidence_frame(7);
    let t0 = chrono::Utc::now().timestamp_millis() - 30 * 86_400_000;
    println!("database: {:?} (scratch database, dropped afterwards)", store.backend);
    println!("evidence picture: 1280x720 JPEG, {} KB; events: sorting / intake / leak examples, 7 sites, 23 devices", jpeg.len() / 1024);

    // Ingest: the baseline is one message per transaction (what an ack-per-message subscriber would do).
    let baseline_n = (o.events / 10).max(50);
    let (single, _) = ingest(&store, &schemas, baseline_n, 1, &jpeg, t0).await?;
    let (batched, checks) = ingest(&store, &schemas, o.events, o.batch, &jpeg, t0 + 1_000_000_000).await?;
    let mb = (o.events * jpeg.len()) as f64 / 1e6;
    println!("\ningest (schema check + store, with pictures):");
    println!("  baseline, 1 message per transaction : {single:8.0} events/s  ({baseline_n} events)");
    println!("  batches of {:4} messages            : {batched:8.0} events/s  ({} events, {:.0} MB of pictures, {:.0} MB/s; checks {:.0} % of the time)  x{:.1} the baseline", o.batch, o.events, mb, batched * jpeg.len() as f64 / 1e6, checks * 100.0, batched / single);
    if let Some(address) = &o.mqtt {
        let over = ingest_over_mqtt(&store, address, o.events, o.batch, &jpeg, t0 + 1_500_000_000).await?;
        println!("  through MQTT ({address}), QoS 1, ack after commit: {over:8.0} events/s  ({} events)  x{:.1} the baseline", o.events, over / single);
    }

    // Queue page at the stored count now (baseline) and at queue_events.
    store.put_user("bench", "bench-password-1", Role::Viewer).await?;
    let (token, _) = store.create_session("bench", 1).await?;
    let cookie = format!("{}={token}", web::SESSION_COOKIE);
    let app = web::router(AppState {
        store: store.clone(),
        brokers: Brokers::default(),
        schemas: Arc::new(Schemas::load()?),
        web: WebConfig::default(),
        limiter: Arc::new(SignInLimiter::new(5)),
        stats: Arc::new(IngestStats::default()),
    });
    let pages = ["/queue", "/queue?site=site-03", "/queue?kind=intake&review=unreviewed", "/queue?device=edge-05&from=2000-01-01&to=2100-01-01", "/overview"];
    let stored = store.count("events").await? as usize;
    let mut baseline = Vec::new();
    for p in pages {
        baseline.push(page_time(&app, &cookie, p, 30).await?);
    }
    fill(&store, &schemas, stored, o.queue_events.max(stored), t0 + 2_000_000_000).await?;
    let total = store.count("events").await?;
    if matches!(store.backend, crate::store::Backend::Postgres) {
        sqlx::query("ANALYZE").execute(&store.pool).await?;
    }
    // The second page of the default queue, through its cursor.
    let first = store.queue(&Default::default()).await?;
    let cursor = first.next.map(|(ms, id)| format!("/queue?before_ms={ms}&before_id={id}")).unwrap_or_else(|| "/queue".into());
    println!("\nqueue page server time (GET through the router: session, query, HTML), median / p95 of 30:");
    println!("  {:<58} {:>18} {:>22}", "page", format!("{stored} events"), format!("{total} events"));
    for (p, (b_med, _)) in pages.iter().zip(&baseline) {
        let (med, p95) = page_time(&app, &cookie, p, 30).await?;
        println!("  {p:<58} {:>15.1} ms {:>9.1} ms / {:>5.1} ms  x{:.1}", b_med.as_secs_f64() * 1e3, med.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3, med.as_secs_f64() / b_med.as_secs_f64());
    }
    let (med, p95) = page_time(&app, &cookie, &cursor, 30).await?;
    println!("  {:<58} {:>18} {:>9.1} ms / {:>5.1} ms", "/queue (page 2, by cursor)", "", med.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3);
    store.pool.close().await;
    Ok(())
}
