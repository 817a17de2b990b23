//! One module per subcommand: each turns parsed arguments into work and an exit code.

pub mod bench;
pub mod bench_events;
pub mod bench_field;
pub mod bench_intake;
pub mod bench_leak;
pub mod bench_sorting;
pub mod bench_storage;
pub mod calibrate;
pub mod classify;
pub mod enroll;
pub mod inspect;
pub mod leak;
pub mod models;
pub mod run;
pub mod simulate_station;
pub mod storage;
pub mod watch;

/// Prints an offline run's events (`leak`, `storage`) as JSON lines, the
/// evidence pictures written beside them when asked.
pub(crate) struct EventPrinter<'a> {
    pub evidence: Option<&'a std::path::Path>,
    pub count: &'a mut usize,
}

impl EventPrinter<'_> {
    pub fn print(&mut self, draft: &crate::event::EventDraft, frame: &str, t: f64) -> anyhow::Result<()> {
        *self.count += 1;
        let name = draft.details.get("event").and_then(|e| e.as_str()).map(str::to_string).unwrap_or_else(|| format!("{}.{}", draft.kind, draft.verdict));
        let mut evidence_file = None;
        if let (Some(dir), Some(ev)) = (self.evidence, &draft.evidence) {
            let file = dir.join(format!("{:03}-{name}.jpg", self.count));
            std::fs::write(&file, &ev.jpeg).map_err(|e| anyhow::anyhow!("cannot write {} ({e})", file.display()))?;
            evidence_file = Some(file.display().to_string());
        }
        let line = serde_json::json!({
            "event": name,
            "frame": frame,
            "t_s": (t * 1000.0).round() / 1000.0,
            "priority": draft.priority,
            "confidence": draft.confidence,
            "message_zh": draft.message_zh,
            "details": draft.details,
            "evidence": evidence_file,
        });
        println!("{line}");
        Ok(())
    }
}

/// sysexits' EX_CONFIG: the config (or a manifest it names) is wrong.
pub const EXIT_CONFIG: u8 = 78;
