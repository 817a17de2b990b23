//! Commands in (`cmd/<name>`), replies out (`reply/<name>`), as pure logic:
//! size check, JSON parse, validation against the published schema, then the
//! typed command. Nothing here acts on a command; a bad one is an error reply
//! and nothing else. No payload can make this panic.

use serde::{Deserialize, Serialize};

/// Largest command accepted; an intake slip is well under 2 KB.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

const SCHEMAS: [(&str, &str); 8] = [
    ("transfer-out", include_str!("../../../mqtt-schemas/cmd-transfer-out.schema.json")),
    ("inspect-now", include_str!("../../../mqtt-schemas/cmd-inspect-now.schema.json")),
    ("model-update", include_str!("../../../mqtt-schemas/cmd-model-update.schema.json")),
    ("model-rollback", include_str!("../../../mqtt-schemas/cmd-model-rollback.schema.json")),
    ("label-feedback", include_str!("../../../mqtt-schemas/cmd-label-feedback.schema.json")),
    ("intake-slip", include_str!("../../../mqtt-schemas/cmd-intake-slip.schema.json")),
    ("reload-config", include_str!("../../../mqtt-schemas/cmd-reload-config.schema.json")),
    ("ping", include_str!("../../../mqtt-schemas/cmd-ping.schema.json")),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
}

/// The declared slip for the next container (HJ 1259-2022 §6.3.2 intake record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntakeSlip {
    pub request_id: String,
    pub slip_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    pub waste_name: String,
    pub category: String,
    pub waste_code: String,
    pub weight_kg: f64,
    pub company: Company,
    pub declared_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackVerdict {
    Correct,
    Wrong,
}

/// A manager's verdict on an event (`cmd/label-feedback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelFeedback {
    pub request_id: String,
    pub event_id: String,
    pub verdict: FeedbackVerdict,
    #[serde(default)]
    pub category: Option<crate::waste::WasteCategory>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub reviewer: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub sent_at: Option<String>,
}

/// A new model file from the platform (`cmd/model-update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelUpdate {
    pub request_id: String,
    pub model: String,
    pub version: String,
    pub sha256: String,
    pub url: String,
    #[serde(default)]
    pub signature: Option<String>,
}

/// Containers leaving the pod on a transfer manifest (`cmd/transfer-out`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferOut {
    pub request_id: String,
    /// 联单编号, 14 digits.
    pub manifest_no: String,
    /// The containers' 数字识别码.
    pub containers: Vec<String>,
    #[serde(default)]
    pub transferred_at: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    IntakeSlip(IntakeSlip),
    LabelFeedback(LabelFeedback),
    ModelUpdate(ModelUpdate),
    ModelRollback { request_id: String, model: String },
    ReloadConfig { request_id: String },
    Ping { request_id: String },
    TransferOut(TransferOut),
    InspectNow { request_id: String },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::IntakeSlip(_) => "intake-slip",
            Self::LabelFeedback(_) => "label-feedback",
            Self::ModelUpdate(_) => "model-update",
            Self::ModelRollback { .. } => "model-rollback",
            Self::ReloadConfig { .. } => "reload-config",
            Self::Ping { .. } => "ping",
            Self::TransferOut(_) => "transfer-out",
            Self::InspectNow { .. } => "inspect-now",
        }
    }

    pub fn request_id(&self) -> &str {
        match self {
            Self::IntakeSlip(s) => &s.request_id,
            Self::LabelFeedback(f) => &f.request_id,
            Self::ModelUpdate(u) => &u.request_id,
            Self::ModelRollback { request_id, .. } => request_id,
            Self::ReloadConfig { request_id } | Self::Ping { request_id } | Self::InspectNow { request_id } => request_id,
            Self::TransferOut(t) => &t.request_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    TooLarge,
    BadJson,
    Invalid,
    UnknownCommand,
    NotApplicable,
    Retained,
    Rejected,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    pub path: Option<String>,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), path: None }
    }
}

/// A rejected command: the error and whatever request id could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub request_id: Option<String>,
    pub error: CommandError,
}

/// One reply on `reply/<command>` (`mqtt-schemas/reply.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub schema_version: String,
    pub request_id: Option<String>,
    pub command: String,
    pub ok: bool,
    pub time: String,
    pub site: String,
    pub device_id: String,
    pub error: Option<CommandError>,
    pub result: Option<serde_json::Value>,
}

