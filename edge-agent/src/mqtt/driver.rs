//! The one loop that does MQTT I/O: connects (with backoff and jitter),
//! announces `online`, subscribes to commands, feeds the outbox to the broker
//! a window at a time, deletes records on PUBACK, publishes heartbeats, and
//! answers commands. It runs on its own thread with a single-threaded tokio
//! runtime, so brief outbox reads and writes never stall anything else.
//!
//! Shutdown: `stop()` asks it to drain the outbox for up to
//! `mqtt.drain_timeout`, publish a graceful `offline`, disconnect, and exit.

use super::commands::{Command, CommandError, CommandParser, ErrorCode, Reply};
use super::delivery::Delivery;
use super::health::{Identity, MqttHealth, Status};
use super::link::{InMessage, Link, LinkEvent, Will};
use super::options::LinkSettings;
use super::topics::Topics;
use crate::backoff::Backoff;
use crate::outbox::{Outbox, Part, StoredRecord};
use crate::telemetry::Figures;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, mpsc, watch};

/// Acts on validated commands. Runs on a blocking thread: it may take seconds
/// (a config reload restarts cameras and loads models).
pub trait CommandHandler: Send + Sync {
    fn handle(&self, command: Command) -> Result<serde_json::Value, CommandError>;
}

/// Live figures, shared with the agent (and its final summary).
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub published: AtomicU64,
    pub acked: AtomicU64,
    pub replayed: AtomicU64,
    pub commands_accepted: AtomicU64,
    pub commands_rejected: AtomicU64,
}

impl LinkCounters {
    pub fn mqtt_health(&self) -> MqttHealth {
        MqttHealth {
            connected: self.connected.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
        }
    }
}

pub struct DriverSettings {
    pub link: LinkSettings,
    pub topics: Topics,
    pub identity: Identity,
    pub heartbeat_interval: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub drain_timeout: Duration,
}

/// The running driver.
pub struct MqttService {
    thread: Option<std::thread::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    pub counters: Arc<LinkCounters>,
}

