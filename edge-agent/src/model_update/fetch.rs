//! Download and verification of ONNX models announced by `cmd/model-update`.
//!
//! Everything the platform sends is untrusted: names become file names, the URL
//! is fetched, and the body lands on disk. So the request is validated before
//! any network or file-system access, the signature (when a key is configured)
//! is checked before anything is downloaded, the body is streamed to a `.part`
//! file while it is hashed and counted, and only a fully verified file is
//! renamed to its final name. Any failure removes what was written.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

/// What the platform asked for.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// Model name, e.g. `efficientnet-lite0`; becomes part of a file name.
    pub name: &'a str,
    /// Model version; becomes part of a file name.
    pub version: &'a str,
    /// Expected SHA-256 of the file, 64 hex characters (lower-case by convention).
    pub sha256: &'a str,
    /// `http://` or `https://` URL of the file.
    pub url: &'a str,
    /// Standard base64 of a 64-byte ed25519 signature over [`signed_message`].
    pub signature: Option<&'a str>,
}

/// How downloads are done and what is trusted.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Refuse bigger downloads, so a bad URL cannot fill the disk.
    pub max_bytes: u64,
    /// Budget for the whole download, from DNS lookup to the last byte.
    pub timeout: Duration,
    /// When set, a valid signature is REQUIRED.
    pub public_key: Option<VerifyingKey>,
    /// PEM file with a platform's private CA, trusted for https besides the
    /// built-in Mozilla roots.
    pub extra_ca_pem: Option<PathBuf>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
            timeout: Duration::from_secs(10 * 60),
            public_key: None,
            extra_ca_pem: None,
        }
    }
}

/// Why a model could not be fetched. Each message says what went wrong and
/// what an operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "invalid model update: {field} {message}; fix the model-update command sent by the platform"
    )]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(
        "download of {url} failed with HTTP status {status}; check the URL the platform sent and that the model is published there"
    )]
    Http { url: String, status: u16 },
    #[error(
        "cannot download {url}: {message}; check the device's network, DNS and proxy, and that the server is reachable"
    )]
    Network { url: String, message: String },
    #[error(
        "model download is larger than allowed (at least {got} bytes, limit {limit} bytes); check the URL or raise the max download size in the agent settings"
    )]
    TooLarge { limit: u64, got: u64 },
    #[error(
        "the file at {url} is not the one announced (SHA-256 {actual}, expected {expected}); nothing was changed — republish the model or fix the hash the platform sends"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the model update is not signed but this agent requires signed models; sign the update on the platform, or remove the configured public key to accept unsigned models"
    )]
    SignatureMissing,
    #[error(
        "the model update's signature does not match its name, version and SHA-256 for the configured public key; nothing was changed — check the platform signs with the key matching this agent's public key"
    )]
    SignatureInvalid,
    #[error("file error at {}: {message}; free space in that folder, fix its permissions, or check the path exists", path.display())]
    Io { path: PathBuf, message: String },
}

impl FetchError {
    /// Stable short code for status reports to the platform.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::Http { .. } => "http",
            Self::Network { .. } => "network",
            Self::TooLarge { .. } => "too_large",
            Self::HashMismatch { .. } => "hash_mismatch",
            Self::SignatureMissing => "signature_missing",
            Self::SignatureInvalid => "signature_invalid",
            Self::Io { .. } => "io",
        }
    }

    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    fn io(path: &Path, err: &io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }

    fn network(url: &str, message: impl Into<String>) -> Self {
        Self::Network {
            url: url.to_owned(),
            message: message.into(),
        }
    }
}

/// The exact bytes that get signed: binds name, version and hash so an old
/// signed model cannot be replayed as another model or version.
///
/// The hash is lower-cased so signer and verifier agree whatever case the
/// platform used.
pub fn signed_message(name: &str, version: &str, sha256: &str) -> Vec<u8> {
    format!(
        "edge-agent model-update v1\n{name}\n{version}\n{}\n",
        sha256.to_ascii_lowercase()
    )
    .into_bytes()
}

