//! `edge-agent calibrate`: measure the floor homography, store the reference
//! picture, and render the preview a technician checks at a glance.

use crate::calibration::{Calibration, CalibrationFile, Chessboard, Homography, HomographyRecord, ReferenceImage, preview};
use crate::cli::CalibrateArgs;
use crate::config::Config;
use image::RgbImage;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn calibrate(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let mut file = if args.calibration.exists() {
        Calibration::load(&args.calibration)?.file
    } else {
        let camera = args.camera.clone().or_else(|| args.calibration.file_stem().map(|s| s.to_string_lossy().into_owned())).unwrap_or_default();
        CalibrationFile { camera, resolution: [0, 0], homography: None, references: vec![], zones: vec![] }
    };
    let image = args.image.as_deref().map(|s| picture(s, args, &file.camera)).transpose()?;
    let reference = args.reference.as_deref().map(|s| picture(s, args, &file.camera)).transpose()?;
    if image.is_none() && reference.is_none() && file.homography.is_none() {
        anyhow::bail!("nothing to do: give --image with --chessboard or --point (the homography) and/or --reference (the clean picture)");
    }
    let fresh = file.resolution == [0, 0];
    for (what, pic) in [("--image", &image), ("--reference", &reference)] {
        let Some(pic) = pic else { continue };
        if fresh {
            file.resolution = [pic.width(), pic.height()];
        } else if file.resolution != [pic.width(), pic.height()] {
            anyhow::bail!(
                "the {what} picture is {}x{} but {} is for {}x{}: its zones would not line up; use a picture at the camera's resolution",
                pic.width(),
                pic.height(),
                args.calibration.display(),
                file.resolution[0],
                file.resolution[1]
            );
        }
    }

    let mut corners = Vec::new();
    if let Some(pic) = &image {
        let (homography, rms, method, points) = measure(pic, args)?;
        println!("homography: {method}, reprojection error {rms:.2} px over {} points", points.len());
        describe(&homography, pic.width(), pic.height());
        file.homography = Some(HomographyRecord {
            px_to_mm: homography.rows(),
            method,
            rms_px: (rms * 1000.0).round() / 1000.0,
            computed_at: crate::event::rfc3339_millis(std::time::SystemTime::now()),
        });
        corners = points;
    } else if !args.point.is_empty() || args.chessboard.is_some() {
        anyhow::bail!("--chessboard and --point need --image: the picture they were measured on");
    }

    if let Some(pic) = &reference {
        let taken = chrono::Utc::now();
        let name = PathBuf::from(format!("{}-reference-{}.png", file.camera, taken.format("%Y%m%dT%H%M%SZ")));
        let path = crate::calibration::resolve(&args.calibration, &name);
        pic.save(&path).map_err(|e| anyhow::anyhow!("cannot write the reference picture {} ({e})", path.display()))?;
        file.references.push(ReferenceImage { image: name, taken_at: crate::event::rfc3339_millis(taken.into()) });
        println!("reference: {}", path.display());
    }

    if let Some(dir) = args.calibration.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    Calibration::write(&file, &args.calibration)?;
    // Read back through the same validation the agent uses.
    let calibration = Calibration::load(&args.calibration)?;
    println!("wrote {} ({} zones)", args.calibration.display(), calibration.file.zones.len());

    let background = match (&image, &reference) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(r)) => Some(r.clone()),
        (None, None) => calibration.reference_image().ok(),
    };
    if let Some(background) = background {
        let out = args.preview.clone().unwrap_or_else(|| args.calibration.with_extension("preview.png"));
        preview::render(&background, &calibration.file, calibration.homography.as_ref(), &corners, args.grid_mm)
            .save(&out)
            .map_err(|e| anyhow::anyhow!("cannot write the preview {} ({e})", out.display()))?;
        println!("preview: {} (zones, {:.0} mm grid, measured points as red crosses)", out.display(), args.grid_mm);
    }
    Ok(ExitCode::SUCCESS)
}

