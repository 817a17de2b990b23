//! One broker connection over rumqttc, MQTT 3.1.1 or 5 behind one face.
//!
//! A `Link` lives for one connection: after any error the driver drops it and
//! builds a fresh one, so nothing rumqttc queued for the dead connection is
//! silently resent or dropped (rumqtt #349); the outbox resends what was not
//! acknowledged. What a link reports is reduced to [`LinkEvent`]s, which the
//! pure [`super::delivery::Delivery`] state understands.
//!
//! rumqttc's `EventLoop::poll` is not cancel-safe (a publish it has numbered
//! can be dropped mid-write if the future is dropped), so it runs in its own
//! task and the driver selects on a channel instead.

use super::options::LinkSettings;
use bytes::Bytes;
use rumqttc::v5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InMessage {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    /// MQTT 5 request/response: where to reply and what to echo.
    pub response_topic: Option<String>,
    pub correlation: Option<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Connected { session_present: bool },
    /// A publish went out with this packet id (0 for QoS 0), in the order publishes were handed over.
    Sent { pkid: u16 },
    /// The broker acknowledged packet `pkid`; `rejected` carries an MQTT 5 reason when it refused it.
    Acked { pkid: u16, rejected: Option<String> },
    Message(InMessage),
    /// Pings, subacks and the like.
    Other,
}

/// The request queue towards the connection is full: try again after a poll.
#[derive(Debug)]
pub struct Busy;

enum Client {
    V4(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

enum Events {
    V4(rumqttc::EventLoop),
    V5(v5::EventLoop),
}

pub struct Link {
    client: Client,
    events: tokio::sync::mpsc::Receiver<Result<LinkEvent, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The message a broker publishes for us when the connection dies.
#[derive(Debug, Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Link {
    /// Must be called inside a tokio runtime: the connection runs in a task.
    pub fn new(s: &LinkSettings, will: Option<&Will>) -> Self {
        let (client, mut events) = Self::build(s, will);
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let task = tokio::spawn(async move {
            loop {
                let event = events.next().await;
                let end = event.is_err();
                if tx.send(event).await.is_err() || end {
                    break;
                }
            }
        });
        Self { client, events: rx, task }
    }

    /// The next thing that happened on the connection. An error ends this link.
    pub async fn poll(&mut self) -> Result<LinkEvent, String> {
        self.events.recv().await.unwrap_or_else(|| Err("the connection task ended".into()))
    }

    fn build(s: &LinkSettings, will: Option<&Will>) -> (Client, Events) {
        // Room for a whole window of events plus replies and heartbeats.
        let capacity = s.inflight as usize * 2 + 64;
        let transport = match &s.tls {
            Some(config) => rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config.clone())),
            None => rumqttc::Transport::tcp(),
        };
        match s.protocol {
            crate::config::MqttProtocol::V311 => {
                let mut o = rumqttc::MqttOptions::new(&s.client_id, &s.host, s.port);
                o.set_keep_alive(s.keep_alive)
                    .set_clean_session(!s.persistent_session)
                    .set_inflight(s.inflight)
                    .set_request_channel_capacity(capacity)
                    .set_max_packet_size(s.max_packet_bytes, s.max_packet_bytes)
                    .set_transport(transport);
                if let Some((user, password)) = &s.credentials {
                    o.set_credentials(user, password.expose());
                }
                if let Some(w) = will {
                    o.set_last_will(rumqttc::LastWill::new(&w.topic, w.payload.clone(), rumqttc::QoS::AtLeastOnce, true));
                }
                let (client, mut events) = rumqttc::AsyncClient::new(o, capacity);
                events.network_options.set_connection_timeout(s.connect_timeout_s);
                (Client::V4(client), Events::V4(events))
            }
            crate::config::MqttProtocol::V5 => {
                let mut o = v5::MqttOptions::new(&s.client_id, &s.host, s.port);
                let mut props = v5::mqttbytes::v5::ConnectProperties::new();
                props.session_expiry_interval =
                    Some(if s.persistent_session { s.session_expiry.as_secs().min(u32::MAX as u64) as u32 } else { 0 });
                props.max_packet_size = Some(s.max_packet_bytes as u32);
                o.set_keep_alive(s.keep_alive)
                    .set_clean_start(!s.persistent_session)
                    .set_connect_properties(props)
                    .set_outgoing_inflight_upper_limit(s.inflight)
                    .set_request_channel_capacity(capacity)
                    .set_max_packet_size(Some(s.max_packet_bytes as u32))
                    .set_transport(transport);
                if let Some((user, password)) = &s.credentials {
                    o.set_credentials(user, password.expose());
                }
                if let Some(w) = will {
                    o.set_last_will(v5::mqttbytes::v5::LastWill::new(
                        &w.topic,
                        w.payload.clone(),
                        v5::mqttbytes::QoS::AtLeastOnce,
                        true,
                        None,
                    ));
                }
                o.set_connection_timeout(s.connect_timeout_s);
                let (client, events) = v5::AsyncClient::new(o, capacity);
                (Client::V5(client), Events::V5(events))
            }
        }
    }

}