/// Reads an ed25519 public key from a file holding the 32-byte key as base64
/// (one line) or hex, or a PEM `PUBLIC KEY` (SPKI) block.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, FetchError> {
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => FetchError::invalid(
            "public_key",
            format!(
                "file {} is not text; expected base64, hex or PEM",
                path.display()
            ),
        ),
        _ => FetchError::io(path, &e),
    })?;
    let bad = |why: &str| {
        FetchError::invalid(
            "public_key",
            format!(
                "in {}: {why}; expected a 32-byte ed25519 key as base64, hex or PEM PUBLIC KEY",
                path.display()
            ),
        )
    };
    let text = text.trim();
    if text.contains("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| bad(&format!("bad PEM ({e})")))
            .and_then(|key| check_key(key).map_err(bad));
    }
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| bad(&e.to_string()))?
    } else {
        BASE64
            .decode(text)
            .map_err(|_| bad("neither hex nor base64"))?
    };
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| bad(&format!("key is {} bytes, not 32", b.len())))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not a valid ed25519 point"))?;
    check_key(key).map_err(bad)
}

/// Weak (small-order) keys accept forged signatures, so they are refused.
fn check_key(key: VerifyingKey) -> Result<VerifyingKey, &'static str> {
    if key.is_weak() {
        Err("weak ed25519 key")
    } else {
        Ok(key)
    }
}

/// Downloads into `staging_dir/<name>-<version>.onnx.part`, hashing while
/// writing, fsyncs, checks size/hash/signature, then renames to
/// `staging_dir/<name>-<version>.onnx` and returns that path.
///
/// On any failure the `.part` file is removed and nothing is left at the final
/// path (a stale file there from an earlier attempt is removed first). The
/// signature covers name, version and hash, all known up front, so it is
/// checked before downloading; the hash check then binds the bytes to it.
/// Two concurrent fetches of the same name and version must not be run.
pub fn fetch_verified(
    req: &FetchRequest,
    settings: &FetchSettings,
    staging_dir: &Path,
) -> Result<PathBuf, FetchError> {
    validate_request(req, settings)?;
    let agent = build_agent(settings)?;

    fs::create_dir_all(staging_dir).map_err(|e| FetchError::io(staging_dir, &e))?;
    let file_name = format!("{}-{}.onnx", req.name, req.version);
    let final_path = staging_dir.join(&file_name);
    let part_path = staging_dir.join(format!("{file_name}.part"));
    remove_if_exists(&final_path)?;

    info!(
        name = req.name,
        version = req.version,
        url = req.url,
        "downloading model"
    );
    let result = download(&agent, req, settings, &part_path).and_then(|()| {
        fs::rename(&part_path, &final_path).map_err(|e| FetchError::io(&final_path, &e))
    });
    if let Err(err) = result {
        warn!(
            name = req.name,
            version = req.version,
            url = req.url,
            code = err.code(),
            "model download failed: {err}"
        );
        for path in [&part_path, &final_path] {
            if let Err(e) = fs::remove_file(path)
                && e.kind() != io::ErrorKind::NotFound
            {
                warn!("cannot remove {}: {e}", path.display());
            }
        }
        return Err(err);
    }
    sync_dir(staging_dir);
    info!(name = req.name, version = req.version, path = %final_path.display(), "model downloaded and verified");
    Ok(final_path)
}

/// Checks everything that can be checked without the network, including the
/// signature, which covers only request fields.
fn validate_request(req: &FetchRequest, settings: &FetchSettings) -> Result<(), FetchError> {
    check_file_part("name", req.name)?;
    check_file_part("version", req.version)?;
    if req.sha256.len() != 64 || !req.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::invalid(
            "sha256",
            format!("{:?} is not 64 hex characters", truncate(req.sha256)),
        ));
    }
    check_url(req.url)?;

    let signature = req
        .signature
        .map(|s| {
            let bytes = BASE64
                .decode(s.trim())
                .map_err(|_| FetchError::invalid("signature", "is not valid standard base64"))?;
            let bytes: [u8; 64] = bytes.try_into().map_err(|b: Vec<u8>| {
                FetchError::invalid(
                    "signature",
                    format!("is {} bytes, an ed25519 signature is 64", b.len()),
                )
            })?;
            Ok::<_, FetchError>(Signature::from_bytes(&bytes))
        })
        .transpose()?;

    match (&settings.public_key, signature) {
        (Some(key), Some(sig)) => key
            .verify_strict(&signed_message(req.name, req.version, req.sha256), &sig)
            .map_err(|_| FetchError::SignatureInvalid),
        (Some(_), None) => Err(FetchError::SignatureMissing),
        (None, Some(_)) => {
            debug!("model update is signed but no public key is configured; signature not checked");
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

/// Names and versions become file names: only a small safe alphabet, so a
/// `../` or a hidden file can never be produced.
fn check_file_part(field: &'static str, value: &str) -> Result<(), FetchError> {
    let ok = (1..=64).contains(&value.len())
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(FetchError::invalid(
            field,
            format!(
                "{:?} must be 1 to 64 of A-Z a-z 0-9 . - _ + and not start with '.'",
                truncate(value)
            ),
        ))
    }
}

fn check_url(url: &str) -> Result<(), FetchError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(FetchError::invalid(
            "url",
            format!("{:?} must start with http:// or https://", truncate(url)),
        ));
    }
    match url.parse::<ureq::http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err(FetchError::invalid(
            "url",
            format!("{:?} has no host", truncate(url)),
        )),
        Err(e) => Err(FetchError::invalid(
            "url",
            format!("{:?} does not parse: {e}", truncate(url)),
        )),
    }
}

