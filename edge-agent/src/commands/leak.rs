//! `edge-agent leak`: leak detection offline on a sequence of frames, the
//! events printed as JSON lines (what the agent would publish).

use crate::calibration::Calibration;
use crate::cli::LeakArgs;
use crate::task::leak::{LeakRun, LeakTaskConfig};
use crate::vision::Frame;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub fn leak(args: &LeakArgs) -> anyhow::Result<ExitCode> {
    if !(args.fps.is_finite() && args.fps > 0.0 && args.fps <= 120.0) {
        anyhow::bail!("--fps {} is out of range: give the sequence's frame rate, above 0 and at most 120", args.fps);
    }
    let settings: LeakTaskConfig = toml::from_str(&args.settings).map_err(|e| anyhow::anyhow!("--settings: {}", e.message()))?;
    if let Some((key, message)) = settings.check().into_iter().next() {
        anyhow::bail!("--settings: {key}: {message}");
    }
    let calibration = Arc::new(Calibration::load(&args.calibration)?);
    let mut run = LeakRun::new("leak", calibration.clone(), &settings).map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.evidence {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {} ({e})", dir.display()))?;
    }
    let start = SystemTime::now();
    let camera: Arc<str> = Arc::from(calibration.file.camera.as_str());
    let (mut events, mut skipped) = (0usize, 0usize);
    for (i, path) in args.frames.iter().enumerate() {
        let t = i as f64 / args.fps;
        let image = match std::fs::read(path).map_err(|e| e.to_string()).and_then(|b| crate::vision::decode_image(&b).map_err(|e| e.to_string())) {
            Ok(image) => image,
            Err(e) => {
                // A corrupt frame is skipped, as a camera's would be.
                tracing::warn!(frame = %path.display(), error = %e, "skipping a frame that cannot be read");
                skipped += 1;
                continue;
            }
        };
        let frame = Frame {
            camera: camera.clone(),
            seq: i as u64,
            captured_at: start + Duration::from_secs_f64(t),
            image: Arc::new(image),
            origin: Arc::from(path.display().to_string()),
        };
        let drafts = match run.frame(&frame) {
            Ok(d) => d,
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        };
        let mut out = super::EventPrinter { evidence: args.evidence.as_deref(), count: &mut events };
        for draft in drafts {
            out.print(&draft, &path.display().to_string(), t)?;
        }
    }
    eprintln!("{} frames, {events} events, {skipped} unreadable frames skipped", args.frames.len());
    Ok(ExitCode::SUCCESS)
}
