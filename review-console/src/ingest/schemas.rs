//! The MQTT contract's JSON Schemas (mqtt-schemas/), compiled into the binary:
//! what the agents publish is checked against the very files they are tested on.

use anyhow::{Context, Result};
use serde_json::Value;

const SCHEMAS: &[(&str, &str)] = &[
    ("event", include_str!("../../../mqtt-schemas/event.schema.json")),
    ("heartbeat", include_str!("../../../mqtt-schemas/heartbeat.schema.json")),
    ("status", include_str!("../../../mqtt-schemas/status.schema.json")),
    ("reply", include_str!("../../../mqtt-schemas/reply.schema.json")),
    ("cmd-intake-slip", include_str!("../../../mqtt-schemas/cmd-intake-slip.schema.json")),
    ("cmd-label-feedback", include_str!("../../../mqtt-schemas/cmd-label-feedback.schema.json")),
];

pub struct Schemas {
    validators: Vec<(&'static str, jsonschema::Validator)>,
}

impl Schemas {
    pub fn load() -> Result<Schemas> {
        let validators = SCHEMAS
            .iter()
            .map(|(name, text)| {
                let schema: Value = serde_json::from_str(text).with_context(|| format!("{name}.schema.json is not JSON"))?;
                let v = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .map_err(|e| anyhow::anyhow!("{name}.schema.json does not compile: {e}"))?;
                Ok((*name, v))
            })
            .collect::<Result<_>>()?;
        Ok(Schemas { validators })
    }

    /// The first violation as `<json pointer>: <message>`.
    pub fn check(&self, schema: &str, value: &Value) -> Result<(), String> {
        let (_, validator) = self.validators.iter().find(|(n, _)| *n == schema).ok_or_else(|| format!("no schema {schema}"))?;
        match validator.iter_errors(value).next() {
            None => Ok(()),
            Some(e) => {
                let path = e.instance_path().to_string();
                let message: String = e.to_string().chars().take(200).collect();
                Err(format!("{}: {message}", if path.is_empty() { "payload" } else { &path }))
            }
        }
    }
}
