//! The console's config file (TOML): where events are stored, which brokers
//! to listen to, and the web server. Every problem is reported with the key
//! and the fix; relative paths are resolved against the file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    #[serde(default)]
    pub brokers: Vec<BrokerConfig>,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host/db` or `sqlite://path/review.db` (created if missing).
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// A short name shown on event pages; verdicts go back through the broker the event came from.
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Stable per console instance: the broker keeps this session (and queues
    /// QoS 1 messages) while the console is down.
    pub client_id: String,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Share event delivery among several console instances (`$share/<group>/...`).
    #[serde(default)]
    pub shared_group: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub tls: bool,
    /// A private CA (PEM) trusted besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Mark cookies `Secure`. Browsers accept them over plain HTTP only on
    /// localhost; behind a TLS proxy keep this on.
    #[serde(default = "yes")]
    pub secure_cookies: bool,
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// Sign-in attempts per minute, per client address and per user name.
    #[serde(default = "default_sign_in_per_minute")]
    pub sign_in_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    #[serde(default = "default_max_evidence_mb")]
    pub max_evidence_mb: f64,
    #[serde(default = "default_max_json_kb")]
    pub max_json_kb: u32,
    /// Messages stored per transaction at most.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_max_connections() -> u32 {
    8
}
fn default_prefix() -> String {
    "zwaste/v1".into()
}
fn default_listen() -> SocketAddr {
    "127.0.0.1:8090".parse().expect("constant")
}
fn yes() -> bool {
    true
}
fn default_session_hours() -> u32 {
    12
}
fn default_sign_in_per_minute() -> u32 {
    5
}
fn default_max_evidence_mb() -> f64 {
    4.0
}
fn default_max_json_kb() -> u32 {
    256
}
fn default_batch() -> usize {
    200
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            secure_cookies: true,
            session_hours: default_session_hours(),
            sign_in_per_minute: default_sign_in_per_minute(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { max_evidence_mb: default_max_evidence_mb(), max_json_kb: default_max_json_kb(), batch: default_batch() }
    }
}

impl IngestConfig {
    pub fn limits(&self) -> crate::ingest::Limits {
        crate::ingest::Limits {
            max_evidence_bytes: (self.max_evidence_mb * 1024.0 * 1024.0) as usize,
            max_json_bytes: self.max_json_kb as usize * 1024,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config {}: give an existing file with --config", path.display()))?;
        let de = toml::Deserializer::parse(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
        let mut config: Config = serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow::anyhow!("{}: at `{}`: {}", path.display(), e.path(), e.inner().message()))?;
        // Absolute, so that a relative --config still gives a usable sqlite:// URL.
        let base = std::path::absolute(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
            .with_context(|| format!("cannot resolve the folder of {}", path.display()))?;
        config.resolve(&base);
        config.validate().with_context(|| format!("{} has problems", path.display()))?;
        Ok(config)
    }

    /// SQLite paths and CA files are relative to the config's folder.
    fn resolve(&mut self, base: &Path) {
        if let Some(rest) = self.database.url.strip_prefix("sqlite://") {
            let (file, query) = rest.split_once('?').map_or((rest, None), |(f, q)| (f, Some(q)));
            if !file.starts_with('/') && file != ":memory:" {
                let abs = base.join(file);
                self.database.url = format!("sqlite://{}{}", abs.display(), query.map(|q| format!("?{q}")).unwrap_or_default());
            }
        }
        for b in &mut self.brokers {
            if let Some(ca) = &b.ca_file {
                if ca.is_relative() {
                    b.ca_file = Some(base.join(ca));
                }
            }
        }
    }

    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let url = &self.database.url;
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:")) {
            problems.push(format!("database.url `{url}`: use postgres://user@host/db or sqlite://path/review.db"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, b) in self.brokers.iter().enumerate() {
            if !names.insert(b.name.as_str()) {
                problems.push(format!("brokers[{i}].name `{}` is used twice: give each broker its own name", b.name));
            }
            if split_address(&b.address).is_none() {
                problems.push(format!("brokers[{i}].address `{}`: write host:port, e.g. 127.0.0.1:1883", b.address));
            }
            if b.client_id.is_empty() || b.client_id.len() > 64 {
                problems.push(format!("brokers[{i}].client_id: 1-64 characters, stable for this console instance"));
            }
            if b.prefix.is_empty() || b.prefix.contains(['+', '#']) || b.prefix.ends_with('/') {
                problems.push(format!("brokers[{i}].prefix `{}`: a topic prefix without wildcards or trailing /, e.g. zwaste/v1", b.prefix));
            }
            if let Some(g) = &b.shared_group {
                if g.is_empty() || g.contains(['/', '+', '#']) {
                    problems.push(format!("brokers[{i}].shared_group `{g}`: a plain name without / + #"));
                }
            }
            if b.password.is_some() && b.username.is_none() {
                problems.push(format!("brokers[{i}]: a password without a username"));
            }
            if let Some(ca) = &b.ca_file {
                if !ca.is_file() {
                    problems.push(format!("brokers[{i}].ca_file {}: no such file", ca.display()));
                }
            }
        }
        if !(0.01..=64.0).contains(&self.ingest.max_evidence_mb) {
            problems.push("ingest.max_evidence_mb: between 0.01 and 64".into());
        }
        if self.ingest.batch == 0 || self.ingest.batch > 5000 {
            problems.push("ingest.batch: between 1 and 5000".into());
        }
        if self.web.sign_in_per_minute == 0 {
            problems.push("web.sign_in_per_minute: at least 1".into());
        }
        if self.web.session_hours == 0 {
            problems.push("web.session_hours: at least 1".into());
        }
        if problems.is_empty() { Ok(()) } else { bail!("{}", problems.join("\n")) }
    }
}

pub fn split_address(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port > 0).then(|| (host.trim_matches(['[', ']']).to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_loads_with_an_absolute_sqlite_path() {
        let c = Config::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/review-console.toml"))).unwrap();
        assert!(c.database.url.starts_with("sqlite:///") && c.database.url.ends_with("var/demo/review.db"), "{}", c.database.url);
        assert_eq!((c.brokers.len(), c.web.secure_cookies, c.ingest.batch), (1, true, 200));
    }

    #[test]
    fn every_problem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[database]\nurl = \"mysql://x\"\n[[brokers]]\nname = \"a\"\naddress = \"nohost\"\nclient_id = \"\"\nprefix = \"zwaste/#\"\n[[brokers]]\nname = \"a\"\naddress = \"h:1\"\nclient_id = \"c\"\n[ingest]\nbatch = 0\n").unwrap();
        let e = format!("{:#}", Config::load(&file).unwrap_err());
        for needle in ["database.url", "brokers[0].address", "brokers[0].client_id", "brokers[0].prefix", "brokers[1].name `a` is used twice", "ingest.batch"] {
            assert!(e.contains(needle), "{needle} missing in: {e}");
        }
        std::fs::write(&file, "[database]\nurl = \"sqlite://x.db\"\n[web]\nlisten = \"nowhere\"\n").unwrap();
        assert!(format!("{:#}", Config::load(&file).unwrap_err()).contains("web.listen"));
    }
}
