//! Verdicts: stored with their audit entry in one transaction; the feedback
//! command they produce is kept with the event until the box replies.

use anyhow::Result;
use sqlx::Row;

use super::{Store, now_ms};
use crate::review::Review;

/// A feedback command waiting to be (re)sent.
#[derive(Debug, Clone)]
pub struct PendingFeedback {
    pub event_id: String,
    pub broker: String,
    pub site: String,
    pub device_id: String,
    pub command: String,
}

impl Store {
    /// Records a verdict (replacing an earlier one) and its audit entry.
    /// `feedback` is the command to send, or `None` when the box has nothing
    /// to learn from this kind of event. Returns false if no such event.
    pub async fn record_review(&self, event_id: &str, review: &Review, reviewer: &str, feedback: Option<(&str, &str)>, client: &str) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let (request_id, command, state) = match feedback {
            Some((id, cmd)) => (Some(id), Some(cmd), "pending"),
            None => (None, None, "not_applicable"),
        };
        let done = sqlx::query(
            "UPDATE events SET review = $1, reviewed_ms = $2, reviewer = $3, corrected_category = $4, corrected_label = $5, review_comment = $6,
                    feedback_request_id = $7, feedback_command = $8, feedback_state = $9, feedback_sent_ms = NULL, feedback_attempts = 0, feedback_reply = NULL
             WHERE event_id = $10",
        )
        .bind(review.verdict.as_str())
        .bind(now)
        .bind(reviewer)
        .bind(&review.category)
        .bind(&review.label)
        .bind(&review.comment)
        .bind(request_id)
        .bind(command)
        .bind(state)
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let detail = serde_json::json!({
            "verdict": review.verdict.as_str(),
            "category": review.category,
            "label": review.label,
            "comment": review.comment,
            "feedback_request_id": request_id,
        });
        sqlx::query("INSERT INTO audit (id, time_ms, username, action, target, detail, client) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(now)
            .bind(reviewer)
            .bind("verdict")
            .bind(event_id)
            .bind(detail.to_string())
            .bind(client)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Where an event's feedback stands: (state, the box's reply), for the page's polling.
    /// `None` when there is no such event.
    pub async fn feedback(&self, event_id: &str) -> Result<Option<(Option<String>, Option<serde_json::Value>)>> {
        let row = sqlx::query("SELECT feedback_state, feedback_reply FROM events WHERE event_id = $1").bind(event_id).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get::<Option<String>, _>(1)?.and_then(|s| serde_json::from_str(&s).ok()))),
            None => None,
        })
    }

    /// Marks a feedback command as handed to the broker.
    pub async fn feedback_sent(&self, event_id: &str) -> Result<()> {
        sqlx::query("UPDATE events SET feedback_state = CASE WHEN feedback_state = 'pending' THEN 'sent' ELSE feedback_state END, feedback_sent_ms = $1, feedback_attempts = feedback_attempts + 1 WHERE event_id = $2")
            .bind(now_ms())
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Commands not answered yet: never sent, or sent longer than `resend_after_ms` ago
    /// (the box may have been offline), fewer than `max_attempts` times.
    pub async fn feedback_due(&self, resend_after_ms: i64, max_attempts: i64) -> Result<Vec<PendingFeedback>> {
        let rows = sqlx::query(
            "SELECT event_id, broker, site, device_id, feedback_command FROM events
             WHERE feedback_state IN ('pending', 'sent') AND feedback_command IS NOT NULL AND feedback_attempts < $1
               AND ((feedback_sent_ms IS NULL AND reviewed_ms < $3) OR feedback_sent_ms < $2)
             ORDER BY reviewed_ms LIMIT 100",
        )
        .bind(max_attempts)
        .bind(now_ms() - resend_after_ms)
        // Never sent: give the verdict's own send a moment before taking over.
        .bind(now_ms() - 5_000)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingFeedback { event_id: r.try_get(0)?, broker: r.try_get(1)?, site: r.try_get(2)?, device_id: r.try_get(3)?, command: r.try_get(4)? })
            })
            .collect()
    }
}
