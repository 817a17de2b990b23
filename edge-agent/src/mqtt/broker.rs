//! The embedded broker (rumqttd) for the demo and for a box that has no
//! broker of its own: plain MQTT on a local address, started on its own
//! thread because `Broker::start` blocks.

use crate::config::MqttProtocol;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("mqtt.embedded_listen `{0}` is not ip:port")]
    Address(String),
    #[error(
        "the embedded broker cannot listen on {addr}: {message}. Another broker or agent probably uses it: set mqtt.embedded_listen to a free port, or point mqtt.broker at that broker (host:port)"
    )]
    Busy { addr: SocketAddr, message: String },
    #[error("the embedded broker did not start listening on {0} within 5 s")]
    NotListening(SocketAddr),
    #[error("the embedded broker's settings were refused: {0}")]
    Config(String),
}

/// Starts the broker and returns once it accepts connections.
pub fn start_embedded(listen: &str, protocol: MqttProtocol) -> Result<SocketAddr, BrokerError> {
    let addr: SocketAddr = listen.parse().map_err(|_| BrokerError::Address(listen.into()))?;
    // Bind once ourselves: rumqttd would only log a failure on its own thread.
    drop(TcpListener::bind(addr).map_err(|e| BrokerError::Busy { addr, message: e.to_string() })?);
    let section = match protocol {
        MqttProtocol::V311 => "v4",
        MqttProtocol::V5 => "v5",
    };
    // rumqttd's config has no defaults; these suit one box with a few clients.
    let text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[{section}.1]
name = "edge-agent-embedded"
listen = "{addr}"
next_connection_delay_ms = 1
    [{section}.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = {max_payload}
    max_inflight_count = 500
    dynamic_filters = true
"#,
        max_payload = super::options::MAX_PACKET_BYTES,
    );
    let config: rumqttd::Config = toml::from_str(&text).map_err(|e| BrokerError::Config(e.to_string()))?;
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .map_err(|e| BrokerError::Config(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            tracing::info!(%addr, "embedded MQTT broker listening");
            return Ok(addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotListening(addr))
}
