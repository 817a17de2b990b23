//! The review queue: flagged events newest first, filtered, paged by a
//! keyset cursor (time, id) so page 1000 costs what page 1 does.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Sql, Store};

/// Filters as they come from the page's form (all optional).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct QueueFilter {
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// The event's own verdict (misclassification, reject, suspected ...).
    #[serde(default)]
    pub verdict: Option<String>,
    /// unreviewed | reviewed | confirmed | false_alarm | corrected
    #[serde(default)]
    pub review: Option<String>,
    /// Unix ms, inclusive / exclusive.
    #[serde(default)]
    pub from_ms: Option<i64>,
    #[serde(default)]
    pub to_ms: Option<i64>,
    /// Include routine events (not flagged).
    #[serde(default)]
    pub all: bool,
    /// Cursor: events older than this (time_ms, event_id).
    #[serde(default)]
    pub before_ms: Option<i64>,
    #[serde(default)]
    pub before_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub event_id: String,
    pub site: String,
    pub device_id: String,
    pub camera: String,
    pub kind: String,
    pub verdict: String,
    pub priority: String,
    pub time_ms: i64,
    pub confidence: f64,
    pub message_zh: Option<String>,
    pub item_label: Option<String>,
    pub item_category: Option<String>,
    pub bin_category: Option<String>,
    pub review: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub total: i64,
    /// The cursor of the next (older) page, if any.
    pub next: Option<(i64, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    pub row: QueueRow,
    pub task: String,
    pub seq: i64,
    pub captured_ms: i64,
    pub bin_zone: Option<String>,
    pub evidence_sha256: Option<String>,
    pub payload: serde_json::Value,
    pub broker: String,
    pub received_ms: i64,
    pub reviewed_ms: Option<i64>,
    pub reviewer: Option<String>,
    pub corrected_category: Option<String>,
    pub corrected_label: Option<String>,
    pub review_comment: Option<String>,
    pub feedback_request_id: Option<String>,
    pub feedback_state: Option<String>,
    pub feedback_attempts: i64,
    pub feedback_reply: Option<serde_json::Value>,
    /// Evidence stored: (sha256, width, height, matches the event's sha256).
    pub evidence: Option<(String, i64, i64, bool)>,
    /// The intake slip the event was checked against, if the console saw it.
    pub slip: Option<serde_json::Value>,
}

const ROW_COLUMNS: &str = "event_id, site, device_id, camera, kind, verdict, priority, time_ms, confidence, message_zh, item_label, item_category, bin_category, review";

fn queue_row(r: &AnyRow) -> Result<QueueRow> {
    Ok(QueueRow {
        event_id: r.try_get("event_id")?,
        site: r.try_get("site")?,
        device_id: r.try_get("device_id")?,
        camera: r.try_get("camera")?,
        kind: r.try_get("kind")?,
        verdict: r.try_get("verdict")?,
        priority: r.try_get("priority")?,
        time_ms: r.try_get("time_ms")?,
        confidence: r.try_get("confidence")?,
        message_zh: r.try_get("message_zh")?,
        item_label: r.try_get("item_label")?,
        item_category: r.try_get("item_category")?,
        bin_category: r.try_get("bin_category")?,
        review: r.try_get("review")?,
    })
}

pub const PAGE_SIZE: i64 = 50;

impl QueueFilter {
    /// The WHERE clause (every value a bound parameter).
    fn conditions(&self, sql: &mut Sql) {
        sql.push(" WHERE 1 = 1");
        if !self.all {
            sql.push(" AND flagged = 1");
        }
        let some = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(v) = some(&self.site) {
            sql.push(" AND site = ").text(v);
        }
        if let Some(v) = some(&self.device) {
            sql.push(" AND device_id = ").text(v);
        }
        if let Some(v) = some(&self.kind) {
            sql.push(" AND kind = ").text(v);
        }
        if let Some(v) = some(&self.verdict) {
            sql.push(" AND verdict = ").text(v);
        }
        match some(&self.review).as_deref() {
            Some("unreviewed") => {
                sql.push(" AND review IS NULL");
            }
            Some("reviewed") => {
                sql.push(" AND review IS NOT NULL");
            }
            Some(v @ ("confirmed" | "false_alarm" | "corrected")) => {
                sql.push(" AND review = ").text(v);
            }
            _ => {}
        }
        if let Some(v) = self.from_ms {
            sql.push(" AND time_ms >= ").int(v);
        }
        if let Some(v) = self.to_ms {
            sql.push(" AND time_ms < ").int(v);
        }
    }
}

