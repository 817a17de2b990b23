//! What the agent does with a validated command. Intake slips go to the
//! slip book, where the intake task takes them when their container arrives.

use super::{ReloadOutcome, ReloadRequest};
use crate::config::Config;
use crate::mqtt::CommandHandler;
use crate::mqtt::commands::{Command, CommandError, ErrorCode, IntakeSlip};
use crate::task::intake::slips::SlipBook;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
/// A slip "declared" further ahead than this means a wrong clock somewhere.
const MAX_CLOCK_AHEAD: Duration = Duration::from_secs(10 * 60);

pub struct AgentCommands {
    started: Instant,
    config_path: std::path::PathBuf,
    config_sha256: String,
    cameras: Vec<String>,
    reload: Mutex<mpsc::Sender<ReloadRequest>>,
    pub slips: Arc<SlipBook>,
    state_dir: std::path::PathBuf,
    /// The rules a feedback label is checked against (the sorting task's).
    rules: crate::waste::RulesTable,
    models: crate::model_update::ModelUpdater,
    /// The pod's ledger (`cmd/transfer-out`) and the tasks' board (`cmd/inspect-now`).
    ledger: Arc<crate::task::storage::ledger::Ledger>,
    board: Arc<crate::task::site::SiteBoard>,
    storage_tasks: usize,
}

impl AgentCommands {
    pub fn new(config: &Config, reload: mpsc::Sender<ReloadRequest>, slips: Arc<SlipBook>, models: crate::model_update::ModelUpdater) -> Self {
        Self {
            started: Instant::now(),
            config_path: config.path.clone(),
            config_sha256: config.sha256.clone(),
            cameras: config.cameras.iter().map(|c| c.id.clone()).collect(),
            reload: Mutex::new(reload),
            slips,
            state_dir: config.storage.dir.clone(),
            rules: sorting_rules(config),
            models,
            ledger: Default::default(),
            board: Default::default(),
            storage_tasks: config.tasks.iter().filter(|t| matches!(t.kind, crate::config::TaskKind::Storage(_))).count(),
        }
    }

    pub fn with_storage(self, ledger: Arc<crate::task::storage::ledger::Ledger>, board: Arc<crate::task::site::SiteBoard>) -> Self {
        Self { ledger, board, ..self }
    }

    fn transfer_out(&self, t: &crate::mqtt::commands::TransferOut) -> Result<serde_json::Value, CommandError> {
        use crate::task::storage::ledger::TransferError;
        let at = t.transferred_at.clone().unwrap_or_else(|| crate::event::rfc3339_millis(std::time::SystemTime::now()));
        match self.ledger.transfer_out(&t.manifest_no, &t.containers, &at) {
            Ok(moved) => {
                let (stock_kg, _) = self.ledger.stock_kg();
                Ok(serde_json::json!({
                    "manifest_no": t.manifest_no,
                    "transferred": moved,
                    "already_recorded": t.containers.len() - moved.len(),
                    "in_stock": self.ledger.stock().len(),
                    "stock_kg": (stock_kg * 10.0).round() / 10.0,
                }))
            }
            Err(e @ TransferError::BadManifest(_)) => Err(CommandError { code: ErrorCode::Invalid, message: e.to_string(), path: Some("/manifest_no".into()) }),
            Err(e @ TransferError::NotInStock(_)) => Err(CommandError { code: ErrorCode::Rejected, message: e.to_string(), path: Some("/containers".into()) }),
            Err(e @ TransferError::Storage(_)) => Err(CommandError::new(ErrorCode::Internal, e.to_string())),
        }
    }

    fn inspect_now(&self, request_id: &str) -> Result<serde_json::Value, CommandError> {
        if self.storage_tasks == 0 {
            return Err(CommandError::new(ErrorCode::NotApplicable, "this device runs no storage task, so it has no inspection to report"));
        }
        let generation = self.board.request_inspection(request_id);
        Ok(serde_json::json!({ "requested": true, "generation": generation, "report": "an inspection.daily event follows on the storage camera's next frame" }))
    }

    fn label_feedback(&self, fb: &crate::mqtt::commands::LabelFeedback) -> Result<serde_json::Value, CommandError> {
        let items = self.state_dir.join("sorting").join("items");
        crate::task::sorting::feedback::apply(&self.state_dir, &items, fb, &self.rules)
    }