/// Computes the homography from the chessboard or the measured points on `pic`.
fn measure(pic: &RgbImage, args: &CalibrateArgs) -> anyhow::Result<(Homography, f64, String, Vec<[f64; 2]>)> {
    if let Some(spec) = &args.chessboard {
        let board = Chessboard::parse(spec)?;
        let gray = image::imageops::grayscale(pic);
        let corners = board.find_corners(&gray)?;
        let (homography, rms) = board.fit_corners(&corners)?;
        return Ok((homography, rms, format!("chessboard {}x{}@{}mm", board.cols, board.rows, board.square_mm), corners));
    }
    if args.point.len() < 4 {
        anyhow::bail!("give a --chessboard, or at least four --point PX,PY=MMX,MMY (you gave {})", args.point.len());
    }
    let pairs = args.point.iter().map(|p| parse_point(p)).collect::<anyhow::Result<Vec<_>>>()?;
    for (px, _) in &pairs {
        if px[0] < 0.0 || px[1] < 0.0 || px[0] > f64::from(pic.width()) || px[1] > f64::from(pic.height()) {
            anyhow::bail!("point ({}, {}) lies outside the {}x{} picture", px[0], px[1], pic.width(), pic.height());
        }
    }
    let homography = Homography::fit(&pairs)?;
    let rms = homography.rms_error_px(&pairs);
    Ok((homography, rms, format!("{} measured points", pairs.len()), pairs.iter().map(|p| p.0).collect()))
}

/// `PX,PY=MMX,MMY`.
pub fn parse_point(s: &str) -> anyhow::Result<([f64; 2], [f64; 2])> {
    let bad = || anyhow::anyhow!("`{s}` is not a point: write PX,PY=MMX,MMY, e.g. 412,880=0,0 (pixel = floor millimetres)");
    let (px, mm) = s.split_once('=').ok_or_else(bad)?;
    let pair = |t: &str| -> anyhow::Result<[f64; 2]> {
        let (a, b) = t.split_once(',').ok_or_else(bad)?;
        let (a, b): (f64, f64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a.is_finite() && b.is_finite() { Ok([a, b]) } else { Err(bad()) }
    };
    Ok((pair(px)?, pair(mm)?))
}

/// Prints what the homography means on the floor, to catch a wrong square size.
fn describe(h: &Homography, w: u32, ht: u32) {
    let centre = [f64::from(w) / 2.0, f64::from(ht) / 2.0];
    if let Some(area) = h.pixel_area_mm2(centre) {
        println!("scale at the image centre: {:.2} mm per pixel", area.sqrt());
    }
    let corners = [[0.0, f64::from(ht)], [f64::from(w), f64::from(ht)]];
    if let (Some(a), Some(b)) = (h.to_floor(corners[0]), h.to_floor(corners[1])) {
        println!("the bottom edge of the picture spans {:.0} mm of floor", ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt());
    }
}

/// A picture from a file, or `camera`: one frame grabbed from the configured camera.
fn picture(source: &str, args: &CalibrateArgs, camera: &str) -> anyhow::Result<RgbImage> {
    if source != "camera" {
        return Ok(crate::vision::decode_image(&std::fs::read(source).map_err(|e| anyhow::anyhow!("cannot read {source} ({e})"))?)
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?);
    }
    let config_path = args.config.as_deref().ok_or_else(|| anyhow::anyhow!("`camera` needs --config: the agent config that describes the camera"))?;
    let id = args.camera.as_deref().unwrap_or(camera);
    grab(&Config::load(config_path)?, id)
}

/// Opens the camera, waits for one good frame (10 s at most) and closes it.
fn grab(config: &Config, id: &str) -> anyhow::Result<RgbImage> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let camera = config.cameras.iter().find(|c| c.id == id).ok_or_else(|| {
        anyhow::anyhow!("no camera `{id}` in {}; cameras: {:?}", config.path.display(), config.cameras.iter().map(|c| &c.id).collect::<Vec<_>>())
    })?;
    let source = crate::capture::open_source(camera)?;
    let stop = Arc::new(AtomicBool::new(false));
    let handle = crate::capture::spawn_camera(id, source, stop.clone(), crate::backoff::Backoff::default());
    let frame = handle.latest.take(std::time::Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    handle.join();
    match frame {
        crate::capture::slot::Take::Frame(f) => Ok(Arc::unwrap_or_clone(f.image)),
        _ => anyhow::bail!("camera `{id}` gave no frame within 10 s: check that it is connected and its source in the config"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_and_bad_ones_say_the_format() {
        assert_eq!(parse_point("412,880=0,0").unwrap(), ([412.0, 880.0], [0.0, 0.0]));
        assert_eq!(parse_point(" 1.5, 2 = -3,4.25").unwrap(), ([1.5, 2.0], [-3.0, 4.25]));
        for bad in ["412,880", "a,b=1,2", "1,2=3", "1,2=NaN,4"] {
            assert!(parse_point(bad).unwrap_err().to_string().contains("PX,PY=MMX,MMY"), "{bad}");
        }
    }
}
