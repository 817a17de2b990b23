//! The event path against real brokers: Mosquitto (shared at 127.0.0.1:1883,
//! or private ones that are stopped, given TLS, or kept down) and the embedded
//! broker, with the real agent binary, real models and a real subscriber.

mod common;

use common::mqtt::*;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn events_on(messages: &[Message]) -> Vec<serde_json::Value> {
    messages.iter().filter(|m| m.topic.contains("/events/")).map(Message::json).collect()
}

#[test]
fn events_status_heartbeats_and_pictures_match_their_schemas_on_the_embedded_broker() {
    let mut spec = AgentSpec::new("embedded");
    spec.evidence = true;
    spec.fps = 4.0;
    let mut agent = Agent::new(&spec);
    agent.start(&[]);
    let broker = agent.embedded_address();
    assert!(wait_for_port(broker.rsplit_once(':').unwrap().1.parse().unwrap(), LONG), "{}", agent.log());
    let sub = Collector::start(&broker, &format!("{}/#", agent.base), false);
    let got = sub.wait_for("an event, its picture and a heartbeat", LONG, |m| {
        m.iter().any(|x| x.topic.contains("/evidence/")) && m.iter().any(|x| x.topic.ends_with("/heartbeat") && x.json()["cameras"][0].is_object())
    });

    // (Retained delivery to late subscribers is checked in the last-will tests.)
    let status = got.iter().find(|m| m.topic.ends_with("/status")).expect("status");
    assert_eq!(status.json()["state"], "online");
    assert_valid("status", &status.json());
    // (A heartbeat sent at connect, before the cameras start, lists none.)
    let heartbeat = got.iter().rev().find(|m| m.topic.ends_with("/heartbeat")).unwrap().json();
    assert_valid("heartbeat", &heartbeat);
    assert_eq!(heartbeat["cameras"][0]["camera"], "cam-1");

    let events = events_on(&got);
    for e in &events {
        assert_valid("event", e);
    }
    let e = &events[0];
    assert_eq!((e["kind"].as_str(), e["camera"].as_str()), (Some("classification"), Some("cam-1")));
    let models = e["provenance"]["models"].as_array().unwrap();
    assert_eq!(models[0]["name"], "efficientnet-lite0");
    let manifest = std::fs::read_to_string(common::repo_root().join("models/efficientnet-lite0/model.toml")).unwrap();
    assert!(manifest.contains(models[0]["sha256"].as_str().unwrap()), "the event names the model file's sha256");
    let config_sha = edge_agent::inference::manifest::sha256_hex(&std::fs::read(&agent.config).unwrap());
    assert_eq!(e["provenance"]["config_sha256"], config_sha.as_str());

    // The picture arrives on the topic the event names, with the sha256 it gives.
    let evidence = &e["evidence"];
    let picture = got.iter().find(|m| m.topic == evidence["topic"].as_str().unwrap()).expect("the event's picture");
    assert_eq!(edge_agent::inference::manifest::sha256_hex(&picture.payload), evidence["sha256"].as_str().unwrap());
    assert_eq!(picture.payload.len() as u64, evidence["bytes"].as_u64().unwrap());
    let decoded = edge_agent::vision::decode::decode_image(&picture.payload).expect("a JPEG");
    assert_eq!((decoded.width() as u64, decoded.height() as u64), (evidence["width"].as_u64().unwrap(), evidence["height"].as_u64().unwrap()));

    // A clean stop says offline (graceful) and leaves nothing unsent.
    assert!(agent.stop().success(), "{}", agent.log());
    let got = sub.wait_for("the graceful offline status", LONG, |m| {
        m.iter().any(|x| x.topic.ends_with("/status") && x.json()["state"] == "offline")
    });
    let offline = got.iter().rev().find(|m| m.topic.ends_with("/status")).unwrap().json();
    assert_eq!(offline["graceful"], true);
    assert_valid("status", &offline);
    // (The subscriber may have joined after the first event; from there on, none is missing.)
    let received = seqs(&events_on(&got));
    let first = *received.iter().min().unwrap();
    let missing: Vec<u64> = (first..=agent.committed()).filter(|s| !received.contains(s)).collect();
    assert!(missing.is_empty(), "lost after a clean stop: {missing:?}");
}

