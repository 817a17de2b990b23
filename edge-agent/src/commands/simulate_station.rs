//! `edge-agent simulate-station`: seeded footage of a four-bin sorting
//! station (real item photos dropped in, some into the wrong bin) and its
//! calibration, for a replay camera. The demo runs the sorting task on it.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::calibration::Calibration;
use crate::cli::SimulateStationArgs;
use crate::simulate::station::{self, Drop, StationScene};
use crate::waste::WasteCategory;

pub fn simulate_station(args: &SimulateStationArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.seconds > 0.0 && args.seconds <= 600.0, "--seconds: between 0 and 600");
    anyhow::ensure!(args.fps > 0.0 && args.fps <= 30.0, "--fps: between 0 and 30");
    let scene = StationScene::new(1280, 720, args.seed).with_hands(false);
    let photos = station::item_photos().map_err(|e| anyhow::anyhow!("{e}"))?;
    let bins = scene.bin_categories();
    let bin = |c: WasteCategory| bins.iter().position(|b| *b == c).expect("the scene has all four bins");
    let pick = |c: WasteCategory| photos.iter().find(|p| p.category == c).cloned().map(Arc::new);
    // The apple: one item everybody recognises (the first kitchen-waste photo otherwise).
    let fruit = photos.iter().find(|p| p.id.starts_with("apple")).cloned().map(Arc::new).or_else(|| pick(WasteCategory::Kitchen)).context("no kitchen-waste photo")?;
    let recyclable = pick(WasteCategory::Recyclable).context("no recyclable photo")?;
    // Every 4 s an item: wrong, right, wrong, wrong, right ...
    let plan = [
        (fruit.clone(), bin(WasteCategory::Recyclable)),
        (fruit.clone(), bin(WasteCategory::Kitchen)),
        (fruit.clone(), bin(WasteCategory::Other)),
        (recyclable.clone(), bin(WasteCategory::Kitchen)),
        (recyclable.clone(), bin(WasteCategory::Recyclable)),
    ];
    let drops: Vec<Drop> = (0..((args.seconds - 2.0) / 4.0).floor().max(1.0) as usize)
        .map(|i| {
            let (item, bin) = plan[i % plan.len()].clone();
            Drop { item, bin, start_s: 2.0 + 4.0 * i as f64, hold_s: 1.5, nuisance: false }
        })
        .collect();
    let frames = args.out.join("frames");
    std::fs::create_dir_all(&frames).with_context(|| format!("creating {}", frames.display()))?;
    let mut names = Vec::new();
    for i in 0..(args.seconds * args.fps) as usize {
        let (img, _) = scene.frame(&drops, i as f64 / args.fps);
        let path = frames.join(format!("f{i:04}.jpg"));
        img.save(&path).with_context(|| format!("writing {}", path.display()))?;
        names.push(std::fs::canonicalize(&path)?.display().to_string());
    }
    std::fs::write(args.out.join("frames.txt"), names.join("\n"))?;
    let cal = args.out.join(format!("{}.toml", args.camera));
    Calibration::write(&scene.calibration(&args.camera), &cal)?;
    let wrong = drops.iter().filter(|d| d.item.category != bins[d.bin]).count();
    println!("{}: {} frames at {} fps; items dropped: {}, into the wrong bin: {wrong}; calibration {}", args.out.display(), names.len(), args.fps, drops.len(), cal.display());
    Ok(ExitCode::SUCCESS)
}
