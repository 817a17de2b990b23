//! Throw-away databases for tests and benchmarks: a fresh PostgreSQL database
//! on the given server (dropped afterwards) or a SQLite file in a temp folder.

use anyhow::{Context, Result};
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

pub struct ScratchDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl ScratchDatabase {
    /// `server`: a PostgreSQL URL whose user may CREATE DATABASE, or `sqlite`.
    pub async fn create(server: &str) -> Result<ScratchDatabase> {
        sqlx::any::install_default_drivers();
        let name = format!("review_scratch_{}", uuid::Uuid::now_v7().simple());
        if server == "sqlite" || server.starts_with("sqlite:") {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}/review.db", dir.path().display());
            return Ok(ScratchDatabase { url, admin_url: None, name, _dir: Some(dir) });
        }
        let pool = AnyPoolOptions::new().max_connections(1).connect(server).await.with_context(|| format!("cannot connect to PostgreSQL at {}", super::redact(server)))?;
        pool.execute(format!("CREATE DATABASE {name}").as_str()).await.context("CREATE DATABASE (the user needs CREATEDB)")?;
        pool.close().await;
        let mut url = url::Url::parse(server)?;
        url.set_path(&format!("/{name}"));
        Ok(ScratchDatabase { url: url.to_string(), admin_url: Some(server.to_string()), name, _dir: None })
    }

    /// Drops the PostgreSQL database (close every pool on it first).
    pub async fn drop_database(self) -> Result<()> {
        if let Some(admin) = &self.admin_url {
            let pool = AnyPoolOptions::new().max_connections(1).connect(admin).await?;
            pool.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await?;
            pool.close().await;
        }
        Ok(())
    }
}