impl MqttService {
    pub fn start(
        settings: DriverSettings,
        outbox: Arc<Outbox>,
        figures: Arc<Figures>,
        handler: Arc<dyn CommandHandler>,
    ) -> std::io::Result<Self> {
        let (stop, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let counters = figures.link.clone();
        let driver = Driver {
            delivery: Delivery::new(settings.link.inflight as usize),
            settings,
            outbox,
            figures: figures.clone(),
            handler,
            parser: Arc::new(CommandParser::new()),
            counters: counters.clone(),
            wake: wake.clone(),
            connected_at_ms: 0,
            pending_replies: Default::default(),
            removed_since_sync: false,
        };
        let thread = std::thread::Builder::new().name("mqtt".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::error!(error = %e, "cannot start the MQTT runtime; nothing will be published"),
            };
            // The runtime's own liveness: this beat stops if anything blocks the thread.
            let beat = figures.liveness.register("mqtt");
            rt.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    beat.beat();
                }
            });
            rt.block_on(driver.run(stop_rx));
        })?;
        Ok(Self { thread: Some(thread), stop, wake, counters })
    }

    /// Tells the driver the outbox has new records.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Drains (up to the drain timeout), says `offline`, disconnects, joins.
    pub fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MqttService {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Driver {
    settings: DriverSettings,
    outbox: Arc<Outbox>,
    figures: Arc<Figures>,
    handler: Arc<dyn CommandHandler>,
    parser: Arc<CommandParser>,
    counters: Arc<LinkCounters>,
    wake: Arc<Notify>,
    delivery: Delivery,
    /// Records committed before this moment are replays on this connection.
    connected_at_ms: u64,
    /// Replies that found the request queue full; sent on the next tick.
    pending_replies: std::collections::VecDeque<(String, Bytes, Option<Bytes>)>,
    removed_since_sync: bool,
}

/// How one connection ended.
enum Ended {
    Lost,
    Stopped,
}

impl Driver {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(self.settings.reconnect_min, self.settings.reconnect_max);
        let mut failures = 0u32;
        // Set once a stop is asked for while the outbox still holds records:
        // keep (re)connecting and publishing until then.
        let mut draining: Option<tokio::time::Instant> = None;
        loop {
            if draining.is_none() && (*stop.borrow() || stop.has_changed().is_err()) {
                draining = self.drain_deadline();
                if draining.is_none() {
                    break;
                }
            }
            let will = Will {
                topic: self.settings.topics.status(),
                payload: serde_json::to_vec(&Status::offline(&self.settings.identity, false)).unwrap_or_default(),
            };
            let mut link = Link::new(&self.settings.link, Some(&will));
            self.delivery.reset();
            let first = tokio::select! {
                event = link.poll() => event,
                wake = interrupted(&mut stop, draining) => match wake {
                    Interrupt::Stop => continue, // sets `draining` at the top
                    Interrupt::Deadline => break,
                },
            };
            match first {
                Ok(LinkEvent::Connected { session_present }) => {
                    if failures > 0 {
                        tracing::info!(broker = %self.broker(), after_failures = failures, "MQTT connection restored");
                    } else {
                        tracing::info!(broker = %self.broker(), session_present, "MQTT connected");
                    }
                    failures = 0;
                    backoff.reset();
                }
                Ok(other) => {
                    tracing::warn!(?other, "unexpected first packet from the broker; reconnecting");
                    continue;
                }
                Err(error) => {
                    failures += 1;
                    let delay = backoff.next_delay_jittered();
                    // The first failure is worth a warning; repeats are not worth a log flood.
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(broker = %self.broker(), %error, failures, retry_in = ?delay, "MQTT connect failed; events stay in the outbox");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        wake = interrupted(&mut stop, draining) => match wake {
                            Interrupt::Stop => continue,
                            Interrupt::Deadline => break,
                        },
                    }
                }
            }
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
            self.counters.connected.store(true, Ordering::Relaxed);
            self.connected_at_ms = crate::event::unix_millis(SystemTime::now());
            let ended = match draining {
                Some(deadline) => self.drain(&mut link, deadline).await,
                None => self.connected(&mut link, &mut stop).await,
            };
            self.counters.connected.store(false, Ordering::Relaxed);
            match ended {
                Ended::Stopped => break,
                Ended::Lost => {
                    let delay = backoff.next_delay_jittered();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        wake = interrupted(&mut stop, draining) => if let Interrupt::Deadline = wake { break },
                    }
                }
            }
        }
        if self.outbox.tally().depth() > 0 {
            tracing::warn!(left = self.outbox.tally().depth(), "stopping with events still in the outbox; they are sent on the next start");
        }
        if let Err(e) = self.outbox.sync() {
            tracing::error!(error = %e, "cannot make the last acknowledgements durable; those events may be sent again");
        }
    }

    /// When a stop should give up publishing, or `None` when nothing is left.
    fn drain_deadline(&self) -> Option<tokio::time::Instant> {
        (self.outbox.tally().depth() > 0 && !self.settings.drain_timeout.is_zero())
            .then(|| tokio::time::Instant::now() + self.settings.drain_timeout)
    }

    fn broker(&self) -> String {
        format!("{}:{}", self.settings.link.host, self.settings.link.port)
    }

    /// Runs one established connection until it drops or we are told to stop.
    async fn connected(&mut self, link: &mut Link, stop: &mut watch::Receiver<bool>) -> Ended {
        let online = serde_json::to_vec(&Status::online(&self.settings.identity)).unwrap_or_default();
        self.publish_untracked(link, &self.settings.topics.status(), online.into(), false, true, None);
        if link.try_subscribe(&self.settings.topics.command_filter()).is_err() {
            tracing::error!("cannot subscribe to commands (request queue full); reconnecting");
            return Ended::Lost;
        }
        let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<(String, Bytes, Option<Bytes>)>();
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(Duration::from_millis(5));
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sync = tokio::time::interval(Duration::from_secs(1));
        let wake = self.wake.clone();
        self.pump(link);
        loop {
            tokio::select! {
                event = link.poll() => match event {
                    Ok(LinkEvent::Sent { pkid }) => self.delivery.on_sent(pkid),
                    Ok(LinkEvent::Acked { pkid, rejected }) => {
                        self.delivery.on_acked(pkid, rejected.as_deref());
                        // Refused records hold their window slots until a new
                        // connection; do not let them starve everything else.
                        if self.delivery.refused() > 0 && self.delivery.refused() * 2 >= self.settings.link.inflight as usize {
                            tracing::error!(refused = self.delivery.refused(), "the broker keeps refusing events; reconnecting to retry them later");
                            self.release_acked_final();
                            return Ended::Lost;
                        }
                        // Free half a window at a time rather than a disk write per ack.
                        if self.delivery.room() < self.settings.link.inflight as usize / 2 {
                            self.release_acked(link);
                        }
                    }
                    Ok(LinkEvent::Message(message)) => self.on_message(link, message, &reply_tx),
                    Ok(LinkEvent::Connected { .. }) | Ok(LinkEvent::Other) => {}
                    Err(error) => {
                        tracing::warn!(broker = %self.broker(), %error, "MQTT connection lost; reconnecting, events stay in the outbox");
                        self.release_acked_final();
                        return Ended::Lost;
                    }
                },
                _ = wake.notified() => self.pump(link),
                _ = flush.tick() => {
                    self.release_acked(link);
                    self.retry_replies(link);
                }
                _ = sync.tick() => self.sync_removals(),
                _ = heartbeat.tick() => self.publish_heartbeat(link),
                Some((topic, payload, correlation)) = reply_rx.recv() => {
                    self.publish_untracked(link, &topic, payload, false, false, correlation);
                }
                _ = stop.changed() => {
                    let deadline = tokio::time::Instant::now() + self.settings.drain_timeout;
                    return self.drain(link, deadline).await;
                }
            }
        }
    }

    /// Deletes acknowledged records and refills the window.
    fn release_acked(&mut self, link: &Link) {
        self.release_acked_final();
        self.pump(link);
    }

    fn sync_removals(&mut self) {
        if std::mem::take(&mut self.removed_since_sync)
            && let Err(e) = self.outbox.sync()
        {
            tracing::error!(error = %e, "cannot make acknowledgements durable; those events may be sent again after a crash");
        }
    }

    /// Hands outbox records to the link while the window has room.
    fn pump(&mut self, link: &Link) {
        let room = self.delivery.room();
        if room == 0 {
            return;
        }
        let batch = match self.outbox.next_batch(self.delivery.in_flight(), room) {
            Ok(b) => b,
            Err(e) => return tracing::error!(error = %e, "cannot read the outbox"),
        };
        for (key, record) in batch {
            let replayed = record.created_ms < self.connected_at_ms;
            let payload = if key.part == Part::Event && replayed { mark_replayed(&record) } else { Bytes::from(record.payload) };
            if link.try_publish(&record.topic, payload, false, false, None).is_err() {
                break; // queue full: the next tick retries
            }
            if replayed && key.part == Part::Event {
                self.counters.replayed.fetch_add(1, Ordering::Relaxed);
            }
            self.delivery.handed_over(Some(key));
        }
        self.counters.published.store(self.delivery.counters.published, Ordering::Relaxed);
    }

    fn publish_untracked(&mut self, link: &Link, topic: &str, payload: Bytes, at_most_once: bool, retain: bool, correlation: Option<Bytes>) -> bool {
        let sent = link.try_publish(topic, payload, at_most_once, retain, correlation).is_ok();
        if sent {
            self.delivery.handed_over(None);
        }
        sent
    }

    fn publish_heartbeat(&mut self, link: &Link) {
        let heartbeat = self.figures.heartbeat();
        if heartbeat.outbox.full {
            tracing::warn!(bytes = heartbeat.outbox.bytes, quota = heartbeat.outbox.quota_bytes, "outbox at its disk quota: old telemetry, pictures, then events are being dropped");
        }
        match serde_json::to_vec(&heartbeat) {
            // Telemetry: QoS 0, dropped rather than queued when the link is busy.
            Ok(p) => {
                self.publish_untracked(link, &self.settings.topics.heartbeat(), p.into(), true, false, None);
            }
            Err(e) => tracing::error!(error = %e, "cannot serialise a heartbeat"),
        }
    }

    fn on_message(&mut self, link: &Link, m: InMessage, replies: &mpsc::UnboundedSender<(String, Bytes, Option<Bytes>)>) {
        let Some(name) = self.settings.topics.command_name(&m.topic).map(str::to_string) else {
            return; // not ours (a broad subscription on a shared session)
        };
        let reply_topic = m.response_topic.as_deref().filter(|t| acceptable_response_topic(t)).map(str::to_string)
            .unwrap_or_else(|| self.settings.topics.reply(&name));
        let (site, device) = (self.settings.identity.site.clone(), self.settings.identity.device_id.clone());
        match self.parser.parse(&name, &m.payload, m.retain) {
            Err(refusal) => {
                self.counters.commands_rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(command = %name.chars().take(64).collect::<String>(), code = ?refusal.error.code, message = %refusal.error.message, "command refused");
                let reply = Reply::new(&site, &device, &name, refusal.request_id, Err(refusal.error));
                let payload = serde_json::to_vec(&reply).unwrap_or_default();
                if !self.publish_untracked(link, &reply_topic, payload.clone().into(), false, false, m.correlation.clone()) {
                    self.queue_reply(reply_topic, payload.into(), m.correlation);
                }
            }
            Ok(command) => {
                let handler = self.handler.clone();
                let counters = self.counters.clone();
                let replies = replies.clone();
                tokio::task::spawn_blocking(move || {
                    let request_id = command.request_id().to_string();
                    let name = command.name();
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.handle(command)))
                        .unwrap_or_else(|_| Err(CommandError::new(ErrorCode::Internal, "the command failed inside the agent; see its log")));
                    let counter = if outcome.is_ok() { &counters.commands_accepted } else { &counters.commands_rejected };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let reply = Reply::new(&site, &device, name, Some(request_id), outcome);
                    let _ = replies.send((reply_topic, serde_json::to_vec(&reply).unwrap_or_default().into(), m.correlation));
                });
            }
        }
    }

    fn queue_reply(&mut self, topic: String, payload: Bytes, correlation: Option<Bytes>) {
        // A flood of bad commands must not grow memory without bound.
        if self.pending_replies.len() < 1000 {
            self.pending_replies.push_back((topic, payload, correlation));
        }
    }

    fn retry_replies(&mut self, link: &Link) {
        while let Some((topic, payload, correlation)) = self.pending_replies.pop_front() {
            if !self.publish_untracked(link, &topic, payload.clone(), false, false, correlation.clone()) {
                self.pending_replies.push_front((topic, payload, correlation));
                break;
            }
        }
    }

    /// Keeps publishing until the outbox is empty and acknowledged, or the
    /// drain timeout; then a graceful `offline` and a clean disconnect.
    async fn drain(&mut self, link: &mut Link, deadline: tokio::time::Instant) -> Ended {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        loop {
            self.release_acked(link);
            if self.outbox.tally().depth() == 0 && !self.delivery.has_unacked() {
                break;
            }
            tokio::select! {
                event = link.poll() => match event {
                    Ok(LinkEvent::Sent { pkid }) => self.delivery.on_sent(pkid),
                    Ok(LinkEvent::Acked { pkid, rejected }) => { self.delivery.on_acked(pkid, rejected.as_deref()); }
                    Ok(_) => {}
                    // Lost while draining: reconnect and go on until the deadline.
                    Err(_) => {
                        self.release_acked_final();
                        return Ended::Lost;
                    }
                },
                _ = tick.tick() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let offline = serde_json::to_vec(&Status::offline(&self.settings.identity, true)).unwrap_or_default();
        self.publish_untracked(link, &self.settings.topics.status(), offline.into(), false, true, None);
        link.try_disconnect();
        // Let the offline status and the DISCONNECT reach the socket.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(event) = link.poll().await {
                if let LinkEvent::Acked { pkid, rejected } = event {
                    self.delivery.on_acked(pkid, rejected.as_deref());
                }
            }
        })
        .await;
        self.release_acked_final();
        Ended::Stopped
    }

    /// Deletes acknowledged records without handing over new ones (the link is closing or gone).
    fn release_acked_final(&mut self) {
        let acked = self.delivery.take_acked();
        if acked.is_empty() {
            return;
        }
        match self.outbox.remove(&acked) {
            Ok(()) => self.removed_since_sync = true,
            Err(e) => tracing::error!(error = %e, "cannot delete acknowledged events from the outbox; they will be sent again"),
        }
        self.counters.acked.store(self.delivery.counters.acked, Ordering::Relaxed);
    }
}

