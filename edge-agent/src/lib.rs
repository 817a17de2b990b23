//! The edge vision agent. The pipeline reads in folder order:
//! capture -> vision -> inference -> task -> (event -> outbox -> MQTT, later issues).

pub mod agent;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod inference;
pub mod task;
pub mod vision;
pub mod waste;
