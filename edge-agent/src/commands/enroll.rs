//! `edge-agent enroll`: the site's own examples of items, for the sorting
//! station. Pictures are cut out and embedded exactly as the running task
//! does, so what is enrolled compares with what the camera sees.

use crate::cli::{EnrollArgs, EnrollCommand, EnrollTarget};
use crate::config::{Config, TaskKind};
use crate::enroll::{Enrollment, NewExample};
use crate::inference::{InferenceConfig, ModelPool};
use crate::task::sorting::SortingTaskConfig;
use crate::task::sorting::item::ItemClassifier;
use crate::waste::WasteCategory;
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::ExitCode;

/// The state folder and an item classifier set up as the agent's sorting task.
struct Target {
    state_dir: PathBuf,
    models_dir: PathBuf,
    task: SortingTaskConfig,
}

impl Target {
    fn resolve(t: &EnrollTarget) -> anyhow::Result<Self> {
        let Some(path) = &t.config else {
            return Ok(Self { state_dir: t.state_dir.clone(), models_dir: t.models_dir.clone(), task: SortingTaskConfig::default() });
        };
        let config = Config::load(path)?;
        let task = config
            .tasks
            .iter()
            .find_map(|t| match &t.kind {
                TaskKind::Sorting(c) => Some((**c).clone()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Self { state_dir: config.storage.dir.clone(), models_dir: config.models_dir.clone(), task })
    }

    fn classifier(&self) -> anyhow::Result<ItemClassifier> {
        let pool = ModelPool::load(&self.models_dir, InferenceConfig::default())?;
        crate::task::sorting_classifier("enroll", &self.task, &pool, Some(&self.state_dir)).map_err(Into::into)
    }

    fn store(&self) -> anyhow::Result<Enrollment> {
        Ok(Enrollment::open(&self.state_dir)?)
    }
}

pub fn enroll(args: &EnrollArgs) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(&args.target)?;
    match &args.command {
        None => add(args, &target),
        Some(EnrollCommand::List { json }) => list(&target.store()?, *json),
        Some(EnrollCommand::Remove { ids }) => {
            if ids.is_empty() {
                bail!("name the examples to remove: `edge-agent enroll remove ID...` (ids from `enroll list`)");
            }
            let removed = target.store()?.remove(ids)?;
            for e in &removed {
                println!("removed {}  {}  {}", e.id, e.category.name_zh(), e.label);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(EnrollCommand::Export { dir }) => {
            let n = target.store()?.export(dir)?;
            println!("exported {n} examples to {} (ImageFolder layout + manifest.json)", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(EnrollCommand::Import { dir }) => {
            let classifier = target.classifier()?;
            let n = target.store()?.import(dir, &classifier.model)?;
            println!("imported {n} examples from {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(EnrollCommand::Rebuild) => {
            let classifier = target.classifier()?;
            let mut store = target.store()?;
            let n = store.rebuild(&classifier.model, &mut |path| {
                let img = image::open(path).map_err(|e| e.to_string())?.to_rgb8();
                classifier.embed(&img).map_err(|e| e.to_string())
            })?;
            println!("rebuilt {n} embeddings with {} ({})", classifier.model.name, &classifier.model.sha256[..12]);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(args: &EnrollArgs, target: &Target) -> anyhow::Result<ExitCode> {
    let label = args.label.as_deref().map(str::trim).filter(|l| !l.is_empty()).context("give the item's --label, e.g. --label 塑料瓶")?;
    if args.images.is_empty() {
        bail!("give one or more pictures of the item: `edge-agent enroll --label {label} IMAGE...`");
    }
    let classifier = target.classifier()?;
    let rule = classifier.rules.lookup(label);
    let given: Option<WasteCategory> = args.category.as_deref().map(str::parse).transpose()?;
    let category = match (given, rule) {
        (Some(c), Some(r)) if c != r.category && !args.override_rules => bail!(
            "the rules table ({} {}) puts {label} in {} ({}), not {}{}: drop --category, or add --override-rules to keep this site's choice",
            classifier.rules.name,
            classifier.rules.version,
            r.category.name_zh(),
            r.category.code(),
            c.name_zh(),
            r.why.as_deref().map(|w| format!(" — {w}")).unwrap_or_default()
        ),
        (Some(c), _) => c,
        (None, Some(r)) => r.category,
        (None, None) => bail!("the rules table does not know `{label}`: give its --category (kitchen, recyclable, hazardous or other)"),
    };
    let mut failed = 0;
    for path in &args.images {
        let outcome = (|| -> anyhow::Result<crate::enroll::Example> {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let img = crate::vision::decode_image(&bytes).with_context(|| format!("{} is not a readable JPEG or PNG", path.display()))?;
            // The picture kept is the cut-out item, as the camera will see it cut out.
            let cut = classifier.cut_out(&img)?;
            let embedding = classifier.embed_cut_out(&cut)?;
            let picture_jpeg = crate::event::evidence::encode_jpeg(&cut)?;
            let source = format!("cli:{}", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            Ok(classifier.enroll(NewExample { label: label.to_string(), category, source, picture_jpeg, embedding }).map_err(anyhow::Error::msg)?)
        })();
        match outcome {
            Ok(e) => println!("enrolled {}  {} → {}  ({})", e.id, e.label, e.category.name_zh(), path.display()),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", path.display());
            }
        }
    }
    let store = target.store()?;
    println!("{} examples enrolled, store version {}", store.examples().len(), store.version());
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn list(store: &Enrollment, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let examples: Vec<_> = store
            .examples()
            .iter()
            .map(|e| serde_json::json!({"id": e.id, "label": e.label, "category": e.category, "added_at": e.added_at, "source": e.source, "picture": store.picture_path(e)}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"version": store.version(), "model": store.model(), "examples": examples}))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("enrollment version {}, {} examples{}", store.version(), store.examples().len(), store.model().map(|m| format!(", embedded with {}", m.name)).unwrap_or_default());
    for e in store.examples() {
        println!("{}  {:<6} {:<10} {}  {}", e.id, e.category.code(), e.label, e.added_at, e.source);
    }
    Ok(ExitCode::SUCCESS)
}
