//! One loop per broker: a durable session (clean_session off, a stable
//! client id; or a `$share` group for several consoles) so the broker keeps
//! QoS 1 messages while the console is down. Messages are checked, stored a
//! batch per transaction, and acknowledged only after the commit: a crash
//! before it means a redelivery, which the store ignores by event id.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;

use super::{Accepted, Limits, Rejected, Schemas};
use crate::config::{BrokerConfig, split_address};
use crate::store::Store;

/// Live counters for the log and the admin page.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub store_errors: AtomicU64,
}

/// A connected broker: where verdicts go back to.
pub struct BrokerLink {
    pub name: String,
    pub prefix: String,
    pub client: AsyncClient,
    pub connected: Arc<AtomicBool>,
}

#[derive(Default, Clone)]
pub struct Brokers {
    links: Arc<HashMap<String, BrokerLink>>,
}

impl Brokers {
    pub fn new(links: Vec<BrokerLink>) -> Brokers {
        Brokers { links: Arc::new(links.into_iter().map(|l| (l.name.clone(), l)).collect()) }
    }

    pub fn names(&self) -> Vec<(String, bool)> {
        let mut v: Vec<_> = self.links.values().map(|l| (l.name.clone(), l.connected.load(Ordering::Relaxed))).collect();
        v.sort();
        v
    }

    /// Queues a command for a device on the broker its events came from (QoS 1, not retained).
    pub async fn send_command(&self, broker: &str, site: &str, device: &str, command: &str, payload: String) -> Result<()> {
        let link = self.links.get(broker).with_context(|| format!("broker `{broker}` is not in this console's config any more"))?;
        let topic = format!("{}/{site}/{device}/cmd/{command}", link.prefix);
        link.client.try_publish(topic, QoS::AtLeastOnce, false, payload.into_bytes()).with_context(|| format!("broker `{broker}`: the send queue is full"))?;
        Ok(())
    }
}

fn options(b: &BrokerConfig, max_packet: usize) -> Result<MqttOptions> {
    let (host, port) = split_address(&b.address).context("broker address")?;
    let mut o = MqttOptions::new(&b.client_id, host, port);
    o.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(max_packet, 1 << 20)
        .set_inflight(100);
    if let (Some(u), p) = (&b.username, &b.password) {
        o.set_credentials(u.clone(), p.clone().unwrap_or_default());
    }
    if b.tls {
        let mut roots = rustls::RootCertStore::empty();
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            let _ = roots.add(cert.clone());
        }
        if let Some(ca) = &b.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("reading ca_file {}", ca.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert.with_context(|| format!("{}: not a PEM certificate", ca.display()))?).with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(config))));
    }
    Ok(o)
}

/// The topic filters: everything but `status` may be shared among consoles;
/// `status` is retained, and shared subscriptions get no retained messages.
pub fn filters(prefix: &str, shared_group: Option<&str>) -> Vec<String> {
    let share = |f: String| match shared_group {
        Some(g) => format!("$share/{g}/{f}"),
        None => f,
    };
    let mut v: Vec<String> = ["events/+", "evidence/+", "heartbeat", "reply/+", "cmd/intake-slip"].iter().map(|c| share(format!("{prefix}/+/+/{c}"))).collect();
    v.push(format!("{prefix}/+/+/status"));
    v
}

/// Starts the broker's loops; they run until the process ends.
pub fn start(b: &BrokerConfig, store: Store, schemas: Arc<Schemas>, limits: Limits, batch: usize, stats: Arc<IngestStats>) -> Result<BrokerLink> {
    // Room for the largest picture accepted plus slack: a larger packet makes
    // rumqttc drop the connection, so oversize pictures are refused by us, after receipt.
    let max_packet = (limits.max_evidence_bytes * 2).max(16 << 20);
    let (client, mut eventloop) = AsyncClient::new(options(b, max_packet)?, 1024);
    let connected = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Publish>(4 * batch.max(16));
    let name = b.name.clone();
    let subscriptions = filters(&b.prefix, b.shared_group.as_deref());
    {
        let (client, connected, name) = (client.clone(), connected.clone(), name.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        backoff = Duration::from_millis(200);
                        connected.store(true, Ordering::Relaxed);
                        tracing::info!(broker = %name, session_present = ack.session_present, "connected");
                        for f in &subscriptions {
                            if let Err(e) = client.subscribe(f.clone(), QoS::AtLeastOnce).await {
                                tracing::error!(broker = %name, filter = %f, "subscribe failed: {e}");
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send(p).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if connected.swap(false, Ordering::Relaxed) {
                            tracing::warn!(broker = %name, "connection lost: {e}; reconnecting (the broker keeps our session)");
                        } else {
                            tracing::debug!(broker = %name, "cannot connect: {e}");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        });
    }
    tokio::spawn(store_loop(name.clone(), b.prefix.clone(), client.clone(), rx, store, schemas, limits, batch, stats));
    Ok(BrokerLink { name, prefix: b.prefix.clone(), client, connected })
}

/// Checks, stores and acknowledges, a batch at a time.
#[allow(clippy::too_many_arguments)]
async fn store_loop(broker: String, prefix: String, client: AsyncClient, mut rx: mpsc::Receiver<Publish>, store: Store, schemas: Arc<Schemas>, limits: Limits, batch: usize, stats: Arc<IngestStats>) {
    let mut publishes = Vec::with_capacity(batch);
    while rx.recv_many(&mut publishes, batch).await > 0 {
        stats.received.fetch_add(publishes.len() as u64, Ordering::Relaxed);
        let (mut accepted, mut rejected): (Vec<Accepted>, Vec<Rejected>) = (Vec::new(), Vec::new());
        for p in &publishes {
            match schemas.accept(&prefix, &p.topic, &p.payload, &limits) {
                Ok(a) => accepted.push(a),
                Err(r) => {
                    tracing::warn!(broker = %broker, topic = %r.topic, size = r.size, reason = %r.reason, "message rejected");
                    rejected.push(r);
                }
            }
        }
        // The database down means waiting, not dropping: nothing is acked until it is stored.
        let mut wait = Duration::from_millis(500);
        loop {
            match store.ingest(&broker, &accepted, &rejected).await {
                Ok(c) => {
                    stats.stored.fetch_add(c.events + c.evidence, Ordering::Relaxed);
                    stats.duplicates.fetch_add(c.duplicates, Ordering::Relaxed);
                    stats.rejected.fetch_add(c.rejected, Ordering::Relaxed);
                    if c.events > 0 || c.duplicates > 0 {
                        tracing::debug!(broker = %broker, events = c.events, evidence = c.evidence, duplicates = c.duplicates, "stored");
                    }
                    break;
                }
                Err(e) => {
                    stats.store_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(broker = %broker, "cannot store {} messages: {e:#}; retrying in {:?} (they stay unacknowledged at the broker)", publishes.len(), wait);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
        for p in publishes.drain(..) {
            if let Err(e) = client.ack(&p).await {
                tracing::warn!(broker = %broker, "ack failed: {e}");
            }
        }
    }
}
