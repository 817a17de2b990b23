//! The edge vision agent. The pipeline reads in folder order:
//! capture -> vision -> inference -> task -> event -> outbox -> mqtt, with
//! `agent` running it and `config` / `commands` around it; `calibration`
//! holds each camera's zones, homography and reference picture; `ocr` and
//! `label` read and check hazardous-waste labels for the intake task;
//! `telemetry` is the one source of live figures (heartbeat, /metrics,
//! systemd), `model_update` fetches, checks and swaps in new models.

pub mod agent;
pub mod backoff;
pub mod calibration;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod enroll;
pub mod event;
pub mod fsutil;
pub mod inference;
pub mod label;
pub mod model_update;
pub mod mqtt;
pub mod ocr;
pub mod outbox;
pub mod simulate;
pub mod task;
pub mod telemetry;
pub mod vision;
pub mod waste;
pub mod web;