    fn intake_slip(&self, slip: IntakeSlip) -> Result<serde_json::Value, CommandError> {
        let not_here = |m: String| CommandError { code: ErrorCode::NotApplicable, message: m, path: Some("/camera".into()) };
        match &slip.camera {
            Some(camera) if !self.cameras.contains(camera) => {
                return Err(not_here(format!("this device has no camera `{camera}`; its cameras: {}", self.cameras.join(", "))));
            }
            None if self.cameras.is_empty() => return Err(not_here("this device has no cameras to check a container with".into())),
            _ => {}
        }
        let declared = chrono::DateTime::parse_from_rfc3339(&slip.declared_at).map_err(|e| CommandError {
            code: ErrorCode::Invalid,
            message: format!("declared_at: {e}"),
            path: Some("/declared_at".into()),
        })?;
        let ahead = declared.with_timezone(&chrono::Utc) - chrono::Utc::now();
        if ahead.to_std().is_ok_and(|a| a > MAX_CLOCK_AHEAD) {
            return Err(CommandError {
                code: ErrorCode::Rejected,
                message: format!("declared_at is {} min in the future; check the platform's and this box's clocks (NTP)", ahead.num_minutes()),
                path: Some("/declared_at".into()),
            });
        }
        let slip_id = slip.slip_id.clone();
        let waiting = self.slips.add(slip).map_err(|message| CommandError {
            code: if message.contains("already waiting") { ErrorCode::Rejected } else { ErrorCode::Internal },
            message,
            path: Some("/slip_id".into()),
        })?;
        Ok(serde_json::json!({ "slip_id": slip_id, "waiting": waiting }))
    }

    fn reload_config(&self) -> Result<serde_json::Value, CommandError> {
        if self.config_path.as_os_str().is_empty() {
            return Err(CommandError::new(ErrorCode::NotApplicable, "this agent was not started from a config file"));
        }
        let (tx, rx) = mpsc::channel::<ReloadOutcome>();
        let request = ReloadRequest { path: self.config_path.clone(), reply: tx };
        if self.reload.lock().unwrap_or_else(|e| e.into_inner()).send(request).is_err() {
            return Err(CommandError::new(ErrorCode::NotApplicable, "the agent is stopping"));
        }
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(message)) => Err(CommandError::new(ErrorCode::Rejected, format!("{message}; nothing was changed"))),
            Err(_) => Err(CommandError::new(ErrorCode::Internal, "the reload did not finish within 120 s")),
        }
    }
}

