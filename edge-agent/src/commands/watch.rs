//! `edge-agent schemas` and `edge-agent watch`: the topic table, and a live
//! view of what an agent publishes, so a newcomer sees events arrive.

use crate::cli::WatchArgs;
use crate::config::Config;
use crate::mqtt::topics;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

pub fn schemas(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let base = match config {
        Some(path) => crate::agent::topics_of(&Config::load(path)?).base().to_string(),
        None => "<prefix>/<site>/<device>".to_string(),
    };
    print!("{}", topics::render_table(&base));
    println!("\nSchemas and examples: mqtt-schemas/ (JSON Schema draft 2020-12). Default prefix: zwaste/v1.");
    Ok(ExitCode::SUCCESS)
}

pub fn watch(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let broker = match (&args.broker, &config) {
        (Some(b), _) => b.clone(),
        (None, Some(c)) => c.mqtt.connect_address().to_string(),
        (None, None) => "127.0.0.1:11883".to_string(),
    };
    let filter = match (&args.topic, &config) {
        (Some(t), _) => t.clone(),
        (None, Some(c)) => crate::agent::topics_of(c).all(),
        (None, None) => "zwaste/v1/#".to_string(),
    };
    let (host, port) = crate::mqtt::options::split_host_port(&broker).ok_or_else(|| anyhow::anyhow!("--broker `{broker}` is not host:port"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(watch_loop(args, host, port, filter))
}

async fn watch_loop(args: &WatchArgs, host: String, port: u16, filter: String) -> anyhow::Result<ExitCode> {
    let client_id = format!("edge-agent-watch-{}-{:08x}", std::process::id(), fastrand::u32(..));
    let mut options = rumqttc::MqttOptions::new(client_id, &host, port);
    options.set_keep_alive(std::time::Duration::from_secs(30)).set_max_packet_size(16 << 20, 64 << 10);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    let started = Instant::now();
    let mut seen = 0u64;
    let mut announced = false;
    let mut waiting_said = false;
    loop {
        let remaining = args.timeout.map(|t| t.saturating_sub(started.elapsed()));
        if remaining.is_some_and(|r| r.is_zero()) {
            break;
        }
        let polled = match remaining {
            Some(r) => match tokio::time::timeout(r, events.poll()).await {
                Ok(p) => p,
                Err(_) => break,
            },
            None => events.poll().await,
        };
        match polled {
            Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(_))) => {
                client.subscribe(&filter, rumqttc::QoS::AtLeastOnce).await?;
                if !announced {
                    eprintln!("watching {filter} on {host}:{port} (Ctrl-C to stop)");
                    announced = true;
                }
                waiting_said = false;
            }
            Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p))) => {
                println!("{}", if args.json { json_line(&p) } else { human_line(&p) });
                seen += 1;
                if args.count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !waiting_said {
                    eprintln!("waiting for the broker at {host}:{port} ({e}); is the agent running? see --broker");
                    waiting_said = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    }
    Ok(if args.count.is_some_and(|c| seen < c) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn json_line(p: &rumqttc::Publish) -> String {
    let payload: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "topic": p.topic,
        "retain": p.retain,
        "bytes": p.payload.len(),
        "sha256": crate::inference::manifest::sha256_hex(&p.payload),
        "payload": payload,
    })
    .to_string()
}

/// One readable line: time, the topic after `<prefix>/<site>/<device>/`, and the gist.
fn human_line(p: &rumqttc::Publish) -> String {
    let now = chrono::Local::now().format("%H:%M:%S%.3f");
    let short = p.topic.splitn(4, '/').nth(3).map_or(p.topic.as_str(), |_| {
        // <prefix> is two segments by default; show from the kind of message on.
        ["/status", "/heartbeat", "/events/", "/evidence/", "/cmd/", "/reply/"]
            .iter()
            .find_map(|k| p.topic.find(k).map(|i| &p.topic[i + 1..]))
            .unwrap_or(p.topic.as_str())
    });
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
        let kind = if p.payload.starts_with(&[0xff, 0xd8]) { "JPEG" } else { "binary" };
        return format!("{now} {short}  {} bytes {kind}", p.payload.len());
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let gist = if short.starts_with("events/") {
        format!(
            "#{} {} {} {} {:.2}{}{}",
            v["seq"],
            s("camera"),
            s("verdict"),
            s("message_zh"),
            v["confidence"].as_f64().unwrap_or(0.0),
            if v["replayed"] == true { " (replayed)" } else { "" },
            if v["evidence"].is_object() { " +picture" } else { "" }
        )
    } else if short == "status" {
        format!("{} agent {} config {}", s("state"), s("agent_version"), s("config_sha256").get(..12).unwrap_or(""))
    } else if short == "heartbeat" {
        let cams: Vec<String> = v["cameras"]
            .as_array()
            .map(|a| a.iter().map(|c| format!("{} {}fps", c["camera"].as_str().unwrap_or("?"), c["fps"])).collect())
            .unwrap_or_default();
        format!("outbox {} waiting, mqtt published {} acked {}; {}", v["outbox"]["depth"], v["mqtt"]["published"], v["mqtt"]["acked"], cams.join(", "))
    } else if short.starts_with("reply/") {
        match v["ok"].as_bool() {
            Some(true) => format!("ok {} {}", s("request_id"), v["result"]),
            _ => format!("error {} {}", v["error"]["code"], v["error"]["message"]),
        }
    } else {
        v.to_string()
    };
    format!("{now} {short}  {gist}")
}
