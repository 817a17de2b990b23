//! `edge-agent calibrate` as a technician runs it, and calibration files in
//! the agent config.

mod common;

use common::*;
use edge_agent::calibration::{Calibration, Homography};
use std::path::Path;
use std::process::{Command, Output};

fn calibrate(args: &[&str]) -> Output {
    Command::new(bin()).arg("calibrate").args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const ZONES: &str = r#"camera = "pod-floor"
resolution = [640, 480]

[[zone]]
name = "floor"
kind = "floor"
polygon = [[0, 240], [640, 240], [640, 480], [0, 480]]

[[zone]]
name = "drum-1"
kind = "container"
polygon = [[300, 300], [360, 300], [360, 360], [300, 360]]
"#;

#[test]
fn a_chessboard_photo_gives_a_homography_a_reference_and_a_preview_and_the_zones_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod-floor.toml");
    std::fs::write(&file, ZONES).unwrap();
    let board = opencv_photo("left01.jpg");
    let board = board.to_str().unwrap();
    let out = calibrate(&["--calibration", file.to_str().unwrap(), "--image", board, "--chessboard", "9x6@25mm", "--reference", board]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mm per pixel"), "{}", text(&out));
    let c = Calibration::load(&file).expect("the written file validates");
    assert_eq!(c.file.zones.len(), 2, "hand-drawn zones survive calibration");
    let record = c.file.homography.as_ref().unwrap();
    assert!(record.method.contains("chessboard 9x6@25"), "{}", record.method);
    assert!(record.rms_px > 0.0 && record.rms_px < 1.5, "rms {}", record.rms_px);
    // Neighbouring squares on the board are 25 mm apart wherever they are.
    let h = c.homography.unwrap();
    let gray = image::open(board).unwrap().to_luma8();
    let corners = edge_agent::calibration::Chessboard::parse("9x6@25").unwrap().find_corners(&gray).unwrap();
    for pair in corners.windows(2).take(8) {
        let (a, b) = (h.to_floor(pair[0]).unwrap(), h.to_floor(pair[1]).unwrap());
        let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        assert!((d - 25.0).abs() < 1.5, "adjacent corners {d:.2} mm apart");
    }
    assert_eq!(c.reference_image().unwrap().dimensions(), (640, 480));
    let preview = image::open(dir.path().join("pod-floor.preview.png")).expect("a preview PNG").to_rgb8();
    assert_eq!(preview.dimensions(), (640, 480));
    let original = image::open(board).unwrap().to_rgb8();
    let changed = preview.pixels().zip(original.pixels()).filter(|(a, b)| a != b).count();
    assert!(changed > 5_000, "zones and grid are drawn over the frame ({changed} pixels changed)");
}

#[test]
fn four_measured_points_give_an_exact_homography_and_a_later_reference_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cam.toml");
    let photo = opencv_photo("home.jpg");
    let (w, h) = image::image_dimensions(&photo).unwrap();
    let points = ["50,300=0,0", "450,300=2000,0", "500,200=2000,1500", "20,200=0,1500"];
    let mut args = vec!["--calibration", file.to_str().unwrap(), "--camera", "cam-1", "--image", photo.to_str().unwrap()];
    for p in &points {
        args.extend(["--point", p]);
    }
    let out = calibrate(&args);
    assert!(out.status.success(), "{}", text(&out));
    let hm: Homography = Calibration::load(&file).unwrap().homography.unwrap();
    for p in points {
        let (px, mm) = edge_agent::commands::calibrate::parse_point(p).unwrap();
        let got = hm.to_floor(px).unwrap();
        assert!((got[0] - mm[0]).abs() < 0.01 && (got[1] - mm[1]).abs() < 0.01, "{p} -> {got:?}");
    }
    assert!(image::open(dir.path().join("cam.preview.png")).is_ok());
    // The reference is taken later, once the floor is clean: the homography stays.
    let out = calibrate(&["--calibration", file.to_str().unwrap(), "--reference", photo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let c = Calibration::load(&file).unwrap();
    assert_eq!(c.homography, Some(hm));
    assert_eq!((c.width(), c.height(), c.file.references.len()), (w, h, 1));
}

#[test]
fn bad_calibration_input_gets_an_error_that_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cam.toml");
    let f = file.to_str().unwrap();
    let photo = opencv_photo("fruits.jpg");
    let p = photo.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--image", p, "--chessboard", "9x6@25mm"], "chessboard"),
        (vec!["--image", p, "--chessboard", "nine by six"], "9x6"),
        (vec!["--image", p, "--point", "1,1=0,0", "--point", "2,2=1,1", "--point", "3,3=2,2", "--point", "4,4=3,3"], "collinear"),
        (vec!["--image", p, "--point", "1,1=0,0"], "at least four"),
        (vec!["--image", "/nonexistent.jpg", "--chessboard", "9x6@25"], "/nonexistent.jpg"),
        (vec!["--image", "camera", "--chessboard", "9x6@25"], "--config"),
        (vec![], "nothing to do"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["--calibration", f];
        all.extend(args.iter());
        let out = calibrate(&all);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(text(&out).to_lowercase().contains(&expected.to_lowercase()), "{args:?}: {}", text(&out));
        assert!(!file.exists(), "{args:?}: nothing written on failure");
    }
    // A reference of another size than the zones were drawn for.
    std::fs::write(&file, ZONES).unwrap();
    let out = calibrate(&["--calibration", f, "--reference", p]);
    assert!(!out.status.success());
    assert!(text(&out).contains("640x480") && text(&out).contains("would not line up"), "{}", text(&out));
}

#[test]
fn the_agent_config_loads_a_cameras_calibration_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("pod-floor.toml");
    let frames = repo_root().join("demo/frames");
    let write_config = |calibration: &str, task: &str| {
        let config = format!(
            r#"site = "s"
device_id = "d"
models_dir = "{models}"
[[tasks]]
id = "leak-watch"
kind = "leak"
{task}
[[cameras]]
id = "pod-floor"
source = {{ kind = "replay", path = "{frames}", fps = 1 }}
calibration = "{calibration}"
tasks = ["leak-watch"]
"#,
            models = models_dir().display(),
            frames = frames.display()
        );
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, config).unwrap();
        Command::new(bin()).arg("check-config").arg("--config").arg(&path).output().unwrap()
    };
    // No such file.
    let out = write_config("pod-floor.toml", "");
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out).contains("cameras[0].calibration") && text(&out).contains("edge-agent calibrate"), "{}", text(&out));
    // A file without homography or reference cannot serve a leak task.
    std::fs::write(&cal, ZONES).unwrap();
    let out = write_config("pod-floor.toml", "");
    assert!(text(&out).contains("no homography"), "{}", text(&out));
    // Another camera's file, and a bad task setting.
    std::fs::write(&cal, ZONES.replace("pod-floor", "pod-door")).unwrap();
    let out = write_config("pod-floor.toml", "min_area_cm2 = -5");
    assert!(text(&out).contains("calibration of camera `pod-door`"), "{}", text(&out));
    assert!(text(&out).contains("tasks[0].min_area_cm2"), "{}", text(&out));
    // Complete: homography and reference.
    std::fs::write(&cal, ZONES).unwrap();
    let board = opencv_photo("left01.jpg");
    let out = calibrate(&["--calibration", cal.to_str().unwrap(), "--image", board.to_str().unwrap(), "--chessboard", "9x6@25", "--reference", board.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = write_config("pod-floor.toml", "persist = \"3s\"");
    assert!(out.status.success(), "{}", text(&out));
    assert!(Path::new(&cal).is_file());
}
