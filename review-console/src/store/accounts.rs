//! Users, sessions and the audit log.

use anyhow::Result;
use sqlx::Row;

use super::{Store, now_ms};
use crate::auth::{self, Role};

#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub role: Role,
    pub disabled: bool,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub role: Role,
    pub csrf: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub time_ms: i64,
    pub username: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectEntry {
    pub time_ms: i64,
    pub broker: String,
    pub topic: String,
    pub reason: String,
    pub size: i64,
    pub sample: String,
}

impl Store {
    /// Adds a user, or sets the password and role of an existing one.
    pub async fn put_user(&self, username: &str, password: &str, role: Role) -> Result<()> {
        anyhow::ensure!(auth::valid_username(username), "user names have 2-64 characters: letters, digits, . _ - @");
        let pw = password.to_string();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw)).await?.map_err(anyhow::Error::msg)?;
        sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_ms, disabled) VALUES ($1, $2, $3, $4, 0)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, disabled = 0",
        )
        .bind(username)
        .bind(hash)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        // A new password ends the user's sessions.
        sqlx::query("DELETE FROM sessions WHERE username = $1").bind(username).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2").bind(disabled as i64).bind(username).execute(&self.pool).await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE username = $1").bind(username).execute(&self.pool).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT username, role, disabled FROM users ORDER BY username").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get(1)?;
                Ok(User { username: r.try_get(0)?, role: Role::parse(&role).unwrap_or(Role::Viewer), disabled: r.try_get::<i64, _>(2)? != 0 })
            })
            .collect()
    }

    /// Checks a password (argon2 off the async threads; unknown users cost the same).
    pub async fn check_password(&self, username: &str, password: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT password_hash, role, disabled FROM users WHERE username = $1").bind(username).fetch_optional(&self.pool).await?;
        let (hash, role, disabled) = match &row {
            Some(r) => (r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?, r.try_get::<i64, _>(2)? != 0),
            None => (auth::decoy_hash().to_string(), String::new(), true),
        };
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash)).await?;
        Ok((ok && !disabled && row.is_some()).then(|| User { username: username.into(), role: Role::parse(&role).unwrap_or(Role::Viewer), disabled }))
    }

    /// Starts a session: returns (token for the cookie, CSRF token).
    pub async fn create_session(&self, username: &str, hours: u32) -> Result<(String, String)> {
        let (token, csrf) = (auth::random_token(), auth::random_token());
        let now = now_ms();
        sqlx::query("DELETE FROM sessions WHERE expires_ms < $1").bind(now).execute(&self.pool).await?;
        sqlx::query("INSERT INTO sessions (token_sha256, username, csrf, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(auth::token_digest(&token))
            .bind(username)
            .bind(&csrf)
            .bind(now)
            .bind(now + hours as i64 * 3_600_000)
            .execute(&self.pool)
            .await?;
        Ok((token, csrf))
    }

    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.len() != 64 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT s.username, u.role, s.csrf FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_sha256 = $1 AND s.expires_ms > $2 AND u.disabled = 0",
        )
        .bind(auth::token_digest(token))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(Session { username: r.try_get(0)?, role: Role::parse(&r.try_get::<String, _>(1)?).unwrap_or(Role::Viewer), csrf: r.try_get(2)? }),
            None => None,
        })
    }

    pub async fn end_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(auth::token_digest(token)).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn audit(&self, username: &str, action: &str, target: Option<&str>, detail: Option<&str>, client: &str) -> Result<()> {
        sqlx::query("INSERT INTO audit (id, time_ms, username, action, target, detail, client) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(now_ms())
            .bind(username)
            .bind(action)
            .bind(target)
            .bind(detail)
            .bind(client)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT time_ms, username, action, target, detail, client FROM audit ORDER BY time_ms DESC, id DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry { time_ms: r.try_get(0)?, username: r.try_get(1)?, action: r.try_get(2)?, target: r.try_get(3)?, detail: r.try_get(4)?, client: r.try_get(5)? })
            })
            .collect()
    }

    pub async fn rejects(&self, limit: i64) -> Result<Vec<RejectEntry>> {
        let rows = sqlx::query("SELECT time_ms, broker, topic, reason, size, sample FROM rejects ORDER BY time_ms DESC, id DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok(RejectEntry { time_ms: r.try_get(0)?, broker: r.try_get(1)?, topic: r.try_get(2)?, reason: r.try_get(3)?, size: r.try_get(4)?, sample: r.try_get(5)? }))
            .collect()
    }
}
