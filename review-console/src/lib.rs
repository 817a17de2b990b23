//! The managers' review console. The flow, by folder:
//!
//! ```text
//! MQTT brokers ──► ingest/ (topic + schema checks, batches, ack after commit)
//!                    └──► store/ (PostgreSQL or SQLite: events, evidence, devices, verdicts, audit)
//!                            └──► web/ (queue, event page, overview, exports, admin; sign-in)
//! verdict ──► review/ (label-feedback command) ──► the event's broker ──► the box's reply ──► store
//! ```

pub mod app;
pub mod auth;
pub mod bench;
pub mod config;
pub mod export;
pub mod ingest;
pub mod review;
pub mod store;
pub mod web;