/// Keeps error messages readable when the platform sends something huge.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(100) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn build_agent(settings: &FetchSettings) -> Result<ureq::Agent, FetchError> {
    use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

    let mut tls = TlsConfig::builder();
    if let Some(path) = &settings.extra_ca_pem {
        let pem = fs::read(path).map_err(|e| {
            FetchError::invalid(
                "extra_ca_pem",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let mut extra = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(cert)) => extra.push(cert),
                Ok(_) => {}
                Err(e) => {
                    return Err(FetchError::invalid(
                        "extra_ca_pem",
                        format!("{} is not valid PEM: {e}", path.display()),
                    ));
                }
            }
        }
        if extra.is_empty() {
            return Err(FetchError::invalid(
                "extra_ca_pem",
                format!("{} holds no CERTIFICATE block", path.display()),
            ));
        }
        // ureq takes either the built-in roots or a list, so the list is the
        // Mozilla roots (same set as webpki-roots) plus the private CA.
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()))
            .chain(extra);
        tls = tls.root_certs(RootCerts::from(roots));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(settings.timeout))
        .http_status_as_error(false)
        .build();
    Ok(config.new_agent())
}

/// Streams the body to `part_path`, counting and hashing, then checks length
/// and hash. The caller removes `part_path` on error.
fn download(
    agent: &ureq::Agent,
    req: &FetchRequest,
    settings: &FetchSettings,
    part_path: &Path,
) -> Result<(), FetchError> {
    let url = req.url;
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(status) => FetchError::Http {
            url: url.to_owned(),
            status,
        },
        ureq::Error::Timeout(_) => timed_out(url, settings, 0),
        other => FetchError::network(url, other.to_string()),
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Http {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let declared = response.body().content_length();
    if let Some(len) = declared
        && len > settings.max_bytes
    {
        return Err(FetchError::TooLarge {
            limit: settings.max_bytes,
            got: len,
        });
    }

    let mut file = File::create(part_path).map_err(|e| FetchError::io(part_path, &e))?;
    // One byte over the limit is enough to know the body is too large.
    let mut body = response
        .into_body()
        .into_reader()
        .take(settings.max_bytes.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // ureq reports its own errors, timeouts included, wrapped in io::Error.
            Err(e)
                if e.kind() == io::ErrorKind::TimedOut
                    || e.get_ref()
                        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_))) =>
            {
                return Err(timed_out(url, settings, total));
            }
            Err(e) => {
                return Err(FetchError::network(
                    url,
                    format!("reading the body failed after {total} bytes: {e}"),
                ));
            }
        };
        total += n as u64;
        if total > settings.max_bytes {
            return Err(FetchError::TooLarge {
                limit: settings.max_bytes,
                got: total,
            });
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| FetchError::io(part_path, &e))?;
    }
    if let Some(len) = declared
        && total != len
    {
        return Err(FetchError::network(
            url,
            format!("connection closed after {total} of {len} bytes"),
        ));
    }
    file.sync_all().map_err(|e| FetchError::io(part_path, &e))?;
    drop(file);

    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(req.sha256) {
        return Err(FetchError::HashMismatch {
            url: url.to_owned(),
            expected: req.sha256.to_ascii_lowercase(),
            actual,
        });
    }
    debug!(bytes = total, sha256 = %actual, "model body verified");
    Ok(())
}

