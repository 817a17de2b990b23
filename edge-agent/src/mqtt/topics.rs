//! The topic tree: `<prefix>/<site>/<device>/...`, with the version in the
//! prefix (`zwaste/v1`) so the platform can run two versions side by side.
//! `mqtt-schemas/README.md` is the published form of this table.

/// Commands the agent accepts on `cmd/<name>`.
pub const COMMANDS: [&str; 8] = ["intake-slip", "label-feedback", "model-update", "model-rollback", "reload-config", "ping", "transfer-out", "inspect-now"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, site: &str, device: &str) -> Self {
        Self { base: format!("{prefix}/{site}/{device}") }
    }

    pub fn base(&self) -> &str {
        &self.base
    }
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }
    pub fn heartbeat(&self) -> String {
        format!("{}/heartbeat", self.base)
    }
    pub fn event(&self, kind: &str) -> String {
        format!("{}/events/{kind}", self.base)
    }
    /// `.../evidence/`; the event id follows.
    pub fn evidence_base(&self) -> String {
        format!("{}/evidence/", self.base)
    }
    pub fn command_filter(&self) -> String {
        format!("{}/cmd/+", self.base)
    }
    pub fn command(&self, name: &str) -> String {
        format!("{}/cmd/{name}", self.base)
    }
    pub fn reply(&self, name: &str) -> String {
        format!("{}/reply/{name}", self.base)
    }
    /// Everything this device publishes or receives.
    pub fn all(&self) -> String {
        format!("{}/#", self.base)
    }

    /// The command name of a `cmd/<name>` topic of this device.
    pub fn command_name<'t>(&self, topic: &'t str) -> Option<&'t str> {
        topic.strip_prefix(self.base.as_str())?.strip_prefix("/cmd/").filter(|n| !n.is_empty() && !n.contains('/'))
    }
}

/// One row of the topic table (`edge-agent schemas`).
pub struct TopicRow {
    pub topic: &'static str,
    pub direction: &'static str,
    pub qos: u8,
    pub retained: bool,
    pub schema: &'static str,
    pub notes: &'static str,
}

pub const TABLE: &[TopicRow] = &[
    TopicRow { topic: "status", direction: "out", qos: 1, retained: true, schema: "status.schema.json", notes: "online on connect; offline as last will or on a clean stop" },
    TopicRow { topic: "heartbeat", direction: "out", qos: 0, retained: false, schema: "heartbeat.schema.json", notes: "every mqtt.heartbeat_interval; not queued while offline" },
    TopicRow { topic: "events/<kind>", direction: "out", qos: 1, retained: false, schema: "event.schema.json", notes: "through the outbox; alerts first after an outage" },
    TopicRow { topic: "evidence/<event-id>", direction: "out", qos: 1, retained: false, schema: "(binary JPEG)", notes: "right after its event; sha256 in the event" },
    TopicRow { topic: "cmd/intake-slip", direction: "in", qos: 1, retained: false, schema: "cmd-intake-slip.schema.json", notes: "declared slip for the next container" },
    TopicRow { topic: "cmd/label-feedback", direction: "in", qos: 1, retained: false, schema: "cmd-label-feedback.schema.json", notes: "a manager's verdict on an event; a sorting item becomes an enrolled example" },
    TopicRow { topic: "cmd/model-update", direction: "in", qos: 1, retained: false, schema: "cmd-model-update.schema.json", notes: "fetch, verify (sha256, ed25519), self-test and swap in a model; the old one stays on any failure" },
    TopicRow { topic: "cmd/model-rollback", direction: "in", qos: 1, retained: false, schema: "cmd-model-rollback.schema.json", notes: "back to the previous (or shipped) model version" },
    TopicRow { topic: "cmd/reload-config", direction: "in", qos: 1, retained: false, schema: "cmd-reload-config.schema.json", notes: "re-read the config file; restart cameras and tasks" },
    TopicRow { topic: "cmd/ping", direction: "in", qos: 1, retained: false, schema: "cmd-ping.schema.json", notes: "liveness check" },
    TopicRow { topic: "cmd/transfer-out", direction: "in", qos: 1, retained: false, schema: "cmd-transfer-out.schema.json", notes: "containers leaving on a 14-digit manifest: out of the pod's ledger" },
    TopicRow { topic: "cmd/inspect-now", direction: "in", qos: 1, retained: false, schema: "cmd-inspect-now.schema.json", notes: "the storage watch's inspection report now (inspection.daily)" },
    TopicRow { topic: "reply/<command>", direction: "out", qos: 1, retained: false, schema: "reply.schema.json", notes: "one per command received, ok or error" },
];

/// The table as text, topics shown under `base`.
pub fn render_table(base: &str) -> String {
    let mut out = format!("{:<44} {:<4} {:<3} {:<8} {:<28} {}\n", "topic", "dir", "qos", "retained", "schema", "notes");
    for row in TABLE {
        let topic = format!("{base}/{}", row.topic);
        out.push_str(&format!(
            "{:<44} {:<4} {:<3} {:<8} {:<28} {}\n",
            topic,
            row.direction,
            row.qos,
            if row.retained { "yes" } else { "no" },
            row.schema,
            row.notes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_are_read_only_from_this_devices_cmd_topics() {
        let t = Topics::new("zwaste/v1", "bda", "box-1");
        assert_eq!(t.command_name("zwaste/v1/bda/box-1/cmd/ping"), Some("ping"));
        assert_eq!(t.command_name("zwaste/v1/bda/box-2/cmd/ping"), None);
        assert_eq!(t.command_name("zwaste/v1/bda/box-1/cmd/"), None);
        assert_eq!(t.command_name("zwaste/v1/bda/box-1/cmd/a/b"), None);
        assert_eq!(t.command_name("zwaste/v1/bda/box-1/status"), None);
        assert!(render_table(t.base()).contains("zwaste/v1/bda/box-1/cmd/intake-slip"));
    }
}
