//! MQTT: the topic tree, connection settings, the pure delivery and command
//! logic, the payloads, and the one driver loop that does the I/O.
//!
//! - `topics`: `<prefix>/<site>/<device>/...` and the published topic table
//! - `options`: `[mqtt]` -> connection settings (password, TLS)
//! - `link`: one broker connection, MQTT 3.1.1 or 5
//! - `delivery`: packet ids <-> outbox records (pure)
//! - `commands`: `cmd/<name>` parsing and replies (pure)
//! - `health`: `status` and `heartbeat` payloads
//! - `driver`: the loop
//! - `broker`: the embedded broker

pub mod broker;
pub mod commands;
pub mod delivery;
pub mod driver;
pub mod health;
pub mod link;
pub mod options;
pub mod topics;

pub use driver::{CommandHandler, DriverSettings, LinkCounters, MqttService};
pub use topics::Topics;