enum Interrupt {
    Stop,
    Deadline,
}

/// Resolves when a stop is asked for, or, once draining, at the deadline.
async fn interrupted(stop: &mut watch::Receiver<bool>, draining: Option<tokio::time::Instant>) -> Interrupt {
    match draining {
        Some(deadline) => {
            tokio::time::sleep_until(deadline).await;
            Interrupt::Deadline
        }
        None => {
            // An error means the service handle is gone: treat it as a stop.
            let _ = stop.changed().await;
            Interrupt::Stop
        }
    }
}

/// Sets `"replayed": true` in a stored event. The agent serialises `replayed`
/// last, so this is a suffix swap; anything else is re-serialised.
fn mark_replayed(record: &StoredRecord) -> Bytes {
    const NOT: &[u8] = b"\"replayed\":false}";
    let p = &record.payload;
    if p.ends_with(NOT) {
        let mut out = p[..p.len() - NOT.len()].to_vec();
        out.extend_from_slice(b"\"replayed\":true}");
        return out.into();
    }
    match serde_json::from_slice::<serde_json::Value>(p) {
        Ok(mut v) => match v.as_object_mut() {
            Some(object) => {
                object.insert("replayed".into(), serde_json::Value::Bool(true));
                serde_json::to_vec(&v).unwrap_or_else(|_| p.clone()).into()
            }
            None => Bytes::from(p.clone()),
        },
        Err(_) => Bytes::from(p.clone()),
    }
}