impl Events {
    async fn next(&mut self) -> Result<LinkEvent, String> {
        match self {
            Events::V4(events) => {
                use rumqttc::{Event, Incoming, Outgoing};
                Ok(match events.poll().await.map_err(|e| e.to_string())? {
                    Event::Incoming(Incoming::ConnAck(c)) => LinkEvent::Connected { session_present: c.session_present },
                    Event::Incoming(Incoming::PubAck(a)) => LinkEvent::Acked { pkid: a.pkid, rejected: None },
                    Event::Incoming(Incoming::Publish(p)) => LinkEvent::Message(InMessage {
                        topic: p.topic,
                        payload: p.payload,
                        retain: p.retain,
                        response_topic: None,
                        correlation: None,
                    }),
                    Event::Incoming(Incoming::Disconnect) => return Err("the broker closed the connection".into()),
                    Event::Outgoing(Outgoing::Publish(pkid)) => LinkEvent::Sent { pkid },
                    _ => LinkEvent::Other,
                })
            }
            Events::V5(events) => {
                use v5::mqttbytes::v5::{Packet, PubAckReason};
                use v5::{Event, Incoming};
                Ok(match events.poll().await.map_err(|e| e.to_string())? {
                    Event::Incoming(Incoming::ConnAck(c)) => LinkEvent::Connected { session_present: c.session_present },
                    Event::Incoming(Packet::PubAck(a)) => LinkEvent::Acked {
                        pkid: a.pkid,
                        rejected: match a.reason {
                            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                            other => Some(format!("{other:?}")),
                        },
                    },
                    Event::Incoming(Packet::Publish(p)) => {
                        let props = p.properties.unwrap_or_default();
                        LinkEvent::Message(InMessage {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload,
                            retain: p.retain,
                            response_topic: props.response_topic,
                            correlation: props.correlation_data,
                        })
                    }
                    Event::Incoming(Packet::Disconnect(d)) => {
                        return Err(format!("the broker closed the connection ({:?})", d.reason_code));
                    }
                    Event::Outgoing(rumqttc::Outgoing::Publish(pkid)) => LinkEvent::Sent { pkid },
                    _ => LinkEvent::Other,
                })
            }
        }
    }

}

impl Link {
    /// Hands a publish to the connection without waiting. QoS 1 unless `at_most_once`.
    pub fn try_publish(
        &self,
        topic: &str,
        payload: Bytes,
        at_most_once: bool,
        retain: bool,
        correlation: Option<Bytes>,
    ) -> Result<(), Busy> {
        match &self.client {
            Client::V4(client) => {
                let qos = if at_most_once { rumqttc::QoS::AtMostOnce } else { rumqttc::QoS::AtLeastOnce };
                client.try_publish(topic, qos, retain, payload).map_err(|_| Busy)
            }
            Client::V5(client) => {
                let qos = if at_most_once { v5::mqttbytes::QoS::AtMostOnce } else { v5::mqttbytes::QoS::AtLeastOnce };
                match correlation {
                    Some(data) => {
                        let props = v5::mqttbytes::v5::PublishProperties { correlation_data: Some(data), ..Default::default() };
                        client.try_publish_with_properties(topic, qos, retain, payload, props).map_err(|_| Busy)
                    }
                    None => client.try_publish(topic, qos, retain, payload).map_err(|_| Busy),
                }
            }
        }
    }

    pub fn try_subscribe(&self, filter: &str) -> Result<(), Busy> {
        match &self.client {
            Client::V4(client) => client.try_subscribe(filter, rumqttc::QoS::AtLeastOnce).map_err(|_| Busy),
            Client::V5(client) => client.try_subscribe(filter, v5::mqttbytes::QoS::AtLeastOnce).map_err(|_| Busy),
        }
    }

    /// A clean DISCONNECT: the broker then does not publish the last will.
    pub fn try_disconnect(&self) {
        let _ = match &self.client {
            Client::V4(client) => client.try_disconnect().is_ok(),
            Client::V5(client) => client.try_disconnect().is_ok(),
        };
    }
}