#[test]
fn a_broker_outage_loses_no_event_and_replays_them_in_order() {
    let mut broker = Mosquitto::start("");
    let mut agent = Agent::new(&AgentSpec::new(&broker.address()));
    // The subscriber's session and queued messages survive the broker restart.
    let sub = Collector::start(&broker.address(), &format!("{}/events/#", agent.base), true);
    agent.start(&["--duration", "16s"]);
    sub.wait_for("events before the outage", LONG, |m| m.len() >= 5);
    broker.stop();
    std::thread::sleep(Duration::from_secs(4)); // ~40 events land in the outbox meanwhile
    broker.restart();
    assert!(agent.wait(LONG).success(), "{}", agent.log());
    let committed = agent.committed();
    let left = edge_agent::outbox::Outbox::open(&agent.state_dir(), u64::MAX).unwrap().count_on_disk().unwrap();
    assert_eq!(left, 0, "the agent delivered everything before it stopped\n{}", agent.log());
    let deadline = std::time::Instant::now() + LONG;
    while std::time::Instant::now() < deadline && !(1..=committed).all(|s| seqs(&sub.events()).contains(&s)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let events = sub.events();
    assert_complete_in_order(&events, committed);
    assert!(committed >= 60, "the agent kept producing during the outage ({committed})");
    let replayed = events.iter().filter(|e| e["replayed"] == true).count();
    assert!(replayed >= 20, "events made during the outage are flagged replayed ({replayed})");
    assert!(agent.log().contains("MQTT connection restored"), "{}", agent.log());
}

#[test]
fn an_agent_killed_with_sigkill_sends_every_committed_event_after_restart() {
    let broker = shared_mosquitto();
    let mut agent = Agent::new(&AgentSpec::new(broker));
    let sub = Collector::start(broker, &format!("{}/events/#", agent.base), false);
    agent.start(&[]);
    sub.wait_for("some events", LONG, |m| m.len() >= 10);
    agent.kill9();
    let committed = agent.committed();
    agent.start(&["--duration", "3s"]);
    assert!(agent.wait(LONG).success(), "{}", agent.log());
    let got = sub.wait_for("every event committed before the kill", LONG, |m| {
        let seqs = seqs(&events_on(m));
        (1..=committed).all(|s| seqs.contains(&s))
    });
    assert_complete_in_order(&events_on(&got), agent.committed());
}

fn last_will_and_online(broker: &str, agent: &mut Agent) {
    let sub = Collector::start(broker, &format!("{}/status", agent.base), false);
    agent.start(&[]);
    sub.wait_for("online", LONG, |m| m.iter().any(|x| x.json()["state"] == "online"));
    agent.kill9();
    let got = sub.wait_for("the last will", LONG, |m| m.iter().any(|x| x.json()["state"] == "offline"));
    let will = got.iter().find(|x| x.json()["state"] == "offline").unwrap().json();
    assert_eq!(will["graceful"], false, "the last will says the agent died");
    assert_valid("status", &will);
    assert!(will["models"].as_array().is_some_and(|m| !m.is_empty()) && will["agent_version"].is_string());
    let n = got.len();
    agent.start(&[]);
    sub.wait_for("online again", LONG, |m| m[n..].iter().any(|x| x.json()["state"] == "online"));
    // A subscriber arriving later sees the retained current state.
    let late = Collector::start(broker, &format!("{}/status", agent.base), false);
    let retained = late.wait_for("the retained status", LONG, |m| !m.is_empty());
    assert!(retained[0].retain && retained[0].json()["state"] == "online");
}

#[test]
fn the_last_will_is_seen_when_the_agent_dies_and_online_when_it_returns_on_mosquitto() {
    let broker = shared_mosquitto();
    let mut agent = Agent::new(&AgentSpec::new(broker));
    last_will_and_online(broker, &mut agent);
}

#[test]
fn the_last_will_is_seen_when_the_agent_dies_and_online_when_it_returns_on_the_embedded_broker() {
    // The embedded broker lives in the agent process: a second agent hosts it
    // so the first one can die.
    let mut host = Agent::new(&AgentSpec::new("embedded"));
    host.start(&[]);
    let broker = host.embedded_address();
    assert!(wait_for_port(broker.rsplit_once(':').unwrap().1.parse().unwrap(), LONG), "{}", host.log());
    let mut agent = Agent::new(&AgentSpec::new(&broker));
    last_will_and_online(&broker, &mut agent);
}

#[test]
fn a_flood_of_hostile_commands_gets_error_replies_and_changes_nothing() {
    let broker = shared_mosquitto();
    let mut agent = Agent::new(&AgentSpec::new(broker));
    agent.start(&[]);
    let sub = Collector::start(broker, &format!("{}/#", agent.base), false);
    sub.wait_for("online", LONG, |m| m.iter().any(|x| x.topic.ends_with("/status")));
    let base = agent.base.clone();
    let cmd = |name: &str| format!("{base}/cmd/{name}");
    let slip: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::repo_root().join("mqtt-schemas/examples/cmd-intake-slip.json")).unwrap()).unwrap();
    let mut slip = slip;
    slip.as_object_mut().unwrap().remove("camera"); // the example names another site's camera
    let mut wrong_type = slip.clone();
    wrong_type["weight_kg"] = "a lot".into();
    let hostile: Vec<(String, Vec<u8>, &str)> = vec![
        (cmd("ping"), b"{not json".to_vec(), "bad_json"),
        (cmd("ping"), vec![0xff; 10], "bad_json"),
        (cmd("ping"), br#"{"request_id": 5}"#.to_vec(), "invalid"),
        (cmd("intake-slip"), wrong_type.to_string().into_bytes(), "invalid"),
        (cmd("intake-slip"), br#"{"request_id":"r","slip_id":"s"}"#.to_vec(), "invalid"),
        (cmd("ping"), vec![b'{'; 200_000], "too_large"),
        (cmd("self-destruct"), br#"{"request_id":"x"}"#.to_vec(), "unknown_command"),
        (cmd("reload-config"), br#"{"request_id":"x","path":"/etc/shadow"}"#.to_vec(), "invalid"),
    ];
    let rounds = 25;
    for _ in 0..rounds {
        for (topic, payload, _) in &hostile {
            sub.publish(topic, payload.clone(), false);
        }
    }
    let expected = rounds * hostile.len();
    let got = sub.wait_for("a reply to every hostile command", LONG, |m| {
        m.iter().filter(|x| x.topic.contains("/reply/")).count() >= expected
    });
    let replies: Vec<_> = got.iter().filter(|x| x.topic.contains("/reply/")).map(Message::json).collect();
    for r in &replies {
        assert_valid("reply", r);
        assert_eq!(r["ok"], false, "{r}");
    }
    for (_, _, code) in &hostile {
        let n = replies.iter().filter(|r| r["error"]["code"] == *code).count();
        assert!(n >= rounds, "{code}: {n} replies");
    }
    // Still alive, still the same config, and a valid command still works.
    assert!(agent.is_running(), "{}", agent.log());
    sub.publish(&cmd("ping"), br#"{"request_id":"after-the-flood"}"#.to_vec(), false);
    sub.publish(&cmd("intake-slip"), slip.to_string().into_bytes(), false);
    let got = sub.wait_for("the ping and slip replies", LONG, |m| {
        m.iter().filter(|x| x.topic.contains("/reply/")).filter(|x| x.json()["ok"] == true).count() >= 2
    });
    let ok: Vec<_> = got.iter().filter(|x| x.topic.contains("/reply/")).map(Message::json).filter(|r| r["ok"] == true).collect();
    let pong = ok.iter().find(|r| r["command"] == "ping").expect("pong");
    assert_eq!(pong["request_id"], "after-the-flood");
    let config_sha = edge_agent::inference::manifest::sha256_hex(&std::fs::read(&agent.config).unwrap());
    assert_eq!(pong["result"]["config_sha256"], config_sha.as_str(), "no command changed the config");
    assert_eq!(ok.iter().find(|r| r["command"] == "intake-slip").unwrap()["result"]["waiting"], 1, "one slip waits; the bad ones changed nothing");
    // A retained command would run again on every reconnect: an agent that
    // finds one when it subscribes refuses it.
    sub.publish(&cmd("ping"), br#"{"request_id":"retained"}"#.to_vec(), true);
    std::thread::sleep(Duration::from_millis(500));
    assert!(agent.stop().success(), "{}", agent.log());
    agent.start(&[]);
    sub.wait_for("the retained refusal", LONG, |m| m.iter().any(|x| x.topic.contains("/reply/") && x.json()["error"]["code"] == "retained"));
    sub.publish(&cmd("ping"), vec![], true); // clear it from the broker
    let hb = sub.wait_for("a heartbeat counting the rejections", LONG, |m| {
        m.iter().any(|x| x.topic.ends_with("/heartbeat") && x.json()["commands"]["rejected"].as_u64().unwrap_or(0) >= 1)
    });
    let hb = hb.iter().rev().find(|x| x.topic.ends_with("/heartbeat")).unwrap().json();
    assert_valid("heartbeat", &hb);
    assert!(agent.stop().success(), "{}", agent.log());
}

#[test]
fn reload_config_applies_a_valid_file_and_refuses_a_broken_one() {
    let broker = shared_mosquitto();
    let mut agent = Agent::new(&AgentSpec::new(broker));
    agent.start(&[]);
    let sub = Collector::start(broker, &format!("{}/#", agent.base), false);
    sub.wait_for("online", LONG, |m| m.iter().any(|x| x.topic.ends_with("/status")));
    let replies = |m: &[Message]| m.iter().filter(|x| x.topic.contains("/reply/")).cloned().collect::<Vec<_>>();
    let cmd = format!("{}/cmd/reload-config", agent.base);
    let original = std::fs::read_to_string(&agent.config).unwrap();
    std::fs::write(&agent.config, original.replace("top_k = 3", "top_k = 2")).unwrap();
    sub.publish(&cmd, br#"{"request_id":"good"}"#.to_vec(), false);
    let got = replies(&sub.wait_for("the reload reply", LONG, |m| !replies(m).is_empty()));
    let r = got[0].json();
    assert_valid("reply", &r);
    assert_eq!(r["ok"], true, "{r}");
    let new_sha = edge_agent::inference::manifest::sha256_hex(&std::fs::read(&agent.config).unwrap());
    assert_eq!(r["result"]["config_sha256"], new_sha.as_str());

    std::fs::write(&agent.config, original.replace("fps = 10", "fps = -1")).unwrap();
    sub.publish(&cmd, br#"{"request_id":"bad"}"#.to_vec(), false);
    let got = replies(&sub.wait_for("the refusal", LONG, |m| replies(m).len() >= 2));
    let r = got[1].json();
    assert_eq!((r["ok"].as_bool(), r["error"]["code"].as_str()), (Some(false), Some("rejected")), "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("fps"), "{r}");
    assert!(agent.is_running());
    assert!(agent.stop().success(), "{}", agent.log());
}

#[test]
fn at_the_disk_quota_the_agent_keeps_running_drops_old_pictures_and_reports_it() {
    // The broker is down at first, so pictures pile up past a 1 MiB quota.
    let mut broker = Mosquitto::down();
    let address = broker.address();
    let mut spec = AgentSpec::new(&address);
    spec.evidence = true;
    spec.quota_mb = 1;
    spec.fps = 20.0;
    let mut agent = Agent::new(&spec);
    agent.start(&[]);
    std::thread::sleep(Duration::from_secs(6));
    assert!(agent.is_running(), "{}", agent.log());
    broker.restart();
    let sub = Collector::start(&address, &format!("{}/heartbeat", agent.base), false);
    let got = sub.wait_for("a heartbeat reporting evictions", LONG, |m| {
        m.iter().any(|x| x.json()["outbox"]["evicted_evidence"].as_u64().unwrap_or(0) > 0)
    });
    let hb = got.iter().find(|x| x.json()["outbox"]["evicted_evidence"].as_u64().unwrap_or(0) > 0).unwrap().json();
    assert_valid("heartbeat", &hb);
    assert!(hb["outbox"]["quota_bytes"].as_u64() == Some(1024 * 1024));
    assert_eq!(hb["outbox"]["evicted_events"], 0, "events are kept while pictures can go");
    assert!(agent.is_running());
    assert!(agent.stop().success(), "{}", agent.log());
    assert!(agent.committed() > 50);
}

#[test]
fn tls_with_a_private_ca_a_password_file_and_client_certificates_works_over_mqtt_5() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "zwaste test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ca_file = write("ca.pem", ca.pem());
    let cert_file = write("server.pem", server.pem());
    let key_file = write("server.key", server_key.serialize_pem());
    let password_file = write("password", "pod-secret\n".into());
    // Mosquitto's own tool hashes the password file.
    let users = dir.path().join("users");
    std::fs::write(&users, "").unwrap();
    let ok = std::process::Command::new("mosquitto_passwd").arg("-b").arg(&users).args(["pod07", "pod-secret"]).status().unwrap();
    assert!(ok.success());
    let broker = Mosquitto::start(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\npassword_file {}\n",
        ca_file.display(),
        cert_file.display(),
        key_file.display(),
        users.display()
    ));
    let tls_broker = format!("localhost:{}", broker.port);
    let mut spec = AgentSpec::new(&tls_broker);
    spec.extra_mqtt = format!(
        "protocol = \"5\"\nusername = \"pod07\"\npassword_file = \"{}\"\n[mqtt.tls]\nca_file = \"{}\"\n",
        password_file.display(),
        ca_file.display()
    );
    let mut agent = Agent::new(&spec);
    agent.start(&["--duration", "8s"]);
    // A plain-TCP subscriber cannot join a TLS listener; the agent's own
    // outbox tells whether the broker acknowledged everything.
    assert!(agent.wait(LONG).success(), "{}", agent.log());
    let log = agent.log();
    assert!(log.contains("MQTT connected"), "{log}");
    assert!(!log.contains("pod-secret"), "the password never reaches the log");
    let outbox = edge_agent::outbox::Outbox::open(&agent.state_dir(), u64::MAX).unwrap();
    assert!(outbox.tally().next_seq > 10, "events were made");
    assert_eq!(outbox.count_on_disk().unwrap(), 0, "every event was acknowledged over TLS + MQTT 5");
    drop(outbox); // one process at a time may hold the outbox

    // A wrong password is refused and named, and nothing is lost meanwhile.
    let wrong = write("wrong", "nope\n".into());
    let text = std::fs::read_to_string(&agent.config).unwrap().replace(&password_file.display().to_string(), &wrong.display().to_string());
    std::fs::write(&agent.config, text).unwrap();
    agent.start(&["--duration", "4s"]);
    assert!(agent.wait(LONG).success(), "{}", agent.log());
    assert!(agent.log().contains("MQTT connect failed"), "{}", agent.log());
    let outbox = edge_agent::outbox::Outbox::open(&agent.state_dir(), u64::MAX).unwrap();
    assert!(outbox.count_on_disk().unwrap() > 0, "events wait in the outbox while the broker refuses us");

    // Mutual TLS: a broker that demands a client certificate signed by the CA.
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name.push(rcgen::DnType::CommonName, "edge-pod07-01");
    let client = client_params.signed_by(&client_key, &issuer).unwrap();
    let client_cert = write("client.pem", client.pem());
    let client_key_file = write("client.key", client_key.serialize_pem());
    let mtls = Mosquitto::start(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        ca_file.display(),
        cert_file.display(),
        key_file.display()
    ));
    let mut spec = AgentSpec::new(&format!("localhost:{}", mtls.port));
    spec.extra_mqtt = format!(
        "[mqtt.tls]\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        ca_file.display(),
        client_cert.display(),
        client_key_file.display()
    );
    let mut agent = Agent::new(&spec);
    agent.start(&["--duration", "5s"]);
    assert!(agent.wait(LONG).success(), "{}", agent.log());
    assert!(agent.log().contains("MQTT connected"), "{}", agent.log());
    let outbox = edge_agent::outbox::Outbox::open(&agent.state_dir(), u64::MAX).unwrap();
    assert!(outbox.tally().next_seq > 5 && outbox.count_on_disk().unwrap() == 0, "every event acknowledged over mutual TLS");
}

#[test]
fn mqtt_5_replies_go_to_the_response_topic_with_the_correlation_data() {
    let broker = shared_mosquitto();
    let mut spec = AgentSpec::new(broker);
    spec.extra_mqtt = "protocol = \"5\"".into();
    let mut agent = Agent::new(&spec);
    agent.start(&[]);
    let (host, port) = broker.rsplit_once(':').unwrap();
    let mut o = rumqttc::v5::MqttOptions::new(format!("v5-client-{:08x}", fastrand::u32(..)), host, port.parse().unwrap());
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = rumqttc::v5::AsyncClient::new(o, 10);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reply = rt.block_on(async {
        let reply_topic = format!("platform/replies/{}", agent.device);
        client.subscribe(&reply_topic, rumqttc::v5::mqttbytes::QoS::AtLeastOnce).await.unwrap();
        client.subscribe(format!("{}/status", agent.base), rumqttc::v5::mqttbytes::QoS::AtLeastOnce).await.unwrap();
        let deadline = tokio::time::Instant::now() + LONG;
        let mut asked = false;
        loop {
            let event = tokio::time::timeout_at(deadline, events.poll()).await.expect("a reply in time").unwrap();
            match event {
                // Ask once the agent says it is online (and so subscribed).
                rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(p)) if p.topic.ends_with(b"/status") => {
                    if asked {
                        continue;
                    }
                    let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
                        response_topic: Some(reply_topic.clone()),
                        correlation_data: Some(bytes::Bytes::from_static(b"corr-42")),
                        ..Default::default()
                    };
                    client
                        .publish_with_properties(
                            format!("{}/cmd/ping", agent.base),
                            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                            false,
                            br#"{"request_id":"v5"}"#.to_vec(),
                            props,
                        )
                        .await
                        .unwrap();
                    asked = true;
                }
                rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(p)) if p.topic == reply_topic.as_bytes() => return p,
                _ => {}
            }
        }
    });
    assert_eq!(reply.properties.and_then(|p| p.correlation_data).as_deref(), Some(&b"corr-42"[..]));
    let body: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!((body["ok"].as_bool(), body["request_id"].as_str()), (Some(true), Some("v5")));
    assert!(agent.stop().success(), "{}", agent.log());
}

#[test]
fn watch_prints_what_the_agent_publishes_as_json_or_readable_lines() {
    let mut agent = Agent::new(&AgentSpec::new("embedded"));
    agent.start(&[]);
    let watch = |json: bool| {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(["watch", "--config"]).arg(&agent.config).args(["--count", "4", "--timeout", "60s"]);
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = watch(true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["topic"].as_str().unwrap().starts_with(&agent.base)));
    let event = lines.iter().find(|l| l["topic"].as_str().unwrap().contains("/events/")).expect("an event");
    assert_valid("event", &event["payload"]);
    let out = watch(false);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("events/classification  #"), "{text}");
    assert!(text.contains("识别为"), "the attendant's Chinese message shows: {text}");
}

#[test]
fn with_a_persistent_session_a_command_sent_while_the_agent_is_away_is_answered_when_it_returns() {
    let broker = shared_mosquitto();
    let mut spec = AgentSpec::new(broker);
    spec.extra_mqtt = "persistent_session = true".into();
    let mut agent = Agent::new(&spec);
    let sub = Collector::start(broker, &format!("{}/#", agent.base), false);
    agent.start(&[]);
    sub.wait_for("online", LONG, |m| m.iter().any(|x| x.topic.ends_with("/status") && x.json()["state"] == "online"));
    assert!(agent.stop().success(), "{}", agent.log());
    // The broker keeps the agent's subscription and queues this for it.
    sub.publish(&format!("{}/cmd/ping", agent.base), br#"{"request_id":"while-away"}"#.to_vec(), false);
    std::thread::sleep(Duration::from_millis(300));
    assert!(sub.snapshot().iter().all(|m| !m.topic.contains("/reply/")), "nobody answered while the agent was away");
    agent.start(&[]);
    let got = sub.wait_for("the late reply", LONG, |m| m.iter().any(|x| x.topic.contains("/reply/")));
    let reply = got.iter().find(|x| x.topic.contains("/reply/")).unwrap().json();
    assert_eq!((reply["ok"].as_bool(), reply["request_id"].as_str()), (Some(true), Some("while-away")));
    assert!(agent.stop().success());
}

#[test]
fn a_full_disk_is_reported_the_agent_keeps_running_and_recovers_once_space_frees() {
    // The broker is down at first, so the outbox grows until the file-size
    // limit refuses writes (EFBIG, as a full disk would).
    let mut broker = Mosquitto::down();
    let address = broker.address();
    let mut spec = AgentSpec::new(&address);
    spec.evidence = true;
    spec.fps = 20.0;
    let mut agent = Agent::new(&spec);
    agent.start_with_file_size_limit(3000, &[]);
    let deadline = std::time::Instant::now() + LONG;
    while !agent.log().contains("cannot commit events to the outbox") {
        assert!(std::time::Instant::now() < deadline, "the disk never filled:\n{}", agent.log());
        assert!(agent.is_running(), "{}", agent.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(agent.log().contains("free space on it"), "the error says what to do:\n{}", agent.log());
    std::thread::sleep(Duration::from_secs(1));
    assert!(agent.is_running(), "{}", agent.log());
    // The broker returns: the outbox drains, frees room in its file, and
    // events are committed again, numbered without a gap.
    broker.restart();
    let sub = Collector::start(&address, &format!("{}/#", agent.base), false);
    let got = sub.wait_for("a heartbeat counting write errors", LONG, |m| {
        m.iter().any(|x| x.topic.ends_with("/heartbeat") && x.json()["outbox"]["write_errors"].as_u64().unwrap_or(0) > 0)
    });
    assert_valid("heartbeat", &got.iter().find(|x| x.topic.ends_with("/heartbeat")).unwrap().json());
    sub.wait_for("the outbox reopened", LONG, |_| agent.log().contains("outbox reopened after a disk error"));
    let n = sub.events().len();
    sub.wait_for("new events after the recovery", LONG, |m| events_on(m).len() > n + 20);
    assert!(agent.stop().success(), "{}", agent.log());
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}