impl CommandHandler for AgentCommands {
    fn handle(&self, command: Command) -> Result<serde_json::Value, CommandError> {
        match command {
            Command::Ping { .. } => Ok(serde_json::json!({
                "pong": true,
                "uptime_s": (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                "agent_version": crate::event::AGENT_VERSION,
                "config_sha256": self.config_sha256,
            })),
            Command::IntakeSlip(slip) => self.intake_slip(slip),
            Command::LabelFeedback(fb) => self.label_feedback(&fb),
            Command::ModelUpdate(update) => self.models.update(&update),
            Command::ModelRollback { model, .. } => self.models.rollback(&model),
            Command::ReloadConfig { .. } => self.reload_config(),
            Command::TransferOut(t) => self.transfer_out(&t),
            Command::InspectNow { request_id } => self.inspect_now(&request_id),
        }
    }
}

/// The first sorting task's rules table (with its site file), else the built-in one.
fn sorting_rules(config: &Config) -> crate::waste::RulesTable {
    let site = config.tasks.iter().find_map(|t| match &t.kind {
        crate::config::TaskKind::Sorting(c) => c.rules.clone(),
        _ => None,
    });
    site.and_then(|path| crate::waste::RulesTable::with_site_file(&path).ok()).unwrap_or_else(|| crate::waste::RulesTable::builtin().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    fn commands() -> AgentCommands {
        let text = r#"
site = "s"
device_id = "d"
[[cameras]]
id = "intake-1"
source = { kind = "replay", path = "x" }
"#;
        let config = Config::parse(text, std::path::Path::new("t.toml")).unwrap();
        let updater = crate::model_update::ModelUpdater::new(&config.model_updates, Path::new("state"), Path::new("models"), Default::default()).unwrap();
        AgentCommands::new(&config, mpsc::channel().0, Arc::new(SlipBook::in_memory()), updater)
    }

    fn slip(id: &str) -> IntakeSlip {
        let mut v: serde_json::Value = serde_json::from_str(include_str!("../../../mqtt-schemas/examples/cmd-intake-slip.json")).unwrap();
        v["slip_id"] = id.into();
        v.as_object_mut().unwrap().remove("camera");
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn slips_wait_in_order_and_duplicates_or_foreign_cameras_change_nothing() {
        let c = commands();
        assert_eq!(c.handle(Command::IntakeSlip(slip("A"))).unwrap()["waiting"], 1);
        assert_eq!(c.handle(Command::IntakeSlip(slip("B"))).unwrap()["waiting"], 2);
        assert_eq!(c.handle(Command::IntakeSlip(slip("A"))).unwrap_err().code, ErrorCode::Rejected);
        let mut elsewhere = slip("C");
        elsewhere.camera = Some("dock-9".into());
        assert_eq!(c.handle(Command::IntakeSlip(elsewhere)).unwrap_err().code, ErrorCode::NotApplicable);
        let mut future = slip("D");
        future.declared_at = "2999-01-01T00:00:00Z".into();
        assert_eq!(c.handle(Command::IntakeSlip(future)).unwrap_err().code, ErrorCode::Rejected);
        let ids: Vec<_> = c.slips.waiting().iter().map(|s| s.slip_id.clone()).collect();
        assert_eq!(ids, vec!["A", "B"]);
    }

    #[test]
    fn transfers_take_containers_out_of_the_ledger_all_or_nothing() {
        use crate::task::storage::ledger::{Ledger, LedgerRecord};
        let ledger = Arc::new(Ledger::in_memory());
        let id = "91110302MA01234567900249082026110100A";
        ledger
            .record_intake(LedgerRecord {
                id_code: id.into(),
                waste_code: None,
                category: Some("HW08".into()),
                waste_name: None,
                weight_kg: Some(120.0),
                intake_at: "t".into(),
                slip_id: None,
                verdict: "accept".into(),
                transfer: None,
            })
            .unwrap();
        let c = commands().with_storage(ledger.clone(), Default::default());
        let parser = crate::mqtt::commands::CommandParser::new();
        let cmd = |body: serde_json::Value| parser.parse("transfer-out", &serde_json::to_vec(&body).unwrap(), false);
        // The schema refuses a short manifest number before anything runs.
        let refused = cmd(serde_json::json!({"request_id": "a", "manifest_no": "2026", "containers": [id]})).unwrap_err();
        assert_eq!(refused.error.code, ErrorCode::Invalid);
        let unknown = "91110302MA01234567900249082026110100B";
        let err = c.handle(cmd(serde_json::json!({"request_id": "b", "manifest_no": "20261201000001", "containers": [id, unknown]})).unwrap()).unwrap_err();
        assert_eq!(err.code, ErrorCode::Rejected);
        assert!(err.message.contains(unknown) && err.message.contains("nothing was transferred"), "{}", err.message);
        assert!(ledger.in_stock(id).is_some());
        let ok = c.handle(cmd(serde_json::json!({"request_id": "c", "manifest_no": "20261201000001", "containers": [id]})).unwrap()).unwrap();
        assert_eq!(ok["transferred"], serde_json::json!([id]));
        assert_eq!((ok["in_stock"].as_u64(), ok["stock_kg"].as_f64()), (Some(0), Some(0.0)));
        let again = c.handle(cmd(serde_json::json!({"request_id": "d", "manifest_no": "20261201000001", "containers": [id]})).unwrap()).unwrap();
        assert_eq!(again["already_recorded"], 1);
        // No storage task here: nothing to inspect.
        assert_eq!(c.handle(Command::InspectNow { request_id: "e".into() }).unwrap_err().code, ErrorCode::NotApplicable);
    }

    #[test]
    fn reload_without_a_config_file_is_not_applicable() {
        let err = commands().handle(Command::ReloadConfig { request_id: "r".into() }).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotApplicable);
    }
}