impl Store {
    pub async fn queue(&self, filter: &QueueFilter) -> Result<QueuePage> {
        let mut count = Sql::new("SELECT COUNT(*) FROM events");
        filter.conditions(&mut count);
        let total: i64 = count.query().fetch_one(&self.pool).await?.try_get(0)?;

        let mut sql = Sql::new(&format!("SELECT {ROW_COLUMNS} FROM events"));
        filter.conditions(&mut sql);
        if let (Some(ms), Some(id)) = (filter.before_ms, filter.before_id.as_ref()) {
            sql.push(" AND (time_ms < ").int(ms).push(" OR (time_ms = ").int(ms).push(" AND event_id < ").text(id.clone()).push("))");
        }
        sql.push(&format!(" ORDER BY time_ms DESC, event_id DESC LIMIT {}", PAGE_SIZE + 1));
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut rows: Vec<QueueRow> = rows.iter().map(queue_row).collect::<Result<_>>()?;
        let next = if rows.len() as i64 > PAGE_SIZE {
            rows.truncate(PAGE_SIZE as usize);
            rows.last().map(|r| (r.time_ms, r.event_id.clone()))
        } else {
            None
        };
        Ok(QueuePage { rows, total, next })
    }

    pub async fn event(&self, event_id: &str) -> Result<Option<EventDetail>> {
        let Some(r) = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS}, task, seq, captured_ms, bin_zone, evidence_sha256, payload, broker, received_ms, reviewed_ms, reviewer, corrected_category, corrected_label, review_comment, feedback_request_id, feedback_state, feedback_attempts, feedback_reply FROM events WHERE event_id = $1"
        ))
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let payload: String = r.try_get("payload")?;
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let reply: Option<String> = r.try_get("feedback_reply")?;
        let evidence_sha256: Option<String> = r.try_get("evidence_sha256")?;
        let evidence = sqlx::query("SELECT sha256, width, height FROM evidence WHERE event_id = $1").bind(event_id).fetch_optional(&self.pool).await?;
        let evidence = match evidence {
            Some(e) => {
                let sha: String = e.try_get(0)?;
                let matches = evidence_sha256.as_deref() == Some(sha.as_str());
                Some((sha, e.try_get(1)?, e.try_get(2)?, matches))
            }
            None => None,
        };
        let row = queue_row(&r)?;
        let slip = match payload.pointer("/details/slip_id").and_then(|v| v.as_str()) {
            Some(slip_id) => sqlx::query("SELECT payload FROM slips WHERE site = $1 AND device_id = $2 AND slip_id = $3")
                .bind(&row.site)
                .bind(&row.device_id)
                .bind(slip_id)
                .fetch_optional(&self.pool)
                .await?
                .and_then(|s| s.try_get::<String, _>(0).ok())
                .and_then(|s| serde_json::from_str(&s).ok()),
            None => None,
        };
        Ok(Some(EventDetail {
            task: r.try_get("task")?,
            seq: r.try_get("seq")?,
            captured_ms: r.try_get("captured_ms")?,
            bin_zone: r.try_get("bin_zone")?,
            evidence_sha256,
            payload,
            broker: r.try_get("broker")?,
            received_ms: r.try_get("received_ms")?,
            reviewed_ms: r.try_get("reviewed_ms")?,
            reviewer: r.try_get("reviewer")?,
            corrected_category: r.try_get("corrected_category")?,
            corrected_label: r.try_get("corrected_label")?,
            review_comment: r.try_get("review_comment")?,
            feedback_request_id: r.try_get("feedback_request_id")?,
            feedback_state: r.try_get("feedback_state")?,
            feedback_attempts: r.try_get("feedback_attempts")?,
            feedback_reply: reply.and_then(|s| serde_json::from_str(&s).ok()),
            evidence,
            slip,
            row,
        }))
    }

    /// The evidence JPEG, only when it is the picture its event names.
    pub async fn evidence_jpeg(&self, event_id: &str) -> Result<Option<Vec<u8>>> {
        let r = sqlx::query("SELECT v.jpeg FROM evidence v JOIN events e ON e.event_id = v.event_id WHERE v.event_id = $1 AND e.evidence_sha256 = v.sha256")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Sites and devices seen (for the filter lists).
    pub async fn devices_known(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT site, device_id FROM devices ORDER BY site, device_id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }
}
