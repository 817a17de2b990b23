use crate::cli::ModelsCommand;
use crate::inference::ModelCatalog;
use crate::inference::manifest::ManifestError;
use std::process::ExitCode;

pub fn models(command: &ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::Verify { models } => verify(&models.models_dir),
    }
}

/// Prints one row per manifest; exit 1 if any file is missing or wrong.
fn verify(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let catalog = ModelCatalog::load(dir)?;
    if catalog.manifests.is_empty() {
        anyhow::bail!("no model manifests (<name>/model.toml) under {}", dir.display());
    }
    println!("{:<22} {:<20} {:<22} {:<8} {}", "MODEL", "KIND", "VERSION", "STATUS", "DETAIL");
    let mut bad = 0;
    for m in catalog.manifests.values() {
        let (status, detail) = match m.verify_file() {
            Ok(()) => ("ok", format!("sha256 {}", &m.sha256[..16])),
            Err(ManifestError::FileMissing { path, .. }) => ("MISSING", format!("{} (run `python3 models/setup.py`)", path.display())),
            Err(ManifestError::HashMismatch { actual, .. }) => {
                ("BAD", format!("sha256 {} != manifest {}", &actual[..16], &m.sha256[..16]))
            }
            Err(e) => ("ERROR", e.to_string()),
        };
        if status != "ok" {
            bad += 1;
        }
        println!("{:<22} {:<20} {:<22} {:<8} {}", m.name, m.kind.as_str(), m.version, status, detail);
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
