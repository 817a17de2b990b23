//! Whole-config checks that serde cannot express. Looks at the file system
//! (paths, model manifests) but opens no camera and loads no model.

use super::{Config, ConfigIssue, SourceConfig, TaskKind};
use crate::inference::{ModelCatalog, ModelKind};
use std::collections::HashSet;

struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue { key: key.into(), message: message.into() });
    }
}

/// Ids end up in MQTT topics and file names.
fn check_id(issues: &mut Issues, key: &str, value: &str) {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        issues.add(key, format!("`{value}` is not a valid id: use 1-64 letters, digits, `-` or `_` (it becomes part of MQTT topics)"));
    }
}

pub fn validate(config: &Config) -> Vec<ConfigIssue> {
    let mut issues = Issues(Vec::new());
    check_id(&mut issues, "site", &config.site);
    check_id(&mut issues, "device_id", &config.device_id);

    let catalog = if config.models_dir.is_dir() {
        match ModelCatalog::load(&config.models_dir) {
            Ok(c) => Some(c),
            Err(e) => {
                issues.add("models_dir", e.to_string());
                None
            }
        }
    } else {
        issues.add("models_dir", format!("{} is not a folder; point it at the project's models/ folder", config.models_dir.display()));
        None
    };

    if let Some(lib) = &config.inference.ort_library {
        if !lib.is_file() {
            issues.add(
                "inference.ort_library",
                format!("{} does not exist; remove the key to use the library fetched by `python3 models/setup.py`", lib.display()),
            );
        }
    }
    if let Some(key) = &config.model_updates.public_key
        && let Err(e) = crate::model_update::fetch::load_public_key(key)
    {
        issues.add("model_updates.public_key", format!("{e}; point it at the platform's ed25519 public key (base64, hex or PEM), or remove it"));
    }
    if let Some(ca) = &config.model_updates.ca_file
        && !ca.is_file()
    {
        issues.add("model_updates.ca_file", format!("{} does not exist; point it at the platform CA's PEM file, or remove it", ca.display()));
    }
    if config.model_updates.max_mb == 0 {
        issues.add("model_updates.max_mb", "0 MB would refuse every model: use the largest model size you expect (default 512)".to_string());
    }
    if config.inference.intra_threads > 256 {
        issues.add("inference.intra_threads", format!("{} threads is not sensible: use 0 (automatic) or 1-256", config.inference.intra_threads));
    }

    let mut task_ids = HashSet::new();
    for (i, task) in config.tasks.iter().enumerate() {
        let key = format!("tasks[{i}]");
        check_id(&mut issues, &format!("{key}.id"), &task.id);
        if !task_ids.insert(task.id.as_str()) {
            issues.add(format!("{key}.id"), format!("task id `{}` is used twice", task.id));
        }
        match &task.kind {
            TaskKind::Classify(c) => {
                if !(1..=20).contains(&c.top_k) {
                    issues.add(format!("{key}.top_k"), format!("{} is out of range: use 1-20", c.top_k));
                }
                if let Some(catalog) = &catalog {
                    match catalog.get(&c.model) {
                        Ok(m) if m.kind != ModelKind::ImageClassifier => issues.add(
                            format!("{key}.model"),
                            format!("`{}` is a {}, but a classify task needs an image-classifier", c.model, m.kind.as_str()),
                        ),
                        Ok(_) => {}
                        Err(e) => issues.add(format!("{key}.model"), e.to_string()),
                    }
                }
            }
            TaskKind::Leak(c) => {
                for (field, message) in c.check() {
                    issues.add(format!("{key}.{field}"), message);
                }
                for camera in config.cameras.iter().filter(|cam| cam.tasks.contains(&task.id)) {
                    match &camera.calibrated {
                        None if camera.calibration.is_none() => issues.add(
                            format!("{key}"),
                            format!("camera `{}` runs leak task `{}` but has no `calibration`: make one with `edge-agent calibrate` and set it on the camera", camera.id, task.id),
                        ),
                        Some(cal) if cal.homography.is_none() => issues.add(
                            format!("{key}"),
                            format!("the calibration of camera `{}` has no homography, so spill areas cannot be measured: run `edge-agent calibrate` with a chessboard or four points", camera.id),
                        ),
                        Some(cal) if cal.file.references.is_empty() => issues.add(
                            format!("{key}"),
                            format!("the calibration of camera `{}` has no reference picture: take one with `edge-agent calibrate --reference FRAME`", camera.id),
                        ),
                        _ => {}
                    }
                }
            }
            TaskKind::Intake(c) => {
                for (field, message) in c.check() {
                    issues.add(format!("{key}.{field}"), message);
                }
                if let Some(catalog) = &catalog {
                    let models = [(&c.detector, "detector"), (&c.recognizer, "recognizer")];
                    let angle = (!c.angle.is_empty()).then_some((&c.angle, "angle"));
                    for (name, field) in models.into_iter().chain(angle) {
                        if let Err(e) = catalog.get(name) {
                            issues.add(format!("{key}.{field}"), e.to_string());
                        }
                    }
                }
                for camera in config.cameras.iter().filter(|cam| cam.tasks.contains(&task.id)) {
                    match &camera.calibrated {
                        None if camera.calibration.is_none() => issues.add(
                            key.to_string(),
                            format!("camera `{}` runs intake task `{}` but has no `calibration` marking the intake spot: make one with `edge-agent calibrate`, add a zone of kind \"intake\", and set it on the camera", camera.id, task.id),
                        ),
                        Some(cal) if cal.file.references.is_empty() => issues.add(
                            key.to_string(),
                            format!("the calibration of camera `{}` has no reference picture of the empty intake spot: take one with `edge-agent calibrate --reference FRAME`", camera.id),
                        ),
                        Some(cal) => {
                            let has_zone = match &c.zone {
                                Some(name) => cal.zone(name).is_some(),
                                None => cal.file.zones.iter().any(|z| z.kind == crate::calibration::ZoneKind::Intake),
                            };
                            if !has_zone {
                                issues.add(
                                    format!("{key}.zone"),
                                    format!("the calibration of camera `{}` ({}) has no {}: mark the intake spot as a [[zone]] with kind = \"intake\"", camera.id, cal.path.display(), c.zone.as_ref().map(|z| format!("zone `{z}`")).unwrap_or_else(|| "intake zone".into())),
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
            TaskKind::Sorting(c) => {
                for (field, message) in c.check() {
                    issues.add(format!("{key}.{field}"), message);
                }
                if let Some(catalog) = &catalog {
                    match catalog.get(&c.classifier) {
                        Ok(m) if m.kind != ModelKind::ImageClassifier || !m.outputs.contains_key("embedding") => issues.add(
                            format!("{key}.classifier"),
                            format!("`{}` must be an image-classifier with an `embedding` output (for enrolled examples)", c.classifier),
                        ),
                        Ok(_) => {}
                        Err(e) => issues.add(format!("{key}.classifier"), e.to_string()),
                    }
                    if !c.segmenter.is_empty() {
                        if let Err(e) = catalog.get(&c.segmenter) {
                            issues.add(format!("{key}.segmenter"), e.to_string());
                        }
                    }
                }
                if let Some(rules) = &c.rules {
                    if let Err(e) = crate::waste::RulesTable::with_site_file(rules) {
                        issues.add(format!("{key}.rules"), e.to_string());
                    }
                }
                for camera in config.cameras.iter().filter(|cam| cam.tasks.contains(&task.id)) {
                    let bins = camera.calibrated.as_ref().map(|cal| cal.file.zones.iter().filter(|z| z.kind == crate::calibration::ZoneKind::Bin).count());
                    match bins {
                        None => issues.add(
                            key.to_string(),
                            format!("camera `{}` runs sorting task `{}` but has no `calibration` with its bin zones: write one (see calibration/README.md) and set it on the camera", camera.id, task.id),
                        ),
                        Some(0) => issues.add(
                            key.to_string(),
                            format!("the calibration of camera `{}` has no bin zones: add a [[zone]] per bin opening with kind = \"bin\" and its category", camera.id),
                        ),
                        Some(_) => {}
                    }
                }
            }
            TaskKind::Storage(c) => {
                for (field, message) in c.check() {
                    issues.add(format!("{key}.{field}"), message);
                }
                let cameras: Vec<_> = config.cameras.iter().filter(|cam| cam.tasks.contains(&task.id)).collect();
                for camera in &cameras {
                    match &camera.calibrated {
                        None if camera.calibration.is_none() => issues.add(
                            key.to_string(),
                            format!("camera `{}` runs storage task `{}` but has no `calibration` with its storage zones: make one with `edge-agent calibrate` and set it on the camera", camera.id, task.id),
                        ),
                        Some(cal) if cal.homography.is_none() => issues.add(
                            key.to_string(),
                            format!("the calibration of camera `{}` has no homography, so containers cannot be sized or their distances measured: run `edge-agent calibrate` with a chessboard or four points", camera.id),
                        ),
                        Some(cal) if cal.file.references.is_empty() => issues.add(
                            key.to_string(),
                            format!("the calibration of camera `{}` has no reference picture of the empty storage spot (extinguishers and signs in place): take one with `edge-agent calibrate --reference FRAME`", camera.id),
                        ),
                        Some(cal) if !cal.file.zones.iter().any(|z| z.kind == crate::calibration::ZoneKind::Storage) => issues.add(
                            key.to_string(),
                            format!("the calibration of camera `{}` ({}) marks no storage zone: add a [[zone]] with kind = \"storage\" and the categories it may hold in `allow`", camera.id, cal.path.display()),
                        ),
                        _ => {}
                    }
                }
                for (j, e) in c.extinguishers.iter().enumerate() {
                    let known = cameras.iter().filter_map(|cam| cam.calibrated.as_ref()).any(|cal| cal.zone(&e.zone).is_some_and(|z| z.kind == crate::calibration::ZoneKind::Extinguisher));
                    if !known && cameras.iter().all(|cam| cam.calibrated.is_some()) {
                        issues.add(format!("{key}.extinguishers[{j}].zone"), format!("no camera of this task has an extinguisher zone `{}`: name a [[zone]] with kind = \"extinguisher\"", e.zone));
                    }
                }
            }
        }
    }

    if config.cameras.is_empty() {
        issues.add("cameras", "no cameras: add at least one [[cameras]] entry");
    }
    let mut camera_ids = HashSet::new();
    for (i, camera) in config.cameras.iter().enumerate() {
        let key = format!("cameras[{i}]");
        check_id(&mut issues, &format!("{key}.id"), &camera.id);
        if !camera_ids.insert(camera.id.as_str()) {
            issues.add(format!("{key}.id"), format!("camera id `{}` is used twice", camera.id));
        }
        for (j, task) in camera.tasks.iter().enumerate() {
            if !task_ids.contains(task.as_str()) {
                let known: Vec<_> = config.tasks.iter().map(|t| t.id.as_str()).collect();
                issues.add(format!("{key}.tasks[{j}]"), format!("no task with id `{task}`; defined tasks: {known:?}"));
            }
        }
        let key = format!("{key}.source");
        match &camera.source {
            SourceConfig::Replay(r) => {
                if !(r.fps > 0.0 && r.fps <= 120.0) {
                    issues.add(format!("{key}.fps"), format!("{} is out of range: use a rate above 0 and at most 120", r.fps));
                }
                if !r.path.exists() {
                    issues.add(format!("{key}.path"), format!("{} does not exist: give a folder of JPEG/PNG pictures or a list file", r.path.display()));
                }
            }
            SourceConfig::Usb(u) => {
                if let Some(cal) = &camera.calibrated
                    && (cal.width(), cal.height()) != (u.width, u.height)
                {
                    issues.add(
                        format!("{key}.width"),
                        format!("the camera is set to {}x{} but its calibration was made at {}x{}: use {}x{} or recalibrate", u.width, u.height, cal.width(), cal.height(), cal.width(), cal.height()),
                    );
                }
                if u.width == 0 || u.height == 0 || u.width > 8192 || u.height > 8192 {
                    issues.add(format!("{key}.width"), format!("{}x{} is not a camera resolution: use e.g. 1280x720", u.width, u.height));
                }
                if !(1..=120).contains(&u.fps) {
                    issues.add(format!("{key}.fps"), format!("{} is out of range: use 1-120", u.fps));
                }
                if !cfg!(feature = "camera") {
                    issues.add(key.clone(), "this edge-agent was built without the `camera` feature; rebuild with default features");
                }
            }
            SourceConfig::Rtsp(r) => {
                let lower = r.url.to_ascii_lowercase();
                if !(lower.starts_with("rtsp://") || lower.starts_with("rtsps://")) {
                    issues.add(format!("{key}.url"), format!("`{}` is not an RTSP URL: use rtsp://host[:port]/path", r.url));
                } else if r.url.split("://").nth(1).is_some_and(|rest| rest.split('/').next().unwrap_or("").contains('@')) {
                    issues.add(format!("{key}.url"), "credentials in the URL end up in logs: move them to `username` and `password`");
                }
                if !cfg!(feature = "rtsp") {
                    issues.add(key.clone(), "this edge-agent was built without the `rtsp` feature; rebuild with default features");
                }
            }
        }
    }

    check_topic_segment(&mut issues, "mqtt.prefix", &config.mqtt.prefix);
    if config.mqtt.broker != "embedded" {
        if crate::mqtt::options::split_host_port(&config.mqtt.broker).is_none() {
            issues.add("mqtt.broker", format!("`{}` is not `embedded` or host:port (e.g. 127.0.0.1:1883)", config.mqtt.broker));
        }
    }
    check_mqtt(&mut issues, &config.mqtt);
    if config.storage.outbox_quota_mb == 0 {
        issues.add("storage.outbox_quota_mb", "must be at least 1 (MiB); the outbox needs room for events");
    }
    if !config.web.listen.is_empty() && config.web.listen.parse::<std::net::SocketAddr>().is_err() {
        issues.add("web.listen", format!("`{}` is not an address: use ip:port such as 127.0.0.1:8080, or \"\" to disable", config.web.listen));
    }
    issues.0
}

/// Every check here guards a value rumqttc would otherwise `assert!` on or
/// silently misuse, so a bad TOML value becomes a config error, never a panic.
fn check_mqtt(issues: &mut Issues, mqtt: &crate::config::MqttConfig) {
    if mqtt.is_embedded() && mqtt.embedded_listen.parse::<std::net::SocketAddr>().is_err() {
        issues.add("mqtt.embedded_listen", format!("`{}` is not an address: use ip:port such as 127.0.0.1:11883", mqtt.embedded_listen));
    }
    if let Some(id) = &mqtt.client_id
        && (id.is_empty() || id.len() > 128 || id.contains(['#', '+', '/']))
    {
        issues.add("mqtt.client_id", format!("`{id}` must be 1-128 characters without `#`, `+` or `/`"));
    }
    let keep_alive = mqtt.keep_alive;
    if keep_alive < std::time::Duration::from_secs(5) || keep_alive.subsec_nanos() != 0 || keep_alive.as_secs() > u64::from(u16::MAX) {
        issues.add("mqtt.keep_alive", format!("`{}` must be whole seconds between 5s and 18h", humantime::format_duration(keep_alive)));
    }
    if mqtt.inflight == 0 || mqtt.inflight > 1000 {
        issues.add("mqtt.inflight", format!("{} must be between 1 and 1000", mqtt.inflight));
    }
    if mqtt.reconnect_min.is_zero() || mqtt.reconnect_min > mqtt.reconnect_max {
        issues.add("mqtt.reconnect_min", "must be above zero and at most `reconnect_max`");
    }
    if mqtt.heartbeat_interval < std::time::Duration::from_secs(1) {
        issues.add("mqtt.heartbeat_interval", "must be at least 1s");
    }
    if mqtt.password_file.is_some() && mqtt.password_env.is_some() {
        issues.add("mqtt.password_file", "set `password_file` or `password_env`, not both");
    }
    if (mqtt.password_file.is_some() || mqtt.password_env.is_some()) && mqtt.username.is_none() {
        issues.add("mqtt.username", "a password is configured but no `username`");
    }
    if let Some(tls) = &mqtt.tls {
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            issues.add("mqtt.tls", "`client_cert` and `client_key` go together: set both or neither");
        }
        if mqtt.is_embedded() {
            issues.add("mqtt.tls", "the embedded broker listens on plain TCP on this box: remove [mqtt.tls] or name a broker");
        }
    }
}

fn check_topic_segment(issues: &mut Issues, key: &str, value: &str) {
    if value.is_empty() || value.contains(['#', '+', '\0']) || value.starts_with('/') || value.ends_with('/') {
        issues.add(key, format!("`{value}` cannot be an MQTT topic prefix: no wildcards (#, +), no leading or trailing `/`"));
    }
}