fn timed_out(url: &str, settings: &FetchSettings, bytes: u64) -> FetchError {
    FetchError::network(
        url,
        format!(
            "timed out after {:?} with {bytes} bytes received (raise the download timeout for slow links)",
            settings.timeout
        ),
    )
}

fn remove_if_exists(path: &Path) -> Result<(), FetchError> {
    match fs::remove_file(path) {
        Ok(()) => {
            debug!("removed stale {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FetchError::io(path, &e)),
    }
}

/// Makes the rename durable across power loss. Best effort: not every file
/// system supports syncing a directory, and the file itself is already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        debug!("cannot fsync {}: {e}", dir.display());
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use std::collections::HashMap;
    use std::io::BufRead as _;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use crate::inference::manifest::sha256_file;

    const BODY: &[u8] = b"not really an onnx model, but bytes all the same";

    /// A server with `BODY` at `/m.onnx`, a staging folder, its URL and hash.
    fn serving_body() -> (Server, tempfile::TempDir, String, String) {
        let server = Server::start(vec![("/m.onnx", ok(BODY))]);
        let url = server.url("/m.onnx");
        (server, tempfile::tempdir().unwrap(), url, sha(BODY))
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 {status}\r\nConnection: close\r\n{headers}\r\n").into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn ok(body: &[u8]) -> Vec<u8> {
        response(
            "200 OK",
            &format!("Content-Length: {}\r\n", body.len()),
            body,
        )
    }

    /// Tiny HTTP/1.1 server: one canned response per path, connection closed
    /// after each. Counts requests so tests can prove none were made.
    struct Server {
        port: u16,
        hits: Arc<AtomicUsize>,
    }

    impl Server {
        fn start(routes: Vec<(&str, Vec<u8>)>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let routes: HashMap<String, Vec<u8>> =
                routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect();
            let hits = Arc::new(AtomicUsize::new(0));
            let counter = hits.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    counter.fetch_add(1, Ordering::SeqCst);
                    serve_one(stream, &routes);
                }
            });
            Self { port, hits }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }
    }

    fn serve_one(mut stream: TcpStream, routes: &HashMap<String, Vec<u8>>) {
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let reply = routes
            .get(path)
            .cloned()
            .unwrap_or_else(|| response("404 Not Found", "Content-Length: 0\r\n", b""));
        let _ = stream.write_all(&reply);
        let _ = stream.flush();
        if path == "/stall" {
            // Keep the connection open without sending the rest of the body.
            std::thread::sleep(Duration::from_secs(5));
        }
    }

    fn request<'a>(url: &'a str, sha256: &'a str) -> FetchRequest<'a> {
        FetchRequest {
            name: "efficientnet-lite0",
            version: "1.2.0",
            sha256,
            url,
            signature: None,
        }
    }

    fn assert_nothing_left(dir: &Path) {
        let left: Vec<_> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "staging dir not empty: {left:?}");
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn sign(name: &str, version: &str, sha256: &str) -> String {
        BASE64.encode(
            signing_key()
                .sign(&signed_message(name, version, sha256))
                .to_bytes(),
        )
    }

    fn keyed_settings() -> FetchSettings {
        FetchSettings {
            public_key: Some(signing_key().verifying_key()),
            ..FetchSettings::default()
        }
    }

    #[test]
    fn good_download_lands_at_final_path() {
        let (_server, dir, url, hash) = serving_body();
        let path =
            fetch_verified(&request(&url, &hash), &FetchSettings::default(), dir.path()).unwrap();
        assert_eq!(path, dir.path().join("efficientnet-lite0-1.2.0.onnx"));
        assert_eq!(fs::read(&path).unwrap(), BODY);
        assert_eq!(sha256_file(&path).unwrap(), hash);
        assert!(
            !dir.path()
                .join("efficientnet-lite0-1.2.0.onnx.part")
                .exists()
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn creates_missing_staging_dir_and_replaces_stale_file() {
        let server = Server::start(vec![("/m.onnx", ok(BODY))]);
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("a/b");
        fs::create_dir_all(&staging).unwrap();
        fs::write(staging.join("efficientnet-lite0-1.2.0.onnx"), b"old").unwrap();
        fs::write(staging.join("efficientnet-lite0-1.2.0.onnx.part"), b"junk").unwrap();
        let url = server.url("/m.onnx");
        let hash = sha(BODY);
        let path =
            fetch_verified(&request(&url, &hash), &FetchSettings::default(), &staging).unwrap();
        assert_eq!(fs::read(path).unwrap(), BODY);
        assert!(!staging.join("efficientnet-lite0-1.2.0.onnx.part").exists());
    }

    #[test]
    fn wrong_hash_is_rejected_and_nothing_left() {
        let server = Server::start(vec![("/m.onnx", ok(BODY))]);
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("efficientnet-lite0-1.2.0.onnx"), b"stale").unwrap();
        let url = server.url("/m.onnx");
        let wrong = sha(b"something else");
        let err = fetch_verified(
            &request(&url, &wrong),
            &FetchSettings::default(),
            dir.path(),
        )
        .unwrap_err();
        match &err {
            FetchError::HashMismatch {
                expected, actual, ..
            } => {
                assert_eq!(expected, &wrong);
                assert_eq!(actual, &sha(BODY));
            }
            other => panic!("expected HashMismatch, got {other:?}"),
        }
        assert_eq!(err.code(), "hash_mismatch");
        assert!(err.to_string().contains("not the one announced"));
        assert_nothing_left(dir.path());
    }

    #[test]
    fn http_404_is_http_error() {
        let server = Server::start(vec![]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/missing.onnx");
        let err = fetch_verified(
            &request(&url, &sha(BODY)),
            &FetchSettings::default(),
            dir.path(),
        )
        .unwrap_err();
        assert!(
            matches!(err, FetchError::Http { status: 404, .. }),
            "{err:?}"
        );
        assert_eq!(err.code(), "http");
        assert!(err.to_string().contains("check the URL"));
        assert_nothing_left(dir.path());
    }

    #[test]
    fn truncated_body_is_network_error() {
        let truncated = response("200 OK", "Content-Length: 1000\r\n", &BODY[..10]);
        let server = Server::start(vec![("/t.onnx", truncated)]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/t.onnx");
        let err = fetch_verified(
            &request(&url, &sha(BODY)),
            &FetchSettings::default(),
            dir.path(),
        )
        .unwrap_err();
        match &err {
            FetchError::Network { message, .. } => {
                assert!(message.contains("after 10 bytes"), "{message}")
            }
            other => panic!("expected Network, got {other:?}"),
        }
        assert_nothing_left(dir.path());
    }

    #[test]
    fn stalled_body_hits_the_whole_download_timeout() {
        let stalled = response("200 OK", "Content-Length: 1000\r\n", &BODY[..10]);
        let server = Server::start(vec![("/stall", stalled)]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/stall");
        let settings = FetchSettings {
            timeout: Duration::from_millis(300),
            ..FetchSettings::default()
        };
        let started = std::time::Instant::now();
        let err = fetch_verified(&request(&url, &sha(BODY)), &settings, dir.path()).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(matches!(err, FetchError::Network { .. }), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "timeout not applied to the body"
        );
        assert_nothing_left(dir.path());
    }

    #[test]
    fn https_with_extra_ca_fails_cleanly_against_plain_http() {
        // Any real certificate will do as the "private CA"; the point is that
        // the combined root store builds and a TLS failure is a Network error.
        let der = webpki_root_certs::TLS_SERVER_ROOT_CERTS[0].as_ref();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            BASE64.encode(der)
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        fs::write(&ca, pem).unwrap();
        let server = Server::start(vec![("/m.onnx", ok(BODY))]);
        let url = server.url("/m.onnx").replace("http://", "https://");
        let settings = FetchSettings {
            extra_ca_pem: Some(ca),
            ..FetchSettings::default()
        };
        let staging = dir.path().join("staging");
        let err = fetch_verified(&request(&url, &sha(BODY)), &settings, &staging).unwrap_err();
        assert!(matches!(err, FetchError::Network { .. }), "{err:?}");
        assert_nothing_left(&staging);
    }

    #[test]
    fn oversize_declared_length_is_too_large() {
        let big = vec![b'x'; 5000];
        let server = Server::start(vec![("/big.onnx", ok(&big))]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/big.onnx");
        let settings = FetchSettings {
            max_bytes: 1000,
            ..FetchSettings::default()
        };
        let err = fetch_verified(&request(&url, &sha(&big)), &settings, dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge {
                    limit: 1000,
                    got: 5000
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.code(), "too_large");
        assert_nothing_left(dir.path());
    }

    #[test]
    fn oversize_streamed_body_without_length_is_too_large() {
        let big = vec![b'x'; 200_000];
        // No Content-Length: body runs until the connection closes.
        let server = Server::start(vec![("/big.onnx", response("200 OK", "", &big))]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/big.onnx");
        let settings = FetchSettings {
            max_bytes: 1000,
            ..FetchSettings::default()
        };
        let err = fetch_verified(&request(&url, &sha(&big)), &settings, dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge {
                    limit: 1000,
                    got: 1001
                }
            ),
            "{err:?}"
        );
        assert_nothing_left(dir.path());
    }

    #[test]
    fn body_exactly_at_limit_is_accepted() {
        let server = Server::start(vec![("/m.onnx", response("200 OK", "", BODY))]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/m.onnx");
        let settings = FetchSettings {
            max_bytes: BODY.len() as u64,
            ..FetchSettings::default()
        };
        let path = fetch_verified(&request(&url, &sha(BODY)), &settings, dir.path()).unwrap();
        assert_eq!(fs::read(path).unwrap(), BODY);
    }

    #[test]
    fn connection_refused_is_network_error() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/m.onnx");
        let err = fetch_verified(
            &request(&url, &sha(BODY)),
            &FetchSettings::default(),
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(err, FetchError::Network { .. }), "{err:?}");
        assert_eq!(err.code(), "network");
        assert_nothing_left(dir.path());
    }

    #[test]
    fn path_traversal_is_rejected_before_any_request() {
        // Not accepted by a thread: any connection attempt would sit in the
        // backlog and be visible to the non-blocking accept below.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "http://127.0.0.1:{}/m.onnx",
            listener.local_addr().unwrap().port()
        );
        let root = tempfile::tempdir().unwrap();
        let staging = root.path().join("staging");
        let hash = sha(BODY);
        let bad = [
            ("../../etc/evil", "1"),
            ("model", "../1"),
            ("model/x", "1"),
            ("model\\x", "1"),
            (".hidden", "1"),
            ("model", ".."),
            ("", "1"),
            ("model", ""),
            ("mödel", "1"),
            ("model", "1\0"),
        ];
        for (name, version) in bad {
            let req = FetchRequest {
                name,
                version,
                ..request(&url, &hash)
            };
            let err = fetch_verified(&req, &FetchSettings::default(), &staging).unwrap_err();
            assert!(
                matches!(err, FetchError::Invalid { .. }),
                "{name:?}/{version:?}: {err:?}"
            );
            assert_eq!(err.code(), "invalid");
        }
        let long = "a".repeat(65);
        let req = FetchRequest {
            name: &long,
            ..request(&url, &hash)
        };
        assert!(matches!(
            fetch_verified(&req, &FetchSettings::default(), &staging),
            Err(FetchError::Invalid { field: "name", .. })
        ));
        assert_eq!(
            listener.accept().map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "server must receive nothing"
        );
        assert!(!staging.exists(), "nothing may touch the file system");
    }

    #[test]
    fn non_http_urls_and_bad_hashes_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let hash = sha(BODY);
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/m.onnx",
            "example.com/m.onnx",
            "http://",
            "https://exa mple.com/x",
            "",
        ] {
            let err = fetch_verified(&request(url, &hash), &FetchSettings::default(), dir.path())
                .unwrap_err();
            assert!(
                matches!(err, FetchError::Invalid { field: "url", .. }),
                "{url:?}: {err:?}"
            );
        }
        for bad in ["abc", &"g".repeat(64), &format!("{hash}0")] {
            let err = fetch_verified(
                &request("http://127.0.0.1:1/m", bad),
                &FetchSettings::default(),
                dir.path(),
            )
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    FetchError::Invalid {
                        field: "sha256",
                        ..
                    }
                ),
                "{bad:?}: {err:?}"
            );
        }
        assert_nothing_left(dir.path());
    }

    #[test]
    fn valid_signature_is_accepted() {
        let (_server, dir, url, hash) = serving_body();
        let sig = sign("efficientnet-lite0", "1.2.0", &hash);
        let req = FetchRequest {
            signature: Some(&sig),
            ..request(&url, &hash)
        };
        let path = fetch_verified(&req, &keyed_settings(), dir.path()).unwrap();
        assert_eq!(fs::read(path).unwrap(), BODY);
    }

    #[test]
    fn missing_signature_is_rejected_when_key_configured() {
        let (server, dir, url, hash) = serving_body();
        let err = fetch_verified(&request(&url, &hash), &keyed_settings(), dir.path()).unwrap_err();
        assert!(matches!(err, FetchError::SignatureMissing), "{err:?}");
        assert_eq!(err.code(), "signature_missing");
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
        assert_nothing_left(dir.path());
    }

    #[test]
    fn signature_for_another_version_is_rejected() {
        let (server, dir, url, hash) = serving_body();
        let replayed = sign("efficientnet-lite0", "1.1.0", &hash);
        let req = FetchRequest {
            signature: Some(&replayed),
            ..request(&url, &hash)
        };
        let err = fetch_verified(&req, &keyed_settings(), dir.path()).unwrap_err();
        assert!(matches!(err, FetchError::SignatureInvalid), "{err:?}");
        assert_eq!(err.code(), "signature_invalid");
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
        assert_nothing_left(dir.path());
    }

    #[test]
    fn malformed_signature_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let hash = sha(BODY);
        let short = BASE64.encode([1u8; 32]);
        for sig in ["%%%not base64%%%", short.as_str()] {
            let req = FetchRequest {
                signature: Some(sig),
                ..request("http://127.0.0.1:1/m", &hash)
            };
            // Malformed even without a key: the platform sent garbage.
            let err = fetch_verified(&req, &FetchSettings::default(), dir.path()).unwrap_err();
            assert!(
                matches!(
                    err,
                    FetchError::Invalid {
                        field: "signature",
                        ..
                    }
                ),
                "{sig:?}: {err:?}"
            );
        }
    }

    #[test]
    fn signed_message_binds_all_fields() {
        assert_eq!(
            signed_message("m", "1", "AB"),
            b"edge-agent model-update v1\nm\n1\nab\n".to_vec()
        );
        assert_ne!(
            signed_message("m", "1", "ab"),
            signed_message("m", "2", "ab")
        );
    }

    #[test]
    fn load_public_key_reads_base64_hex_and_pem() {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let dir = tempfile::tempdir().unwrap();
        let key = signing_key().verifying_key();

        let b64 = dir.path().join("key.b64");
        fs::write(&b64, format!("{}\n", BASE64.encode(key.as_bytes()))).unwrap();
        assert_eq!(load_public_key(&b64).unwrap(), key);

        let hexfile = dir.path().join("key.hex");
        fs::write(&hexfile, hex::encode(key.as_bytes())).unwrap();
        assert_eq!(load_public_key(&hexfile).unwrap(), key);

        let pem = dir.path().join("key.pem");
        let pem_text = key.to_public_key_pem(Default::default()).unwrap();
        fs::write(&pem, pem_text).unwrap();
        assert_eq!(load_public_key(&pem).unwrap(), key);
    }

    #[test]
    fn load_public_key_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8]); 5] = [
            ("garbage", b"this is not a key"),
            ("short", b"AAAA"),
            ("binary", &[0xff, 0xfe, 0x00, 0x80]),
            ("weak", &[b'0'; 64]), // hex of the all-zero (small-order) point
            (
                "badpem",
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            ),
        ];
        for (name, contents) in cases {
            let path = dir.path().join(name);
            fs::write(&path, contents).unwrap();
            let err = load_public_key(&path).unwrap_err();
            assert!(
                matches!(
                    err,
                    FetchError::Invalid {
                        field: "public_key",
                        ..
                    }
                ),
                "{name}: {err:?}"
            );
        }
        let err = load_public_key(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.code(), "io");
    }

    #[test]
    fn bad_extra_ca_is_invalid_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        fs::write(&ca, "no certificates here").unwrap();
        let settings = FetchSettings {
            extra_ca_pem: Some(ca),
            ..FetchSettings::default()
        };
        let staging = dir.path().join("staging");
        let err = fetch_verified(
            &request("https://127.0.0.1:1/m", &sha(BODY)),
            &settings,
            &staging,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Invalid {
                    field: "extra_ca_pem",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!staging.exists());
    }

    #[test]
    fn sha256_file_matches_known_vector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }
}
