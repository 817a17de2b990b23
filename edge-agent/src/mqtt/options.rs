//! Turns `[mqtt]` into connection settings: reads the password and the TLS
//! files, so every problem with them is reported once, at start, naming the
//! file and the fix, and never in a reconnect loop. Secrets never reach logs.

use crate::config::{MqttConfig, MqttProtocol};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A password: shown as `***` by `Debug`, read only through `expose`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone)]
pub struct LinkSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub protocol: MqttProtocol,
    pub keep_alive: Duration,
    pub persistent_session: bool,
    pub session_expiry: Duration,
    pub credentials: Option<(String, Secret)>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub inflight: u16,
    pub max_packet_bytes: usize,
    pub connect_timeout_s: u64,
}

impl fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSettings")
            .field("broker", &format_args!("{}:{}", self.host, self.port))
            .field("client_id", &self.client_id)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("mqtt.broker `{0}` is not host:port")]
    Address(String),
    #[error("mqtt.password_file {path}: {message}. Create it with the password on its first line, readable only by the agent's user (chmod 600).")]
    PasswordFile { path: String, message: String },
    #[error("mqtt.password_env: the environment variable `{0}` is not set or empty. Set it (systemd: EnvironmentFile=) or use password_file.")]
    PasswordEnv(String),
    #[error("mqtt.tls {what} {path}: {message}. Give a PEM file ({hint}).")]
    Tls { what: &'static str, path: String, message: String, hint: &'static str },
}

/// Largest packet either way: an evidence JPEG is ~100-300 KB; leave room.
pub const MAX_PACKET_BYTES: usize = 8 * 1024 * 1024;

/// `host:port` (or `[v6]:port`) into its parts; `None` unless both are there and the port is not 0.
pub fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    (!host.is_empty()).then(|| (host.to_string(), port))
}

impl LinkSettings {
    pub fn from_config(mqtt: &MqttConfig, site: &str, device: &str) -> Result<Self, SettingsError> {
        let address = mqtt.connect_address();
        let (host, port) = split_host_port(address).ok_or_else(|| SettingsError::Address(address.to_string()))?;
        let password = match (&mqtt.password_file, &mqtt.password_env) {
            (Some(path), _) => Some(read_password_file(path)?),
            (None, Some(var)) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(Secret::new(v)),
                _ => return Err(SettingsError::PasswordEnv(var.clone())),
            },
            (None, None) => None,
        };
        let credentials = mqtt.username.as_ref().map(|u| (u.clone(), password.unwrap_or_else(|| Secret::new(String::new()))));
        let tls = match &mqtt.tls {
            Some(t) => Some(Arc::new(tls_config(&t.ca_file, t.client_cert.as_deref().zip(t.client_key.as_deref()))?)),
            None => None,
        };
        Ok(Self {
            host,
            port,
            client_id: mqtt.client_id.clone().unwrap_or_else(|| format!("{site}-{device}")),
            protocol: mqtt.protocol,
            keep_alive: mqtt.keep_alive,
            persistent_session: mqtt.persistent_session,
            session_expiry: mqtt.session_expiry,
            credentials,
            tls,
            inflight: mqtt.inflight,
            max_packet_bytes: MAX_PACKET_BYTES,
            connect_timeout_s: 10,
        })
    }
}

fn read_password_file(path: &Path) -> Result<Secret, SettingsError> {
    let err = |message: String| SettingsError::PasswordFile { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(err("the first line is empty".into()));
    }
    Ok(Secret::new(first.to_string()))
}

/// A rustls client config on the `ring` provider: the broker's CA, and a
/// client certificate when the broker asks for mutual TLS.
pub fn tls_config(ca_file: &Path, client: Option<(&Path, &Path)>) -> Result<rustls::ClientConfig, SettingsError> {
    let tls_err = |what, path: &Path, message: String, hint| SettingsError::Tls { what, path: path.display().to_string(), message, hint };
    let read = |what, path: &Path, hint| std::fs::read(path).map_err(|e| tls_err(what, path, e.to_string(), hint));

    let ca_pem = read("ca_file", ca_file, "the CA certificate that signed the broker's certificate")?;
    let mut roots = rustls::RootCertStore::empty();
    let mut found = 0;
    for cert in rustls_pemfile::certs(&mut ca_pem.as_slice()) {
        let cert = cert.map_err(|e| tls_err("ca_file", ca_file, e.to_string(), "BEGIN CERTIFICATE blocks"))?;
        roots.add(cert).map_err(|e| tls_err("ca_file", ca_file, e.to_string(), "a valid X.509 CA certificate"))?;
        found += 1;
    }
    if found == 0 {
        return Err(tls_err("ca_file", ca_file, "no certificate in it".into(), "with BEGIN CERTIFICATE blocks"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("ca_file", ca_file, e.to_string(), "TLS 1.2 or 1.3"))?
        .with_root_certificates(roots);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_file, key_file)) => {
            let cert_pem = read("client_cert", cert_file, "the client certificate")?;
            let chain: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
                .collect::<Result<_, _>>()
                .map_err(|e| tls_err("client_cert", cert_file, e.to_string(), "BEGIN CERTIFICATE blocks"))?;
            if chain.is_empty() {
                return Err(tls_err("client_cert", cert_file, "no certificate in it".into(), "with a BEGIN CERTIFICATE block"));
            }
            let key_pem = read("client_key", key_file, "the client certificate's private key")?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|e| tls_err("client_key", key_file, e.to_string(), "a PKCS#8, PKCS#1 or SEC1 private key"))?
                .ok_or_else(|| tls_err("client_key", key_file, "no private key in it".into(), "a BEGIN PRIVATE KEY block"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err("client_key", key_file, e.to_string(), "the key that matches client_cert"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(extra: &str) -> MqttConfig {
        toml::from_str(&format!("broker = \"broker.example:8883\"\n{extra}")).unwrap()
    }

    #[test]
    fn passwords_come_from_a_file_or_the_environment_and_never_show_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret-π\nignored\n").unwrap();
        let cfg = mqtt(&format!("username = \"pod\"\npassword_file = {:?}", file.display().to_string()));
        let s = LinkSettings::from_config(&cfg, "site", "dev").unwrap();
        assert_eq!(s.credentials.as_ref().map(|(u, p)| (u.as_str(), p.expose())), Some(("pod", "s3cret-π")));
        assert_eq!((s.host.as_str(), s.port, s.client_id.as_str()), ("broker.example", 8883, "site-dev"));
        let shown = format!("{s:?} {:?}", s.credentials);
        assert!(!shown.contains("s3cret"), "{shown}");

        let cfg = mqtt("username = \"pod\"\npassword_env = \"EDGE_AGENT_TEST_UNSET_VARIABLE\"");
        let err = LinkSettings::from_config(&cfg, "s", "d").unwrap_err().to_string();
        assert!(err.contains("EDGE_AGENT_TEST_UNSET_VARIABLE") && err.contains("not set"), "{err}");

        let cfg = mqtt(&format!("username = \"pod\"\npassword_file = {:?}", dir.path().join("missing").display().to_string()));
        let err = LinkSettings::from_config(&cfg, "s", "d").unwrap_err().to_string();
        assert!(err.contains("missing") && err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn tls_files_that_are_missing_or_not_pem_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("ca.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = tls_config(&junk, None).unwrap_err().to_string();
        assert!(err.contains("ca.pem") && err.contains("no certificate"), "{err}");
        let err = tls_config(&dir.path().join("nope.pem"), None).unwrap_err().to_string();
        assert!(err.contains("nope.pem"), "{err}");
    }
}