/// An MQTT 5 response topic we are willing to publish to: no wildcards, no
/// system topics, and never a command topic (no reply loops between agents).
fn acceptable_response_topic(t: &str) -> bool {
    !t.is_empty() && t.len() <= 256 && !t.contains(['#', '+', '\0']) && !t.starts_with('$') && !t.split('/').any(|s| s == "cmd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_is_set_without_touching_the_rest_of_the_event() {
        let r = |payload: &str| StoredRecord { created_ms: 0, topic: "t".into(), payload: payload.as_bytes().to_vec() };
        assert_eq!(&mark_replayed(&r(r#"{"seq":1,"replayed":false}"#))[..], br#"{"seq":1,"replayed":true}"#);
        let v: serde_json::Value = serde_json::from_slice(&mark_replayed(&r(r#"{"replayed":false, "seq":2}"#))).unwrap();
        assert_eq!(v, serde_json::json!({"replayed": true, "seq": 2}));
        assert_eq!(&mark_replayed(&r("garbage"))[..], b"garbage");
        assert_eq!(&mark_replayed(&r("[1,2]"))[..], b"[1,2]", "valid JSON that is not an object is left alone");
    }

    #[test]
    fn response_topics_cannot_aim_replies_at_commands_or_wildcards() {
        assert!(acceptable_response_topic("platform/replies/42"));
        for bad in ["", "a/#", "a/+/b", "$SYS/x", "zwaste/v1/s/other-box/cmd/ping", &"x".repeat(300)] {
            assert!(!acceptable_response_topic(bad), "{bad}");
        }
    }
}
