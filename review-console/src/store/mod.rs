//! Storage: PostgreSQL for deployments, SQLite as the embedded default, one
//! migration set and one set of queries for both (sqlx's `Any` driver; only
//! `$N` placeholders, TEXT / BIGINT / DOUBLE PRECISION / BYTEA and
//! `ON CONFLICT`, which both understand).
//!
//! Ingest writes a whole batch of messages in one transaction and the
//! subscriber acknowledges them to the broker only after it commits, so a
//! crash loses nothing and a redelivery changes nothing (`event_id` is the key).

pub mod accounts;
pub mod overview;
pub mod queue;
pub mod review;
pub mod scratch;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::ingest::{Accepted, Rejected};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// What one ingest batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestCounts {
    pub events: u64,
    pub duplicates: u64,
    pub evidence: u64,
    pub statuses: u64,
    pub heartbeats: u64,
    pub replies: u64,
    pub slips: u64,
    pub rejected: u64,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A query with `$N` placeholders numbered as values are added.
#[derive(Default)]
pub struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

enum Arg {
    Int(i64),
    Text(String),
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.into(), args: Vec::new() }
    }
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    /// Appends a placeholder for `value`.
    pub fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.args.push(Arg::Text(value.into()));
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.args.push(Arg::Int(value));
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects, creates the SQLite file if needed, and applies the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let mut url = url.to_string();
        if backend == Backend::Sqlite {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").split('?').next().unwrap_or_default().to_string();
            if let Some(dir) = std::path::Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {} for the SQLite database", dir.display()))?;
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { max_connections.min(4) } else { max_connections })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never wait for the ingest writer; NORMAL is durable in WAL mode up to the last checkpoint.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}: check database.url, that the server runs and the user may connect", redact(&url)))?;
        MIGRATOR.run(&pool).await.context("applying the database migrations")?;
        if backend == Backend::Postgres {
            // Pictures are JPEGs: storing them out of line without compression spares
            // PostgreSQL a futile pglz pass over every picture (SQLite has no such setting).
            pool.execute("ALTER TABLE evidence ALTER COLUMN jpeg SET STORAGE EXTERNAL").await.context("setting the evidence column's storage")?;
        }
        Ok(Store { pool, backend })
    }

    /// Stores one batch in one transaction. `rejects` are recorded alongside;
    /// an evidence picture that contradicts its stored event becomes a reject too.
    pub async fn ingest(&self, broker: &str, items: &[Accepted], rejects: &[Rejected]) -> Result<IngestCounts> {
        let mut counts = IngestCounts::default();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut late_rejects = Vec::new();
        for item in items {
            match item {
                Accepted::Event(e) => {
                    let done = sqlx::query(
                        "INSERT INTO events (event_id, site, device_id, camera, task, kind, verdict, priority, flagged, seq, time_ms, captured_ms, confidence, message_zh, item_label, item_category, bin_zone, bin_category, track, evidence_sha256, payload, broker, received_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
                         ON CONFLICT (event_id) DO NOTHING",
                    )
                    .bind(&e.event_id)
                    .bind(&e.site)
                    .bind(&e.device_id)
                    .bind(&e.camera)
                    .bind(&e.task)
                    .bind(&e.kind)
                    .bind(&e.verdict)
                    .bind(&e.priority)
                    .bind(e.flagged as i64)
                    .bind(e.seq)
                    .bind(e.time_ms)
                    .bind(e.captured_ms)
                    .bind(e.confidence)
                    .bind(&e.message_zh)
                    .bind(&e.item_label)
                    .bind(&e.item_category)
                    .bind(&e.bin_zone)
                    .bind(&e.bin_category)
                    .bind(&e.track)
                    .bind(&e.evidence_sha256)
                    .bind(&e.payload)
                    .bind(broker)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 1 {
                        counts.events += 1;
                        sqlx::query("INSERT INTO devices (site, device_id) VALUES ($1, $2) ON CONFLICT (site, device_id) DO NOTHING")
                            .bind(&e.site)
                            .bind(&e.device_id)
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        counts.duplicates += 1;
                    }
                }
                Accepted::Evidence(ev) => {
                    let owner = sqlx::query("SELECT site, device_id, evidence_sha256 FROM events WHERE event_id = $1").bind(&ev.event_id).fetch_optional(&mut *tx).await?;
                    let mut verified = false;
                    if let Some(row) = owner {
                        let (site, device, sha): (String, String, Option<String>) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                        if site != ev.site || device != ev.device_id || sha.as_deref() != Some(ev.sha256.as_str()) {
                            late_rejects.push(Rejected {
                                topic: format!("{}/{}/evidence/{}", ev.site, ev.device_id, ev.event_id),
                                reason: format!("evidence does not match its event (sha256 {} against {}, from {}/{})", ev.sha256, sha.unwrap_or_else(|| "none".into()), ev.site, ev.device_id),
                                size: ev.jpeg.len(),
                                sample: String::new(),
                            });
                            continue;
                        }
                        verified = true;
                    }
                    // A picture that came before its event is kept unverified; the one that
                    // matches the event replaces it, so an early impostor cannot block it.
                    let done = sqlx::query(if verified {
                        "INSERT INTO evidence (event_id, sha256, size, width, height, jpeg, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (event_id) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, width = excluded.width, height = excluded.height, jpeg = excluded.jpeg, received_ms = excluded.received_ms
                         WHERE evidence.sha256 <> excluded.sha256"
                    } else {
                        "INSERT INTO evidence (event_id, sha256, size, width, height, jpeg, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING"
                    })
                    .bind(&ev.event_id)
                    .bind(&ev.sha256)
                    .bind(ev.jpeg.len() as i64)
                    .bind(ev.width as i64)
                    .bind(ev.height as i64)
                    .bind(ev.jpeg.as_slice())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 1 { counts.evidence += 1 } else { counts.duplicates += 1 }
                }
                Accepted::Status(s) => {
                    sqlx::query(
                        "INSERT INTO devices (site, device_id, state, graceful, status_ms, agent_version) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (site, device_id) DO UPDATE SET state = excluded.state, graceful = excluded.graceful, status_ms = excluded.status_ms, agent_version = excluded.agent_version",
                    )
                    .bind(&s.site)
                    .bind(&s.device_id)
                    .bind(&s.state)
                    .bind(s.graceful as i64)
                    .bind(s.time_ms)
                    .bind(&s.agent_version)
                    .execute(&mut *tx)
                    .await?;
                    counts.statuses += 1;
                }
                Accepted::Heartbeat(h) => {
                    sqlx::query(
                        "INSERT INTO devices (site, device_id, heartbeat, heartbeat_ms) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (site, device_id) DO UPDATE SET heartbeat = excluded.heartbeat, heartbeat_ms = excluded.heartbeat_ms
                         WHERE devices.heartbeat_ms IS NULL OR devices.heartbeat_ms <= excluded.heartbeat_ms",
                    )
                    .bind(&h.site)
                    .bind(&h.device_id)
                    .bind(&h.payload)
                    .bind(h.time_ms)
                    .execute(&mut *tx)
                    .await?;
                    counts.heartbeats += 1;
                }
                Accepted::Reply(r) => {
                    if r.command == "label-feedback" {
                        if let Some(id) = &r.request_id {
                            sqlx::query("UPDATE events SET feedback_state = $1, feedback_reply = $2 WHERE feedback_request_id = $3")
                                .bind(if r.ok { "applied" } else { "refused" })
                                .bind(&r.payload)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    counts.replies += 1;
                }
                Accepted::Slip(s) => {
                    sqlx::query(
                        "INSERT INTO slips (site, device_id, slip_id, payload, received_ms) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (site, device_id, slip_id) DO UPDATE SET payload = excluded.payload, received_ms = excluded.received_ms",
                    )
                    .bind(&s.site)
                    .bind(&s.device_id)
                    .bind(&s.slip_id)
                    .bind(&s.payload)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    counts.slips += 1;
                }
            }
        }
        for r in rejects.iter().chain(&late_rejects) {
            sqlx::query("INSERT INTO rejects (id, time_ms, broker, topic, reason, size, sample) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(now)
                .bind(broker)
                .bind(&r.topic)
                .bind(&r.reason)
                .bind(r.size as i64)
                .bind(&r.sample)
                .execute(&mut *tx)
                .await?;
            counts.rejected += 1;
        }
        tx.commit().await?;
        for r in &late_rejects {
            tracing::warn!(broker, topic = %r.topic, reason = %r.reason, "message rejected");
        }
        Ok(counts)
    }

    pub async fn count(&self, table: &str) -> Result<i64> {
        // Table names come from code, never from input.
        debug_assert!(table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        Ok(sqlx::query(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.pool).await?.try_get(0)?)
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::from_str(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
