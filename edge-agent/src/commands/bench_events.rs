//! `edge-agent bench-events`: events through the real path (group-committed,
//! fsync'd outbox -> MQTT driver -> broker -> a subscriber in this process).
//! Reports sustained events/s against the outbox-only commit rate measured in
//! the same run, and end-to-end latency at a steady rate.

use crate::cli::BenchEventsArgs;
use crate::event::{EventDraft, Priority, Provenance, StampedEvent, Stamper};
use crate::mqtt::commands::{Command, CommandError, ErrorCode};
use crate::mqtt::health::{CameraHealth, HealthSource, Identity};
use crate::mqtt::options::LinkSettings;
use crate::mqtt::{CommandHandler, DriverSettings, MqttService, Topics};
use crate::outbox::Outbox;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

struct NoCameras;
impl HealthSource for NoCameras {
    fn cameras(&self) -> Vec<CameraHealth> {
        vec![]
    }
}
struct NoCommands;
impl CommandHandler for NoCommands {
    fn handle(&self, _: Command) -> Result<serde_json::Value, CommandError> {
        Err(CommandError::new(ErrorCode::NotApplicable, "benchmark"))
    }
}

pub fn bench_events(args: &BenchEventsArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new().prefix("edge-agent-bench-").tempdir()?;
    let broker = match &args.broker {
        Some(b) => b.clone(),
        None => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let addr = format!("127.0.0.1:{port}");
            crate::mqtt::broker::start_embedded(&addr, crate::config::MqttProtocol::V311)?;
            addr
        }
    };
    let device = format!("bench-{}-{:06x}", std::process::id(), fastrand::u32(..0xffffff));
    let topics = Topics::new("zwaste/bench", "bench", &device);
    let stamper = Stamper {
        site: "bench".into(),
        device_id: device.clone(),
        evidence_topic_base: topics.evidence_base(),
        provenance: Provenance {
            agent_version: crate::event::AGENT_VERSION.into(),
            schema_version: crate::event::SCHEMA_VERSION.into(),
            config_sha256: "0".repeat(64),
            models: vec![],
            calibration: vec![],
        },
        models: None,
    };
    let padding = "x".repeat(args.padding);
    let draft = |i: u64| EventDraft {
        id: None,
        kind: "bench".into(),
        priority: Priority::Normal,
        camera: "bench-cam".into(),
        task: "bench".into(),
        captured_at: SystemTime::now(),
        verdict: "seen".into(),
        confidence: 0.5,
        message_zh: None,
        details: serde_json::json!({ "i": i, "created_ns": unix_nanos(), "padding": padding }),
        evidence: None,
    };

    // Baseline: the outbox alone, the same batching the agent's writer does.
    let baseline_outbox = Arc::new(Outbox::open(&dir.path().join("baseline"), u64::MAX)?);
    let (tx, rx) = mpsc::channel::<StampedEvent>();
    let t0 = Instant::now();
    let writer = {
        let topics = topics.clone();
        let figures = crate::telemetry::Figures::new("bench", &device, Arc::new(NoCameras), baseline_outbox.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || crate::agent::write_events(rx, &baseline_outbox, &tokio::sync::Notify::new(), &topics, &figures))
    };
    for i in 0..args.events {
        tx.send(stamper.stamp(draft(i)))?;
    }
    drop(tx);
    let _ = writer.join();
    let commit_rate = args.events as f64 / t0.elapsed().as_secs_f64();
    // One event per fsync'd transaction: what group commit saves.
    let single = Outbox::open(&dir.path().join("single"), u64::MAX)?;
    let t0 = Instant::now();
    for i in 0..200 {
        single.commit(&mut [stamper.stamp(draft(i))], &|k| topics.event(k))?;
    }
    let single_rate = 200.0 / t0.elapsed().as_secs_f64();

    // The whole path.
    let outbox = Arc::new(Outbox::open(&dir.path().join("outbox"), u64::MAX)?);
    let (received_tx, received_rx) = mpsc::channel::<(u64, f64)>();
    let subscriber = spawn_subscriber(&broker, &topics.event("bench"), received_tx)?;
    let mqtt_config: crate::config::MqttConfig = toml::from_str(&format!("broker = \"{broker}\"\ninflight = 256"))?;
    let figures = Arc::new(crate::telemetry::Figures::new("bench", &device, Arc::new(NoCameras), outbox.clone(), dir.path().to_path_buf()));
    let service = MqttService::start(
        DriverSettings {
            link: LinkSettings::from_config(&mqtt_config, "bench", &device)?,
            topics: topics.clone(),
            identity: Identity {
                site: "bench".into(),
                device_id: device.clone(),
                started_at: crate::event::rfc3339_millis(SystemTime::now()),
                agent_version: crate::event::AGENT_VERSION.into(),
                config_sha256: "0".repeat(64),
                models: vec![],
                cameras: vec![],
                tasks: vec![],
            },
            heartbeat_interval: Duration::from_secs(3600),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(5),
        },
        outbox.clone(),
        figures.clone(),
        Arc::new(NoCommands),
    )?;
    std::thread::sleep(Duration::from_millis(500)); // connect and subscribe
    let (tx, rx) = mpsc::channel::<StampedEvent>();
    let writer = {
        let (outbox, wake, topics, figures) = (outbox.clone(), service.wake(), topics.clone(), figures.clone());
        std::thread::spawn(move || crate::agent::write_events(rx, &outbox, &wake, &topics, &figures))
    };
    let t0 = Instant::now();
    for i in 0..args.events {
        tx.send(stamper.stamp(draft(i)))?;
    }
    let mut got = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while got < args.events && Instant::now() < deadline {
        if received_rx.recv_timeout(Duration::from_secs(5)).is_ok() {
            got += 1;
        }
    }
    let sustained = got as f64 / t0.elapsed().as_secs_f64();

    // Latency at a steady rate.
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.1));
    let count = (args.latency_duration.as_secs_f64() * args.rate).ceil() as u64;
    let mut latencies = Vec::new();
    let start = Instant::now();
    for i in 0..count {
        let due = start + interval.mul_f64(i as f64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        tx.send(stamper.stamp(draft(args.events + i)))?;
        while let Ok((_, ms)) = received_rx.try_recv() {
            latencies.push(ms);
        }
    }
    let settle = Instant::now() + Duration::from_secs(5);
    while (latencies.len() as u64) < count && Instant::now() < settle {
        if let Ok((_, ms)) = received_rx.recv_timeout(Duration::from_millis(200)) {
            latencies.push(ms);
        }
    }
    drop(tx);
    let _ = writer.join();
    service.stop();
    drop(subscriber);
    latencies.sort_by(f64::total_cmp);
    let p50 = crate::agent::percentile(&latencies, 0.50);
    let p99 = crate::agent::percentile(&latencies, 0.99);
    let report = serde_json::json!({
        "broker": broker,
        "events": args.events,
        "received": got,
        "outbox_commit_events_per_s": commit_rate.round(),
        "outbox_single_event_commits_per_s": single_rate.round(),
        "end_to_end_events_per_s": sustained.round(),
        "end_to_end_vs_commit_only": (sustained / commit_rate * 100.0).round() / 100.0,
        "latency_rate_per_s": args.rate,
        "latency_samples": latencies.len(),
        "latency_p50_ms": (p50 * 100.0).round() / 100.0,
        "latency_p99_ms": (p99 * 100.0).round() / 100.0,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("broker {broker}, fsync'd outbox, QoS 1, payload ~{} B", 700 + args.padding);
        println!("  outbox, one fsync each  {:>9.0} events/s", single_rate);
        println!("  outbox commit only      {:>9.0} events/s   (baseline, same run: group commit)", commit_rate);
        println!("  outbox -> broker -> sub {:>9.0} events/s   ({:.2}x of baseline; {got}/{} received)", sustained, sustained / commit_rate, args.events);
        println!("  latency at {:.0} events/s  p50 {:.2} ms   p99 {:.2} ms   ({} samples)", args.rate, p50, p99, latencies.len());
    }
    Ok(if got == args.events && latencies.len() as u64 == count { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

struct Subscriber(Option<std::thread::JoinHandle<()>>, Arc<std::sync::atomic::AtomicBool>);
impl Drop for Subscriber {
    fn drop(&mut self) {
        self.1.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

fn spawn_subscriber(broker: &str, topic: &str, out: mpsc::Sender<(u64, f64)>) -> anyhow::Result<Subscriber> {
    let (host, port) = crate::mqtt::options::split_host_port(broker).ok_or_else(|| anyhow::anyhow!("--broker `{broker}` is not host:port"))?;
    let topic = topic.to_string();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let mut o = rumqttc::MqttOptions::new(format!("bench-sub-{:08x}", fastrand::u32(..)), host, port);
            o.set_max_packet_size(16 << 20, 1 << 16);
            let (client, mut events) = rumqttc::AsyncClient::new(o, 64);
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), events.poll()).await {
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(_)))) => {
                        // QoS 0 to the subscriber: the broker's flow control towards a
                        // QoS 1 subscriber (Mosquitto: 20 in flight, 1000 queued, then
                        // dropped) would be measured instead of the agent.
                        let _ = client.subscribe(&topic, rumqttc::QoS::AtMostOnce).await;
                    }
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(_)))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p)))) => {
                        let now = unix_nanos();
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&p.payload) {
                            let created = v["details"]["created_ns"].as_u64().unwrap_or(now);
                            let _ = out.send((v["seq"].as_u64().unwrap_or(0), now.saturating_sub(created) as f64 / 1e6));
                        }
                    }
                    Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                    _ => {}
                }
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| anyhow::anyhow!("the benchmark subscriber could not subscribe at {broker}"))?;
    Ok(Subscriber(Some(thread), stop))
}