impl Reply {
    pub fn new(site: &str, device: &str, command: &str, request_id: Option<String>, outcome: Result<serde_json::Value, CommandError>) -> Self {
        let (ok, error, result) = match outcome {
            Ok(r) => (true, None, Some(r)),
            Err(e) => (false, Some(e), None),
        };
        Self {
            schema_version: crate::event::SCHEMA_VERSION.into(),
            request_id,
            // Topic names are capped to what the schema allows; the rest is noise.
            command: command.chars().take(64).collect(),
            ok,
            time: crate::event::rfc3339_millis(std::time::SystemTime::now()),
            site: site.into(),
            device_id: device.into(),
            error,
            result,
        }
    }
}

/// The compiled command schemas.
pub struct CommandParser {
    validators: Vec<(&'static str, jsonschema::Validator)>,
}

impl CommandParser {
    pub fn new() -> Self {
        let validators = SCHEMAS
            .iter()
            .map(|(name, text)| {
                let schema: serde_json::Value = serde_json::from_str(text).expect("the bundled command schemas are JSON");
                let v = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .expect("the bundled command schemas compile");
                (*name, v)
            })
            .collect();
        Self { validators }
    }

    /// Reads one command. `name` is the last topic segment.
    pub fn parse(&self, name: &str, payload: &[u8], retained: bool) -> Result<Command, Refusal> {
        let refuse = |request_id: Option<String>, code, message: String| Refusal { request_id, error: CommandError::new(code, message) };
        if payload.len() > MAX_COMMAND_BYTES {
            return Err(refuse(
                None,
                ErrorCode::TooLarge,
                format!("payload is {} bytes; commands are at most {MAX_COMMAND_BYTES} bytes", payload.len()),
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(payload)
            .map_err(|e| refuse(None, ErrorCode::BadJson, format!("payload is not JSON: {e}")))?;
        let request_id = readable_request_id(&value);
        if retained {
            return Err(refuse(
                request_id,
                ErrorCode::Retained,
                "retained commands are refused: they would run again on every reconnect; publish with retain=false".into(),
            ));
        }
        let Some((_, validator)) = self.validators.iter().find(|(n, _)| *n == name) else {
            let known: Vec<_> = self.validators.iter().map(|(n, _)| *n).collect();
            return Err(refuse(request_id, ErrorCode::UnknownCommand, format!("no command `{}`; known: {}", clip(name), known.join(", "))));
        };
        if let Some(error) = validator.iter_errors(&value).next() {
            let path = error.instance_path().to_string();
            return Err(Refusal {
                request_id,
                error: CommandError {
                    code: ErrorCode::Invalid,
                    message: format!("{}: {}", if path.is_empty() { "payload" } else { &path }, clip(&error.to_string())),
                    path: Some(path),
                },
            });
        }
        let typed = |e: serde_json::Error| refuse(request_id.clone(), ErrorCode::Invalid, e.to_string());
        let field = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        match name {
            "intake-slip" => serde_json::from_value(value.clone()).map(Command::IntakeSlip).map_err(typed),
            "label-feedback" => serde_json::from_value(value.clone()).map(Command::LabelFeedback).map_err(typed),
            "model-update" => serde_json::from_value(value.clone()).map(Command::ModelUpdate).map_err(typed),
            "model-rollback" => Ok(Command::ModelRollback { request_id: field("request_id"), model: field("model") }),
            "reload-config" => Ok(Command::ReloadConfig { request_id: field("request_id") }),
            "transfer-out" => serde_json::from_value(value.clone()).map(Command::TransferOut).map_err(typed),
            "inspect-now" => Ok(Command::InspectNow { request_id: field("request_id") }),
            _ => Ok(Command::Ping { request_id: field("request_id") }),
        }
    }
}

impl Default for CommandParser {
    fn default() -> Self {
        Self::new()
    }
}

/// The request id, if the payload has one that may be echoed back.
fn readable_request_id(value: &serde_json::Value) -> Option<String> {
    let id = value.get("request_id")?.as_str()?;
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    ok.then(|| id.to_string())
}

/// Keeps hostile input from bloating replies and logs.
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slip() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../mqtt-schemas/examples/cmd-intake-slip.json")).unwrap()
    }

    fn refusal(name: &str, payload: &[u8], retained: bool) -> Refusal {
        CommandParser::new().parse(name, payload, retained).expect_err("refused")
    }

    #[test]
    fn the_published_intake_slip_example_parses_into_the_typed_slip() {
        let parsed = CommandParser::new().parse("intake-slip", slip().to_string().as_bytes(), false).unwrap();
        let Command::IntakeSlip(s) = parsed else { panic!("not a slip: {parsed:?}") };
        assert_eq!((s.category.as_str(), s.waste_code.as_str(), s.waste_name.as_str()), ("HW08", "900-249-08", "废矿物油"));
        assert!(s.weight_kg > 0.0);
    }

    #[test]
    fn the_published_label_feedback_example_parses_and_a_wrong_verdict_needs_its_category() {
        let example = include_str!("../../../mqtt-schemas/examples/cmd-label-feedback.json");
        let Command::LabelFeedback(f) = CommandParser::new().parse("label-feedback", example.as_bytes(), false).unwrap() else { panic!("not feedback") };
        assert_eq!((f.verdict, f.category, f.label.as_deref()), (FeedbackVerdict::Wrong, Some(crate::waste::WasteCategory::Other), Some("大棒骨")));
        let bad = include_str!("../../../mqtt-schemas/examples/invalid/cmd-label-feedback.wrong-without-category.json");
        let r = refusal("label-feedback", bad.as_bytes(), false);
        assert_eq!(r.error.code, ErrorCode::Invalid, "{r:?}");
    }

    #[test]
    fn each_kind_of_bad_command_gets_its_own_error_code() {
        let mut bad_weight = slip();
        bad_weight["weight_kg"] = serde_json::json!("heavy");
        let r = refusal("intake-slip", bad_weight.to_string().as_bytes(), false);
        assert_eq!((r.error.code, r.error.path.as_deref()), (ErrorCode::Invalid, Some("/weight_kg")));
        assert_eq!(r.request_id.as_deref(), slip()["request_id"].as_str(), "the request id is echoed");

        assert_eq!(refusal("ping", b"{not json", false).error.code, ErrorCode::BadJson);
        assert_eq!(refusal("ping", &vec![b' '; MAX_COMMAND_BYTES + 1], false).error.code, ErrorCode::TooLarge);
        assert_eq!(refusal("self-destruct", br#"{"request_id":"x"}"#, false).error.code, ErrorCode::UnknownCommand);
        assert_eq!(refusal("ping", br#"{"request_id":"x"}"#, true).error.code, ErrorCode::Retained);
        let r = refusal("ping", br#"{"request_id":"x","extra":1}"#, false);
        assert_eq!(r.error.code, ErrorCode::Invalid);
        let r = refusal("ping", br#"{"request_id":"x","sent_at":"yesterday"}"#, false);
        assert_eq!((r.error.code, r.error.path.as_deref()), (ErrorCode::Invalid, Some("/sent_at")), "formats are checked");
        let r = refusal("reload-config", br#"{"request_id":"evil id with spaces"}"#, false);
        assert_eq!(r.request_id, None, "an id that may not be echoed is not echoed");
    }

    #[test]
    fn hostile_payloads_are_refused_without_panicking() {
        let parser = CommandParser::new();
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let long_name = "x".repeat(5_000);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("ping", vec![]),
            ("ping", vec![0xff, 0xfe, 0x00]),
            ("ping", b"null".to_vec()),
            ("ping", b"[1,2,3]".to_vec()),
            ("ping", b"\"request_id\"".to_vec()),
            ("ping", deep.into_bytes()),
            ("intake-slip", br#"{"request_id":"a","weight_kg":1e400}"#.to_vec()),
            ("intake-slip", format!(r#"{{"request_id":"{}"}}"#, "é".repeat(40_000)).into_bytes()),
            (long_name.as_str(), b"{}".to_vec()),
            ("", b"{}".to_vec()),
        ];
        for (name, payload) in cases {
            let r = parser.parse(name, &payload, false).expect_err("refused");
            assert!(r.error.message.len() < 600, "replies stay small: {}", r.error.message.len());
        }
    }

    #[test]
    fn replies_carry_either_a_result_or_an_error() {
        let ok = Reply::new("s", "d", "ping", Some("r1".into()), Ok(serde_json::json!({"pong": true})));
        assert!(ok.ok && ok.error.is_none() && ok.result.is_some());
        let err = Reply::new("s", "d", &"n".repeat(100), None, Err(CommandError::new(ErrorCode::UnknownCommand, "no")));
        assert!(!err.ok && err.error.is_some() && err.result.is_none());
        assert_eq!(err.command.len(), 64);
    }
}
