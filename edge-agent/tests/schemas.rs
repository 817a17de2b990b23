//! The published MQTT contract (`mqtt-schemas/`): every schema compiles as
//! draft 2020-12, every example is valid, every counter-example is refused,
//! and the agent's own types read the examples. (The payloads the agent
//! really publishes are validated in `tests/mqtt.rs`.)

mod common;

use common::mqtt::schema;
use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    common::repo_root().join("mqtt-schemas")
}

fn json_files(dir: PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// `event.sorting.json` -> `event`
fn stem_of(path: &std::path::Path) -> String {
    path.file_name().unwrap().to_str().unwrap().split('.').next().unwrap().to_string()
}

fn read(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_schema_is_draft_2020_12_and_every_example_validates() {
    let schemas: Vec<_> = json_files(schemas_dir()).into_iter().filter(|p| p.to_str().unwrap().ends_with(".schema.json")).collect();
    assert_eq!(schemas.len(), 12, "{schemas:?}");
    for path in &schemas {
        assert_eq!(read(path)["$schema"], "https://json-schema.org/draft/2020-12/schema", "{}", path.display());
    }
    let examples = json_files(schemas_dir().join("examples"));
    assert!(examples.len() >= 11);
    for stem in schemas.iter().map(|p| stem_of(p)) {
        assert!(examples.iter().any(|e| stem_of(e) == stem), "no example for {stem}");
    }
    for example in &examples {
        let v = schema(&stem_of(example));
        let errors: Vec<String> = v.iter_errors(&read(example)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", example.display());
    }
}

#[test]
fn every_counter_example_is_refused() {
    let invalid = json_files(schemas_dir().join("examples/invalid"));
    assert!(invalid.len() >= 10);
    for example in &invalid {
        assert!(!schema(&stem_of(example)).is_valid(&read(example)), "{} should be invalid", example.display());
    }
}

#[test]
fn the_agents_types_read_the_published_examples() {
    use edge_agent::event::Event;
    use edge_agent::mqtt::commands::Reply;
    use edge_agent::mqtt::health::{Heartbeat, Status};
    let examples = schemas_dir().join("examples");
    for name in ["event.classification.json", "event.sorting.json", "event.intake.json", "event.leak.json", "event.camera.json"] {
        let e: Event = serde_json::from_value(read(&examples.join(name))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(e.seq >= 1);
        // And what the agent writes back out is still valid.
        common::mqtt::assert_valid("event", &serde_json::to_value(&e).unwrap());
    }
    for name in ["status.online.json", "status.offline.json"] {
        let s: Status = serde_json::from_value(read(&examples.join(name))).unwrap();
        common::mqtt::assert_valid("status", &serde_json::to_value(&s).unwrap());
    }
    let h: Heartbeat = serde_json::from_value(read(&examples.join("heartbeat.json"))).unwrap();
    common::mqtt::assert_valid("heartbeat", &serde_json::to_value(&h).unwrap());
    for name in ["reply.ok.json", "reply.error.json"] {
        let r: Reply = serde_json::from_value(read(&examples.join(name))).unwrap();
        common::mqtt::assert_valid("reply", &serde_json::to_value(&r).unwrap());
    }
    // The model commands parse into the agent's typed commands.
    let parser = edge_agent::mqtt::commands::CommandParser::new();
    let update = std::fs::read(examples.join("cmd-model-update.json")).unwrap();
    match parser.parse("model-update", &update, false) {
        Ok(edge_agent::mqtt::commands::Command::ModelUpdate(u)) => {
            assert_eq!(u.model, "efficientnet-lite0");
            assert!(u.signature.is_some() && u.url.starts_with("https://"));
        }
        other => panic!("the model-update example did not parse: {other:?}"),
    }
    let rollback = std::fs::read(examples.join("cmd-model-rollback.json")).unwrap();
    assert!(matches!(
        parser.parse("model-rollback", &rollback, false),
        Ok(edge_agent::mqtt::commands::Command::ModelRollback { ref model, .. }) if model == "efficientnet-lite0"
    ));
}

#[test]
fn the_schemas_command_prints_every_topic_with_its_schema_file() {
    let out = std::process::Command::new(common::bin()).args(["schemas", "--config", "demo/config.toml"]).current_dir(common::repo_root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for topic in ["status", "heartbeat", "events/<kind>", "evidence/<event-id>", "cmd/intake-slip", "cmd/model-update", "cmd/model-rollback", "cmd/reload-config", "cmd/ping", "reply/<command>"] {
        assert!(table.contains(&format!("zwaste/v1/bda-demo/edge-demo-01/{topic}")), "{topic} missing:\n{table}");
    }
    for schema in json_files(schemas_dir()).iter().filter(|p| p.to_str().unwrap().ends_with(".schema.json")) {
        let name = schema.file_name().unwrap().to_str().unwrap();
        assert!(table.contains(name), "{name} missing:\n{table}");
    }
}
