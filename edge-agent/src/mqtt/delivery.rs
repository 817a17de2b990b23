//! What "sent" means, as pure state: which outbox record each packet id
//! carries, which records wait for their PUBACK, and which are acknowledged
//! and may leave the disk. No sockets here: the driver feeds it link events.
//!
//! rumqttc numbers QoS 1 publishes as it writes them and reports
//! `Outgoing::Publish(pkid)` in the order publishes were handed over (QoS 0
//! ones report pkid 0). So every hand-over is queued here in order, and each
//! `Sent` takes the front of the queue. One `Delivery` per connection: a new
//! link starts from scratch and the outbox resends whatever is not acked.

use crate::outbox::RecordKey;
use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Debug, Default)]
pub struct Delivery {
    window: usize,
    /// Hand-overs not yet written, in order: `Some` for outbox records.
    unsent: VecDeque<Option<RecordKey>>,
    by_pkid: HashMap<u16, RecordKey>,
    /// Handed over and not yet deleted from the outbox (waiting for PUBACK,
    /// refused, or acked and waiting for `take_acked`): not to be fetched again.
    in_flight: HashSet<RecordKey>,
    acked: Vec<RecordKey>,
    /// Refused by the broker on this connection (they stay in `in_flight`).
    refused: usize,
    pub counters: DeliveryCounters,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCounters {
    pub published: u64,
    pub acked: u64,
    pub rejected: u64,
}

impl Delivery {
    pub fn new(window: usize) -> Self {
        Self { window: window.max(1), ..Default::default() }
    }

    /// A fresh connection: forget every packet id; what was in flight is
    /// fetched from the outbox again. Counters carry on.
    pub fn reset(&mut self) {
        let counters = self.counters;
        *self = Self::new(self.window);
        self.counters = counters;
    }

    /// How many more outbox records may be handed over now.
    pub fn room(&self) -> usize {
        self.window.saturating_sub(self.in_flight.len())
    }

    /// Records that must not be fetched again on this connection.
    pub fn in_flight(&self) -> &HashSet<RecordKey> {
        &self.in_flight
    }

    /// A publish was handed to the link: `Some(key)` for an outbox record,
    /// `None` for anything else (status, replies, heartbeats).
    pub fn handed_over(&mut self, record: Option<RecordKey>) {
        if let Some(key) = record {
            self.in_flight.insert(key);
            self.counters.published += 1;
        }
        self.unsent.push_back(record);
    }

    pub fn on_sent(&mut self, pkid: u16) {
        match self.unsent.pop_front() {
            Some(Some(key)) if pkid != 0 => {
                self.by_pkid.insert(pkid, key);
            }
            Some(Some(key)) => tracing::warn!(?key, "an outbox record went out without a packet id; it will be resent"),
            Some(None) => {}
            None => tracing::warn!(pkid, "a publish went out that this agent did not hand over"),
        }
    }

    /// Returns the record the broker has now taken responsibility for.
    pub fn on_acked(&mut self, pkid: u16, rejected: Option<&str>) -> Option<RecordKey> {
        let key = self.by_pkid.remove(&pkid)?;
        if let Some(reason) = rejected {
            // Stays in flight (not fetched again) until the next connection.
            self.counters.rejected += 1;
            self.refused += 1;
            tracing::error!(?key, reason, "the broker refused an event; it stays in the outbox and is retried after a reconnect");
            return None;
        }
        self.acked.push(key);
        self.counters.acked += 1;
        Some(key)
    }

    /// Acknowledged records, to delete from the outbox now. Until taken they
    /// stay in flight, so a refill cannot fetch and send them a second time.
    pub fn take_acked(&mut self) -> Vec<RecordKey> {
        let acked = std::mem::take(&mut self.acked);
        for key in &acked {
            self.in_flight.remove(key);
        }
        acked
    }

    /// Records the broker refused on this connection.
    pub fn refused(&self) -> usize {
        self.refused
    }

    pub fn has_unacked(&self) -> bool {
        !self.in_flight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Part;

    fn key(seq: u64) -> RecordKey {
        RecordKey { rank: 1, seq, part: Part::Event }
    }

    #[test]
    fn a_puback_releases_exactly_the_record_its_packet_carried() {
        let mut d = Delivery::new(10);
        d.handed_over(Some(key(1)));
        d.handed_over(None); // a heartbeat (QoS 0)
        d.handed_over(Some(key(2)));
        d.on_sent(1);
        d.on_sent(0);
        d.on_sent(2);
        assert_eq!(d.room(), 8);
        assert_eq!(d.on_acked(2, None), Some(key(2)));
        assert_eq!(d.on_acked(7, None), None, "an unknown packet id releases nothing");
        assert!(d.in_flight().contains(&key(2)), "acked but not yet deleted: must not be fetched again");
        assert_eq!(d.take_acked(), vec![key(2)]);
        assert!(d.in_flight().contains(&key(1)) && !d.in_flight().contains(&key(2)));
        assert_eq!(d.on_acked(1, None), Some(key(1)));
        d.take_acked();
        assert!(!d.has_unacked());
        assert_eq!(d.counters, DeliveryCounters { published: 2, acked: 2, rejected: 0 });
    }

    #[test]
    fn a_refused_publish_is_not_deleted_and_not_refetched_until_the_next_connection() {
        let mut d = Delivery::new(4);
        d.handed_over(Some(key(1)));
        d.on_sent(1);
        assert_eq!(d.on_acked(1, Some("QuotaExceeded")), None);
        assert!(d.take_acked().is_empty());
        assert!(d.in_flight().contains(&key(1)));
        assert_eq!(d.refused(), 1);
        d.reset();
        assert_eq!(d.refused(), 0);
        assert!(d.in_flight().is_empty(), "after a reconnect everything unacked is fetched again");
        assert_eq!(d.counters.rejected, 1, "counters survive reconnects");
    }

    #[test]
    fn packet_ids_reused_after_a_reconnect_do_not_release_old_records() {
        let mut d = Delivery::new(4);
        d.handed_over(Some(key(1)));
        d.on_sent(1);
        d.reset();
        d.handed_over(Some(key(5)));
        d.on_sent(1);
        assert_eq!(d.on_acked(1, None), Some(key(5)));
    }
}
